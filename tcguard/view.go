package tcguard

import (
	"fmt"

	"github.com/florianl/go-tc"
)

// view is what the guard's blocks hold: where its filters are, how many
// translation filters of the tc datapath end in its action, what that
// action says, and anything in the blocks the guard did not put there.
type view struct {
	present   [2]bool // the guard filter, in the ingress and the egress block
	gated     int     // translation filters in TrunkBlock bound to the action
	dropping  bool    // the shared action drops (when anything binds it)
	drops     uint32  // frames the action dropped (the kernel's 32-bit field)
	intruders []string
}

// armed: both guard filters are in (the bridge datapath's ports are
// guarded in both directions).
func (v view) armed() bool { return v.present[0] && v.present[1] }

// any: something binds the action, so it exists.
func (v view) any() bool { return v.present[0] || v.present[1] || v.gated > 0 }

// guards reports whether the action guards everything that binds it: the
// bridge datapath's filters come in pairs (one alone lets frames through
// in one direction).
func (v view) guards() bool { return v.any() && v.present[0] == v.present[1] }

// look dumps each block's filters and chains once: O(filters in the
// blocks), not O(ports). A block that does not exist dumps empty.
func (g *Guard) look() (view, error) {
	var v view
	for i, b := range g.blocks() {
		// Every chain and every priority (tcm_info 0): what is not the
		// guard's is not ours.
		objs, err := g.tc.Filters(blockMsg(b))
		if err != nil {
			return view{}, fmt.Errorf("tcguard: listing filters of block %d: %w", b, err)
		}
		for _, o := range objs {
			f := filterOf(o)
			gate, gated := f.gate(g.o.Block)
			switch {
			case i < 2 && f.chain == 0 && f.prio == FilterPriority && f.kind == kindMatchall && f.handle == 0:
				// the classifier's own header
			case i < 2 && f.isGuard(g.o.Block):
				v.present[i], v.dropping, v.drops = true, f.dropping(), f.actions[0].drops
			case i == 2 && f.kind == kindFlower && f.chain == 0 && f.handle == 0:
				// a flower instance's header
			case i == 2 && gated:
				v.gated++
				v.dropping, v.drops = gate.verdict == tc.ActShot, gate.drops
			default:
				v.intruders = append(v.intruders, fmt.Sprintf("%s filter (chain %d, priority %d, handle %#x) in block %d", f.kind, f.chain, f.prio, f.handle, b))
			}
		}
		chains, err := g.tc.Chains(blockMsg(b))
		if err != nil {
			return view{}, fmt.Errorf("tcguard: listing chains of block %d: %w", b, err)
		}
		for _, o := range chains {
			if c := deref(o.Chain); c != 0 {
				v.intruders = append(v.intruders, fmt.Sprintf("chain %d in block %d", c, b))
			}
		}
	}
	return v, nil
}
