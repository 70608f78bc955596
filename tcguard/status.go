package tcguard

import (
	"fmt"
	"slices"
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
	// Unguarded: ports are bound, the filter is missing and nobody opened
	// the guard: someone removed the filter behind our back. Frames flow.
	// Run Block.
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

// stateOf is the state for a marker, a filter and whether any port is
// bound to the block.
func stateOf(marker, filter, bound bool) State {
	switch {
	case filter && marker:
		return Interrupted
	case filter:
		return Blocked
	case marker:
		return Opened
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
	// Counters of the drop action: frames the guard dropped since the
	// filter was last installed.
	DroppedPackets, DroppedBytes uint64
}

// Status reads the guard's state. ports are the ifindexes the caller expects
// to be bound (may be nil); those not bound show up in Foreign or Unbound.
// It costs one dump of the namespace's qdiscs: O(devices).
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
	}
	slices.Sort(s.Bound)
	s.Foreign, s.Unbound = classify(ports, ingress, g.o.Block)
	s.State = stateOf(s.Marker, s.FilterPresent, len(s.Bound) > 0)
	return s, nil
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
	msgs, err := g.dump(dumpQdiscsMsg())
	if err != nil {
		return nil, fmt.Errorf("tcguard: listing qdiscs: %w", err)
	}
	out := make(map[int]qdisc)
	for _, m := range msgs {
		q, err := parseQdisc(m)
		if err != nil {
			return nil, fmt.Errorf("tcguard: qdisc: %w", err)
		}
		if q.parent == tcHIngress {
			out[q.ifindex] = q
		}
	}
	return out, nil
}
