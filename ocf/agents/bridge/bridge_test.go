package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/internal/kerneltest"
	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/fakenode"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// The action × kernel-state → exit-code matrix of the bridge agent, run
// through ocf.Agent.Exec (environment parsing, dispatch, exit reason)
// against the real node on the in-memory kernel of package fakenode.

const cfgAcme = `
[[translation]]
name = "acme"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }
`

// cfgAcmeGlobex is cfgAcme edited: one translation added.
const cfgAcmeGlobex = cfgAcme + `
[[translation]]
name = "globex"
a = { parent = "eth0", outer = 100, inner = 201 }
b = { parent = "eth1", vlan = 301 }
`

const cfgMissingNIC = `
[[translation]]
name = "acme"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth9", vlan = 300 }
`

const cfgBroken = `
[[translation]]
name = "acme"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 5000 }
`

type harness struct {
	t        *testing.T
	k        *fakenode.Kernel
	agent    *ocf.Agent
	stateDir string
	cfg      string // config file path
	env      []string
}

func newHarness(t *testing.T, cfg string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, stateDir: filepath.Join(dir, "state"), cfg: filepath.Join(dir, "qinqbridge.toml")}
	h.k = fakenode.New(filepath.Join(h.stateDir, "default"))
	h.k.AddNIC("eth0", 1500)
	h.k.AddNIC("eth1", 1500)
	h.agent = newAgent(&bridge{open: h.k.Open})
	h.env = []string{
		"OCF_ROOT=/usr/lib/ocf", "OCF_RESOURCE_INSTANCE=p_bridge:0",
		"OCF_RESKEY_config=" + h.cfg, "OCF_RESKEY_state_dir=" + h.stateDir,
	}
	h.write(cfg)
	return h
}

