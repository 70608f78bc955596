package tcguard

import (
	"github.com/florianl/go-tc"
	"github.com/florianl/go-tc/core"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/internal/tcnl"
)

// Kinds of the objects the guard creates.
const (
	kindClsact   = "clsact"
	kindMatchall = "matchall"
	kindGact     = "gact"
	kindFlower   = "flower"
)

// EgressBlock is the block the ports' egress is bound to, next to their
// ingress block: Linux 6.8 and later refuse one block for both directions
// of a device (EBUSY, "block dev insert failed").
func EgressBlock(block uint32) uint32 { return block + 1 }

// TrunkBlock is the block of the tc datapath: the trunks' ingress is bound
// to it, and it holds the translation filters, each of which ends in the
// guard's action before its redirect.
func TrunkBlock(block uint32) uint32 { return block + 2 }

// ActionIndex is the index of the guard's gact action, shared by the
// filters of both blocks: promotion changes its verdict, one request that
// touches no filter (deleting chain 0's only filter makes the kernel update
// every bound qdisc).
func ActionIndex(block uint32) uint32 { return block }

// clsactObject is a clsact qdisc on a port with its ingress bound to block
// and its egress to EgressBlock(block): the guard then also stops frames
// leaving the port, such as those a foreign interface enslaved to the
// translation's bridge sends (its own ingress is not ours to guard).
func clsactObject(ifindex int, o Options) *tc.Object {
	block := o.Block
	return &tc.Object{
		Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: uint32(ifindex), Handle: core.BuildHandle(tc.HandleRoot, 0), Parent: tc.HandleIngress},
		Attribute: tc.Attribute{Kind: kindClsact, IngressBlock: new(block), EgressBlock: new(EgressBlock(block))},
	}
}

// filterInfo is the guard filter's tcm_info: our priority, every protocol.
var filterInfo = tcnl.Info(FilterPriority, unix.ETH_P_ALL)

// trunkClsactObject is a clsact qdisc on a trunk with its ingress bound to
// TrunkBlock(block), its egress unbound: the trunk's own traffic (a
// management VLAN) is not the guard's to stop.
func trunkClsactObject(ifindex int, o Options) *tc.Object {
	return &tc.Object{
		Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: uint32(ifindex), Handle: core.BuildHandle(tc.HandleRoot, 0), Parent: tc.HandleIngress},
		Attribute: tc.Attribute{Kind: kindClsact, IngressBlock: new(o.trunkBlock())},
	}
}

// blockMsg addresses a shared block (filters, chains).
func blockMsg(block uint32) tc.Msg { return tc.Msg{Ifindex: tc.MagicBlock, Parent: block} }

// guardMsg is the guard filter's identity in one of its blocks: priority
// and handle are always set, because priority 0 on delete flushes the chain
// (and on create lets the kernel pick one).
func guardMsg(block uint32) tc.Msg {
	m := blockMsg(block)
	m.Handle, m.Info = FilterHandle, filterInfo
	return m
}

// gateAction is the guard's shared gact action with a verdict: ActShot
// (blocked) or ActPipe (open: the frame goes on as if no filter were there).
func gateAction(guardBlock uint32, verdict uint32) *tc.Action {
	return &tc.Action{Kind: kindGact, Gact: &tc.Gact{Parms: &tc.GactParms{Index: ActionIndex(guardBlock), Action: verdict}}}
}

// guardFilterObject is the guard filter in block (the guard's ingress block
// or its egress block): matchall, the shared gact action. Created where
// the action exists, the filter binds to it and keeps its verdict; else the
// kernel creates the action, dropping.
func guardFilterObject(guardBlock, block uint32) *tc.Object {
	return &tc.Object{Msg: guardMsg(block), Attribute: tc.Attribute{Kind: kindMatchall, Matchall: &tc.Matchall{
		Actions: &[]*tc.Action{gateAction(guardBlock, tc.ActShot)},
	}}}
}

func deref(p *uint32) uint32 {
	if p == nil {
		return 0
	}
	return *p
}

