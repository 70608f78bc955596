package bridgectl

import (
	"slices"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
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

// TranslationStatus is one expanded translation.
type TranslationStatus struct {
	Name   string     `json:"name"`
	A      EndStatus  `json:"a"`
	B      EndStatus  `json:"b"`
	Bridge LinkStatus `json:"bridge"`
}

// GuardStatus is the standby guard of the namespace, as the translations
// see it.
type GuardStatus struct {
	Block          uint32 `json:"block"`
	State          string `json:"state"` // blocked, open, interrupted or unguarded (tcguard.State)
	PortsBound     int    `json:"ports_bound"`
	PortsExpected  int    `json:"ports_expected"`  // bridge ports that exist
	DroppedPackets uint64 `json:"dropped_packets"` // modulo 2^32 (tcguard.Status)
}

// Report is what status shows.
type Report struct {
	Guard        GuardStatus         `json:"guard"`
	Translations []TranslationStatus `json:"translations"`
}

// Status reports every translation of cfg with counters, and the guard.
func (m *Manager) Status(cfg *config.Config) (*Report, error) {
	links, err := m.links.Dump(true)
	if err != nil {
		return nil, err
	}
	st := plan.NewState(links)
	var ports []int
	for _, name := range cfg.PortNames() {
		if o := st.ByName[name]; o != nil {
			ports = append(ports, o.Index)
		}
	}
	g, err := m.OpenGuard(cfg.Guard.Block)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	gs, err := g.Status(ports)
	if err != nil {
		return nil, err
	}
	r := &Report{Guard: GuardStatus{Block: cfg.Guard.Block, State: gs.State.String(),
		PortsExpected: len(ports), DroppedPackets: gs.DroppedPackets}}
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
		p := &es.Links[len(es.Links)-1]
		if p.Present {
			_, p.Guarded = slices.BinarySearch(gs.Bound, st.ByName[p.Name].Index)
			if p.Guarded {
				r.Guard.PortsBound++
			}
		}
		return es
	}
	for _, t := range cfg.Translations {
		r.Translations = append(r.Translations, TranslationStatus{Name: t.Name, A: port(t.A), B: port(t.B), Bridge: link(t.Bridge)})
	}
	return r, nil
}

func end(e config.End, link func(string) LinkStatus) EndStatus {
	es := EndStatus{Stack: e.Stack.String()}
	for _, n := range e.Links() {
		es.Links = append(es.Links, link(n))
	}
	return es
}
