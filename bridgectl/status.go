package bridgectl

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/florianl/go-tc"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/tcnl"
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
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
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
	// Directions count its frames a>b and b>a alike in both datapaths:
	// what the metrics export.
	Directions []DirectionStatus `json:"directions"`
}

// FilterStatus is one direction of a translation in the tc datapath, with
// the counters of its filter.
type FilterStatus struct {
	Direction string `json:"direction"` // "a>b" or "b>a"
	Present   bool   `json:"present"`   // the filter is in the kernel as wanted
	Handle    uint32 `json:"handle,omitempty"`
	// Matched counts the frames it took; Forwarded those that left by the
	// other trunk, and Bytes their bytes; GuardDropped those the guard's
	// action dropped (Matched - Forwarded).
	Matched      uint64 `json:"matched"`
	Forwarded    uint64 `json:"forwarded"`
	Bytes        uint64 `json:"bytes"`
	GuardDropped uint64 `json:"guard_dropped"`
}

// Directions of a translation: from end a to end b, and back.
const (
	AToB = "a>b"
	BToA = "b>a"
)

// DirectionStatus counts one direction of a translation from the kernel's
// own counters, in either datapath:
//
//   - bridge: received are the in end's bridge port's rx counters, frames
//     and bytes its out end's port's tx counters, dropped that rx port's
//     rx_dropped plus that tx port's tx_dropped. What the guard drops
//     (the bridge ports share its action) is received, not sent, and is
//     counted by the guard only.
//   - tc: received are what its filter matched, frames and bytes what its
//     redirect sent out of the other trunk, dropped the difference: what
//     the guard's action dropped.
//
// Bytes are the kernel's own counts, not lengths on the wire: a VLAN
// device counts frames without their tags (and those it receives without
// their Ethernet header either), tc the length tc ingress saw, the same
// before and after the tags are rewritten.
type DirectionStatus struct {
	Direction      string `json:"direction"` // AToB or BToA
	ReceivedFrames uint64 `json:"received_frames"`
	ReceivedBytes  uint64 `json:"received_bytes"`
	Frames         uint64 `json:"frames"` // sent on by the other end
	Bytes          uint64 `json:"bytes"`
	DroppedFrames  uint64 `json:"dropped_frames"`
}

// GuardStatus is the standby guard of one group, as its translations see
// it.
type GuardStatus struct {
	Group          string `json:"group"` // config.DefaultGroup for [guard] block's
	Block          uint32 `json:"block"`
	State          string `json:"state"` // blocked, open, interrupted or unguarded (tcguard.State)
	PortsBound     int    `json:"ports_bound"`
	PortsExpected  int    `json:"ports_expected"`  // bridge ports (tc datapath: trunks) that exist
	DroppedPackets uint64 `json:"dropped_packets"` // modulo 2^32 (tcguard.Status)
	// PromotionScore is the score the tcguard agent sets for this node and
	// group (PromotionScore), from the applied configuration.
	PromotionScore int `json:"promotion_score"`
}

// ConfigStatus compares the file with the configuration applied and with
// the kernel.
type ConfigStatus struct {
	File          string `json:"file"`
	Digest        string `json:"digest"`         // the file's (config.Digest)
	AppliedDigest string `json:"applied_digest"` // the applied configuration's; "" if none
	Translations  int    `json:"translations"`   // the file's, expanded
	// Drift: nothing is applied, or the file is not the applied
	// configuration, or bridgectl check would not exit 0 — the kernel
	// differs from the file (a link, a filter, a guard binding, a foreign
	// link in the way) or cannot take it (a parent interface missing,
	// somebody else's objects in the guard's block). DriftReason names the
	// first.
	Drift       bool   `json:"drift"`
	DriftReason string `json:"drift_reason,omitempty"`
	// LastApply is the last apply's outcome; nil if none since boot.
	LastApply *LastApply `json:"last_apply,omitempty"`
}

