package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/node"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// held is the guard's state after holdPorts, and what it was read against.
type held struct {
	status tcguard.Status
	snapshot
}

// snapshot is what an action reads of the node once, for the guard's ports
// and the promotion score alike: the configuration the bridge applied here
// (nil: none, or unreadable — the bridge agent reports that) and, with it,
// the links (one dump of every link: O(links)).
type snapshot struct {
	group   string // the instance's translation group
	applied *config.Config
	links   *plan.State
}

func readSnapshot(n node.Node, group string) (snapshot, error) {
	applied, err := n.Applied()
	if err != nil {
		return snapshot{group: group}, nil
	}
	st, err := node.Links(n)
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{group, applied, st}, nil
}

// guard opens the group's guard at block: with what the applied
// configuration says of the other groups (their filters share the tc
// datapath's block), if it has the group at that block.
func (s snapshot) guard(n node.Node, block uint32) (node.Guard, error) {
	if s.applied != nil && s.applied.Group(s.group) != nil && s.applied.BlockOf(s.group) == block {
		return n.GroupGuard(s.applied, s.group)
	}
	return n.Guard(block, s.group)
}

// expectedPorts are the ifindexes of the devices the applied configuration
// has the guard hold that exist here: its bridge ports (ours), or in the
// tc datapath its trunks. Nothing applied: none.
func (s snapshot) expectedPorts() []int {
	if s.applied == nil {
		return nil
	}
	ports := []int{}
	for _, name := range s.applied.GuardedNames(s.group) {
		if o := s.links.ByName[name]; o != nil && (o.Owned() || s.trunks()) {
			ports = append(ports, o.Index)
		}
	}
	return ports
}

// trunks: the applied configuration is in the tc datapath, whose guarded
// devices are the trunks.
func (s snapshot) trunks() bool {
	return s.applied != nil && s.applied.Datapath == config.TCDatapath
}

// status reads the guard against the expected devices.
func (s snapshot) status(g node.Guard) (tcguard.Status, error) {
	return bridgectl.ReadGuard(g, s.applied, s.expectedPorts())
}

// holdPorts reads the guard against every expected port and binds again
// each one that lost its binding (its clsact deleted, or the whole block gone
// with the last of them). A port it cannot bind (somebody else's qdisc on
// it) is set down: down, it forwards nothing. So within one monitor an
// unpromoted node forwards nothing again, whatever was deleted.
func (a *guard) holdPorts(r *ocf.Request, n node.Node, g node.Guard, block uint32, snap snapshot) (held, error) {
	st := snap.links
	s, err := snap.status(g)
	if err != nil {
		return held{}, err
	}
	loose := append(slices.Clone(s.Unbound), s.Foreign...)
	if len(loose) == 0 {
		return held{s, snap}, nil
	}
	if snap.trunks() {
		// A trunk without its binding takes no frame to the translation
		// filters: it forwards nothing, and it is not ours to set down.
		r.Log.Warningf("%d trunk(s) lost their binding to tc block %d (%s): binding them again", len(loose), tcguard.TrunkBlock(block), portList(st, loose))
		if err := g.BindTrunks(loose); err != nil {
			r.Log.Errorf("trunks %s cannot be bound: their translations do not forward here: %v", portList(st, loose), err)
		}
		s, err = snap.status(g)
		return held{s, snap}, err
	}
	r.Log.Warningf("%d bridge port(s) lost their binding to tc block %d (%s): binding them again", len(loose), block, portList(st, loose))
	if err := g.Bind(loose); err != nil {
		if failed, _ := tcguard.FailedPorts(err); len(failed) > 0 {
			if derr := n.SetDown(failed); derr != nil {
				return held{}, fmt.Errorf("ports %s cannot be bound (%v) nor set down: %w", portList(st, failed), err, derr)
			}
			for _, p := range failed {
				if o := st.ByIndex[p]; o != nil {
					o.Up = false
				}
			}
			r.Log.Errorf("ports %s cannot be bound to tc block %d, set down: %v", portList(st, failed), block, err)
		} else {
			return held{}, err
		}
	}
	s, err = snap.status(g)
	if err != nil {
		return held{}, err
	}
	return held{s, snap}, nil
}

// problem is why this guard cannot be trusted to hold the node, or nil: an
// expected port still not bound and up, or a block somebody else uses too
// (bridgectl.SharedBlock). Ports set down by holdPorts forward nothing and
// are not a problem; devices of ours that the applied record does not list
// yet (an apply in progress) are not somebody else's.
func (h held) problem(block uint32) error {
	var errs []error
	var loose []int
	for _, p := range append(slices.Clone(h.status.Unbound), h.status.Foreign...) {
		if o := h.links.ByIndex[p]; !h.trunks() && (o == nil || o.Up) {
			loose = append(loose, p)
		}
	}
	if len(loose) > 0 {
		errs = append(errs, fmt.Errorf("ports %s are up and not bound to tc block %d: they forward", portList(h.links, loose), block))
	}
	if h.links != nil {
		errs = append(errs, bridgectl.SharedBlock(block, h.status, h.links))
	} else if len(h.status.Intruders) > 0 {
		errs = append(errs, fmt.Errorf("tc block %d: %w (%v)", block, tcguard.ErrForeignBlock, h.status.Intruders))
	}
	return errors.Join(errs...)
}

// portList names ports for messages.
func portList(st *plan.State, ports []int) string {
	var names []string
	for _, p := range ports {
		name := ""
		if st != nil {
			name = st.Name(p)
		}
		if name == "" {
			name = fmt.Sprintf("ifindex %d", p)
		}
		names = append(names, name)
	}
	return node.SummarizeList(names, 4)
}
