package bridgectl

import (
	"context"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// LinkEvent is one rtnetlink link notification (RTM_NEWLINK or
// RTM_DELLINK), reduced to what decides whether the watcher cares.
type LinkEvent struct {
	Deleted     bool
	Index       int
	Name        string
	Group       uint32 // IFLA_GROUP: ours is plan.OwnerGroup or plan.DoomedGroup
	ParentIndex int    // IFLA_LINK: a VLAN's parent
	MasterIndex int

	// Err, on the last event before the channel closes, says why the
	// subscription ended: events may have been lost (e.g. ENOBUFS, the
	// socket overran), so the watcher re-reads everything.
	Err error
}

// EventSource subscribes to a namespace's link notifications. The watcher
// takes it as an interface so its loop is tested with a fake.
type EventSource interface {
	// Subscribe delivers events until ctx ends or the subscription fails.
	// Either way the channel is then closed; on failure its last event
	// carries Err.
	Subscribe(ctx context.Context) (<-chan LinkEvent, error)
}

// scope is what the watcher cares about for one configuration: a change to
// any of these may be drift or may unblock an apply that failed.
type scope struct {
	names   map[string]bool // every link the configuration wants, and their parents
	indexes map[int]bool    // the same, by ifindex, as last observed
}

// newScope collects the names of cfg's links and parent interfaces, and
// their indexes in st (nil: none known yet).
func newScope(cfg *config.Config, st *plan.State) *scope {
	s := &scope{names: map[string]bool{}, indexes: map[int]bool{}}
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

// relevant reports whether ev may concern us:
//   - a link of ours (by group: also an orphan, or one renamed by hand);
//   - a link with a name we want: ours gone missing, or a foreign one in
//     the way (and its removal, which unblocks us);
//   - a parent interface appearing, disappearing or changing its MTU;
//   - a link stacked on one of ours or our parents (a foreign VLAN can hold
//     the slot — parent, protocol, id — that one of our VLANs needs);
//   - any event about an index we observed as ours or as a parent.
//
// Everything else (other interfaces, carrier changes elsewhere) is ignored.
func (s *scope) relevant(ev LinkEvent) bool {
	if ev.Group == plan.OwnerGroup || ev.Group == plan.DoomedGroup {
		return true
	}
	return s.names[ev.Name] || s.indexes[ev.Index] || (ev.ParentIndex != 0 && s.indexes[ev.ParentIndex])
}
