package tcguard

import (
	"errors"
	"fmt"
	"strings"
)

// ErrForeignBlock marks a block that holds something the guard did not put
// there: a filter other than the drop filter, or a chain other than
// ArmedChain. Some other software uses that index; the guard neither binds
// ports to it nor adds, deletes or changes anything in it, because its drop
// filter would cut that software's traffic and its own could open ours.
var ErrForeignBlock = errors.New("block holds objects tcguard did not create")

// intruders describes every filter and chain of the block that is not the
// guard's own: the drop filter (and the classifier header the kernel dumps
// before it) in chain 0 at FilterPriority, and the empty ArmedChain. One dump
// each of the block's filters and chains: O(filters in the block), not
// O(ports).
func (g *Guard) intruders() ([]string, error) {
	// Every chain and every priority (tcm_info 0): what is not the guard is
	// not ours.
	objs, err := g.tc.Filters(blockMsg(g.o.Block))
	if err != nil {
		return nil, fmt.Errorf("tcguard: listing filters of block %d: %w", g.o.Block, err)
	}
	var out []string
	for _, o := range objs {
		f := filterOf(o)
		ours := f.chain == 0 && f.prio == FilterPriority && f.kind == kindMatchall &&
			(f.handle == 0 || f.isGuard())
		if !ours {
			out = append(out, fmt.Sprintf("%s filter (chain %d, priority %d, handle %#x)", f.kind, f.chain, f.prio, f.handle))
		}
	}
	chains, err := g.tc.Chains(blockMsg(g.o.Block))
	if err != nil {
		return nil, fmt.Errorf("tcguard: listing chains of block %d: %w", g.o.Block, err)
	}
	for _, o := range chains {
		if c := deref(o.Chain); c != 0 && c != ArmedChain {
			out = append(out, fmt.Sprintf("chain %d", c))
		}
	}
	return out, nil
}

// refuseForeign fails with ErrForeignBlock, naming what is foreign, unless the
// block holds only the guard's own objects (or does not exist).
func (g *Guard) refuseForeign() error {
	in, err := g.intruders()
	if err != nil {
		return err
	}
	if len(in) == 0 {
		return nil
	}
	return fmt.Errorf("tcguard: block %d: %w (%s): left untouched; give [guard] block another index",
		g.o.Block, ErrForeignBlock, summarize(in))
}

func summarize(items []string) string {
	const max = 3
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:max], ", "), len(items)-max)
}
