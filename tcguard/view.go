package tcguard

import (
	"fmt"
	"slices"

	"github.com/florianl/go-tc"
)

// view is what the guard's blocks hold: where its filters are, how many
// translation filters of the tc datapath end in its action, what that
// action says, and anything in the blocks the guard did not put there.
type view struct {
	present   [2]bool // the guard filter, in the ingress and the egress block
	gated     int     // translation filters bound to the action
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

// look reads the guard filters' blocks (one filter each: one dump each of
// their filters and chains) and the guard's action (one dump of the gact
// actions), whatever the number of ports and translation filters: what
// Bind, Block and Unblock need. The tc datapath's translation filters are
// counted by the action's bind count.
func (g *Guard) look() (view, error) {
	var v view
	for i, b := range g.portBlocks() {
		if err := g.lookBlock(&v, b, func(f filter) bool {
			switch {
			case f.chain == 0 && f.prio == FilterPriority && f.kind == kindMatchall && f.handle == 0:
				return true // the classifier's own header
			case f.isGuard(g.o.Block):
				v.present[i] = true
				return true
			}
			return false
		}); err != nil {
			return view{}, err
		}
	}
	acts, err := g.tc.Actions(kindGact)
	if err != nil {
		return view{}, fmt.Errorf("tcguard: listing gact actions: %w", err)
	}
	for _, a := range acts {
		if a.Gact == nil || a.Gact.Parms == nil || a.Gact.Parms.Index != ActionIndex(g.o.Block) {
			continue
		}
		p := a.Gact.Parms
		v.dropping = p.Action == tc.ActShot
		if a.Stats != nil && a.Stats.Queue != nil {
			v.drops = a.Stats.Queue.Drops
		}
		v.gated = int(p.BindCnt)
		for _, here := range v.present {
			if here {
				v.gated--
			}
		}
	}
	return v, nil
}

// lookDeep is look, and the trunk block's filters too: anything in it that
// does not end in the guard's action is an intruder. O(translation
// filters): for Status and apply's checks, not for promotion.
func (g *Guard) lookDeep() (view, error) {
	v, err := g.look()
	if err != nil {
		return view{}, err
	}
	err = g.lookBlock(&v, g.o.trunkBlock(), func(f filter) bool {
		if f.kind == kindFlower && f.chain == 0 && f.handle == 0 {
			return true // a flower instance's header
		}
		return f.gated(g.o.Block) || slices.ContainsFunc(g.o.Peers, f.gated)
	})
	return v, err
}

// lookBlock dumps a block's filters and chains (every chain and priority:
// what is not the guard's is not ours); the filters ours does not accept,
// and chains but 0, are intruders.
func (g *Guard) lookBlock(v *view, block uint32, ours func(filter) bool) error {
	objs, err := g.tc.Filters(blockMsg(block))
	if err != nil {
		return fmt.Errorf("tcguard: listing filters of block %d: %w", block, err)
	}
	for _, o := range objs {
		if f := filterOf(o); !ours(f) {
			v.intruders = append(v.intruders, fmt.Sprintf("%s filter (chain %d, priority %d, handle %#x) in block %d", f.kind, f.chain, f.prio, f.handle, block))
		}
	}
	chains, err := g.tc.Chains(blockMsg(block))
	if err != nil {
		return fmt.Errorf("tcguard: listing chains of block %d: %w", block, err)
	}
	for _, o := range chains {
		if c := deref(o.Chain); c != 0 {
			v.intruders = append(v.intruders, fmt.Sprintf("chain %d in block %d", c, block))
		}
	}
	return nil
}
