package kernel

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

// describe renders a request as the kernel reads it: a group delete, a
// delete of one link, or a move to a group.
func describe(t *testing.T, r Request) string {
	t.Helper()
	switch {
	case r.Op == OpDeleteGroup:
		if r.Done != unix.ENODEV {
			t.Errorf("delete of group %d: an empty group must count as done", r.Group)
		}
		return fmt.Sprintf("delete group %d", r.Group)
	case r.Op == OpDelete:
		if r.Done != unix.ENODEV {
			t.Errorf("delete of #%d: gone already must count as done", r.Index)
		}
		return fmt.Sprintf("delete #%d", r.Index)
	case r.Op == OpSet && r.Attrs.Group != 0 && r.Attrs == (Attrs{Group: r.Attrs.Group}):
		return fmt.Sprintf("#%d to group %d", r.Index, r.Attrs.Group)
	}
	t.Fatalf("unexpected request %+v", r)
	return ""
}

func TestDownRequests(t *testing.T) {
	const owner, doomed = defaults.OwnerGroup, defaults.DoomedGroup
	ours := func(i int, g uint32) *plan.Observed {
		return &plan.Observed{Index: i, Name: fmt.Sprint("ours", i), Group: g, Alias: "qinqbridge s-tag"}
	}
	lo := &plan.Observed{Index: 1, Name: "lo"}
	for _, tc := range []struct {
		name  string
		links []*plan.Observed
		want  string
	}{
		{"nothing foreign: both groups whole",
			[]*plan.Observed{lo, ours(7, owner), ours(8, doomed)},
			"delete group 29026; delete group 29027"},
		{"nothing at all: both groups whole, ENODEV is done",
			[]*plan.Observed{lo},
			"delete group 29026; delete group 29027"},
		{"lo in our group: ours moved out of its way",
			[]*plan.Observed{{Index: 1, Name: "lo", Group: owner}, ours(7, owner), ours(8, doomed), ours(9, owner)},
			"#7 to group 29027; #9 to group 29027; delete group 29027"},
		{"an admin's link with another alias in our group",
			[]*plan.Observed{lo, {Index: 5, Name: "veth-admin", Group: owner, Alias: "uplink"}, ours(7, owner)},
			"#7 to group 29027; delete group 29027"},
		{"foreign link in the doomed group: one by one",
			[]*plan.Observed{lo, {Index: 5, Name: "eth3", Group: doomed}, ours(7, owner), ours(8, doomed)},
			"delete #7; delete #8"},
		{"foreign only: nothing to do",
			[]*plan.Observed{{Index: 1, Name: "lo", Group: doomed}},
			""},
		{"marked but out of the groups is not ours",
			[]*plan.Observed{lo, {Index: 5, Name: "x", Alias: "qinqbridge x"}, {Index: 6, Name: "y", Group: owner}},
			""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range downRequests(plan.NewState(tc.links)) {
				got = append(got, describe(t, r))
			}
			if s := strings.Join(got, "; "); s != tc.want {
				t.Fatalf("requests:\n%s\nwant:\n%s", s, tc.want)
			}
		})
	}
}

// apply's delete phase: the group delete only when the plan reports no
// foreign link in the doomed group.
func TestDeleteLinks(t *testing.T) {
	doomed := []*plan.Observed{
		{Index: 7, Name: "a", Group: defaults.OwnerGroup, Alias: "qinqbridge x"},
		{Index: 8, Name: "b", Group: defaults.DoomedGroup, Alias: "qinqbridge x"},
	}
	for _, tc := range []struct {
		foreign bool
		want    string
	}{
		{false, "#7 to group 29027; delete group 29027"},
		{true, "delete #7; delete #8"},
	} {
		var got []string
		for _, r := range deleteLinks(doomed, tc.foreign) {
			got = append(got, describe(t, r))
		}
		if s := strings.Join(got, "; "); s != tc.want {
			t.Errorf("foreign in the doomed group %v: %s, want %s", tc.foreign, s, tc.want)
		}
	}
	if deleteLinks(nil, false) != nil {
		t.Error("nothing to delete must send nothing (a group delete would take a foreign link)")
	}
}

func TestForeignIn(t *testing.T) {
	p := &plan.Plan{Foreign: []plan.Foreign{{Link: &plan.Observed{Name: "lo", Group: defaults.OwnerGroup}}}}
	if foreignIn(p, defaults.DoomedGroup) || !foreignIn(p, defaults.OwnerGroup) {
		t.Fatal("foreignIn")
	}
}

// A create and the alias that marks the link ours never go out in two
// sendmsg calls, wherever the window boundary falls.
func TestWindowEndKeepsJoinedTogether(t *testing.T) {
	mk := func(n int, joinedAt ...int) []Request {
		r := make([]Request, n)
		for _, i := range joinedAt {
			r[i].Joined = true
		}
		return r
	}
	for _, tc := range []struct {
		name  string
		reqs  []Request
		start int
		want  int
	}{
		{"short batch", mk(10), 0, 10},
		{"full window", mk(2 * Window), 0, Window},
		{"pair across the boundary", mk(2*Window, Window-1), 0, Window + 1},
		{"chain across the boundary", mk(2*Window, Window-1, Window), 0, Window + 2},
		{"joined last request", mk(3, 2), 0, 3},
		{"second window", mk(3*Window, 2*Window-1), Window, 2*Window + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := windowEnd(tc.reqs, tc.start); got != tc.want {
				t.Fatalf("windowEnd = %d, want %d", got, tc.want)
			}
		})
	}
	// Windows cover every request once, in order.
	reqs := mk(1000, 255, 300, 511, 767)
	var seen []int
	for start, end := 0, 0; start < len(reqs); start = end {
		end = windowEnd(reqs, start)
		for i := start; i < end; i++ {
			seen = append(seen, i)
		}
		if reqs[end-1].Joined {
			t.Errorf("window [%d,%d) ends on a joined request", start, end)
		}
	}
	if len(seen) != 1000 || !slices.IsSorted(seen) {
		t.Errorf("windows cover %d requests", len(seen))
	}
}