func (h *harness) write(cfg string) {
	h.t.Helper()
	if err := os.WriteFile(h.cfg, []byte(cfg), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// result is one run of the agent.
type result struct {
	code   int
	reason string // the last ocf-exit-reason line, without the prefix
	log    string // everything else on stderr
}

func (h *harness) exec(action string, env ...string) result {
	h.t.Helper()
	var out, errb bytes.Buffer
	code := h.agent.Exec([]string{"/usr/lib/ocf/resource.d/qinqbridge/bridge", action}, append(append([]string(nil), h.env...), env...), &out, &errb)
	res := result{code: code}
	for _, l := range strings.Split(errb.String(), "\n") {
		if r, ok := strings.CutPrefix(l, "ocf-exit-reason:"); ok {
			res.reason = r
		} else if l != "" {
			res.log += l + "\n"
		}
	}
	return res
}

// Monitors: a probe has no interval, a recurring monitor has one.
var (
	probe     = []string{}
	recurring = []string{"OCF_RESKEY_CRM_meta_interval=10000"}
	depth10   = []string{"OCF_RESKEY_CRM_meta_interval=60000", "OCF_CHECK_LEVEL=10"}
)

// want runs an action and checks its exit code and that the reason
// contains every fragment.
func (h *harness) want(action string, env []string, code int, fragments ...string) result {
	h.t.Helper()
	res := h.exec(action, env...)
	h.t.Logf("%s %v: %d %q", action, env, res.code, res.reason)
	if res.code != code {
		h.t.Fatalf("%s %v: exit %d (reason %q), want %d\nlog:\n%s", action, env, res.code, res.reason, code, res.log)
	}
	for _, f := range fragments {
		if !strings.Contains(res.reason, f) {
			h.t.Fatalf("%s %v: reason %q does not contain %q", action, env, res.reason, f)
		}
	}
	return res
}

func (h *harness) started() {
	h.t.Helper()
	h.want("start", nil, 0)
}

// names of the acme translation's links.
func acmeLinks(t *testing.T) (stag, portA, portB, bridgeName string) {
	t.Helper()
	cfg, err := config.Parse("x", []byte(cfgAcme))
	if err != nil {
		t.Fatal(err)
	}
	tr := cfg.Translations[0]
	return tr.A.Links()[0], tr.A.Links()[1], tr.B.Links()[0], tr.Bridge
}

func TestTable(t *testing.T) {
	a := newAgent(&bridge{})
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []ocf.Dialect{ocf.OCF10, ocf.OCF11} {
		md, err := a.MetaData(d)
		if err != nil {
			t.Fatal(err)
		}
		has := bytes.Contains(md, []byte(`"reload-agent"`))
		if has != (d == ocf.OCF11) {
			t.Errorf("%v meta-data lists reload-agent: %v", d, has)
		}
		for _, p := range []string{"config", "netns", "state_dir", "revision"} {
			if !bytes.Contains(md, []byte(`name="`+p+`"`)) {
				t.Errorf("%v meta-data lacks parameter %s", d, p)
			}
		}
	}
}

func TestStartMonitorStop(t *testing.T) {
	h := newHarness(t, cfgAcme)
	h.want("monitor", probe, 7)
	h.want("monitor", recurring, 7, "nothing applied")
	h.want("validate-all", nil, 0)

	res := h.want("start", nil, 0)
	if n := strings.Count(res.log, "\n"); os.Getenv("JOURNAL_STREAM") == "" && n != 1 {
		t.Errorf("start logged %d lines, want one:\n%s", n, res.log)
	}
	_, portA, portB, br := acmeLinks(t)
	for _, name := range []string{portA, portB, br} {
		if o := h.k.Link(name); o == nil || !o.Up || !o.Owned() {
			t.Fatalf("%s not created up and ours: %+v", name, o)
		}
	}
	// The ports came up bound to the guard, which is blocked.
	if b, ok := h.k.BoundBlock(h.k.Link(portA).Index); !h.k.Dropping(defaults.Block) || !ok || b != defaults.Block {
		t.Fatalf("ports not bound to a blocked guard: filter %v, %s bound to block %d (%v)", h.k.Dropping(defaults.Block), portA, b, ok)
	}
	h.want("monitor", probe, 0)
	h.want("monitor", recurring, 0)
	h.want("monitor", depth10, 0)

	// start is idempotent and changes nothing the second time.
	before := h.k.Link(portA).Index
	h.want("start", nil, 0)
	if h.k.Link(portA).Index != before {
		t.Fatal("second start recreated a link")
	}

	h.want("stop", nil, 0)
	if n := h.k.Owned(); n != 0 {
		t.Fatalf("%d links of ours left after stop", n)
	}
	if h.k.Dropping(defaults.Block) {
		t.Fatal("block survived its ports")
	}
	h.want("monitor", probe, 7)
	h.want("monitor", recurring, 7)
	h.want("stop", nil, 0)
}

func TestEmptyConfigRuns(t *testing.T) {
	h := newHarness(t, "")
	h.want("monitor", probe, 7)
	h.started()
	h.want("monitor", recurring, 0)
	h.want("stop", nil, 0)
	h.want("monitor", recurring, 7)
}

// A parent interface missing on this node: the node cannot run the
// resource (5 from start), probes and stop succeed.
func TestMissingParent(t *testing.T) {
	h := newHarness(t, cfgMissingNIC)
	h.want("validate-all", nil, 5, "eth9")
	h.want("monitor", probe, 7)
	h.want("start", nil, 5, "parent interface eth9 missing")
	h.want("stop", nil, 0)
	h.want("monitor", probe, 7)
}

// A NIC vanishing under a running bridge: the VLANs on it go with it.
func TestParentGoneWhileRunning(t *testing.T) {
	h := newHarness(t, cfgAcme)
	h.started()
	h.k.DeleteLink("eth1")
	h.want("monitor", recurring, 1, "parent interface eth1 gone")
	h.want("monitor", probe, 7)
	h.want("stop", nil, 0)
	if h.k.Owned() != 0 {
		t.Fatal("links left")
	}
	h.want("monitor", probe, 7)
}

func TestBrokenConfig(t *testing.T) {
	h := newHarness(t, cfgBroken)
	res := h.want("validate-all", nil, 6, h.cfg+":5:")
	if len(res.reason) == 0 {
		t.Fatal("no reason")
	}
	h.want("start", nil, 6, "config invalid")
	// Probe and stop never look at the file.
	h.want("monitor", probe, 7)
	h.want("stop", nil, 0)

	// Broken while running: degraded, never a failure.
	h.write(cfgAcme)
	h.started()
	h.write(cfgBroken)
	h.want("monitor", recurring, 190, "applied configuration runs", "config invalid")
	h.want("monitor", probe, 190)
	h.want("stop", nil, 0)
}

func TestConfigPathProblems(t *testing.T) {
	h := newHarness(t, cfgAcme)
	h.want("validate-all", []string{"OCF_RESKEY_config=qinqbridge.toml"}, 6, "not an absolute path")
	h.want("validate-all", []string{"OCF_RESKEY_config=/nonexistent/q.toml"}, 5, "does not exist")
	h.want("start", []string{"OCF_RESKEY_config=/nonexistent/q.toml"}, 5, "does not exist")
	h.want("monitor", append([]string{"OCF_RESKEY_config=/nonexistent/q.toml"}, probe...), 7)
}

// An edited file is reported, not applied, until reload-agent; then the
// translations that did not change keep their links.
func TestEditedConfigDegradedThenReload(t *testing.T) {
	h := newHarness(t, cfgAcme)
	h.started()
	_, portA, _, _ := acmeLinks(t)
	index := h.k.Link(portA).Index

	// A comment does not change the digest.
	h.write("# reviewed\n" + cfgAcme)
	h.want("monitor", recurring, 0)

	h.write(cfgAcmeGlobex)
	cfg, err := config.Parse(h.cfg, []byte(cfgAcmeGlobex))
	if err != nil {
		t.Fatal(err)
	}
	digest := cfg.Digest()[:12]
	res := h.want("monitor", recurring, 190, "config edited, not applied: crm_resource -r p_bridge -p revision -v "+digest, "bridgectl apply")
	if len(res.reason) > 128 && !strings.Contains(res.reason[:128], digest) {
		t.Errorf("the digest is past Pacemaker's 128 characters: %q", res.reason)
	}
	h.want("monitor", depth10, 190)
	if h.k.Link(cfg.Translations[1].Bridge) != nil {
		t.Fatal("monitor applied the file")
	}

	h.want("reload-agent", []string{"OCF_RESKEY_revision=" + digest}, 0)
	h.want("monitor", recurring, 0)
	h.want("monitor", depth10, 0)
	if h.k.Link(portA).Index != index {
		t.Fatal("reload recreated an unchanged translation")
	}
	if h.k.Link(cfg.Translations[1].Bridge) == nil {
		t.Fatal("reload did not create the new translation")
	}

	// Back to one translation: the removed one is deleted, acme stays.
	h.write(cfgAcme)
	h.want("reload-agent", nil, 0)
	if h.k.Link(cfg.Translations[1].Bridge) != nil || h.k.Link(portA).Index != index {
		t.Fatal("reload did not converge in place")
	}
}

// reload-agent never fails for a file it cannot apply: the applied
// configuration keeps running and monitor says why.
func TestReloadRefused(t *testing.T) {
	h := newHarness(t, cfgAcme)
	h.started()
	_, portA, _, _ := acmeLinks(t)
	index := h.k.Link(portA).Index

	h.write(cfgBroken)
	h.want("reload-agent", nil, 0)
	h.want("monitor", recurring, 190, "config invalid")

	h.write(cfgMissingNIC + `
[[translation]]
name = "other"
a = { parent = "eth0", vlan = 7 }
b = { parent = "eth1", vlan = 8 }
`)
	h.want("reload-agent", nil, 0)
	h.want("monitor", recurring, 190, "config edited, reload refused: parent interface eth9 missing")
	if h.k.Link(portA).Index != index {
		t.Fatal("refused reload touched the kernel")
	}

	// Fixing the file: the remembered failure no longer applies.
	h.write(cfgAcmeGlobex)
	h.want("monitor", recurring, 190, "not applied")
	h.want("reload-agent", nil, 0)
	h.want("monitor", recurring, 0)
	if _, err := os.Stat(filepath.Join(h.k.Dir, reloadFailedFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reload failure still remembered: %v", err)
	}
}

func TestDrift(t *testing.T) {
	stag, portA, portB, br := acmeLinks(t)
	for _, tc := range []struct {
		name           string
		mess           func(k *fakenode.Kernel)
		depth0, depth1 int
		reason         string
	}{
		{"port down", func(k *fakenode.Kernel) { k.SetLink(portA, func(o *plan.Observed) { o.Up = false }) }, 1, 1, portA},
		{"bridge deleted", func(k *fakenode.Kernel) { k.DeleteLink(br) }, 1, 1, br + " missing"},
		{"s-tag deleted with its port", func(k *fakenode.Kernel) { k.DeleteLink(stag) }, 1, 1, "missing"},
		{"mtu", func(k *fakenode.Kernel) { k.SetLink(portB, func(o *plan.Observed) { o.MTU = 1400 }) }, 0, 1, "mtu 1400 -> "},
		{"unbound port", func(k *fakenode.Kernel) { k.Unbind(portB) }, 0, 1, "guard unbound -> bound"},
		{"stp on", func(k *fakenode.Kernel) { k.SetLink(br, func(o *plan.Observed) { o.STP = true }) }, 0, 1, "stp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cfgAcme)
			h.started()
			tc.mess(h.k)
			r0 := h.want("monitor", recurring, tc.depth0)
			r1 := h.want("monitor", depth10, tc.depth1)
			for _, r := range []result{r0, r1} {
				if r.code != 0 && !strings.Contains(r.reason, tc.reason) {
					t.Errorf("reason %q does not name %q", r.reason, tc.reason)
				}
			}
			// A restart converges.
			h.want("stop", nil, 0)
			h.want("start", nil, 0)
			h.want("monitor", depth10, 0)
		})
	}
}

// Foreign links are never adopted nor deleted: start fails with 1 (a state
// of this node; 6 would stop the bridge on every node) and leaves them.
func TestForeignLink(t *testing.T) {
	h := newHarness(t, cfgAcme)
	_, _, portB, _ := acmeLinks(t)
	h.k.AddLink(plan.Observed{Name: portB, Kind: "vlan", ParentIndex: h.k.Link("eth1").Index, Proto: config.Dot1Q, ID: 300, Up: true}, false)
	h.want("validate-all", nil, 0)
	h.want("start", nil, 1, "foreign", portB)
	if h.k.Owned() != 0 {
		t.Fatal("start changed the kernel before refusing")
	}
	h.want("monitor", probe, 7)
	h.want("stop", nil, 0)
	if h.k.Link(portB) == nil {
		t.Fatal("stop deleted the foreign link")
	}
}

// A foreign ingress qdisc on a port: the port is not bound, start fails.
func TestForeignQdisc(t *testing.T) {
	h := newHarness(t, cfgAcme)
	h.started()
	_, portA, _, _ := acmeLinks(t)
	i := h.k.Link(portA).Index
	h.k.RemoveQdisc(i)
	h.k.PlantQdisc(kerneltest.IngressQdisc(i, "ingress", 0))
	h.want("monitor", depth10, 1, "guard unbound -> bound")
	res := h.want("start", nil, 1, "foreign")
	if !strings.Contains(res.reason, tcguard.ErrForeign.Error()) {
		t.Errorf("reason %q", res.reason)
	}
}

// Links of ours without a record of what was applied: an interrupted start
// or a lost state directory.
func TestUnrecordedLinks(t *testing.T) {
	h := newHarness(t, cfgAcme)
	h.started()
	// The state directory lost (and with it the applied record).
	if err := os.RemoveAll(h.k.Dir); err != nil {
		t.Fatal(err)
	}
	h.want("monitor", probe, 7)
	h.want("monitor", recurring, 1, "no applied configuration recorded")
	h.want("start", nil, 0)
	h.want("monitor", recurring, 0)
}

func TestNetNS(t *testing.T) {
	h := newHarness(t, cfgAcme)
	missing := []string{"OCF_RESKEY_netns=missing"}
	h.want("monitor", missing, 7)
	h.want("monitor", append(missing, recurring...), 7)
	h.want("stop", missing, 0)
	h.want("start", missing, 5, "missing")
	h.want("validate-all", missing, 5)
	bad := []string{"OCF_RESKEY_netns=a/b"}
	h.want("start", bad, 6)
	h.want("validate-all", bad, 6)
	h.want("monitor", bad, 7)
	h.want("stop", bad, 0)
}

func TestKernelErrors(t *testing.T) {
	h := newHarness(t, cfgAcme)
	h.k.Fail["apply"] = errors.New("netlink: no buffer space")
	h.want("start", nil, 1, "no buffer space")
	delete(h.k.Fail, "apply")
	h.started()

	h.k.Fail["down"] = errors.New("netlink: interrupted")
	h.want("stop", nil, 1, "remain after down")
	delete(h.k.Fail, "down")
	h.want("stop", nil, 0)

	h.started()
	h.k.Fail["observe"] = errors.New("dump interrupted five times")
	h.want("monitor", recurring, 1, "dump interrupted")
}

func TestSummarizedReasons(t *testing.T) {
	// 40 foreign links in the way: the reason names three and counts the rest.
	var b strings.Builder
	b.WriteString("[[translation]]\nname = \"r\"\na = { parent = \"eth0\", vlan = \"1-40\" }\nb = { parent = \"eth1\", vlan = \"1-40\" }\n")
	h := newHarness(t, b.String())
	cfg, err := config.Parse("x", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range cfg.Translations {
		h.k.AddLink(plan.Observed{Name: tr.Bridge, Kind: "bridge", Up: true}, false)
	}
	res := h.want("start", nil, 1, "(and 37 more)")
	if len(res.reason) > 1000 {
		t.Fatalf("reason of %d characters", len(res.reason))
	}
}

// A link an admin put in bridgectl's device group without its mark is not
// ours: start and monitor leave it alone and report it (degraded, named),
// stop succeeds and leaves it, whatever its kind (lo and NICs cannot be
// deleted at all, and a group delete would fail on them).
func TestForeignLinkInOurGroup(t *testing.T) {
	for _, tc := range []struct {
		name  string
		add   func(k *fakenode.Kernel) string
		short string
	}{
		{"lo", func(k *fakenode.Kernel) string {
			k.SetLink("lo", func(o *plan.Observed) { o.Group = defaults.OwnerGroup })
			return "lo"
		}, "lo (in group qinqbridge)"},
		{"an admin's veth", func(k *fakenode.Kernel) string {
			k.AddLink(plan.Observed{Name: "veth-admin", Kind: "veth", Group: defaults.OwnerGroup, Up: true}, false)
			return "veth-admin"
		}, "veth-admin (in group qinqbridge)"},
		{"a NIC in the doomed group", func(k *fakenode.Kernel) string {
			k.AddNIC("eth2", 1500)
			k.SetLink("eth2", func(o *plan.Observed) { o.Group = defaults.DoomedGroup })
			return "eth2"
		}, "eth2 (in group qinqbridge)"},
		{"an admin's vlan with an alias of its own", func(k *fakenode.Kernel) string {
			k.AddLink(plan.Observed{Name: "eth1.77", Kind: "vlan", ParentIndex: k.Link("eth1").Index, Proto: config.Dot1Q, ID: 77, Group: defaults.OwnerGroup, Alias: "backup uplink"}, false)
			return "eth1.77"
		}, "eth1.77 (in group qinqbridge)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cfgAcme)
			name := tc.add(h.k)
			h.want("start", nil, 0)
			h.want("monitor", recurring, int(ocf.Degraded), "foreign links left alone: "+tc.short)
			h.want("monitor", depth10, int(ocf.Degraded), tc.short)
			res := h.want("stop", nil, 0)
			if !strings.Contains(res.log, "left alone: "+name+": foreign") {
				t.Errorf("stop does not log the foreign link:\n%s", res.log)
			}
			if h.k.Link(name) == nil {
				t.Fatalf("%s deleted", name)
			}
			if n := h.k.Owned(); n != 0 {
				t.Fatalf("%d links of ours left after stop", n)
			}
			h.want("monitor", probe, 7)
		})
	}
}

// A foreign interface enslaved to a translation bridge: monitor reports it
// degraded with its name at both depths (not a failure: see
// foreignDegraded), start does not release it, and the file's own
// degraded reason still shows after it.
func TestForeignPortOfTranslationBridge(t *testing.T) {
	h := newHarness(t, cfgAcme)
	h.started()
	_, _, _, br := acmeLinks(t)
	h.k.AddLink(plan.Observed{Name: "fx0", Kind: "veth", MasterIndex: h.k.Link(br).Index, Up: true}, false)
	h.want("monitor", recurring, int(ocf.Degraded), "fx0 (port of "+br+")")
	h.want("monitor", depth10, int(ocf.Degraded), "fx0 (port of "+br+")")
	res := h.want("start", nil, 0)
	if !strings.Contains(res.log, "left alone: fx0: foreign veth, port of translation bridge "+br) {
		t.Errorf("start does not log the foreign port:\n%s", res.log)
	}
	if h.k.Link("fx0").MasterIndex != h.k.Link(br).Index {
		t.Fatal("start released the foreign port")
	}
	h.write(cfgAcmeGlobex)
	h.want("monitor", recurring, int(ocf.Degraded), "fx0 (port of "+br+")", "config edited")
	h.want("stop", nil, 0)
	if h.k.Link("fx0") == nil {
		t.Fatal("stop deleted the foreign port")
	}
}