// qdisc is what the guard needs to know of a qdisc.
type qdisc struct {
	ifindex      int
	parent       uint32
	kind         string
	ingressBlock uint32 // 0: ingress not bound to a shared block
	egressBlock  uint32 // 0: egress not bound to a shared block
}

func qdiscOf(o tc.Object) qdisc {
	return qdisc{ifindex: int(int32(o.Ifindex)), parent: o.Parent, kind: o.Kind,
		ingressBlock: deref(o.IngressBlock), egressBlock: deref(o.EgressBlock)}
}

// ours reports whether q is a guard clsact: a bridge port's (ingress bound
// to block, egress to EgressBlock) or a trunk's (ingress bound to
// TrunkBlock, egress unbound).
func (q qdisc) ours(o Options) bool {
	return q.is(portQdisc(o.Block)) || q.is(trunkQdisc(o))
}

// portQdisc and trunkQdisc are what clsactObject and trunkClsactObject
// make, as the qdisc dump shows them.
func portQdisc(block uint32) qdisc {
	return qdisc{kind: kindClsact, ingressBlock: block, egressBlock: EgressBlock(block)}
}
func trunkQdisc(o Options) qdisc { return qdisc{kind: kindClsact, ingressBlock: o.trunkBlock()} }

// is reports whether q is want's kind bound to want's blocks.
func (q qdisc) is(want qdisc) bool {
	return q.kind == want.kind && q.ingressBlock == want.ingressBlock && q.egressBlock == want.egressBlock
}

// uses reports whether q binds either direction to any of the guard's
// blocks.
func (q qdisc) uses(o Options) bool {
	for _, b := range [3]uint32{o.Block, EgressBlock(o.Block), o.trunkBlock()} {
		if q.ingressBlock == b || q.egressBlock == b {
			return true
		}
	}
	return false
}

// action is one action of a filter. Its counters are read from the action
// itself (look), shared as it is.
type action struct {
	kind       string
	index      uint32
	verdict    int32 // gact: tc_gen.action
	hasVerdict bool
}

// isGate reports whether a is the guard's shared action, dropping or open.
func (a action) isGate(guardBlock uint32) bool {
	return a.kind == kindGact && a.index == ActionIndex(guardBlock) && a.hasVerdict &&
		(a.verdict == tc.ActShot || a.verdict == tc.ActPipe)
}

// filter is one filter (or, with handle 0, the header the kernel sends for
// the classifier instance itself) of a filter dump.
type filter struct {
	prio    uint16
	handle  uint32
	chain   uint32
	kind    string
	actions []action
}

func filterOf(o tc.Object) filter {
	f := filter{prio: uint16(o.Info >> 16), handle: o.Handle, chain: deref(o.Chain), kind: o.Kind}
	var acts []*tc.Action
	switch {
	case o.Kind == kindMatchall && o.Matchall != nil && o.Matchall.Actions != nil:
		acts = *o.Matchall.Actions
	case o.Kind == kindFlower && o.Flower != nil && o.Flower.Actions != nil:
		acts = *o.Flower.Actions
	}
	for _, a := range acts {
		x := action{kind: a.Kind, index: a.Index}
		if a.Gact != nil && a.Gact.Parms != nil {
			x.verdict, x.hasVerdict = int32(a.Gact.Parms.Action), true
			if x.index == 0 {
				x.index = a.Gact.Parms.Index
			}
		}
		f.actions = append(f.actions, x)
	}
	return f
}

// isGuard reports whether f is a guard filter exactly as we create it: the
// shared action, dropping or open.
func (f filter) isGuard(guardBlock uint32) bool {
	return f.handle == FilterHandle && f.prio == FilterPriority && f.chain == 0 &&
		f.kind == kindMatchall && len(f.actions) == 1 && f.actions[0].isGate(guardBlock)
}

// gated reports whether f is a translation filter that ends in the guard:
// flower, in chain 0, whose one gact action is the guard's.
func (f filter) gated(guardBlock uint32) bool {
	var gate action
	n := 0
	for _, a := range f.actions {
		if a.kind == kindGact {
			gate, n = a, n+1
		}
	}
	return n == 1 && f.kind == kindFlower && f.chain == 0 && gate.isGate(guardBlock)
}
