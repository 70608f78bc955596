package tcguard

import (
	"github.com/florianl/go-tc"
	"github.com/florianl/go-tc/core"
	"golang.org/x/sys/unix"
)

// Kinds of the objects the guard creates.
const (
	kindClsact   = "clsact"
	kindMatchall = "matchall"
	kindGact     = "gact"
)

// clsactObject is a clsact qdisc on a port with its ingress and its egress
// bound to block: the drop filter then also stops frames leaving the port,
// such as those a foreign interface enslaved to the translation's bridge
// sends (its own ingress is not ours to guard).
func clsactObject(ifindex int, block uint32) *tc.Object {
	return &tc.Object{
		Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: uint32(ifindex), Handle: core.BuildHandle(tc.HandleRoot, 0), Parent: tc.HandleIngress},
		Attribute: tc.Attribute{Kind: kindClsact, IngressBlock: new(block), EgressBlock: new(block)},
	}
}

// blockMsg addresses a shared block (filters, chains).
func blockMsg(block uint32) tc.Msg { return tc.Msg{Ifindex: tc.MagicBlock, Parent: block} }

// guardMsg is the guard filter's identity: priority and handle are always
// set, because priority 0 on delete flushes the chain (and on create lets the
// kernel pick one).
func guardMsg(block uint32) tc.Msg {
	m := blockMsg(block)
	m.Handle, m.Info = FilterHandle, filterInfo()
	return m
}

// guardFilterObject is the guard: matchall, one gact action "drop".
func guardFilterObject(block uint32) *tc.Object {
	return &tc.Object{Msg: guardMsg(block), Attribute: tc.Attribute{Kind: kindMatchall, Matchall: &tc.Matchall{
		Actions: &[]*tc.Action{{Kind: kindGact, Gact: &tc.Gact{Parms: &tc.GactParms{Action: tc.ActShot}}}},
	}}}
}

// guardDeleteObject deletes exactly the guard: a missing kind would let the
// kernel delete whatever sits at that priority.
func guardDeleteObject(block uint32) *tc.Object {
	return &tc.Object{Msg: guardMsg(block), Attribute: tc.Attribute{Kind: kindMatchall}}
}

// chainObject is an (empty) chain of the block.
func chainObject(block, chain uint32) *tc.Object {
	return &tc.Object{Msg: blockMsg(block), Attribute: tc.Attribute{Chain: new(chain)}}
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

// ours reports whether q is a guard clsact: both directions bound to block.
func (q qdisc) ours(block uint32) bool {
	return q.kind == kindClsact && q.ingressBlock == block && q.egressBlock == block
}

// uses reports whether q binds either direction to block.
func (q qdisc) uses(block uint32) bool { return q.ingressBlock == block || q.egressBlock == block }

// action is one action of a filter, with its counters.
type action struct {
	kind           string
	verdict        int32 // gact: tc_gen.action
	hasVerdict     bool
	packets, bytes uint64
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
	if o.Kind != kindMatchall || o.Matchall == nil || o.Matchall.Actions == nil {
		return f
	}
	for _, a := range *o.Matchall.Actions {
		x := action{kind: a.Kind}
		if a.Gact != nil && a.Gact.Parms != nil {
			x.verdict, x.hasVerdict = int32(a.Gact.Parms.Action), true
		}
		if a.Stats != nil && a.Stats.Basic != nil {
			x.packets, x.bytes = uint64(a.Stats.Basic.Packets), a.Stats.Basic.Bytes
		}
		// The action's packet field is 32 bits; past that the kernel
		// sends the count in TCA_STATS_PKT64 too.
		if a.Stats != nil && a.Stats.Pkt64 != nil {
			x.packets = *a.Stats.Pkt64
		}
		// Every frame the matchall takes goes through each of its actions:
		// its hit counter, 64 bits wide, is their packet count.
		if o.Matchall.Pcnt != nil {
			x.packets = *o.Matchall.Pcnt
		}
		f.actions = append(f.actions, x)
	}
	return f
}

// isGuard reports whether f is the guard filter exactly as we create it.
func (f filter) isGuard() bool {
	return f.handle == FilterHandle && f.prio == FilterPriority && f.chain == 0 &&
		f.kind == kindMatchall && len(f.actions) == 1 &&
		f.actions[0].kind == kindGact && f.actions[0].hasVerdict && f.actions[0].verdict == tc.ActShot
}
