package tcguard

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const testBlock = DefaultBlock

func mustStatus(t *testing.T, g *Guard, ports []int) Status {
	t.Helper()
	s, err := g.Status(ports)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return s
}

func wantState(t *testing.T, g *Guard, want State) Status {
	t.Helper()
	s := mustStatus(t, g, nil)
	if s.State != want {
		t.Fatalf("state %v (filter %v, marker %v, bound %v), want %v", s.State, s.FilterPresent, s.Marker, s.Bound, want)
	}
	return s
}

// A fresh block is blocked before a second port is bound, and stays blocked.
func TestBindFreshBlockArmsAfterFirstPort(t *testing.T) {
	k := newFakeKernel(t, 1, 2, 3)
	g := k.guard(testBlock)
	if err := g.Bind([]int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	want := []string{"qdisc 1", "filter add", "chain 29026", "qdisc 2", "qdisc 3"}
	if !slices.Equal(k.log, want) {
		t.Fatalf("operations %q, want %q", k.log, want)
	}
	s := wantState(t, g, Blocked)
	if !slices.Equal(s.Bound, []int{1, 2, 3}) || !s.Armed {
		t.Fatalf("bound %v armed %v", s.Bound, s.Armed)
	}
}

func TestBindIdempotentAndAdditive(t *testing.T) {
	k := newFakeKernel(t, 1, 2, 3, 4)
	g := k.guard(testBlock)
	for range 2 {
		if err := g.Bind([]int{1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	k.log = nil
	// An armed, opened block: new ports join it open, nothing is re-added.
	if err := g.Bind([]int{2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"qdisc 3", "qdisc 4"}; !slices.Equal(k.log, want) {
		t.Fatalf("operations %q, want %q", k.log, want)
	}
	s := wantState(t, g, Opened)
	if !slices.Equal(s.Bound, []int{1, 2, 3, 4}) {
		t.Fatalf("bound %v", s.Bound)
	}
}

func TestBindSmallBatches(t *testing.T) {
	k := newFakeKernel(t)
	var ports []int
	for i := 1; i <= 50; i++ {
		k.devices[i] = true
		ports = append(ports, i)
	}
	// A foreign qdisc and a missing device in the middle of batches.
	k.ingress[17] = qdisc{ifindex: 17, parent: tcHIngress, kind: "clsact", ingressBlock: 5}
	delete(k.devices, 33)
	g := k.guard(testBlock)
	g.batchSize = 7
	err := g.Bind(ports)
	failed := portErrors(err)
	if len(failed) != 2 || !errors.Is(failed[17], ErrForeign) || !errors.Is(failed[33], unix.ENODEV) {
		t.Fatalf("Bind: %v, want errors for ports 17 (foreign) and 33 (no device)", err)
	}
	if got := err.Error(); !strings.Contains(got, "port ifindex 17: foreign ingress qdisc, left untouched: clsact qdisc bound to block 5") {
		t.Fatalf("Bind error %q should name port 17 and the foreign block", got)
	}
	if q := k.ingress[17]; q.ingressBlock != 5 {
		t.Fatalf("foreign qdisc changed: %+v", q)
	}
	s := mustStatus(t, g, ports)
	// Port 17 forwards whatever the filter: the node is not blocked.
	if len(s.Bound) != 48 || !slices.Equal(s.Foreign, []int{17}) || !slices.Equal(s.Unbound, []int{33}) || s.State != Unguarded {
		t.Fatalf("status %+v", s)
	}
}

// When the first port is foreign, the block is armed after the first port
// actually bound.
func TestBindFirstPortForeign(t *testing.T) {
	k := newFakeKernel(t, 1, 2, 3)
	k.ingress[1] = qdisc{ifindex: 1, parent: tcHIngress, kind: "ingress"}
	g := k.guard(testBlock)
	if err := g.Bind([]int{1, 2, 3}); !errors.Is(err, ErrForeign) {
		t.Fatalf("Bind: %v", err)
	}
	if want := []string{"qdisc 2", "filter add", "chain 29026", "qdisc 3"}; !slices.Equal(k.log, want) {
		t.Fatalf("operations %q, want %q", k.log, want)
	}
}

func TestBlockUnblockOrderAndIdempotence(t *testing.T) {
	k := newFakeKernel(t, 1, 2)
	g := k.guard(testBlock)
	if err := g.Bind([]int{1, 2}); err != nil {
		t.Fatal(err)
	}
	// The marker must be on disk before the filter goes, and stay until
	// the filter is back.
	k.hook = func(op string) {
		m, _ := markerExists(g.o.StateDir)
		if (op == "filter del" || op == "filter add") && !m {
			t.Errorf("%s with no open marker", op)
		}
	}
	for range 2 {
		if err := g.Unblock(); err != nil {
			t.Fatal(err)
		}
		wantState(t, g, Opened)
	}
	k.hook = func(op string) {
		if op == "filter add" {
			if m, _ := markerExists(g.o.StateDir); !m {
				t.Errorf("marker removed before the filter was back")
			}
		}
	}
	if err := g.Block(); err != nil {
		t.Fatal(err)
	}
	k.hook = nil
	wantState(t, g, Blocked)
	if err := g.Block(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Blocked)
}

func TestNoPortBound(t *testing.T) {
	k := newFakeKernel(t)
	g := k.guard(testBlock)
	if err := g.Block(); err != nil {
		t.Fatalf("Block without block: %v", err)
	}
	wantState(t, g, Blocked)
	if err := g.Unblock(); err != nil {
		t.Fatalf("Unblock without block: %v", err)
	}
	s := wantState(t, g, Opened)
	if s.FilterPresent || s.Armed || len(s.Bound) != 0 {
		t.Fatalf("status %+v", s)
	}
	if err := g.Bind(nil); err != nil {
		t.Fatal(err)
	}
}

// Every port deleted, then bound again: the new block is blocked, even on an
// opened node (which then shows Interrupted until Unblock is re-run).
func TestRecreatedBlockIsBlocked(t *testing.T) {
	k := newFakeKernel(t, 1, 2)
	g := k.guard(testBlock)
	if err := g.Bind([]int{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	k.deleteDevice(1)
	k.deleteDevice(2)
	wantState(t, g, Opened)
	k.devices[3] = true
	if err := g.Bind([]int{3}); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Interrupted)
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Opened)
}

func TestInterruptedAndUnguarded(t *testing.T) {
	k := newFakeKernel(t, 1)
	g := k.guard(testBlock)
	if err := g.Bind([]int{1}); err != nil {
		t.Fatal(err)
	}
	// Unblock killed after writing the marker.
	if err := writeMarker(g.o.StateDir, testBlock); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Interrupted)
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Opened)
	// Block killed after adding the filter.
	if _, err := g.ensureFilter(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Interrupted)
	if err := g.Block(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Blocked)
	// The filter deleted by hand.
	k.blocks[testBlock].filter = nil
	wantState(t, g, Unguarded)
	if err := g.Block(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Blocked)
}

func TestForeignFilterAtOurPriority(t *testing.T) {
	k := newFakeKernel(t, 1)
	g := k.guard(testBlock)
	if err := g.Bind([]int{1}); err != nil {
		t.Fatal(err)
	}
	f := k.blocks[testBlock].filter
	f.actions[0].verdict = 0 // TC_ACT_OK: not a drop
	for name, op := range map[string]func() error{"Block": g.Block, "Unblock": g.Unblock} {
		if err := op(); !errors.Is(err, ErrForeignBlock) || !strings.Contains(err.Error(), "priority 1") {
			t.Errorf("%s: %v, want ErrForeignBlock naming the filter", name, err)
		}
	}
	if k.blocks[testBlock].filter != f {
		t.Fatal("foreign filter touched")
	}
	if _, err := g.Status(nil); err == nil {
		t.Fatal("Status accepted a foreign filter")
	}
}

func TestMissingModules(t *testing.T) {
	k := newFakeKernel(t, 1)
	g := k.guard(testBlock)
	replies, err := g.batch(nil)
	if err != nil || len(replies) != 0 {
		t.Fatal(replies, err)
	}
	_, err = g.do(newClsactMsg(1, testBlock, "clsactx"))
	if !qdiscKindMissing(err) {
		t.Fatalf("unknown qdisc kind: %v", err)
	}
	if err := g.Bind([]int{1}); err != nil {
		t.Fatal(err)
	}
	k.blocks[testBlock].filter = nil
	for _, tc := range []struct{ cls, act, module string }{
		{"matchallx", kindGact, "modprobe cls_matchall"},
		{kindMatchall, "gactx", "modprobe act_gact"},
	} {
		_, err := g.do(newGuardFilterMsg(testBlock, tc.cls, tc.act))
		if !kindMissing(err) || !strings.Contains(filterModuleError(err).Error(), tc.module) {
			t.Errorf("%s/%s: %v", tc.cls, tc.act, filterModuleError(err))
		}
	}
}

// portErrors maps each port Bind complained about to its error.
func portErrors(err error) map[int]error {
	out := map[int]error{}
	var walk func(error)
	walk = func(err error) {
		if pe, ok := err.(*PortError); ok {
			out[pe.Ifindex] = pe
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// Re-binding many ports verifies them with one qdisc dump instead of a get
// per port; the outcome is the same.
func TestRebindManyVerifiesByDump(t *testing.T) {
	k := newFakeKernel(t)
	var ports []int
	for i := 1; i <= 2*verifyByDump; i++ {
		k.devices[i] = true
		ports = append(ports, i)
	}
	k.ingress[5] = qdisc{ifindex: 5, parent: tcHIngress, kind: "ingress"}
	g := k.guard(testBlock)
	for round := range 2 {
		k.log = nil
		failed := portErrors(g.Bind(ports))
		if len(failed) != 1 || !errors.Is(failed[5], ErrForeign) {
			t.Fatalf("round %d: %v", round, failed)
		}
		if round == 1 && len(k.log) != 0 {
			t.Fatalf("re-bind changed %q", k.log)
		}
	}
	if s := wantState(t, g, Blocked); len(s.Bound) != len(ports)-1 {
		t.Fatalf("%d bound", len(s.Bound))
	}
}
