package plan

import (
	"maps"
	"slices"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
)

// A pass-through is one flower filter per direction in the guard's trunk
// block, in either datapath: slow-protocol frames (EtherType 0x8809 to
// 01:80:c2:00:00:02) received on one trunk pass the group's guard action
// and leave, untouched, on the other. One flower instance holds one
// protocol: they have a priority of their own.
const (
	FilterPrioSlow uint16 = 12
	EthPSlow       uint16 = 0x8809 // ETH_P_SLOW
)

// SlowProtocolsMAC is the slow protocols' destination (IEEE 802.3 annex
// 57B): LACPDUs and markers go to it, and no bridge forwards it.
var SlowProtocolsMAC = [6]byte{0x01, 0x80, 0xc2, 0x00, 0x00, 0x02}

// DesiredPassthroughs returns the filters of cfg's pass-throughs, a to b
// then b to a, each gated by its group's guard, and the trunks they need
// bound, sorted. A trunk that does not exist gives no filter: the
// translations on it report it.
func DesiredPassthroughs(cfg *config.Config, st *State) ([]Filter, []string) {
	var out []Filter
	trunks := map[string]bool{}
	for _, p := range cfg.Passthroughs {
		if st.ByName[p.A] == nil || st.ByName[p.B] == nil {
			continue
		}
		trunks[p.A], trunks[p.B] = true, true
		for _, proto := range p.Protocols {
			for _, d := range [2][2]string{{p.A, p.B}, {p.B, p.A}} {
				out = append(out, Filter{Pass: proto, In: config.Stack{Parent: d[0]}, Out: config.Stack{Parent: d[1]},
					Prio: FilterPrioSlow, Guard: cfg.BlockOf(p.Group), SkipHW: true})
			}
		}
	}
	return out, slices.Sorted(maps.Keys(trunks))
}
