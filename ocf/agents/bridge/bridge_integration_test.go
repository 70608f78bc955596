//go:build integration

package main

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	tc "github.com/florianl/go-tc"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/agenttest"
	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// Kernel tests of the built agent binary (make ktest builds it into $QB_BIN
// and runs this in the testbed VM): ocf-tester, the real kernel behind the
// exit-code matrix, and Pacemaker's own tools reading the meta-data.

const itConfig = `
[[translation]]
name = "acme"
a = { parent = "qtrunk", outer = 100, inner = 200 }
b = { parent = "vtrunk", vlan = 300 }

[[translation]]
name = "zone"
a = { parent = "qtrunk", outer = 100, inner = "1-10" }
b = { parent = "vtrunk", vlan = "1-10" }
`

// itEnv is one namespace with two veth trunks and a configuration file.
type itEnv struct {
	ns  *testbed.NS
	cfg string
	env agenttest.Env
	bin string
}

func newITEnv(t *testing.T, cfg string) *itEnv {
	t.Helper()
	ns := testbed.NewNS(t)
	ns.Veth(t, "qtrunk", "qpeer")
	ns.Veth(t, "vtrunk", "vpeer")
	dir := t.TempDir()
	e := &itEnv{ns: ns, cfg: filepath.Join(dir, "qinqbridge.toml"), bin: agenttest.Binary(t, "bridge")}
	agenttest.WriteFile(t, e.cfg, cfg)
	e.env = agenttest.Env{Instance: "p_bridge:0", Params: map[string]string{
		"config": e.cfg, "netns": ns.Name, "state_dir": filepath.Join(dir, "state"),
	}}
	return e
}

func (e *itEnv) want(t *testing.T, action string, extra []string, code int, fragments ...string) agenttest.Result {
	t.Helper()
	return e.env.Want(t, e.bin, action, extra, code, fragments...)
}

