package bridgectl

import (
	"slices"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// LinkStatus is one link of a translation as the kernel has it.
type LinkStatus struct {
	Name      string `json:"name"`
	Present   bool   `json:"present"`
	Up        bool   `json:"up"`
	OperUp    bool   `json:"oper_up"`
	MTU       int    `json:"mtu,omitempty"`
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	// Guarded: a bridge port whose ingress is bound to the guard's block
	// (always false for other links).
	Guarded bool `json:"guarded,omitempty"`
}

// EndStatus is one end of a translation.
type EndStatus struct {
	Stack string       `json:"stack"` // "eth0 802.1ad:100 802.1Q:200"
	Links []LinkStatus `json:"links"` // outermost first; the last is the bridge port
}

// TranslationStatus is one expanded translation. In the tc datapath it
// has no links (A and B name the stacks only, Bridge is empty) and
// Filters, one per direction.
type TranslationStatus struct {
	Name     string          `json:"name"`
	Group    string          `json:"group"`
	Datapath config.Datapath `json:"datapath"`
	A        EndStatus       `json:"a"`
	B        EndStatus       `json:"b"`
	Bridge   LinkStatus      `json:"bridge"`
	Filters  []FilterStatus  `json:"filters,omitempty"`
}

// FilterStatus is one direction of a translation in the tc datapath, with
// the counters of its filter.
type FilterStatus struct {
	Direction string `json:"direction"` // "a>b" or "b>a"
	Present   bool   `json:"present"`   // the filter is in the kernel as wanted
	Handle    uint32 `json:"handle,omitempty"`
	// Matched counts the frames it took; Forwarded those that left by the
	// other trunk, and Bytes their bytes as sent; GuardDropped those the
	// guard's action dropped (Matched - Forwarded).
	Matched      uint64 `json:"matched"`
	Forwarded    uint64 `json:"forwarded"`
	Bytes        uint64 `json:"bytes"`
	GuardDropped uint64 `json:"guard_dropped"`
}

// GuardStatus is the standby guard of the namespace, as the translations
// see it.
type GuardStatus struct {
	Block          uint32 `json:"block"`
	State          string `json:"state"` // blocked, open, interrupted or unguarded (tcguard.State)
	PortsBound     int    `json:"ports_bound"`
	PortsExpected  int    `json:"ports_expected"`  // bridge ports (tc datapath: trunks) that exist
	DroppedPackets uint64 `json:"dropped_packets"` // modulo 2^32 (tcguard.Status)
}

// GroupStatus is one group's guard.
type GroupStatus struct {
	Name string `json:"name"`
	GuardStatus
}

// Report is what status shows.
type Report struct {
	// Guard is the default group's guard ([guard] block's); Groups every
	// group's, the default first.
	Guard        GuardStatus         `json:"guard"`
	Groups       []GroupStatus       `json:"groups"`
	Translations []TranslationStatus `json:"translations"`
}

// Status reports every translation of cfg with counters, and the guard.
func (m *Manager) Status(cfg *config.Config) (*Report, error) {
	links, err := m.links.Dump(true)
	if err != nil {
		return nil, err
	}
	st := plan.NewState(links)
	all := m.guardsOf(cfg)
	r := &Report{}
	bound := map[int]*GuardStatus{} // bridge ports bound to their group's guard
	var trunks tcguard.Status
	for _, grp := range cfg.Groups {
		devices := indexes(st, cfg.GuardedNames(grp.Name))
		g, err := m.openGuard(all, grp.Block)
		if err != nil {
			return nil, err
		}
		gs, err := ReadGuard(g, cfg, devices)
		g.Close()
		if err != nil {
			return nil, err
		}
		r.Groups = append(r.Groups, GroupStatus{Name: grp.Name, GuardStatus: GuardStatus{Block: grp.Block, State: gs.State.String(),
			PortsExpected: len(devices), DroppedPackets: gs.DroppedPackets}})
		gst := &r.Groups[len(r.Groups)-1].GuardStatus
		for _, i := range devices {
			if _, ok := slices.BinarySearch(gs.Bound, i); ok {
				gst.PortsBound++
				bound[i] = gst
			}
		}
		if grp.Block == cfg.Guard.Block {
			trunks = gs
		}
	}
	link := func(name string) LinkStatus {
		o := st.ByName[name]
		if o == nil {
			return LinkStatus{Name: name}
		}
		return LinkStatus{Name: name, Present: true, Up: o.Up, OperUp: o.OperUp, MTU: o.MTU,
			RxPackets: o.RxPackets, TxPackets: o.TxPackets, RxBytes: o.RxBytes, TxBytes: o.TxBytes}
	}
	port := func(e config.End) EndStatus {
		es := end(e, link)
		if p := &es.Links[len(es.Links)-1]; p.Present {
			p.Guarded = bound[st.ByName[p.Name].Index] != nil
		}
		return es
	}
	r.Guard = r.Groups[0].GuardStatus
	if cfg.Datapath == config.TCDatapath {
		return r, m.filterStatus(cfg, st, all, trunks, r)
	}
	for _, t := range cfg.Translations {
		r.Translations = append(r.Translations, TranslationStatus{Name: t.Name, Group: t.Group, Datapath: cfg.Datapath, A: port(t.A), B: port(t.B), Bridge: link(t.Bridge)})
	}
	return r, nil
}

// GuardReader reads a guard: a *tcguard.Guard, or the agents' view of one.
type GuardReader interface {
	Status(ports []int) (tcguard.Status, error)
	StatusTrunks(trunks []int) (tcguard.Status, error)
}

// ReadGuard reads g against the devices cfg has it hold
// (cfg.GuardedNames): bridge ports, or in the tc datapath trunks, where
// one left unbound forwards nothing (tcguard.StatusTrunks). A nil cfg (none
// applied) has bridge ports.
func ReadGuard(g GuardReader, cfg *config.Config, devices []int) (tcguard.Status, error) {
	if cfg != nil && cfg.Datapath == config.TCDatapath {
		return g.StatusTrunks(devices)
	}
	return g.Status(devices)
}

// filterStatus fills r for the tc datapath: each translation's two filters
// with their counters, and the trunks bound.
func (m *Manager) filterStatus(cfg *config.Config, st *plan.State, all guards, gs tcguard.Status, r *Report) error {
	fs, err := m.filters(all, st)
	if err != nil {
		return err
	}
	have := map[string]plan.Filter{}
	for _, f := range fs {
		have[f.Key()] = f
	}
	for _, tr := range cfg.Translations {
		ts := TranslationStatus{Name: tr.Name, Group: tr.Group, Datapath: cfg.Datapath, A: EndStatus{Stack: tr.A.Stack.String()}, B: EndStatus{Stack: tr.B.Stack.String()}}
		for _, d := range []struct {
			dir     string
			in, out config.Stack
		}{{"a>b", tr.A.Stack, tr.B.Stack}, {"b>a", tr.B.Stack, tr.A.Stack}} {
			fs := FilterStatus{Direction: d.dir}
			if h, ok := have[d.in.String()]; ok {
				fs.Present = h.Out.String() == d.out.String() && h.Guard == cfg.BlockOf(tr.Group)
				fs.Handle, fs.Matched, fs.Forwarded, fs.Bytes = h.Handle, h.Matched, h.Forwarded, h.Bytes
				if h.Matched > h.Forwarded {
					fs.GuardDropped = h.Matched - h.Forwarded
				}
			}
			ts.Filters = append(ts.Filters, fs)
		}
		r.Translations = append(r.Translations, ts)
	}
	return nil
}

func end(e config.End, link func(string) LinkStatus) EndStatus {
	es := EndStatus{Stack: e.Stack.String()}
	for _, n := range e.Links() {
		es.Links = append(es.Links, link(n))
	}
	return es
}
