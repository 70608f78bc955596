package kernel

import (
	"errors"
	"fmt"
	"net"

	"github.com/florianl/go-tc"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/tcnl"
)

// The tc datapath's filters as the kernel takes them (go-tc objects): one
// flower filter per direction of a translation, in the guard's trunk block.

// TCA_CLS_FLAGS_SKIP_HW: the filter runs in software only, so no NIC can
// take over the translation and bypass the guard's action.
const skipHW = 1

// TCA_VLAN_ACT_* and TCA_EGRESS_REDIR of the kernel's uapi.
const (
	vlanPop     = 1
	vlanPush    = 2
	vlanModify  = 3
	egressRedir = 1
)

// Gates maps a guard's block to its gact action's index, and back
// (tcguard.ActionIndex); for the blocks of the file's groups.
type Gates map[uint32]uint32

// guard is the guard block whose action has index i, or 0.
func (g Gates) guard(i uint32) uint32 {
	for b, a := range g {
		if a == i {
			return b
		}
	}
	return 0
}

// FilterObject is f as the flower filter sent to block: matching f.In on
// its trunk's ingress, its actions the tag rewrite, its guard's gact action
// (index gate, created dropping if it does not exist yet) and the redirect
// to the out trunk, outIndex.
func FilterObject(f plan.Filter, block, gate uint32, outIndex int) *tc.Object {
	if f.Pass != "" {
		return passObject(f, block, gate, outIndex)
	}
	// The key's EtherType is the outer tag's protocol: flower reads the
	// VLAN keys only when it is a VLAN protocol (as tc sets it from the
	// filter's protocol).
	fl := &tc.Flower{Indev: new(f.In.Parent), Flags: new(uint32(0)), KeyEthType: new(uint16(f.In.Tags[0].Proto)), KeyVlanID: new(f.In.Tags[0].ID)}
	if f.SkipHW {
		*fl.Flags = skipHW
	}
	if len(f.In.Tags) > 1 {
		fl.KeyVlanEthType, fl.KeyCVlanID = new(uint16(f.In.Tags[1].Proto)), new(f.In.Tags[1].ID)
	}
	acts := rewrite(f.In.Tags, f.Out.Tags)
	if f.Guard != 0 {
		acts = append(acts, &tc.Action{Kind: "gact", Gact: &tc.Gact{Parms: &tc.GactParms{Index: gate, Action: tc.ActShot}}})
	}
	acts = append(acts, &tc.Action{Kind: "mirred", Mirred: &tc.Mirred{Parms: &tc.MirredParam{
		Action: tc.ActStolen, Eaction: egressRedir, IfIndex: uint32(outIndex)}}})
	fl.Actions = &acts
	return &tc.Object{
		Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: tc.MagicBlock, Parent: block, Handle: f.Handle, Info: tcnl.Info(f.Prio, uint16(f.In.Tags[0].Proto))},
		Attribute: tc.Attribute{Kind: "flower", Flower: fl},
	}
}

// passObject is pass-through filter f as the flower filter sent to block:
// slow-protocol frames to their address, received on f's in trunk, pass
// the guard's action (index gate) and are redirected, untouched, to the
// out trunk.
func passObject(f plan.Filter, block, gate uint32, outIndex int) *tc.Object {
	dst := net.HardwareAddr(plan.SlowProtocolsMAC[:])
	fl := &tc.Flower{Indev: new(f.In.Parent), Flags: new(uint32(0)), KeyEthType: new(plan.EthPSlow),
		KeyEthDst: &dst, KeyEthDstMask: new(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})}
	if f.SkipHW {
		*fl.Flags = skipHW
	}
	fl.Actions = &[]*tc.Action{
		{Kind: "gact", Gact: &tc.Gact{Parms: &tc.GactParms{Index: gate, Action: tc.ActShot}}},
		{Kind: "mirred", Mirred: &tc.Mirred{Parms: &tc.MirredParam{Action: tc.ActStolen, Eaction: egressRedir, IfIndex: uint32(outIndex)}}},
	}
	return &tc.Object{
		Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: tc.MagicBlock, Parent: block, Handle: f.Handle, Info: tcnl.Info(f.Prio, plan.EthPSlow)},
		Attribute: tc.Attribute{Kind: "flower", Flower: fl},
	}
}

