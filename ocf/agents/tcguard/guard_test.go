package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/fakenode"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// The action × kernel-state → exit-code matrix of the tcguard agent, run
// through ocf.Agent.Exec against the real node on the in-memory kernel of
// package fakenode.

const cfgTwo = `
[[translation]]
name = "acme"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }

[[translation]]
name = "globex"
a = { parent = "eth2", outer = 100, inner = 201 }
b = { parent = "eth1", vlan = 301 }
`

const block = defaults.Block

// fakeScore records promotion scores instead of calling crm_attribute.
type fakeScore struct {
	set     []int
	deleted int
	err     error
}

func (f *fakeScore) Set(_ context.Context, _ *ocf.Request, n int) error {
	f.set = append(f.set, n)
	return f.err
}

func (f *fakeScore) Delete(context.Context, *ocf.Request) error {
	f.deleted++
	return f.err
}

func (f *fakeScore) last() int {
	if len(f.set) == 0 {
		return -1
	}
	return f.set[len(f.set)-1]
}

type harness struct {
	t        *testing.T
	k        *fakenode.Kernel
	score    *fakeScore
	agent    *ocf.Agent
	stateDir string
	cfg      string
	env      []string
}

func newHarness(t *testing.T, cfg string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, stateDir: filepath.Join(dir, "state"), cfg: filepath.Join(dir, "qinqbridge.toml"), score: &fakeScore{}}
	h.k = fakenode.New(filepath.Join(h.stateDir, "default"))
	for _, nic := range []string{"eth0", "eth1", "eth2"} {
		h.k.AddNIC(nic, 1500)
	}
	h.agent = newAgent(&guard{open: h.k.Open, score: h.score})
	h.env = []string{
		"OCF_ROOT=/usr/lib/ocf", "OCF_RESOURCE_INSTANCE=p_guard:1",
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

// bridge applies cfg to the fake kernel, as the bridge agent's start does.
func (h *harness) bridge(cfg string) {
	h.t.Helper()
	c, err := config.Parse(h.cfg, []byte(cfg))
	if err != nil {
		h.t.Fatal(err)
	}
	n, err := h.k.Open(bridgectl.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, _, err := n.Apply(c, []byte(cfg)); err != nil {
		h.t.Fatal(err)
	}
}

type result struct {
	code   int
	reason string
	log    string
}

func (h *harness) exec(action string, env ...string) result {
	h.t.Helper()
	var out, errb bytes.Buffer
	code := h.agent.Exec([]string{"/usr/lib/ocf/resource.d/qinqbridge/tcguard", action}, append(append([]string(nil), h.env...), env...), &out, &errb)
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

var (
	probe      = []string{}
	promoted   = []string{"OCF_RESKEY_CRM_meta_interval=10000", "OCF_RESKEY_CRM_meta_role=Promoted"}
	unpromoted = []string{"OCF_RESKEY_CRM_meta_interval=11000", "OCF_RESKEY_CRM_meta_role=Unpromoted"}
)

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

// state is the guard as tcguard reports it.
func (h *harness) state() tcguard.State {
	h.t.Helper()
	n, _ := h.k.Open(bridgectl.Options{})
	g, _ := n.Guard(block, config.DefaultGroup)
	s, err := g.Status(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return s.State
}

func (h *harness) wantState(want tcguard.State) {
	h.t.Helper()
	if got := h.state(); got != want {
		h.t.Fatalf("guard %v, want %v", got, want)
	}
}

func (h *harness) startedMarker() bool {
	_, err := os.Stat(filepath.Join(h.k.Dir, startedFile))
	return err == nil
}

func TestTable(t *testing.T) {
	a := newAgent(&guard{})
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	md, err := a.MetaData(ocf.OCF10)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`role="Promoted"`, `role="Unpromoted"`, `name="promote"`, `name="demote"`, `name="notify"`} {
		if !bytes.Contains(md, []byte(s)) {
			t.Errorf("meta-data lacks %s", s)
		}
	}
}

func TestLifecycle(t *testing.T) {
	h := newHarness(t, cfgTwo)
	h.want("monitor", probe, 7)
	h.bridge(cfgTwo)
	h.want("monitor", probe, 7) // bridge ports blocked, guard not started
	h.want("validate-all", nil, 0)

	h.want("start", nil, 0)
	h.wantState(tcguard.Blocked)
	if !h.startedMarker() {
		t.Fatal("no started marker")
	}
	if got := h.score.last(); got != 100 {
		t.Fatalf("score %d, want 100", got)
	}
	h.want("monitor", probe, 0)
	h.want("monitor", unpromoted, 0)
	h.want("notify", []string{"OCF_RESKEY_CRM_meta_notify_type=pre", "OCF_RESKEY_CRM_meta_notify_operation=promote"}, 0)

	res := h.want("promote", nil, 0)
	if n := strings.Count(res.log, "\n"); os.Getenv("JOURNAL_STREAM") == "" && n != 1 {
		t.Errorf("promote logged %d lines, want one:\n%s", n, res.log)
	}
	h.wantState(tcguard.Opened)
	h.want("monitor", promoted, 8)
	h.want("monitor", probe, 8)
	h.want("promote", nil, 0)
	h.want("monitor", promoted, 8)

	h.want("demote", nil, 0)
	h.wantState(tcguard.Blocked)
	h.want("monitor", unpromoted, 0)
	h.want("demote", nil, 0)
	h.want("monitor", unpromoted, 0)

	h.want("promote", nil, 0)
	// stop from promoted: fail closed.
	h.want("stop", nil, 0)
	h.wantState(tcguard.Blocked)
	if h.startedMarker() || h.score.deleted != 1 {
		t.Fatalf("started marker %v, score deleted %d times", h.startedMarker(), h.score.deleted)
	}
	h.want("monitor", probe, 7)
	h.want("monitor", unpromoted, 7)
	h.want("stop", nil, 0)
	h.want("start", nil, 0)
	h.want("start", nil, 0)
	h.want("monitor", unpromoted, 0)
}

// Without any port bound (no bridge yet, or an empty configuration) every
// action works: there is nothing to filter.
func TestNoPorts(t *testing.T) {
	h := newHarness(t, "")
	h.want("start", nil, 0)
	h.want("monitor", unpromoted, 0)
	h.want("promote", nil, 0)
	h.want("monitor", promoted, 8)
	h.want("demote", nil, 0)
	h.want("monitor", unpromoted, 0)
	h.want("stop", nil, 0)
	h.want("monitor", probe, 7)
}

// A leak: frames flow on a node whose guard is not promoted.
func TestLeaks(t *testing.T) {
	t.Run("unpromoted, filter removed behind our back", func(t *testing.T) {
		h := newHarness(t, cfgTwo)
		h.bridge(cfgTwo)
		h.want("start", nil, 0)
		h.k.RemoveGuardFilter(block)
		h.wantState(tcguard.Unguarded)
		h.want("monitor", unpromoted, 1, "unpromoted, yet the guard of block 29026 is open", "4 ports may forward")
		h.want("stop", nil, 0)
		h.wantState(tcguard.Blocked)
	})
	t.Run("not started, opened", func(t *testing.T) {
		h := newHarness(t, cfgTwo)
		h.bridge(cfgTwo)
		n, _ := h.k.Open(bridgectl.Options{})
		g, _ := n.Guard(block, config.DefaultGroup)
		if err := g.Unblock(); err != nil { // bridgectl or an admin opened it
			t.Fatal(err)
		}
		h.want("monitor", probe, 1, "not started, yet the guard of block 29026 is open")
		h.want("stop", nil, 0)
		h.wantState(tcguard.Blocked)
		h.want("monitor", probe, 7)
	})
	t.Run("not started, unguarded", func(t *testing.T) {
		h := newHarness(t, cfgTwo)
		h.bridge(cfgTwo)
		h.k.RemoveGuardFilter(block)
		h.want("monitor", probe, 1, "unguarded")
		h.want("stop", nil, 0)
		h.want("monitor", probe, 7)
	})
}

// The states a SIGKILL can leave behind, at each point of each action, and
// that re-running the action (or Pacemaker's recovery) converges.
func TestKilledMidway(t *testing.T) {
	setup := func(t *testing.T) *harness {
		h := newHarness(t, cfgTwo)
		h.bridge(cfgTwo)
		return h
	}
	t.Run("start: blocked, marker not written", func(t *testing.T) {
		h := setup(t)
		h.want("start", nil, 0)
		os.Remove(filepath.Join(h.k.Dir, startedFile))
		h.want("monitor", probe, 7)
		h.want("start", nil, 0)
		h.want("monitor", unpromoted, 0)
	})
	t.Run("stop: blocked, marker not removed", func(t *testing.T) {
		h := setup(t)
		h.want("start", nil, 0)
		h.want("promote", nil, 0)
		n, _ := h.k.Open(bridgectl.Options{})
		g, _ := n.Guard(block, config.DefaultGroup)
		g.Block()
		h.want("monitor", unpromoted, 0)
		h.want("stop", nil, 0)
		h.want("monitor", probe, 7)
	})
	t.Run("promote: open intent recorded, filter still in", func(t *testing.T) {
		h := setup(t)
		h.want("start", nil, 0)
		h.k.WriteMarker()
		h.wantState(tcguard.Interrupted)
		h.want("monitor", promoted, 9, "promoted, yet the guard of block 29026 drops every frame")
		h.want("promote", nil, 0)
		h.want("monitor", promoted, 8)
	})
	t.Run("demote: filter back, open intent not yet removed", func(t *testing.T) {
		h := setup(t)
		h.want("start", nil, 0)
		h.want("promote", nil, 0)
		n, _ := h.k.Open(bridgectl.Options{})
		g, _ := n.Guard(block, config.DefaultGroup)
		if err := g.Block(); err != nil { // the filter back...
			t.Fatal(err)
		}
		h.k.WriteMarker() // ...and the open intent not yet removed
		h.want("monitor", promoted, 9)
		h.want("demote", nil, 0)
		h.want("monitor", unpromoted, 0)
	})
	t.Run("stale open intent on a stopped guard", func(t *testing.T) {
		h := setup(t)
		h.k.WriteMarker()
		h.wantState(tcguard.Interrupted)
		h.want("monitor", probe, 7)
		h.want("start", nil, 0)
		h.wantState(tcguard.Blocked)
	})
	t.Run("bridge restarted under an open guard: block re-created blocked", func(t *testing.T) {
		h := setup(t)
		h.want("start", nil, 0)
		h.want("promote", nil, 0)
		n, _ := h.k.Open(bridgectl.Options{})
		n.Down()
		h.bridge(cfgTwo)
		h.want("monitor", promoted, 9)
	})
}

// promote touches no link and reads no configuration: O(1) in the number
// of translations.
func TestPromoteIsConstant(t *testing.T) {
	h := newHarness(t, cfgTwo)
	h.bridge(cfgTwo)
	h.want("start", nil, 0)
	h.write("this is not TOML")
	h.k.ResetCalls()
	h.want("promote", nil, 0)
	h.want("demote", nil, 0)
	want := []string{"open", "guard 29026", "unblock", "open", "guard 29026", "block"}
	if !slices.Equal(h.k.Calls, want) {
		t.Fatalf("promote and demote did %q, want %q", h.k.Calls, want)
	}
	if len(h.score.set) != 1 {
		t.Fatalf("promote or demote set the score: %v", h.score.set)
	}
}

func TestPromoteNotStarted(t *testing.T) {
	h := newHarness(t, cfgTwo)
	h.bridge(cfgTwo)
	h.want("promote", nil, 1, "not started")
	h.wantState(tcguard.Blocked)
}

// The block guarded is the one the bridge applied, not an edited file's.
func TestBlockFromAppliedConfiguration(t *testing.T) {
	h := newHarness(t, cfgTwo)
	h.bridge(cfgTwo)
	h.write("[guard]\nblock = 4242\n" + cfgTwo)
	h.want("start", nil, 0)
	h.want("promote", nil, 0)
	h.wantState(tcguard.Opened)
	h.want("monitor", promoted, 8)
	h.want("stop", nil, 0)
	h.wantState(tcguard.Blocked)

	// Nothing applied: the file's block.
	h2 := newHarness(t, "[guard]\nblock = 4242\n")
	h2.want("start", nil, 0)
	if b, _, _ := readStarted(h2.k.Dir, config.DefaultGroup); b != 4242 {
		t.Fatalf("started with block %d", b)
	}
}

// The bridge re-applied with another block while the guard ran: the guard
// would guard nothing. Monitor fails; stop closes both blocks.
func TestBlockMismatch(t *testing.T) {
	h := newHarness(t, cfgTwo)
	h.bridge(cfgTwo)
	h.want("start", nil, 0)
	n, _ := h.k.Open(bridgectl.Options{})
	n.Down()
	other := "[guard]\nblock = 4242\n" + cfgTwo
	h.bridge(other)
	h.want("monitor", unpromoted, 1, "guards block 29026 but the bridge here binds group default to block 4242")
	h.k.RemoveGuardFilter(4242)
	h.want("stop", nil, 0)
	if !h.k.Dropping(4242) {
		t.Fatal("stop left block 4242 open")
	}
	h.want("start", nil, 0)
	h.want("monitor", unpromoted, 0)
}

func TestBrokenConfig(t *testing.T) {
	h := newHarness(t, "[guard]\nblock = 0\n")
	h.want("validate-all", nil, 6, "config invalid")
	h.want("start", nil, 6, "config invalid")
	h.want("monitor", probe, 7)
	h.want("stop", nil, 0)

	// With a bridge applied, start needs no file: the guard follows the
	// bridge, whose monitor reports the file.
	h.bridge(cfgTwo)
	h.want("start", nil, 0)
	h.want("promote", nil, 0)
	h.want("monitor", promoted, 8)
	h.want("stop", nil, 0)
	h.wantState(tcguard.Blocked)
	h.want("monitor", probe, 7)

	h.write("")
	h.want("validate-all", []string{"OCF_RESKEY_config=/nonexistent.toml"}, 5)
	h.want("validate-all", []string{"OCF_RESKEY_config=relative.toml"}, 6)
}

func TestNetNS(t *testing.T) {
	h := newHarness(t, cfgTwo)
	missing := []string{"OCF_RESKEY_netns=missing"}
	h.want("monitor", missing, 7)
	h.want("monitor", append(missing, unpromoted...), 7)
	h.want("stop", missing, 0)
	h.want("demote", missing, 0)
	h.want("start", missing, 5)
	h.want("promote", missing, 1)
	h.want("validate-all", []string{"OCF_RESKEY_netns=a/b"}, 6)
	h.want("start", []string{"OCF_RESKEY_netns=a/b"}, 6)
}

// A guard that cannot be blocked fails stop: Pacemaker fences the node,
// the only way left to stop it forwarding.
func TestCannotBlock(t *testing.T) {
	h := newHarness(t, cfgTwo)
	h.bridge(cfgTwo)
	h.want("start", nil, 0)
	h.want("promote", nil, 0)
	h.k.Fail["block"] = errors.New("operation not permitted")
	h.want("stop", nil, 1, "cannot block the guard of block 29026")
	h.want("demote", nil, 1)
	h.want("start", nil, 1)
	delete(h.k.Fail, "block")
	h.k.Fail["unblock"] = errors.New("no such module act_gact")
	h.want("demote", nil, 0)
	h.want("promote", nil, 1, "cannot open the guard")
	h.k.Fail["status"] = errors.New("dump interrupted")
	h.want("monitor", unpromoted, 1, "dump interrupted")
}

func TestPromotionScore(t *testing.T) {
	h := newHarness(t, cfgTwo)
	h.want("start", nil, 0)
	if got := h.score.last(); got != 1 {
		t.Fatalf("score without a bridge %d, want 1", got)
	}
	h.bridge(cfgTwo)
	h.want("monitor", unpromoted, 0)
	if got := h.score.last(); got != 100 {
		t.Fatalf("score %d, want 100", got)
	}
	// eth2 loses carrier: globex cannot forward, acme still can.
	h.k.SetCarrier("eth2", false)
	h.want("monitor", unpromoted, 0)
	if got := h.score.last(); got != 50 {
		t.Fatalf("score with one of two translations %d, want 50", got)
	}
	h.k.SetCarrier("eth1", false)
	h.want("monitor", unpromoted, 0)
	if got := h.score.last(); got != 1 {
		t.Fatalf("score with no trunk %d, want 1", got)
	}
	h.k.SetCarrier("eth1", true)
	h.k.SetCarrier("eth2", true)
	c, _ := config.Parse("x", []byte(cfgTwo))
	h.k.SetLink(c.Translations[0].Bridge, func(o *plan.Observed) { o.Up = false })
	h.want("monitor", unpromoted, 0)
	if got := h.score.last(); got != 50 {
		t.Fatalf("score with a bridge down %d, want 50", got)
	}

	// Failing to set it fails nothing.
	h.score.err = errors.New("crm_attribute: exit status 102: could not connect to the CIB")
	h.want("monitor", unpromoted, 0)
	h.want("stop", nil, 0)
	h.want("start", nil, 0)
}

// A recurring monitor runs crm_attribute only when the score changed, or
// when it last did so scoreRefresh ago; start and probes always do.
func TestPromotionScoreUnchanged(t *testing.T) {
	h := newHarness(t, cfgTwo)
	h.bridge(cfgTwo)
	h.want("start", nil, 0)
	sets := func() int { return len(h.score.set) }
	if sets() != 1 {
		t.Fatalf("start set %v", h.score.set)
	}
	h.want("monitor", unpromoted, 0)
	h.want("promote", nil, 0)
	h.want("monitor", promoted, 8)
	if sets() != 1 {
		t.Fatalf("monitors with an unchanged score set %v", h.score.set)
	}
	h.want("monitor", probe, 8)
	if sets() != 2 {
		t.Fatalf("probe did not set the score: %v", h.score.set)
	}
	h.k.SetCarrier("eth2", false)
	h.want("monitor", promoted, 8)
	if sets() != 3 || h.score.last() != 50 {
		t.Fatalf("changed score: %v", h.score.set)
	}
	old := time.Now().Add(-scoreRefresh)
	if err := os.Chtimes(filepath.Join(h.k.Dir, scoreFile), old, old); err != nil {
		t.Fatal(err)
	}
	h.want("monitor", promoted, 8)
	if sets() != 4 {
		t.Fatalf("score not refreshed after %v: %v", scoreRefresh, h.score.set)
	}
	// A failed set is retried by the next monitor.
	h.score.err = errors.New("crm_attribute: exit status 102")
	h.want("monitor", promoted, 8)
	h.k.SetCarrier("eth2", true)
	h.want("monitor", promoted, 8)
	h.want("monitor", promoted, 8)
	if sets() != 6 {
		t.Fatalf("failed sets not retried: %v", h.score.set)
	}
	h.score.err = nil
	h.want("stop", nil, 0)
	if _, err := os.Stat(filepath.Join(h.k.Dir, scoreFile)); !os.IsNotExist(err) {
		t.Fatalf("stop left %s: %v", scoreFile, err)
	}
}
