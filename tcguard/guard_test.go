package tcguard

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/florianl/go-tc"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

const testBlock = defaults.Block

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
		t.Fatalf("state %v (filter %v, marker %v, bound %v), want %v", s.State, s.Dropping, s.Marker, s.Bound, want)
	}
	return s
}

// A fresh block is blocked before a second port is bound, and stays blocked.
func TestBindFreshBlockArmsAfterFirstPort(t *testing.T) {
	k := newKernel(t, 1, 2, 3)
	g := guardOn(t, k, testBlock)
	if err := g.Bind([]int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	want := []string{"qdisc 1", "filter add", "filter add", "action 29026 verdict 2", "qdisc 2", "qdisc 3"}
	if !slices.Equal(k.Log, want) {
		t.Fatalf("operations %q, want %q", k.Log, want)
	}
	s := wantState(t, g, Blocked)
	if !slices.Equal(s.Bound, []int{1, 2, 3}) || !s.Armed {
		t.Fatalf("bound %v armed %v", s.Bound, s.Armed)
	}
}

func TestBindIdempotentAndAdditive(t *testing.T) {
	k := newKernel(t, 1, 2, 3, 4)
	g := guardOn(t, k, testBlock)
	for range 2 {
		if err := g.Bind([]int{1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	k.Log = nil
	// An armed, opened block: new ports join it open, nothing is re-added.
	if err := g.Bind([]int{2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"qdisc 3", "qdisc 4"}; !slices.Equal(k.Log, want) {
		t.Fatalf("operations %q, want %q", k.Log, want)
	}
	s := wantState(t, g, Opened)
	if !slices.Equal(s.Bound, []int{1, 2, 3, 4}) {
		t.Fatalf("bound %v", s.Bound)
	}
}

func TestBindSmallBatches(t *testing.T) {
	k := newKernel(t)
	var ports []int
	for i := 1; i <= 50; i++ {
		if i != 33 { // a missing device in the middle
			k.AddDevice(i)
		}
		ports = append(ports, i)
	}
	// A foreign qdisc in the middle.
	k.PlantQdisc(ingressQdisc(17, "clsact", 5, 0))
	g := guardOn(t, k, testBlock)
	err := g.Bind(ports)
	failed := portErrors(err)
	if len(failed) != 2 || !errors.Is(failed[17], ErrForeign) || !errors.Is(failed[33], unix.ENODEV) {
		t.Fatalf("Bind: %v, want errors for ports 17 (foreign) and 33 (no device)", err)
	}
	if got := err.Error(); !strings.Contains(got, "port ifindex 17: foreign ingress qdisc, left untouched: clsact qdisc bound to block 5") {
		t.Fatalf("Bind error %q should name port 17 and the foreign block", got)
	}
	if q, ok := k.Ingress(17); !ok || qdiscOf(q) != qdiscOf(ingressQdisc(17, "clsact", 5, 0)) {
		t.Fatalf("foreign qdisc changed: %+v %v", q, ok)
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
	k := newKernel(t, 1, 2, 3)
	k.PlantQdisc(ingressQdisc(1, "ingress", 0, 0))
	g := guardOn(t, k, testBlock)
	if err := g.Bind([]int{1, 2, 3}); !errors.Is(err, ErrForeign) {
		t.Fatalf("Bind: %v", err)
	}
	if want := []string{"qdisc 2", "filter add", "filter add", "action 29026 verdict 2", "qdisc 3"}; !slices.Equal(k.Log, want) {
		t.Fatalf("operations %q, want %q", k.Log, want)
	}
}

func TestBlockUnblockOrderAndIdempotence(t *testing.T) {
	k := newKernel(t, 1, 2)
	g := guardOn(t, k, testBlock)
	if err := g.Bind([]int{1, 2}); err != nil {
		t.Fatal(err)
	}
	// The marker must be on disk before the filter goes, and stay until
	// the filter is back.
	k.Fail = func(op string) error {
		m, _ := markerExists(g.o)
		if (op == "delete filter" || op == "add filter") && !m {
			t.Errorf("%s with no open marker", op)
		}
		return nil
	}
	for range 2 {
		if err := g.Unblock(); err != nil {
			t.Fatal(err)
		}
		wantState(t, g, Opened)
	}
	k.Fail = func(op string) error {
		if op == "add filter" {
			if m, _ := markerExists(g.o); !m {
				t.Errorf("marker removed before the filter was back")
			}
		}
		return nil
	}
	if err := g.Block(); err != nil {
		t.Fatal(err)
	}
	k.Fail = nil
	wantState(t, g, Blocked)
	if err := g.Block(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Blocked)
}

// The drop counter counts the frames the shared action dropped, in either
// block, and not those it let pass while open; past 2^32 it wraps (the
// kernel's field is 32 bits) and Block and Unblock still work.
func TestDropCounter(t *testing.T) {
	k := newKernel(t, 1)
	g := guardOn(t, k, testBlock)
	if err := g.Bind([]int{1}); err != nil {
		t.Fatal(err)
	}
	k.Frames(testBlock, 5, 320)
	k.Frames(EgressBlock(testBlock), 2, 128)
	if s := wantState(t, g, Blocked); s.DroppedPackets != 7 {
		t.Fatalf("dropped %d, want 7", s.DroppedPackets)
	}
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	k.Frames(testBlock, 100, 6400)
	if s := wantState(t, g, Opened); s.DroppedPackets != 7 {
		t.Fatalf("open: dropped %d, want still 7", s.DroppedPackets)
	}
	if err := g.Block(); err != nil {
		t.Fatal(err)
	}
	k.Frames(testBlock, 1<<32, 64<<32)
	if s := wantState(t, g, Blocked); s.DroppedPackets != 7 {
		t.Fatalf("dropped %d, want 7 (2^32 more, modulo 2^32)", s.DroppedPackets)
	}
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Opened)
}

func TestNoPortBound(t *testing.T) {
	k := newKernel(t)
	g := guardOn(t, k, testBlock)
	if err := g.Block(); err != nil {
		t.Fatalf("Block without block: %v", err)
	}
	wantState(t, g, Blocked)
	if err := g.Unblock(); err != nil {
		t.Fatalf("Unblock without block: %v", err)
	}
	s := wantState(t, g, Opened)
	if s.Dropping || s.Armed || len(s.Bound) != 0 {
		t.Fatalf("status %+v", s)
	}
	if err := g.Bind(nil); err != nil {
		t.Fatal(err)
	}
}

// Every port deleted, then bound again: the new block is blocked, even on an
// opened node (which then shows Interrupted until Unblock is re-run).
func TestRecreatedBlockIsBlocked(t *testing.T) {
	k := newKernel(t, 1, 2)
	g := guardOn(t, k, testBlock)
	if err := g.Bind([]int{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	k.RemoveDevice(1)
	k.RemoveDevice(2)
	wantState(t, g, Opened)
	k.AddDevice(3)
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
	k := newKernel(t, 1)
	g := guardOn(t, k, testBlock)
	if err := g.Bind([]int{1}); err != nil {
		t.Fatal(err)
	}
	// Unblock killed after writing the marker.
	if err := writeMarker(g.o); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Interrupted)
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Opened)
	// Block killed after making the action drop.
	if err := g.setVerdict(tc.ActShot); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Interrupted)
	if err := g.Block(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Blocked)
	// The action set to pass by hand.
	if !k.SetGact(ActionIndex(testBlock), tc.ActPipe) {
		t.Fatal("no guard action")
	}
	wantState(t, g, Unguarded)
	if err := g.Block(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Blocked)
	// A guard filter deleted by hand, in either block: Block puts it back,
	// bound to the shared action.
	for _, b := range []uint32{testBlock, EgressBlock(testBlock)} {
		if !k.RemoveFilter(b, FilterPriority, FilterHandle) {
			t.Fatalf("no guard filter in block %d", b)
		}
		wantState(t, g, Unguarded)
		if err := g.Block(); err != nil {
			t.Fatal(err)
		}
		wantState(t, g, Blocked)
		if _, binds, ok := k.Gact(ActionIndex(testBlock)); !ok || binds != 2 {
			t.Fatalf("block %d: the action is bound %d times, want 2", b, binds)
		}
	}
}

// Opened, then one guard filter deleted by hand: the filter put back binds
// the shared action as it is, so the node stays open (a fresh pair of
// blocks, by contrast, is blocked: TestRecreatedBlockIsBlocked).
func TestFilterRestoredKeepsVerdict(t *testing.T) {
	k := newKernel(t, 1)
	g := guardOn(t, k, testBlock)
	if err := g.Bind([]int{1}); err != nil {
		t.Fatal(err)
	}
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	k.RemoveFilter(testBlock, FilterPriority, FilterHandle)
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Opened)
	if v, binds, _ := k.Gact(ActionIndex(testBlock)); v != tc.ActPipe || binds != 2 {
		t.Fatalf("action verdict %d bound %d times", v, binds)
	}
}

func TestForeignFilterAtOurPriority(t *testing.T) {
	k := newKernel(t, 1)
	g := guardOn(t, k, testBlock)
	if err := g.Bind([]int{1}); err != nil {
		t.Fatal(err)
	}
	notDrop := blockFilter(testBlock, 0, FilterPriority, FilterHandle, kindMatchall, tc.ActOk) // not a drop
	k.PlantFilter(testBlock, notDrop)
	for name, op := range map[string]func() error{"Block": g.Block, "Unblock": g.Unblock} {
		if err := op(); !errors.Is(err, ErrForeignBlock) || !strings.Contains(err.Error(), "priority 1") {
			t.Errorf("%s: %v, want ErrForeignBlock naming the filter", name, err)
		}
	}
	if f, ok := guardFilterNow(t, k, testBlock); !ok || f.actions[0].verdict != tc.ActOk {
		t.Fatal("foreign filter touched")
	}
	if s := mustStatus(t, g, nil); s.State != Unguarded || len(s.Intruders) != 1 {
		t.Fatalf("status %v, intruders %q", s.State, s.Intruders)
	}
}

func TestMissingModules(t *testing.T) {
	k := newKernel(t, 1)
	g := guardOn(t, k, testBlock)
	k.Fail = func(op string) error {
		if op == "add qdisc" {
			return kernelSays(unix.ENOENT, "Specified qdisc kind is unknown")
		}
		return nil
	}
	if err := g.Bind([]int{1}); !qdiscKindMissing(err) || !strings.Contains(err.Error(), "modprobe sch_ingress") {
		t.Fatalf("unknown qdisc kind: %v", err)
	}
	if _, whole := FailedPorts(g.Bind([]int{1})); !whole {
		t.Fatal("a missing module is not a failure of all ports")
	}
	k.Fail = nil
	if err := g.Bind([]int{1}); err != nil {
		t.Fatal(err)
	}
	k.RemoveFilter(testBlock, FilterPriority, FilterHandle)
	for _, tc := range []struct{ text, module string }{
		{"TC classifier not found", "modprobe cls_matchall"},
		{"Failed to load TC action module", "modprobe act_gact"},
	} {
		k.Fail = func(op string) error {
			if op == "add filter" {
				return kernelSays(unix.ENOENT, tc.text)
			}
			return nil
		}
		if err := g.Block(); !kindMissing(err) || !strings.Contains(err.Error(), tc.module) {
			t.Errorf("%s: %v", tc.text, err)
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

// Re-binding many ports verifies them with one qdisc dump; the outcome is
// the same.
func TestRebindManyVerifiesByDump(t *testing.T) {
	k := newKernel(t)
	var ports []int
	for i := 1; i <= 128; i++ {
		k.AddDevice(i)
		ports = append(ports, i)
	}
	k.PlantQdisc(ingressQdisc(5, "ingress", 0, 0))
	g := guardOn(t, k, testBlock)
	for round := range 2 {
		k.Log = nil
		failed := portErrors(g.Bind(ports))
		if len(failed) != 1 || !errors.Is(failed[5], ErrForeign) {
			t.Fatalf("round %d: %v", round, failed)
		}
		if round == 1 && len(k.Log) != 0 {
			t.Fatalf("re-bind changed %q", k.Log)
		}
	}
	if s := wantState(t, g, Blocked); len(s.Bound) != len(ports)-1 {
		t.Fatalf("%d bound", len(s.Bound))
	}
}