func (e *itEnv) link(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := e.ns.Link.LinkByName(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return l
}

func (e *itEnv) owned(t *testing.T) int {
	t.Helper()
	links, err := e.ns.Link.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range links {
		if l.Attrs().Group == 29026 || l.Attrs().Group == 29027 {
			n++
		}
	}
	return n
}

func TestKernelOCFTester(t *testing.T) {
	e := newITEnv(t, itConfig)
	e.env.RunOCFTester(t, e.bin)
	if n := e.owned(t); n != 0 {
		t.Fatalf("%d links of ours left after ocf-tester's final stop", n)
	}
}

func TestKernelLifecycle(t *testing.T) {
	e := newITEnv(t, itConfig)
	cfg, err := config.Parse(e.cfg, []byte(itConfig))
	if err != nil {
		t.Fatal(err)
	}
	acme := cfg.Translations[0]
	port := acme.A.Links()[1]

	e.want(t, "monitor", agenttest.Probe, 7)
	e.want(t, "start", nil, 0)
	if n := e.owned(t); n != 1+2*11+11 { // the S-tag link, two ports and a bridge per translation
		t.Fatalf("%d links of ours, want 34", n)
	}
	e.want(t, "monitor", agenttest.Recurring, 0)
	e.want(t, "monitor", agenttest.Depth10, 0)
	index := e.link(t, port).Attrs().Index

	// Edited file: degraded until reload-agent applies it in place.
	edited := itConfig + "\n[[translation]]\nname = \"globex\"\na = { parent = \"qtrunk\", outer = 100, inner = 201 }\nb = { parent = \"vtrunk\", vlan = 301 }\n"
	agenttest.WriteFile(t, e.cfg, edited)
	e.want(t, "monitor", agenttest.Recurring, 190, "config edited, not applied: crm_resource -r p_bridge -p revision -v ")
	e.want(t, "reload-agent", nil, 0)
	e.want(t, "monitor", agenttest.Depth10, 0)
	if got := e.link(t, port).Attrs().Index; got != index {
		t.Fatalf("reload recreated %s (ifindex %d -> %d)", port, index, got)
	}
	e.link(t, "br-globex")

	// A port's guard binding removed behind our back: only depth 10 sees it.
	tcnl, err := tc.Open(&tc.Config{NetNS: int(e.ns.Handle)})
	if err != nil {
		t.Fatal(err)
	}
	defer tcnl.Close()
	if err := tcnl.Qdisc().Delete(&tc.Object{Msg: tc.Msg{Family: unix.AF_UNSPEC, Ifindex: uint32(index), Handle: 0xffff0000, Parent: tc.HandleIngress}, Attribute: tc.Attribute{Kind: "clsact"}}); err != nil {
		t.Fatal(err)
	}
	e.want(t, "monitor", agenttest.Recurring, 0)
	e.want(t, "monitor", agenttest.Depth10, 1, "1 link drifted: "+port+" guard unbound -> bound")
	e.want(t, "start", nil, 0) // re-applying binds it again
	e.want(t, "monitor", agenttest.Depth10, 0)

	// A port set down by hand: depth 0 fails.
	if err := e.ns.Link.LinkSetDown(e.link(t, port)); err != nil {
		t.Fatal(err)
	}
	e.want(t, "monitor", agenttest.Recurring, 1, port+" down")

	e.want(t, "stop", nil, 0)
	if n := e.owned(t); n != 0 {
		t.Fatalf("%d links of ours left", n)
	}
	e.want(t, "monitor", agenttest.Recurring, 7)
	e.want(t, "stop", nil, 0)
}

func TestKernelMissingParent(t *testing.T) {
	e := newITEnv(t, "[[translation]]\nname = \"x\"\na = { parent = \"qtrunk\", vlan = 5 }\nb = { parent = \"nosuch0\", vlan = 6 }\n")
	e.want(t, "validate-all", nil, 5, "parent interface nosuch0 missing")
	e.want(t, "monitor", agenttest.Probe, 7)
	e.want(t, "start", nil, 5, "parent interface nosuch0 missing")
	e.want(t, "stop", nil, 0)
	e.want(t, "monitor", agenttest.Probe, 7)
}

// A trunk vanishing under a running bridge (the VLANs go with it).
func TestKernelParentGone(t *testing.T) {
	e := newITEnv(t, itConfig)
	e.want(t, "start", nil, 0)
	if err := e.ns.Link.LinkDel(e.link(t, "vtrunk")); err != nil {
		t.Fatal(err)
	}
	e.want(t, "monitor", agenttest.Recurring, 1, "parent interface vtrunk gone")
	e.want(t, "monitor", agenttest.Probe, 7)
	e.want(t, "stop", nil, 0)
	if n := e.owned(t); n != 0 {
		t.Fatalf("%d links of ours left", n)
	}
}

func TestKernelForeignLink(t *testing.T) {
	e := newITEnv(t, itConfig)
	la := netlink.NewLinkAttrs()
	la.Name, la.ParentIndex = "vtrunk.300", e.link(t, "vtrunk").Attrs().Index
	if err := e.ns.Link.LinkAdd(&netlink.Vlan{LinkAttrs: la, VlanId: 300, VlanProtocol: netlink.VLAN_PROTOCOL_8021Q}); err != nil {
		t.Fatal(err)
	}
	e.want(t, "start", nil, 1, "not adopting foreign objects", "vtrunk.300")
	e.want(t, "monitor", agenttest.Probe, 7)
	e.want(t, "stop", nil, 0)
	e.link(t, "vtrunk.300") // still there
}

func TestKernelNetNSMissing(t *testing.T) {
	e := newITEnv(t, itConfig)
	e.env.Params["netns"] = "qb-no-such-ns"
	e.want(t, "monitor", agenttest.Probe, 7)
	e.want(t, "stop", nil, 0)
	e.want(t, "start", nil, 5, "network namespace does not exist")
}

// Pacemaker's tools read the installed agent: meta-data (OCF 1.1, with
// reload-agent, since crm_resource announces OCF 1.1) and validate-all.
func TestKernelCrmResource(t *testing.T) {
	testbed.RequireKernel(t)
	const dir = "/usr/lib/ocf/resource.d/qinqbridge"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"bridge", "tcguard"} {
		b, err := os.ReadFile(agenttest.Binary(t, a))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, a), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"bridge", "tcguard"} {
		out, err := exec.Command("crm_resource", "--show-metadata", "ocf:qinqbridge:"+a).CombinedOutput()
		if err != nil {
			t.Fatalf("crm_resource --show-metadata ocf:qinqbridge:%s: %v\n%s", a, err, out)
		}
		var md struct {
			Name    string `xml:"name,attr"`
			Version string `xml:"version"`
			Actions []struct {
				Name string `xml:"name,attr"`
				Role string `xml:"role,attr"`
			} `xml:"actions>action"`
		}
		if err := xml.Unmarshal(out, &md); err != nil {
			t.Fatalf("%s meta-data does not parse: %v\n%s", a, err, out)
		}
		var actions []string
		for _, act := range md.Actions {
			actions = append(actions, act.Name+"/"+act.Role)
		}
		t.Logf("%s: OCF %s, actions %v", md.Name, md.Version, actions)
		if md.Name != a || md.Version != "1.1" {
			t.Errorf("%s: name %q, OCF version %q", a, md.Name, md.Version)
		}
		if a == "bridge" && !strings.Contains(string(out), `"reload-agent"`) {
			t.Errorf("bridge meta-data for Pacemaker lacks reload-agent")
		}
		if a == "tcguard" && !strings.Contains(string(out), `role="Promoted"`) {
			t.Errorf("tcguard meta-data lacks the Promoted monitor")
		}
	}

	validate := func(opts ...string) (string, int) {
		args := []string{"--validate", "--class", "ocf", "--provider", "qinqbridge", "--agent", "bridge"}
		for _, o := range opts {
			args = append(args, "--option", o)
		}
		out, err := exec.Command("crm_resource", args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("crm_resource %s: exit %d\n%s", strings.Join(args, " "), code, out)
		return string(out), code
	}
	if out, code := validate("config=BAD"); code == 0 || !strings.Contains(out, `config "BAD" is not an absolute path`) {
		t.Errorf("config=BAD: exit %d, the reason is not reported", code)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	agenttest.WriteFile(t, bad, "[[translation]]\nname = \"x\"\na = { parent = \"eth0\", vlan = 0 }\n")
	if out, code := validate("config=" + bad); code == 0 || !strings.Contains(out, bad+":3:") {
		t.Errorf("broken file: exit %d, the error is not reported", code)
	}
}

// Links that are not ours where a careless admin puts them: lo in
// bridgectl's device group (the kernel cannot delete it, so a group delete
// fails as a whole) and a veth enslaved to a translation bridge. start
// builds around them, monitor says degraded naming both, stop succeeds and
// leaves both where they were.
func TestKernelForeignLinks(t *testing.T) {
	e := newITEnv(t, itConfig)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"-n", e.ns.Name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("link", "set", "lo", "group", "29026")
	e.want(t, "start", nil, 0)
	ip("link", "add", "fx0", "type", "veth", "peer", "name", "fx1")
	ip("link", "set", "fx0", "master", "br-acme")
	e.want(t, "monitor", agenttest.Recurring, 190, "lo (in group qinqbridge)", "fx0 (port of br-acme)")
	e.want(t, "monitor", agenttest.Depth10, 190, "lo (in group qinqbridge)", "fx0 (port of br-acme)")
	e.want(t, "stop", nil, 0)
	if g := e.link(t, "lo").Attrs().Group; g != 29026 {
		t.Errorf("lo moved to group %d", g)
	}
	e.link(t, "fx0")
	if _, err := e.ns.Link.LinkByName("br-acme"); err == nil {
		t.Error("stop left br-acme")
	}
	e.want(t, "monitor", agenttest.Probe, 7)
}
