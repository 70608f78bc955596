package kerneltest

import (
	"bytes"
	"net"
	"slices"

	"github.com/florianl/go-tc"
	"golang.org/x/sys/unix"
)

// The filter requests of the tc seam, as Linux 6.1 answers them (verified
// in the testbed VM): matchall (one filter per priority) and flower (many,
// told apart by handle and by key), with gact, vlan and mirred actions; a
// gact action with an index is shared (tcTable.bind).

func (t TC) AddFilter(o *tc.Object) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("add filter"); err != nil {
		return err
	}
	return t.putFilter(o, false)
}

func (t TC) ReplaceFilter(o *tc.Object) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("replace filter"); err != nil {
		return err
	}
	return t.putFilter(o, true)
}

// putFilter checks o as the kernel does and stores it, in place of the
// filter at its chain, priority and handle if replace.
func (t TC) putFilter(o *tc.Object, replace bool) error {
	k := t.k
	b := t.block(o.Msg)
	switch {
	case b == nil:
		return errNoBlock
	case prio(o.Msg) == 0 || o.Info&0xFFFF == 0:
		return kernelError(unix.EINVAL, "kerneltest: priority 0 (the kernel would pick one) or protocol 0")
	case o.Kind != "matchall" && o.Kind != "flower":
		return kernelError(unix.ENOENT, "TC classifier not found")
	case o.Kind == "flower" && o.Handle == 0:
		return kernelError(unix.EINVAL, "kerneltest: flower handle 0 (the kernel would pick one)")
	case len(actions(*o)) == 0:
		return kernelError(unix.EINVAL, "kerneltest: a filter without actions")
	}
	for _, a := range actions(*o) {
		if a.Kind != "gact" && a.Kind != "vlan" && a.Kind != "mirred" || a.Kind == "gact" && (a.Gact == nil || a.Gact.Parms == nil) {
			return kernelError(unix.ENOENT, "Failed to load TC action module")
		}
		// tcf_action_init: an action made on its own carries no offload
		// flags; a filter with skip_hw cannot bind it.
		if g := k.tcTable.gact(a); g != nil && g.standalone && skipHW(*o) {
			return kernelError(unix.EINVAL, "Mismatch between action and filter offload flags")
		}
	}
	at := -1
	for i, f := range b.filters {
		if chainOf(f) != chainOf(*o) || prio(f.Msg) != prio(o.Msg) {
			continue
		}
		if f.Kind != o.Kind || f.Info != o.Info {
			return kernelError(unix.EINVAL, "Filter kind and protocol must match existing filter")
		}
		switch {
		case f.Handle == o.Handle:
			at = i
		case o.Kind == "matchall":
			return kernelError(unix.EEXIST, "Filter already exists") // one filter per priority
		case sameFlowerKey(f, *o):
			return kernelError(unix.EEXIST, "Filter already exists")
		}
	}
	if at >= 0 && !replace {
		return kernelError(unix.EEXIST, "Filter already exists")
	}
	f := tc.Object{Msg: o.Msg, Attribute: tc.Attribute{Kind: o.Kind, Chain: o.Chain}}
	var acts []*tc.Action
	for _, a := range actions(*o) {
		c := *a
		if a.Kind == "gact" {
			parms := *a.Gact.Parms
			k.tcTable.bind(&parms)
			c.Gact = &tc.Gact{Parms: &parms}
		} else {
			c.Stats = &tc.GenStats{Basic: &tc.GenBasic{}}
		}
		acts = append(acts, &c)
	}
	if o.Kind == "matchall" {
		f.Matchall = &tc.Matchall{Pcnt: new(uint64(0)), Actions: &acts}
	} else {
		fl := *o.Flower
		fl.Actions = &acts
		if !vlanType(fl.KeyEthType) {
			// fl_set_key reads the VLAN keys only under a VLAN EtherType.
			fl.KeyVlanID, fl.KeyVlanEthType, fl.KeyCVlanID = nil, nil, nil
		} else if !vlanType(fl.KeyVlanEthType) {
			fl.KeyCVlanID = nil // and the inner ones only under a VLAN one too
		}
		f.Flower = &fl
	}
	if at >= 0 {
		k.logf("filter replace")
		k.tcTable.unbind(b.filters[at])
		b.filters[at] = f
		return nil
	}
	k.logf("filter add")
	b.filters = append(b.filters, f)
	return nil
}