// rewrite is the act_vlan actions that turn the in tags into the out tags:
// act_vlan changes only the outermost tag, so all but the innermost in tag
// are popped, that one is modified into the innermost out tag (its
// priority bits kept), and the outer out tags are pushed, inner first.
func rewrite(in, out []config.Tag) []*tc.Action {
	vlan := func(op uint32, t *config.Tag) *tc.Action {
		v := &tc.VLan{Parms: &tc.VLanParms{Action: tc.ActPipe, VLanAction: op}}
		if t != nil {
			v.PushID, v.PushProtocol = new(t.ID), new(uint16(t.Proto))
		}
		return &tc.Action{Kind: "vlan", VLan: v}
	}
	var acts []*tc.Action
	for range in[1:] {
		acts = append(acts, vlan(vlanPop, nil))
	}
	acts = append(acts, vlan(vlanModify, &out[len(out)-1]))
	for i := len(out) - 2; i >= 0; i-- {
		acts = append(acts, vlan(vlanPush, &out[i]))
	}
	return acts
}

// ObservedFilters decodes the datapath's filters from a dump of the trunk
// block: every flower filter at plan.FilterPrioDot1Q or FilterPrioDot1AD,
// and the pass-throughs' at FilterPrioSlow (the guard refuses the block if
// anything in it lacks its action). The out stack is what the actions
// make of the in tags; an action that is not ours, or a pass-through that
// does not match exactly the slow protocols, leaves it unknown ("?"),
// which the plan replaces.
func ObservedFilters(objs []tc.Object, st *plan.State, gates Gates) []plan.Filter {
	var out []plan.Filter
	for _, o := range objs {
		prio := uint16(o.Info >> 16)
		if o.Kind != "flower" || o.Handle == 0 || o.Flower == nil || (prio != plan.FilterPrioDot1Q && prio != plan.FilterPrioDot1AD && prio != plan.FilterPrioSlow) {
			continue
		}
		f := plan.Filter{Prio: prio, Handle: o.Handle, SkipHW: o.Flower.Flags != nil && *o.Flower.Flags&skipHW != 0}
		if o.Flower.Indev != nil {
			f.In.Parent = *o.Flower.Indev
		}
		if prio == plan.FilterPrioSlow {
			out = append(out, observedPass(f, o, st, gates))
			continue
		}
		proto := config.Dot1Q
		if o.Info == tcnl.Info(prio, uint16(config.Dot1AD)) {
			proto = config.Dot1AD
		}
		if o.Flower.KeyVlanID != nil {
			f.In.Tags = append(f.In.Tags, config.Tag{Proto: proto, ID: *o.Flower.KeyVlanID})
			if o.Flower.KeyCVlanID != nil && o.Flower.KeyVlanEthType != nil {
				f.In.Tags = append(f.In.Tags, config.Tag{Proto: config.Proto(*o.Flower.KeyVlanEthType), ID: *o.Flower.KeyCVlanID})
			}
		}
		if o.Flower.Actions != nil {
			decodeActions(&f, *o.Flower.Actions, st, gates)
		}
		out = append(out, f)
	}
	return out
}

// observedPass decodes pass-through filter o (f holds what any filter
// has): the protocol is the one pass-throughs carry; anything but exactly
// our match and actions (gate, redirect) makes its out trunk unknown.
func observedPass(f plan.Filter, o tc.Object, st *plan.State, gates Gates) plan.Filter {
	f.Pass = config.ProtoLACP
	fl := o.Flower
	exact := o.Info == tcnl.Info(plan.FilterPrioSlow, plan.EthPSlow) && fl.KeyEthType != nil && *fl.KeyEthType == plan.EthPSlow &&
		fl.KeyEthDst != nil && string(*fl.KeyEthDst) == string(plan.SlowProtocolsMAC[:]) &&
		(fl.KeyEthDstMask == nil || string(*fl.KeyEthDstMask) == "\xff\xff\xff\xff\xff\xff") &&
		fl.KeyEthSrc == nil && fl.KeyVlanID == nil
	if fl.Actions != nil {
		decodeActions(&f, *fl.Actions, st, gates)
	}
	if !exact {
		f.Out = config.Stack{Parent: "?"}
	}
	return f
}

