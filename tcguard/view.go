package tcguard

import (
	"fmt"
)

// view is what the guard's two blocks hold: where its filter is, what its
// shared action says, and anything in them the guard did not put there.
type view struct {
	present   [2]bool // the guard filter, in the ingress and the egress block
	dropping  bool    // the shared action drops (when some filter is present)
	drops     uint32  // frames the action dropped (the kernel's 32-bit field)
	intruders []string
}

func (v view) armed() bool { return v.present[0] && v.present[1] }
func (v view) any() bool   { return v.present[0] || v.present[1] }

// look dumps each block's filters and chains once: O(filters in the
// blocks), not O(ports). A block that does not exist dumps empty.
func (g *Guard) look() (view, error) {
	var v view
	for i, b := range g.blocks() {
		// Every chain and every priority (tcm_info 0): what is not the
		// guard is not ours.
		objs, err := g.tc.Filters(blockMsg(b))
		if err != nil {
			return view{}, fmt.Errorf("tcguard: listing filters of block %d: %w", b, err)
		}
		for _, o := range objs {
			f := filterOf(o)
			switch {
			case f.chain == 0 && f.prio == FilterPriority && f.kind == kindMatchall && f.handle == 0:
				// the classifier's own header
			case f.isGuard(g.o.Block):
				v.present[i], v.dropping, v.drops = true, f.dropping(), f.actions[0].drops
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
