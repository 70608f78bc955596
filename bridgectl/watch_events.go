package bridgectl

import (
	"context"

	"github.com/florianl/go-tc"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// Event is one rtnetlink notification the watcher may care about: a link's
// (Link set) or a tc object's (TC set). An event with Err instead is the
// last before its channel closes and says why the subscription ended:
// events may have been lost (e.g. ENOBUFS, the socket overran), so the
// watcher re-reads everything.
type Event struct {
	Link *LinkEvent
	TC   *TCEvent
	Err  error
}

// LinkEvent is one rtnetlink link notification (RTM_NEWLINK or
// RTM_DELLINK), reduced to what decides whether the watcher cares.
type LinkEvent struct {
	Deleted     bool
	Index       int
	Name        string
	Group       uint32 // IFLA_GROUP: ours is defaults.OwnerGroup or defaults.DoomedGroup
	ParentIndex int    // IFLA_LINK: a VLAN's parent
	MasterIndex int
	// Up (IFF_UP) and OperUp (IF_OPER_UP): carrier propagation's recovery
	// follows them event by event.
	Up, OperUp bool
}

// TCEvent is one rtnetlink tc notification (RTNLGRP_TC): a qdisc, class,
// filter, chain or action added, changed or deleted. A port's binding to
// the guard is its clsact qdisc, and the guard itself is a filter and a
// chain in the shared block, so these are how a lost binding is noticed.
type TCEvent struct {
	Type    uint16 // unix.RTM_NEWQDISC, RTM_DELTFILTER, RTM_NEWCHAIN, ...
	Ifindex uint32 // the device, or tc.MagicBlock for a shared block's filters and chains
	Parent  uint32 // with tc.MagicBlock: the block's index
	// Undecoded: the library could not parse the message, so it may be
	// anything, ours included.
	Undecoded bool
}

// EventSource subscribes to a namespace's notifications. The watcher takes
// it as an interface so its loop is tested with a fake.
type EventSource interface {
	// Subscribe delivers events until ctx ends or the subscription fails.
	// Either way the channel is then closed; on failure its last event
	// carries Err.
	Subscribe(ctx context.Context) (<-chan Event, error)
}

// scope is what the watcher cares about for one configuration: a change to
// any of these may be drift or may unblock an apply that failed.
type scope struct {
	names   map[string]bool // every link the configuration wants, and their parents
	indexes map[int]bool    // the same, by ifindex, as last observed
	blocks  map[uint32]bool // the groups' guards' blocks (ingress, egress) and the tc datapath's
}

// newScope collects the names of cfg's links and parent interfaces, and
// their indexes in st (nil: none known yet).
func newScope(cfg *config.Config, st *plan.State) *scope {
	s := &scope{names: map[string]bool{}, indexes: map[int]bool{}, blocks: map[uint32]bool{tcguard.TrunkBlock(cfg.Guard.Block): true}}
	for _, g := range cfg.Groups {
		s.blocks[g.Block], s.blocks[tcguard.EgressBlock(g.Block)] = true, true
	}
	s.blocks[cfg.Guard.Block], s.blocks[tcguard.EgressBlock(cfg.Guard.Block)] = true, true
	for _, t := range cfg.Translations {
		s.names[t.Bridge] = true
		for _, e := range []config.End{t.A, t.B} {
			s.names[e.Parent] = true
			for _, n := range e.Links() {
				s.names[n] = true
			}
		}
	}
	if st != nil {
		for n := range s.names {
			if o := st.ByName[n]; o != nil {
				s.indexes[o.Index] = true
			}
		}
	}
	return s
}

// relevant reports whether ev may concern us (see relevantLink and
// relevantTC).
func (s *scope) relevant(ev Event) bool {
	switch {
	case ev.Link != nil:
		return s.relevantLink(*ev.Link)
	case ev.TC != nil:
		return s.relevantTC(*ev.TC)
	}
	return false
}

// relevantLink reports whether a link event may concern us:
//   - a link of ours (by group: also an orphan, or one renamed by hand);
//   - a link with a name we want: ours gone missing, or a foreign one in
//     the way (and its removal, which unblocks us);
//   - a parent interface appearing, disappearing or changing its MTU;
//   - a link stacked on one of ours or our parents (a foreign VLAN can hold
//     the slot — parent, protocol, id — that one of our VLANs needs);
//   - any event about an index we observed as ours or as a parent.
//
// Everything else (other interfaces, carrier changes elsewhere) is ignored.
func (s *scope) relevantLink(ev LinkEvent) bool {
	if ev.Group == defaults.OwnerGroup || ev.Group == defaults.DoomedGroup {
		return true
	}
	return s.names[ev.Name] || s.indexes[ev.Index] || (ev.ParentIndex != 0 && s.indexes[ev.ParentIndex])
}

// relevantTC reports whether a tc event may concern us. A port loses its
// binding when its clsact qdisc is deleted or replaced, and the guard when
// a filter of its blocks (ingress or egress) or a block (which dies with the
// last bound qdisc) goes; the tc datapath's filters are in the trunk block. Every qdisc event counts, on any device: a port's ifindex is only
// known once observed, and qdisc changes are rare enough to spend one
// debounced check on. Filters and chains count unless they belong to
// another shared block, which cannot hold ours. Classes and actions cannot
// bind or unbind anything (the guard's action is the agents' to check). A message the library could not parse counts.
func (s *scope) relevantTC(ev TCEvent) bool {
	switch {
	case ev.Undecoded:
		return true
	case ev.Type == unix.RTM_NEWQDISC || ev.Type == unix.RTM_DELQDISC:
		return true
	case ev.Type == unix.RTM_NEWTFILTER || ev.Type == unix.RTM_DELTFILTER ||
		ev.Type == unix.RTM_NEWCHAIN || ev.Type == unix.RTM_DELCHAIN:
		return ev.Ifindex != tc.MagicBlock || s.blocks[ev.Parent]
	}
	return false
}