// decodeActions replays the actions on the in tags (the out stack), finds
// the guard's gate before the redirect, and reads the counters.
func decodeActions(f *plan.Filter, acts []*tc.Action, st *plan.State, gates Gates) {
	tags := append([]config.Tag(nil), f.In.Tags...)
	known := true
	for i, a := range acts {
		switch {
		case a.Kind == "vlan" && a.VLan != nil && a.VLan.Parms != nil:
			v := a.VLan
			switch {
			case v.Parms.VLanAction == vlanPop && len(tags) > 0:
				tags = tags[1:]
			case v.Parms.VLanAction == vlanModify && len(tags) > 0 && v.PushID != nil && v.PushProtocol != nil:
				tags[0] = config.Tag{Proto: config.Proto(*v.PushProtocol), ID: *v.PushID}
			case v.Parms.VLanAction == vlanPush && v.PushID != nil && v.PushProtocol != nil:
				tags = append([]config.Tag{{Proto: config.Proto(*v.PushProtocol), ID: *v.PushID}}, tags...)
			default:
				known = false
			}
		case a.Kind == "gact" && a.Gact != nil && a.Gact.Parms != nil && gates.guard(a.Gact.Parms.Index) != 0 && f.Guard == 0:
			f.Guard = gates.guard(a.Gact.Parms.Index)
		case a.Kind == "mirred" && a.Mirred != nil && a.Mirred.Parms != nil && i == len(acts)-1 &&
			a.Mirred.Parms.Eaction == egressRedir && st.Name(int(a.Mirred.Parms.IfIndex)) != "":
			f.Out.Parent = st.Name(int(a.Mirred.Parms.IfIndex))
			f.Forwarded, f.Bytes = packets(a.Stats), bytes(a.Stats)
		default:
			known = false
		}
		if i == 0 {
			f.Matched, f.MatchedBytes = packets(a.Stats), bytes(a.Stats)
		}
	}
	if !known || f.Out.Parent == "" || (len(tags) == 0) != (f.Pass != "") {
		f.Out = config.Stack{Parent: "?"}
		return
	}
	f.Out.Tags = tags
}

func packets(s *tc.GenStats) uint64 {
	switch {
	case s == nil || s.Basic == nil:
		return 0
	case s.Pkt64 != nil:
		return *s.Pkt64
	}
	return uint64(s.Basic.Packets)
}

func bytes(s *tc.GenStats) uint64 {
	if s == nil || s.Basic == nil {
		return 0
	}
	return s.Basic.Bytes
}

// ApplyFilters runs the filter steps in order, one request each, and
// counts them. A failed step stops it; running it again converges.
func ApplyFilters(t tcnl.TC, steps []plan.FilterStep, st *plan.State, block uint32, gates Gates) (plan.Result, error) {
	var res plan.Result
	for _, s := range steps {
		var err error
		switch s.Op {
		case plan.Create, plan.Modify:
			out := st.ByName[s.Want.Out.Parent]
			if out == nil {
				return res, fmt.Errorf("filter %s: trunk %s vanished", s.Want, s.Want.Out.Parent)
			}
			gate, ok := gates[s.Want.Guard]
			if !ok {
				return res, fmt.Errorf("filter %s: no gate for the guard of block %d", s.Want, s.Want.Guard)
			}
			o := FilterObject(s.Want, block, gate, out.Index)
			if s.Op == plan.Create {
				err = t.AddFilter(o)
			} else {
				err = t.ReplaceFilter(o)
			}
		case plan.Delete:
			err = t.DeleteFilter(&tc.Object{
				Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: tc.MagicBlock, Parent: block, Handle: s.Have.Handle, Info: tcnl.Info(s.Have.Prio, protoOf(s.Have))},
				Attribute: tc.Attribute{Kind: "flower"},
			})
			if errors.Is(err, unix.ENOENT) {
				err = nil // gone meanwhile
			}
		}
		if err != nil {
			return res, fmt.Errorf("filter %s: %s: %w", s.Op, filterName(s), err)
		}
		switch s.Op {
		case plan.Create:
			res.Created++
		case plan.Modify:
			res.Modified++
		case plan.Delete:
			res.Deleted++
		}
	}
	return res, nil
}

// protoOf is the protocol an observed filter was created with.
func protoOf(f *plan.Filter) uint16 {
	if f.Prio == plan.FilterPrioSlow {
		return plan.EthPSlow
	}
	if f.Prio == plan.FilterPrioDot1AD {
		return uint16(config.Dot1AD)
	}
	return uint16(config.Dot1Q)
}

func filterName(s plan.FilterStep) string {
	if s.Op == plan.Delete {
		return s.Have.String()
	}
	return s.Want.String()
}
