//go:build integration

package integration

import (
	"errors"
	"testing"

	tc "github.com/florianl/go-tc"
	"github.com/florianl/go-tc/core"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Fail closed under load: while both trunks' peers send frames continuously
// on the translations being (re)built, no frame comes out of the node:
//
//   - bridgectl apply adds QB_GUARD_N (default 1000) translations to a
//     blocked node;
//   - on an opened node, every port set down and its clsact deleted by hand
//     (the block disappears with them): apply binds the ports again, and
//     the re-created block is blocked before any port comes up;
//   - every clsact deleted by hand on up ports (they forward unguarded,
//     which status flags and the test sees): once apply has run, none;
//   - bridgectl down, then apply.
//
// Leaks are frames with the test EtherType arriving at the other trunk's
// peer, told apart per phase by a label in their payload.
func TestGuardFailClosedUnderLoad(t *testing.T) {
	n := guardEnvInt(t, "QB_GUARD_N", 1000)
	total := n + 1
	e := newGuardEnv(t)
	small, full := e.config(t, 1), e.config(t, total)
	e.apply(t, small)
	e.wantStatus(t, small, "blocked", 2)
	p := e.openPeers(t)
	// Deleting thousands of links takes the kernel a while (one RCU grace
	// period per bridge port): do it here rather than in the namespace's
	// asynchronous cleanup, which would hold rtnl while later tests run.
	t.Cleanup(func() {
		r := e.exec(t, "bridgectl", "down")
		t.Logf("bridgectl down at cleanup: exit %d, %v", r.code, r.took)
	})
	l := p.startLoad("idle", 1, 0)
	defer l.stop(t)

	// 1. A blocked node gets n more translations.
	e.leakPhase(t, p, l, full, "add", 2, total, func() {
		r := e.apply(t, full)
		t.Logf("apply adding %d translations under load: %v: %s", n, r.took, firstLine(r.stdout))
	})
	e.wantStatus(t, full, "blocked", 2*total)

	// 2. An opened node loses every clsact while its ports are down: the
	// block is gone, the open marker stays. Apply binds and brings the ports
	// up again; the new block must be blocked first.
	l.set("idle", 1, 0)
	e.guard(t, "unblock", full)
	e.wantStatus(t, full, "open", 2*total)
	ports := guardPorts(total)
	e.setDown(t, ports)
	e.deleteClsact(t, ports)
	s := e.status(t, full)
	if s.State != "open" || s.OK || s.Armed || s.PortsBound != 0 || len(s.Unbound) != 2*total {
		t.Fatalf("ports down and unbound: status %s ok=%v armed=%v bound %d unbound %d", s.State, s.OK, s.Armed, s.PortsBound, len(s.Unbound))
	}
	e.leakPhase(t, p, l, full, "rebind", 1, total, func() {
		r := e.apply(t, full)
		t.Logf("apply binding and setting up %d ports under load: %v: %s", 2*total, r.took, firstLine(r.stdout))
	})
	// Blocked although the marker says open: interrupted, exit 1.
	s = e.wantStatus(t, full, "interrupted", 2*total)
	if !s.Dropping || !s.OpenMarker || !s.Armed {
		t.Fatalf("re-created block: %+v", s)
	}
	e.guard(t, "block", full)
	e.wantStatus(t, full, "blocked", 2*total)

	// 3. Every clsact deleted on up ports: they forward, unguarded, and
	// status names them. Re-applying binds them: nothing passes any more.
	l.set("unguarded", 1, total)
	e.deleteClsact(t, ports)
	s = e.status(t, full)
	if s.OK || s.PortsBound != 0 || len(s.Unbound) != 2*total || s.code != 1 {
		t.Fatalf("clsact deleted: status %s ok=%v (exit %d) bound %d unbound %d", s.State, s.OK, s.code, s.PortsBound, len(s.Unbound))
	}
	// The leak detector works: unguarded ports do forward.
	guardWait(t, "frames across unguarded ports", func() bool { return p.rx.total("unguarded") > 0 })
	r := e.apply(t, full)
	t.Logf("apply re-binding %d up ports: %v: %s", 2*total, r.took, firstLine(r.stdout))
	e.leakPhase(t, p, l, full, "reapplied", 1, total, nil)
	e.wantStatus(t, full, "blocked", 2*total)
	t.Logf("unguarded window: %d frames crossed (expected: the test deleted the guard's qdiscs)", p.rx.total("unguarded"))

	// 4. bridgectl down, then apply: every link, the block with them, anew.
	e.leakPhase(t, p, l, full, "down+apply", 1, total, func() {
		r := e.must(t, "bridgectl", "down")
		t.Logf("bridgectl down under load: %v", r.took)
		r = e.apply(t, full)
		t.Logf("apply after down under load: %v: %s", r.took, firstLine(r.stdout))
	})
	e.wantStatus(t, full, "blocked", 2*total)
	l.set("idle", 1, 0)
}

// leakPhase labels the load phase on translations lo..hi, runs action (if
// any), keeps the load running until the guard has dropped at least one
// frame per port of the range (the ports exist, are up and receive), then
// pauses it and checks that no frame of the phase came out.
func (e *guardEnv) leakPhase(t *testing.T, p *guardPeers, l *guardLoad, cfg, label string, lo, hi int, action func()) {
	t.Helper()
	l.set(label, lo, hi)
	sent0 := l.total()
	if action != nil {
		action()
	}
	base := e.status(t, cfg).DroppedPackets
	want := base + uint64(2*(hi-lo+1))
	guardWait(t, label+": the guard drops the load", func() bool { return e.status(t, cfg).DroppedPackets >= want })
	l.set("idle", 1, 0)
	sent := l.total() - sent0
	e.settle(t, cfg)
	q, v, problems := p.rx.count(label)
	if q+v != 0 || len(problems) != 0 {
		t.Errorf("%s: %d frames leaked q0p->v0p and %d v0p->q0p out of %d sent %v", label, q, v, sent, problems)
	}
	t.Logf("%s: %d frames sent on translations %d..%d, %d came out; the guard dropped %d after the action",
		label, sent, lo, hi, q+v, e.status(t, cfg).DroppedPackets-base)
}

// settle waits until the guard's drop counter stands still between two
// status reads: every frame sent before has been dropped or delivered.
func (e *guardEnv) settle(t *testing.T, cfg string) {
	t.Helper()
	prev := e.status(t, cfg).DroppedPackets
	guardWait(t, "drop counter settles", func() bool {
		cur := e.status(t, cfg).DroppedPackets
		same := cur == prev
		prev = cur
		return same
	})
}

// setDown sets links down by hand.
func (e *guardEnv) setDown(t *testing.T, names []string) {
	t.Helper()
	for _, name := range names {
		if err := e.ns.Link.LinkSetDown(e.link(t, name)); err != nil {
			t.Fatalf("down %s: %v", name, err)
		}
	}
}

// deleteClsact deletes the links' clsact qdiscs by hand, with go-tc, as an
// administrator would.
func (e *guardEnv) deleteClsact(t *testing.T, names []string) {
	t.Helper()
	tcnl, err := tc.Open(&tc.Config{NetNS: int(e.ns.Handle)})
	if err != nil {
		t.Fatal(err)
	}
	defer tcnl.Close()
	links, err := e.ns.Link.LinkList()
	for attempt := 0; errors.Is(err, netlink.ErrDumpInterrupted) && attempt < 5; attempt++ {
		links, err = e.ns.Link.LinkList()
	}
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{}
	for _, l := range links {
		index[l.Attrs().Name] = l.Attrs().Index
	}
	for _, name := range names {
		i, ok := index[name]
		if !ok {
			t.Fatalf("no link %s", name)
		}
		err := tcnl.Qdisc().Delete(&tc.Object{
			Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: uint32(i), Handle: core.BuildHandle(tc.HandleRoot, 0), Parent: tc.HandleIngress},
			Attribute: tc.Attribute{Kind: "clsact"},
		})
		if err != nil {
			t.Fatalf("deleting the clsact of %s: %v", name, err)
		}
	}
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
