package tcguard

import (
	"errors"
	"fmt"
	"strings"
)

// ErrForeignBlock marks a block of the guard (its ingress block or the next
// index, its egress block) that holds something the guard did not put
// there: a filter other than the guard filter, or a chain. Some other
// software uses that index; the guard neither binds ports to it nor adds,
// deletes or changes anything in it, because its filter would cut that
// software's traffic and that software's filters could open ours.
var ErrForeignBlock = errors.New("block holds objects tcguard did not create")

// refuseForeign fails with ErrForeignBlock, naming what is foreign, unless
// the blocks hold only the guard's own objects (or do not exist).
func (g *Guard) refuseForeign(v view) error {
	if len(v.intruders) == 0 {
		return nil
	}
	return fmt.Errorf("tcguard: blocks %d and %d: %w (%s): left untouched; give [guard] block another index",
		g.o.Block, EgressBlock(g.o.Block), ErrForeignBlock, summarize(v.intruders))
}

func summarize(items []string) string {
	const max = 3
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:max], ", "), len(items)-max)
}