// Report is what status shows, and what the metrics export.
type Report struct {
	Config ConfigStatus `json:"config"`
	// Guard is the default group's guard ([guard] block's); Groups every
	// group's, the default first.
	Guard        GuardStatus         `json:"guard"`
	Groups       []GuardStatus       `json:"groups"`
	Translations []TranslationStatus `json:"translations"`
	// Passthroughs: each direction of each pass-through, in file order.
	Passthroughs []PassthroughStatus `json:"passthroughs,omitempty"`
}

// PassthroughStatus is one direction of a pass-through: the slow-protocol
// frames its filter sent from trunk In out of trunk Out. What its guard
// dropped is in the guard's count: the filter's first action is the
// guard's, shared by every filter, so its own count is not this
// direction's.
type PassthroughStatus struct {
	In        string `json:"in"`
	Out       string `json:"out"`
	Protocol  string `json:"protocol"`
	Group     string `json:"group"`
	Present   bool   `json:"present"` // the filter is in the kernel as wanted
	Forwarded uint64 `json:"forwarded"`
	Bytes     uint64 `json:"bytes"`
}

// Status reports every translation of cfg, the file's content raw, with
// counters, the guard, and the configuration: the applied one, and drift
// as check would find it, planned from the same kernel reads. It reads the
// state files and the kernel and takes no lock: a status or a scrape never
// waits for an apply, nor delays one.
func (m *Manager) Status(cfg *config.Config, raw []byte) (*Report, error) {
	links, err := m.links.Dump(true)
	if err != nil {
		return nil, err
	}
	st := plan.NewState(links)
	t, err := m.OpenTC()
	if err != nil {
		return nil, err
	}
	defer t.Close()
	// Every guard reads the qdiscs, and with status the tc datapath's
	// filters: one dump of each.
	dumps := &tcDumps{TC: t, filters: map[tc.Msg][]tc.Object{}}
	all := m.guardsOf(cfg)
	r := &Report{}
	bound := map[int]bool{} // ports bound to their group's guard
	var reads []boundPorts
	for _, grp := range cfg.Groups {
		devices := indexes(st, cfg.GuardedNames(grp.Name))
		gs, err := ReadGuard(m.guardOn(all, grp.Block, dumps), cfg, devices)
		if err != nil {
			return nil, err
		}
		gst := GuardStatus{Group: grp.Name, Block: grp.Block, State: gs.State.String(),
			PortsExpected: len(devices), DroppedPackets: gs.DroppedPackets}
		for _, i := range devices {
			if _, ok := slices.BinarySearch(gs.Bound, i); ok {
				gst.PortsBound++
				bound[i] = true
			}
		}
		r.Groups = append(r.Groups, gst)
		reads = append(reads, boundPorts{block: grp.Block, status: gs})
	}
	// The tc datapath's filters: its counters, and for the drift those of
	// an earlier configuration in either datapath.
	fs, err := filtersOn(dumps, all, st)
	if err != nil {
		return nil, err
	}
	if cfg.Datapath == config.TCDatapath {
		filterStatus(cfg, fs, r)
	} else {
		linkStatus(cfg, st, bound, r)
	}
	passthroughStatus(cfg, fs, r)
	if err := m.configStatus(cfg, raw, st, reads, fs, r); err != nil {
		return nil, err
	}
	r.Guard = r.Groups[0]
	return r, nil
}

// tcDumps is a tcnl.TC that dumps the qdiscs once and each set of filters
// once, for Status: every group's guard reads the qdiscs (its ports'
// bindings) and the tc datapath's block (the filters that pass its
// action), and status reads the block again (their counters); at 4094
// translations it holds 8188 flower filters and 8188 bridge ports'
// qdiscs, most of a scrape's time. All then see the same moment, too.
// Status closes the socket it wraps, not the guards.
type tcDumps struct {
	tcnl.TC
	qdiscs  []tc.Object // nil: not read yet
	filters map[tc.Msg][]tc.Object
}

func (d *tcDumps) Qdiscs() ([]tc.Object, error) {
	if d.qdiscs != nil {
		return d.qdiscs, nil
	}
	objs, err := d.TC.Qdiscs()
	if err == nil {
		d.qdiscs = append([]tc.Object{}, objs...) // none read is read too
	}
	return d.qdiscs, err
}

