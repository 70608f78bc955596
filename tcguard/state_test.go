package tcguard

import (
	"slices"
	"testing"
)

func TestStateOf(t *testing.T) {
	for _, tc := range []struct {
		marker, filter, bound, loose bool
		want                         State
	}{
		{false, true, true, false, Blocked},
		{true, false, true, false, Opened},
		{true, true, true, false, Interrupted},
		{false, false, true, false, Unguarded},
		// No port bound: the next Bind arms the block, so nothing can flow.
		{false, false, false, false, Blocked},
		{true, false, false, false, Opened},
		// Filter without bound port cannot happen (the block dies with its
		// last port); the state follows the pair anyway.
		{false, true, false, false, Blocked},
		{true, true, false, false, Interrupted},
		// An expected port not bound forwards whatever the filter: never
		// Blocked. Also when no port is bound at all (every qdisc deleted,
		// so the block, filter and all, is gone).
		{false, true, true, true, Unguarded},
		{false, false, false, true, Unguarded},
		{false, true, false, true, Unguarded},
		// Opened on purpose: a loose port forwards as the others do.
		{true, false, true, true, Opened},
		{true, true, true, true, Interrupted},
	} {
		if got := StateOf(tc.marker, tc.filter, tc.bound, tc.loose); got != tc.want {
			t.Errorf("StateOf(marker %v, filter %v, bound %v, loose %v) = %v, want %v", tc.marker, tc.filter, tc.bound, tc.loose, got, tc.want)
		}
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Blocked: "blocked", Opened: "open", Interrupted: "interrupted", Unguarded: "unguarded", 0: "State(0)"} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", int(s), s.String(), want)
		}
	}
}

func TestClassify(t *testing.T) {
	ingress := map[int]qdisc{
		1: {ifindex: 1, kind: "clsact", ingressBlock: testBlock, egressBlock: EgressBlock(testBlock)},
		// One block for both directions (the guard before it had two).
		8: {ifindex: 8, kind: "clsact", ingressBlock: testBlock, egressBlock: testBlock},
		2: {ifindex: 2, kind: "clsact"},
		3: {ifindex: 3, kind: "ingress"},
		4: {ifindex: 4, kind: "clsact", ingressBlock: testBlock + 3},
		// A trunk of the tc datapath: ours.
		10: {ifindex: 10, kind: "clsact", ingressBlock: TrunkBlock(testBlock)},
		// Ingress alone bound: its egress is not guarded.
		6: {ifindex: 6, kind: "clsact", ingressBlock: testBlock},
		// Not ports, but on our blocks: strangers.
		7: {ifindex: 7, kind: "clsact", egressBlock: testBlock},
		9: {ifindex: 9, kind: "clsact", ingressBlock: EgressBlock(testBlock)},
	}
	foreign, unbound := classify([]int{1, 2, 3, 4, 5, 6, 8, 10}, ingress, Options{Block: testBlock})
	if !slices.Equal(foreign, []int{2, 3, 4, 6, 8}) || !slices.Equal(unbound, []int{5}) {
		t.Fatalf("foreign %v unbound %v", foreign, unbound)
	}
	if got := strangers([]int{1, 2, 3, 4, 5, 6, 8, 10}, ingress, Options{Block: testBlock}); !slices.Equal(got, []int{7, 9}) {
		t.Fatalf("strangers %v, want [7 9]", got)
	}
}
