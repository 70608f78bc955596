package kernel

import (
	"sort"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

// Deleting links of ours without touching anyone else's. The fast way is a
// group delete (one RTM_DELLINK for a device group): the kernel unregisters
// every link of the group in one batch, one RCU grace period for all of
// them instead of one each, which is what makes `down` of thousands of
// links take seconds instead of minutes. But a group delete takes whatever
// is in the group, and fails as a whole (EOPNOTSUPP) if one of them cannot
// be deleted (lo, a NIC). So it is used only on a group that holds nothing
// foreign (plan.Observed.Owned): the links to delete are moved to
// DoomedGroup and that group is deleted, or, when a foreign link sits in
// DoomedGroup too, each link is deleted on its own.
//
// The groups are read before the requests go out; a link an admin moves
// into a group in between can still make the group delete fail (never
// succeed on it silently: a foreign link that can be deleted is deleted
// with the group only in that window). Callers re-read and retry.

// deleteLinks returns the requests that delete links, all of them ours.
// foreignDoomed says a foreign link is in DoomedGroup.
func deleteLinks(links []*plan.Observed, foreignDoomed bool) []Request {
	if len(links) == 0 {
		return nil
	}
	var reqs []Request
	if foreignDoomed {
		for _, o := range links {
			// ENODEV: gone already, e.g. with the parent it was
			// stacked on.
			reqs = append(reqs, Request{Op: OpDelete, Index: o.Index, What: "delete " + o.Name, Done: unix.ENODEV})
		}
		return reqs
	}
	for _, o := range links {
		if o.Group != defaults.DoomedGroup {
			reqs = append(reqs, set(o.Index, Attrs{Group: defaults.DoomedGroup}, "mark "+o.Name+" for deletion"))
		}
	}
	return append(reqs, deleteGroup(defaults.DoomedGroup, "delete the links marked for deletion"))
}

// downRequests returns the requests that delete every link of ours in st,
// and nothing else: both groups deleted whole when nothing foreign is in
// them, else deleteLinks.
func downRequests(st *plan.State) []Request {
	var ours []*plan.Observed
	foreign := map[uint32]bool{}
	for _, o := range st.ByIndex {
		switch {
		case o.Owned():
			ours = append(ours, o)
		case o.InGroup():
			foreign[o.Group] = true
		}
	}
	if len(foreign) == 0 {
		return []Request{
			deleteGroup(defaults.OwnerGroup, "delete the links of group qinqbridge"),
			deleteGroup(defaults.DoomedGroup, "delete the links marked for deletion"),
		}
	}
	sort.Slice(ours, func(i, j int) bool { return ours[i].Index < ours[j].Index })
	return deleteLinks(ours, foreign[defaults.DoomedGroup])
}

// foreignIn reports whether a foreign link the plan reports is in group.
func foreignIn(p *plan.Plan, group uint32) bool {
	for _, f := range p.Foreign {
		if f.Link.Group == group {
			return true
		}
	}
	return false
}

// deleteGroup deletes every link in a device group in one kernel batch. The
// kernel answers ENODEV for an empty group: nothing left to delete.
func deleteGroup(group uint32, what string) Request {
	return Request{Op: OpDeleteGroup, Group: group, What: what, Done: unix.ENODEV}
}
