package bridgectl

import (
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

// Status reports every translation of cfg with counters.
func (m *Manager) Status(cfg *config.Config) ([]TranslationStatus, error) {
	links, err := m.conn.Links(true)
	if err != nil {
		return nil, err
	}
	st := plan.NewState(links)
	link := func(name string) LinkStatus {
		o := st.ByName[name]
		if o == nil {
			return LinkStatus{Name: name}
		}
		return LinkStatus{Name: name, Present: true, Up: o.Up, OperUp: o.OperUp, MTU: o.MTU,
			RxPackets: o.RxPackets, TxPackets: o.TxPackets, RxBytes: o.RxBytes, TxBytes: o.TxBytes}
	}
	end := func(e config.End) EndStatus {
		es := EndStatus{Stack: e.Stack.String()}
		for _, n := range e.Links() {
			es.Links = append(es.Links, link(n))
		}
		return es
	}
	out := make([]TranslationStatus, 0, len(cfg.Translations))
	for _, t := range cfg.Translations {
		out = append(out, TranslationStatus{Name: t.Name, A: end(t.A), B: end(t.B), Bridge: link(t.Bridge)})
	}
	return out, nil
}
