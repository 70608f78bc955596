package bridgectl

import (
	"slices"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/internal/tcnl"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// guards are the guards of a configuration's groups, [guard] block's first,
// and those of the applied configuration's groups that it no longer has:
// their ports and filters bind them until apply moves those.
type guards struct {
	trunk  uint32   // the tc datapath's block, shared by every group: TrunkBlock([guard] block)
	blocks []uint32 // the guards' blocks
	names  map[uint32]string
}

// guardsOf are cfg's guards, and the applied configuration's.
func (m *Manager) guardsOf(cfg *config.Config) guards {
	gs := guards{trunk: tcguard.TrunkBlock(cfg.Guard.Block), names: map[uint32]string{}}
	add := func(groups []config.Group) {
		for _, g := range groups {
			gs.addBlock(g.Block, g.Name)
		}
	}
	gs.addBlock(cfg.Guard.Block, config.DefaultGroup)
	add(cfg.Groups)
	if applied, ok := m.appliedGroups(); ok {
		add(applied)
	}
	return gs
}

func (gs *guards) addBlock(block uint32, name string) {
	if !slices.Contains(gs.blocks, block) {
		gs.blocks = append(gs.blocks, block)
		gs.names[block] = name
	}
}

// options are the options of the guard of block: its group's marker, the
// shared trunk block, the other groups as peers there.
func (gs guards) options(block uint32) tcguard.Options {
	var peers []uint32
	for _, b := range gs.blocks {
		if b != block {
			peers = append(peers, b)
		}
	}
	return tcguard.Options{Block: block, Group: gs.names[block], TrunkBlock: gs.trunk, Peers: peers}
}

// gates maps each guard's block to its action's index.
func (gs guards) gates() kernel.Gates {
	out := kernel.Gates{}
	for _, b := range gs.blocks {
		out[b] = tcguard.ActionIndex(b)
	}
	return out
}

// openGuard opens the guard of block among gs.
func (m *Manager) openGuard(gs guards, block uint32) (*tcguard.Guard, error) {
	t, err := m.OpenTC()
	if err != nil {
		return nil, err
	}
	return m.guardOn(gs, block, t), nil
}

// guardOn is the guard of block among gs over t, which it closes.
func (m *Manager) guardOn(gs guards, block uint32, t tcnl.TC) *tcguard.Guard {
	o := gs.options(block)
	o.NetNS, o.StateDir = m.ns, m.Dir()
	return tcguard.New(o, t)
}

// GroupGuard opens the guard of cfg's group called group ("" : the
// default group).
func (m *Manager) GroupGuard(cfg *config.Config, group string) (*tcguard.Guard, error) {
	return m.openGuard(m.guardsOf(cfg), cfg.BlockOf(group))
}