func (d *tcDumps) Filters(msg tc.Msg) ([]tc.Object, error) {
	if objs, ok := d.filters[msg]; ok {
		return objs, nil
	}
	objs, err := d.TC.Filters(msg)
	if err == nil {
		d.filters[msg] = objs
	}
	return objs, err
}

func (d *tcDumps) Close() error { return nil }

// linkStatus fills r for the bridge datapath: each translation's links
// with their counters, its bridge ports bound (bound) or not.
func linkStatus(cfg *config.Config, st *plan.State, bound map[int]bool, r *Report) {
	link := func(name string) LinkStatus {
		o := st.ByName[name]
		if o == nil {
			return LinkStatus{Name: name}
		}
		return LinkStatus{Name: name, Present: true, Up: o.Up, OperUp: o.OperUp, MTU: o.MTU,
			RxPackets: o.RxPackets, TxPackets: o.TxPackets, RxBytes: o.RxBytes, TxBytes: o.TxBytes,
			RxDropped: o.RxDropped, TxDropped: o.TxDropped}
	}
	port := func(e config.End) EndStatus {
		es := EndStatus{Stack: e.Stack.String()}
		for _, n := range e.Links() {
			es.Links = append(es.Links, link(n))
		}
		if p := &es.Links[len(es.Links)-1]; p.Present {
			p.Guarded = bound[st.ByName[p.Name].Index]
		}
		return es
	}
	for _, t := range cfg.Translations {
		ts := TranslationStatus{Name: t.Name, Group: t.Group, Datapath: cfg.Datapath, A: port(t.A), B: port(t.B), Bridge: link(t.Bridge)}
		pa, pb := ts.A.Links[len(ts.A.Links)-1], ts.B.Links[len(ts.B.Links)-1]
		ts.Directions = []DirectionStatus{portDirection(AToB, pa, pb), portDirection(BToA, pb, pa)}
		r.Translations = append(r.Translations, ts)
	}
}

