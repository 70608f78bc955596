package tcguard

import (
	"fmt"
	"slices"

	"github.com/florianl/go-tc"
)

// State is the guard's state as read from the kernel and the marker.
type State int

const (
	// Blocked: the guard filters are in both blocks, their action drops,
	// and nobody asked to open (also: no port bound at all and no open
	// intent; the next Bind arms the blocks, dropping).
	Blocked State = iota + 1
	// Opened: opened on purpose; the action lets frames pass.
	Opened
	// Interrupted: the open marker is present and the guard drops. An
	// Unblock or a Block did not finish, or the blocks were re-created
	// (every port deleted, then bound again) on an opened node. Frames are
	// dropped; re-run Unblock or Block.
	Interrupted
	// Unguarded: nobody opened the guard, yet frames may flow: ports are
	// bound and a guard filter was removed or the action set to pass behind
	// our back (run Block), or an expected
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

// StateOf is the state for a marker, whether the guard drops (both filters
// in, the action dropping), whether any port is bound to the blocks, and
// whether some expected port is not: such a port forwards whatever the
// guard says, so a node that was not opened is never Blocked then.
func StateOf(marker, dropping, bound, loose bool) State {
	switch {
	case dropping && marker:
		return Interrupted
	case marker:
		return Opened
	case loose:
		return Unguarded
	case dropping:
		return Blocked
	case bound:
		return Unguarded
	default:
		return Blocked
	}
}

// Status is a snapshot of the guard.
type Status struct {
	State    State
	Dropping bool // the action drops, and guards all it reaches (no lone guard filter)
	Marker   bool // the open marker exists
	Armed    bool // the guard filter is in both bridge-port blocks (they exist)
	// Gated counts the tc datapath's translation filters that end in the
	// guard's action.
	Gated int
	// Reach: something forwards unless the guard drops (a bridge port
	// bound, or a translation filter).
	Reach bool
	Bound []int // ifindexes whose clsact is bound as a bridge port's or a trunk's, sorted
	// Trunks are those of Bound bound as trunks of the tc datapath (their
	// ingress to TrunkBlock), sorted.
	Trunks  []int
	Foreign []int // expected ports with an ingress qdisc that is not ours
	Unbound []int // expected ports with no ingress qdisc at all
	// Users are every device whose qdisc binds either direction to either
	// block, ours or not, sorted.
	Users []int
	// Strangers are devices bound to either block (either direction) that
	// are not expected ports, nor trunks bound by BindTrunks; only known
	// when expected ports are given.
	Strangers []int
	// Intruders describe filters and chains in the blocks that the guard
	// did not create (ErrForeignBlock): a block is somebody else's too.
	Intruders []string
	// DroppedPackets counts the frames the guard's action dropped since the
	// blocks were last armed, modulo 2^32 (the kernel's counter is 32 bits).
	DroppedPackets uint64
}

// Status reads the guard's state. ports are the ifindexes the caller expects
// to be bound (may be nil); those not bound show up in Foreign or Unbound and
// make a guard that was not opened Unguarded, and devices bound to the block
// that are not among them show up in Strangers. It costs one dump of the
// namespace's qdiscs, O(devices), and one each of the blocks' filters and
// chains.
func (g *Guard) Status(ports []int) (Status, error) { return g.status(ports, false) }

// StatusTrunks is Status for the tc datapath, whose expected devices are
// trunks: one not bound takes no frame to the translation filters, so it
// forwards nothing and is no cause for Unguarded (it is listed, and the
// node cannot forward those translations).
func (g *Guard) StatusTrunks(trunks []int) (Status, error) { return g.status(trunks, true) }

func (g *Guard) status(ports []int, trunks bool) (Status, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var s Status
	var err error
	if s.Marker, err = markerExists(g.o); err != nil {
		return Status{}, err
	}
	v, err := g.lookDeep()
	if err != nil {
		return Status{}, err
	}
	s.Armed, s.Gated, s.Dropping = v.armed(), v.gated, v.guards() && v.dropping
	s.DroppedPackets, s.Intruders = uint64(v.drops), v.intruders
	ingress, err := g.ingressQdiscs()
	if err != nil {
		return Status{}, err
	}
	bridgePorts := 0 // they forward unless the guard drops
	for ifindex, q := range ingress {
		if q.ours(g.o) {
			s.Bound = append(s.Bound, ifindex)
			if q.egressBlock != 0 {
				bridgePorts++
			} else {
				s.Trunks = append(s.Trunks, ifindex)
			}
		}
		if q.uses(g.o) {
			s.Users = append(s.Users, ifindex)
		}
	}
	slices.Sort(s.Bound)
	slices.Sort(s.Trunks)
	slices.Sort(s.Users)
	s.Foreign, s.Unbound = classify(ports, ingress, g.o)
	if ports != nil {
		s.Strangers = strangers(ports, ingress, g.o)
	}
	// Trunks forward only through translation filters.
	s.Reach = bridgePorts > 0 || s.Gated > 0
	s.State = StateOf(s.Marker, s.Dropping, s.Reach, !trunks && len(s.Foreign)+len(s.Unbound) > 0)
	return s, nil
}

// strangers lists the devices whose qdisc uses block but that are not
// ports, nor trunks bound as BindTrunks binds them (a pass-through's, in
// the bridge datapath: bridgectl binds them, and their filters end in the
// guard's action).
func strangers(ports []int, ingress map[int]qdisc, o Options) []int {
	want := make(map[int]bool, len(ports))
	for _, p := range ports {
		want[p] = true
	}
	var out []int
	for ifindex, q := range ingress {
		if q.uses(o) && !want[ifindex] && !q.is(trunkQdisc(o)) {
			out = append(out, ifindex)
		}
	}
	slices.Sort(out)
	return out
}

// classify sorts the expected ports that are not bound to block into those
// with some other ingress qdisc and those with none.
func classify(ports []int, ingress map[int]qdisc, o Options) (foreign, unbound []int) {
	for _, p := range ports {
		q, ok := ingress[p]
		switch {
		case !ok:
			unbound = append(unbound, p)
		case !q.ours(o):
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