func vlanType(p *uint16) bool { return p != nil && (*p == unix.ETH_P_8021Q || *p == unix.ETH_P_8021AD) }

func skipHW(o tc.Object) bool {
	f := o.Flower
	return f != nil && f.Flags != nil && *f.Flags&1 != 0 // TCA_CLS_FLAGS_SKIP_HW
}

// sameFlowerKey reports whether two flower filters match the same frames
// with the same fields (the kernel refuses the second one).
func sameFlowerKey(a, b tc.Object) bool {
	x, y := a.Flower, b.Flower
	eq := func(p, q *uint16) bool { return (p == nil) == (q == nil) && (p == nil || *p == *q) }
	str := func(p, q *string) bool { return (p == nil) == (q == nil) && (p == nil || *p == *q) }
	mac := func(p, q *net.HardwareAddr) bool {
		return (p == nil) == (q == nil) && (p == nil || bytes.Equal(*p, *q))
	}
	return str(x.Indev, y.Indev) && eq(x.KeyEthType, y.KeyEthType) && mac(x.KeyEthDst, y.KeyEthDst) &&
		eq(x.KeyVlanID, y.KeyVlanID) && eq(x.KeyVlanEthType, y.KeyVlanEthType) &&
		eq(x.KeyCVlanID, y.KeyCVlanID) && eq(x.KeyCVlanEthType, y.KeyCVlanEthType)
}

// DeleteFilter deletes as the kernel does, traps included: priority 0
// flushes the chain, handle 0 deletes every filter at the priority, and no
// kind matches any kind.
func (t TC) DeleteFilter(o *tc.Object) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("delete filter"); err != nil {
		return err
	}
	b := t.block(o.Msg)
	if b == nil {
		return errNoBlock
	}
	gone := func(f tc.Object) bool {
		return chainOf(f) == chainOf(*o) && (prio(o.Msg) == 0 || prio(f.Msg) == prio(o.Msg)) &&
			(o.Kind == "" || f.Kind == o.Kind) && (o.Handle == 0 || f.Handle == o.Handle)
	}
	if !slices.ContainsFunc(b.filters, gone) {
		return kernelError(unix.ENOENT, "Specified filter handle not found")
	}
	switch {
	case prio(o.Msg) == 0:
		k.logf("filter flush chain %d", chainOf(*o))
	case o.Handle == 0:
		k.logf("filter del prio %d", prio(o.Msg))
	default:
		k.logf("filter del")
	}
	for _, f := range b.filters {
		if gone(f) {
			k.tcTable.unbind(f)
		}
	}
	b.filters = slices.DeleteFunc(b.filters, gone)
	return nil
}

// DeleteQdisc deletes a device's ingress qdisc of the object's kind.
func (t TC) DeleteQdisc(o *tc.Object) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("delete qdisc"); err != nil {
		return err
	}
	q, ok := k.tcTable.ingress[int(o.Ifindex)]
	switch {
	case o.Parent != tc.HandleIngress:
		return kernelError(unix.EINVAL, "kerneltest: only ingress-slot qdiscs are modelled")
	case !ok:
		return kernelError(unix.ENOENT, "Cannot find specified qdisc on specified device")
	case o.Kind != "" && o.Kind != q.Kind:
		return kernelError(unix.EINVAL, "Invalid qdisc name")
	}
	k.logf("qdisc del %d", o.Ifindex)
	k.tcTable.removeQdisc(int(o.Ifindex))
	return nil
}

// FilterFrames passes frames through one filter's actions, as the kernel
// counts them: each action counts the frame until one drops it (a shared
// gact dropping ends the list).
func (k *Kernel) FilterFrames(block uint32, prio uint16, handle uint32, packets, bytes uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.tcTable.blocks[block]
	i := b.find(BlockFilter(block, 0, prio, handle, ""))
	if i < 0 {
		panic("kerneltest: FilterFrames: no such filter")
	}
	for _, a := range actions(b.filters[i]) {
		if g := k.tcTable.gact(a); g != nil {
			g.packets += packets
			g.bytes += bytes
			if g.verdict == tc.ActShot {
				g.drops += uint32(packets)
				return
			}
			continue
		}
		a.Stats.Basic.Packets += uint32(packets)
		a.Stats.Basic.Bytes += bytes
	}
}