// portDirection counts the frames from bridge port in to bridge port out.
func portDirection(dir string, in, out LinkStatus) DirectionStatus {
	return DirectionStatus{Direction: dir,
		ReceivedFrames: in.RxPackets, ReceivedBytes: in.RxBytes,
		Frames: out.TxPackets, Bytes: out.TxBytes,
		DroppedFrames: in.RxDropped + out.TxDropped}
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
// (of the kernel's, fs) with their counters.
func filterStatus(cfg *config.Config, fs []plan.Filter, r *Report) {
	have := map[string]plan.Filter{}
	for _, f := range fs {
		have[f.Key()] = f
	}
	for _, tr := range cfg.Translations {
		ts := TranslationStatus{Name: tr.Name, Group: tr.Group, Datapath: cfg.Datapath, A: EndStatus{Stack: tr.A.Stack.String()}, B: EndStatus{Stack: tr.B.Stack.String()}}
		for _, d := range []struct {
			dir     string
			in, out config.Stack
		}{{AToB, tr.A.Stack, tr.B.Stack}, {BToA, tr.B.Stack, tr.A.Stack}} {
			fs := FilterStatus{Direction: d.dir}
			ds := DirectionStatus{Direction: d.dir}
			if h, ok := have[d.in.String()]; ok {
				fs.Present = h.Out.String() == d.out.String() && h.Guard == cfg.BlockOf(tr.Group)
				fs.Handle, fs.Matched, fs.Forwarded, fs.Bytes = h.Handle, h.Matched, h.Forwarded, h.Bytes
				if h.Matched > h.Forwarded {
					fs.GuardDropped = h.Matched - h.Forwarded
				}
				ds.ReceivedFrames, ds.ReceivedBytes = h.Matched, h.MatchedBytes
				ds.Frames, ds.Bytes, ds.DroppedFrames = h.Forwarded, h.Bytes, fs.GuardDropped
			}
			ts.Filters = append(ts.Filters, fs)
			ts.Directions = append(ts.Directions, ds)
		}
		r.Translations = append(r.Translations, ts)
	}
}

// passthroughStatus fills r's pass-throughs from the kernel's filters fs.
func passthroughStatus(cfg *config.Config, fs []plan.Filter, r *Report) {
	have := map[string]plan.Filter{}
	for _, f := range fs {
		if f.Pass != "" {
			have[f.Key()] = f
		}
	}
	for _, p := range cfg.Passthroughs {
		for _, proto := range p.Protocols {
			for _, d := range [2][2]string{{p.A, p.B}, {p.B, p.A}} {
				ps := PassthroughStatus{In: d[0], Out: d[1], Protocol: proto, Group: p.Group}
				if h, ok := have[plan.Filter{Pass: proto, In: config.Stack{Parent: d[0]}}.Key()]; ok {
					ps.Present = h.Out.Parent == d[1] && h.Guard == cfg.BlockOf(p.Group) && h.SkipHW
					ps.Forwarded, ps.Bytes = h.Forwarded, h.Bytes
				}
				r.Passthroughs = append(r.Passthroughs, ps)
			}
		}
	}
}

// configStatus fills r's configuration and promotion score from the
// state files and what Status read: the drift is check's plan, made from
// the same reads (planning mutates st's bound marks only).
func (m *Manager) configStatus(cfg *config.Config, raw []byte, st *plan.State, reads []boundPorts, fs []plan.Filter, r *Report) error {
	c := &r.Config
	c.File, c.Digest, c.Translations = cfg.File, cfg.Digest(), len(cfg.Translations)
	last, err := m.LastApply()
	if err != nil {
		return err
	}
	c.LastApply = last
	applied, err := m.AppliedAs(cfg, raw)
	switch {
	case errors.Is(err, ErrNotApplied):
		applied = nil
	case err != nil:
		return fmt.Errorf("the applied configuration: %w", err)
	case applied == cfg:
		c.AppliedDigest = c.Digest
	default:
		c.AppliedDigest = applied.Digest()
	}
	for i := range r.Groups {
		r.Groups[i].PromotionScore, _ = PromotionScore(applied, st, r.Groups[i].Group)
	}

	var why string
	switch v, err := linkView(cfg, st, reads); {
	case applied == nil:
		why = "nothing applied"
	case c.AppliedDigest != c.Digest:
		why = "the file is not the applied configuration (applied digest " + c.AppliedDigest[:12] + ")"
	case err != nil:
		why = "check: " + oneLine(err.Error())
	default:
		gs := reads[0].status                                              // the default group's: [guard] block's
		sameRead := func([]int) (tcguard.Status, error) { return gs, nil } // read against every trunk that exists
		if err := datapathView(cfg, v, gs, fs, sameRead); err != nil {
			why = "check: " + oneLine(err.Error())
		} else if err := m.observeSettings(v); err != nil {
			why = "check: " + oneLine(err.Error())
		} else if !v.Plan.Clean() {
			why = driftSummary(v.Plan)
		}
	}
	c.Drift, c.DriftReason = why != "", why
	return nil
}

// driftSummary says in one line what check would list.
func driftSummary(p *plan.Plan) string {
	var parts []string
	if n := len(p.Steps); n > 0 {
		parts = append(parts, fmt.Sprintf("%d links", n))
	}
	if n := len(p.Filters); n > 0 {
		parts = append(parts, fmt.Sprintf("%d filters", n))
	}
	if n := len(p.Bind) + len(p.Unbind); n > 0 {
		parts = append(parts, fmt.Sprintf("%d trunk bindings", n))
	}
	if n := len(p.Settings); n > 0 {
		parts = append(parts, fmt.Sprintf("%d trunk settings", n))
	}
	if n := len(p.Foreign); n > 0 {
		parts = append(parts, fmt.Sprintf("%d foreign links", n))
	}
	return "the kernel differs from the file: " + strings.Join(parts, ", ") + " (bridgectl check lists them)"
}
