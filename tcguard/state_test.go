package tcguard

import "testing"

func TestStateOf(t *testing.T) {
	for _, tc := range []struct {
		marker, filter, bound bool
		want                  State
	}{
		{false, true, true, Blocked},
		{true, false, true, Opened},
		{true, true, true, Interrupted},
		{false, false, true, Unguarded},
		// No port bound: the next Bind arms the block, so nothing can flow.
		{false, false, false, Blocked},
		{true, false, false, Opened},
		// Filter without bound port cannot happen (the block dies with its
		// last port); the state follows the pair anyway.
		{false, true, false, Blocked},
		{true, true, false, Interrupted},
	} {
		if got := stateOf(tc.marker, tc.filter, tc.bound); got != tc.want {
			t.Errorf("stateOf(marker %v, filter %v, bound %v) = %v, want %v", tc.marker, tc.filter, tc.bound, got, tc.want)
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
		1: {ifindex: 1, kind: "clsact", ingressBlock: testBlock},
		2: {ifindex: 2, kind: "clsact"},
		3: {ifindex: 3, kind: "ingress"},
		4: {ifindex: 4, kind: "clsact", ingressBlock: testBlock + 1},
	}
	foreign, unbound := classify([]int{1, 2, 3, 4, 5}, ingress, testBlock)
	if len(foreign) != 3 || foreign[0] != 2 || foreign[2] != 4 || len(unbound) != 1 || unbound[0] != 5 {
		t.Fatalf("foreign %v unbound %v", foreign, unbound)
	}
}
