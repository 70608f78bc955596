package tcguard

import (
	"fmt"
	"slices"

	"github.com/florianl/go-tc"
)

// State is the guard's state as read from the kernel and the marker.
type State int

const (
	// Blocked: the drop filter is in and nobody asked to open (also: no port
	// bound at all and no open intent; the next Bind arms the block).
	Blocked State = iota + 1
	// Opened: opened on purpose; the filter is gone.
	Opened
	// Interrupted: the open marker and the filter are both present. An
	// Unblock or a Block did not finish, or the block was re-created (every
	// port deleted, then bound again) on an opened node. Frames are dropped;
	// re-run Unblock or Block.
	Interrupted
	// Unguarded: nobody opened the guard, yet frames flow: ports are bound
	// and the filter was removed behind our back (run Block), or an expected
	// port is not bound to the block at all (its qdisc was deleted or
	// replaced: run Bind, which bridgectl apply does).
	Unguarded
)

func (s State) String() string {
	switch s {
	case Blocked:
		return "blocked"
	case Opened:
		return "open"
	case Interrupted:
		return "interrupted"
	case Unguarded:
		return "unguarded"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// StateOf is the state for a marker, a filter, whether any port is bound
// to the block, and whether some expected port is not: such a port forwards
// whatever the filter, so a node that was not opened is never Blocked then.
func StateOf(marker, filter, bound, loose bool) State {
	switch {
	case filter && marker:
		return Interrupted
	case marker:
		return Opened
	case loose:
		return Unguarded
	case filter:
		return Blocked
	case bound:
		return Unguarded
	default:
		return Blocked
	}
}

// Status is a snapshot of the guard.
type Status struct {
	State         State
	FilterPresent bool  // the drop filter is in the block
	Marker        bool  // the open marker exists
	Armed         bool  // the block exists and carries ArmedChain
	Bound         []int // ifindexes whose clsact ingress is bound to the block, sorted
	Foreign       []int // expected ports with an ingress qdisc that is not ours
	Unbound       []int // expected ports with no ingress qdisc at all
	// Users are every device whose qdisc binds either direction to the
	// block, ours or not, sorted.
	Users []int
	// Strangers are devices bound to the block (either direction) that are
	// not expected ports; only known when expected ports are given.
	Strangers []int
	// Intruders describe filters and chains in the block that the guard did
	// not create (ErrForeignBlock): the block is somebody else's too.
	Intruders []string
	// Counters of the drop action: frames the guard dropped since the
	// filter was last installed.
	DroppedPackets, DroppedBytes uint64
}

// Status reads the guard's state. ports are the ifindexes the caller expects
// to be bound (may be nil); those not bound show up in Foreign or Unbound and
// make a guard that was not opened Unguarded, and devices bound to the block
// that are not among them show up in Strangers. It costs one dump of the
// namespace's qdiscs, O(devices), and one of the block's filters and chains.
func (g *Guard) Status(ports []int) (Status, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var s Status
	var err error
	if s.Marker, err = markerExists(g.o.StateDir); err != nil {
		return Status{}, err
	}
	f, found, err := g.guardFilter()
	if err != nil {
		return Status{}, err
	}
	if found && !f.isGuard() {
		return Status{}, g.notOurs(f)
	}
	if found {
		s.FilterPresent = true
		s.DroppedPackets, s.DroppedBytes = f.actions[0].packets, f.actions[0].bytes
	}
	if s.Armed, err = g.armed(); err != nil {
		return Status{}, err
	}
	ingress, err := g.ingressQdiscs()
	if err != nil {
		return Status{}, err
	}
	for ifindex, q := range ingress {
		if q.ours(g.o.Block) {
			s.Bound = append(s.Bound, ifindex)
		}
		if q.uses(g.o.Block) {
			s.Users = append(s.Users, ifindex)
		}
	}
	slices.Sort(s.Bound)
	slices.Sort(s.Users)
	s.Foreign, s.Unbound = classify(ports, ingress, g.o.Block)
	if ports != nil {
		s.Strangers = strangers(ports, ingress, g.o.Block)
	}
	if s.Intruders, err = g.intruders(); err != nil {
		return Status{}, err
	}
	s.State = StateOf(s.Marker, s.FilterPresent, len(s.Bound) > 0, len(s.Foreign)+len(s.Unbound) > 0)
	return s, nil
}

// strangers lists the devices whose qdisc uses block but that are not ports.
func strangers(ports []int, ingress map[int]qdisc, block uint32) []int {
	want := make(map[int]bool, len(ports))
	for _, p := range ports {
		want[p] = true
	}
	var out []int
	for ifindex, q := range ingress {
		if q.uses(block) && !want[ifindex] {
			out = append(out, ifindex)
		}
	}
	slices.Sort(out)
	return out
}

// classify sorts the expected ports that are not bound to block into those
// with some other ingress qdisc and those with none.
func classify(ports []int, ingress map[int]qdisc, block uint32) (foreign, unbound []int) {
	for _, p := range ports {
		q, ok := ingress[p]
		switch {
		case !ok:
			unbound = append(unbound, p)
		case !q.ours(block):
			foreign = append(foreign, p)
		}
	}
	return foreign, unbound
}

// ingressQdiscs maps ifindex to the qdisc in its ingress slot.
func (g *Guard) ingressQdiscs() (map[int]qdisc, error) {
	objs, err := g.tc.Qdiscs()
	if err != nil {
		return nil, fmt.Errorf("tcguard: listing qdiscs: %w", err)
	}
	out := make(map[int]qdisc)
	for _, o := range objs {
		if q := qdiscOf(o); q.parent == tc.HandleIngress {
			out[q.ifindex] = q
		}
	}
	return out, nil
}
