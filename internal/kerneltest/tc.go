package kerneltest

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/florianl/go-tc"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// tcTable is the namespace's tc objects as Linux 6.1 keeps them (verified in
// the testbed VM): the qdisc in each device's ingress slot, and shared
// blocks, which live while a qdisc binds them (ingress or egress) and hold
// filters and chains.
type tcTable struct {
	ingress map[int]tc.Object
	blocks  map[uint32]*tcBlock
}

type tcBlock struct {
	filters []tc.Object     // every chain, every priority, in creation order
	chains  map[uint32]bool // chains created explicitly (RTM_NEWCHAIN)
}

func (t *tcTable) init() {
	t.ingress = map[int]tc.Object{}
	t.blocks = map[uint32]*tcBlock{}
}

// deviceGone drops the tc objects of a deleted device.
func (t *tcTable) deviceGone(ifindex int) { t.removeQdisc(ifindex) }

// removeQdisc drops a device's ingress qdisc and the blocks only it bound.
func (t *tcTable) removeQdisc(ifindex int) {
	q, ok := t.ingress[ifindex]
	delete(t.ingress, ifindex)
	if !ok {
		return
	}
	for _, b := range []*uint32{q.IngressBlock, q.EgressBlock} {
		if b != nil && !t.bound(*b) {
			delete(t.blocks, *b)
		}
	}
}

func (t *tcTable) bound(block uint32) bool {
	for _, q := range t.ingress {
		if uses(q, block) {
			return true
		}
	}
	return false
}

func uses(q tc.Object, block uint32) bool {
	return (q.IngressBlock != nil && *q.IngressBlock == block) || (q.EgressBlock != nil && *q.EgressBlock == block)
}

// putQdisc sets a device's ingress qdisc, creating the blocks it binds.
func (t *tcTable) putQdisc(q tc.Object) {
	t.removeQdisc(int(q.Ifindex))
	t.ingress[int(q.Ifindex)] = q
	for _, b := range []*uint32{q.IngressBlock, q.EgressBlock} {
		if b != nil && t.blocks[*b] == nil {
			t.blocks[*b] = &tcBlock{chains: map[uint32]bool{}}
		}
	}
}

// kernelError is an error as go-tc and mdlayher/netlink return the kernel's.
func kernelError(errno unix.Errno, text string) error {
	return &netlink.OpError{Op: "receive", Err: errno, Message: text}
}

var errNoBlock = kernelError(unix.EINVAL, "Block of given index was not found")

// TC is the Kernel seen through tcguard's TC seam.
type TC struct{ k *Kernel }

// TC returns the namespace's tc seam (tcguard.TC).
func (k *Kernel) TC() TC { return TC{k} }

// AddDevice makes sure a device exists at ifindex, for tests of tc alone:
// one there already (lo is 1) is kept, else a NIC named devN, up,
// deletable by RemoveDevice, is added.
func (k *Kernel) AddDevice(ifindex int) {
	k.mu.Lock()
	exists := k.links[ifindex] != nil
	k.mu.Unlock()
	if exists {
		return
	}
	k.AddLink(plan.Observed{Index: ifindex, Name: fmt.Sprintf("dev%d", ifindex), MTU: 1500, Up: true}, false)
}

// RemoveDevice deletes the device, as `ip link del` does: its tc objects
// go with it.
func (k *Kernel) RemoveDevice(ifindex int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.delete(ifindex)
}

// PlantQdisc puts q (someone else's, say) in a device's ingress slot, unchecked.
func (k *Kernel) PlantQdisc(q tc.Object) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.tcTable.putQdisc(q)
}

// Ingress is the qdisc in a device's ingress slot, if there is one.
func (k *Kernel) Ingress(ifindex int) (tc.Object, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	q, ok := k.tcTable.ingress[ifindex]
	return q, ok
}

// RemoveQdisc deletes a device's ingress qdisc, as `tc qdisc del` does.
func (k *Kernel) RemoveQdisc(ifindex int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.tcTable.removeQdisc(ifindex)
}

// IngressQdisc is a qdisc of kind "ingress" or "clsact" for a device's
// ingress slot, its ingress bound to block unless 0, as `tc qdisc add dev D
// ingress` or `tc qdisc add dev D clsact ingress_block B` makes it: for
// PlantQdisc.
func IngressQdisc(ifindex int, kind string, block uint32) tc.Object {
	q := tc.Object{Msg: tc.Msg{Ifindex: uint32(ifindex), Parent: tc.HandleIngress}, Attribute: tc.Attribute{Kind: kind}}
	if block != 0 {
		q.IngressBlock = new(block)
	}
	return q
}

// BoundBlock is the block the clsact in the device's ingress slot binds
// its ingress to; false if there is no clsact or it binds none.
func (k *Kernel) BoundBlock(ifindex int) (uint32, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	q, ok := k.tcTable.ingress[ifindex]
	if !ok || q.Kind != "clsact" || q.IngressBlock == nil {
		return 0, false
	}
	return *q.IngressBlock, true
}

// BlockFilter is a filter of a shared block, without options, as `tc
// filter add block B chain C prio P handle H protocol all KIND` makes it:
// for PlantFilter.
func BlockFilter(block, chain uint32, prio uint16, handle uint32, kind string) tc.Object {
	var proto [2]byte // protocol all, in network order as tcm_info holds it
	binary.BigEndian.PutUint16(proto[:], unix.ETH_P_ALL)
	all := uint32(binary.NativeEndian.Uint16(proto[:]))
	return tc.Object{
		Msg:       tc.Msg{Ifindex: tc.MagicBlock, Parent: block, Handle: handle, Info: uint32(prio)<<16 | all},
		Attribute: tc.Attribute{Kind: kind, Chain: new(chain)},
	}
}

// PlantFilter puts f in a block (which some qdisc must bind), replacing the
// filter at its chain, priority and handle, unchecked.
func (k *Kernel) PlantFilter(block uint32, f tc.Object) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.tcTable.blocks[block]
	if i := b.find(f); i >= 0 {
		b.filters[i] = f
		return
	}
	b.filters = append(b.filters, f)
}

// PlantChain creates an empty chain in a block, unchecked.
func (k *Kernel) PlantChain(block, chain uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.tcTable.blocks[block].chains[chain] = true
}

// CountDrops counts frames through the block's matchall filters as the
// kernel does: the filter's hit counter (Pcnt) in 64 bits, each action's
// bytes in 64 and its packets in the 32-bit field of struct
// gnet_stats_basic, which wraps, and, once that differs from the count, the
// count in TCA_STATS_PKT64 (Pkt64; gnet_stats_copy_basic).
func (k *Kernel) CountDrops(block uint32, packets, bytes uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, f := range k.tcTable.blocks[block].filters {
		if f.Matchall == nil {
			continue
		}
		if f.Matchall.Pcnt != nil {
			*f.Matchall.Pcnt += packets
		}
		for _, a := range actions(f) {
			total := uint64(a.Stats.Basic.Packets) + packets
			if a.Stats.Pkt64 != nil {
				total = *a.Stats.Pkt64 + packets
			}
			a.Stats.Basic.Packets, a.Stats.Pkt64 = uint32(total), nil
			if total > math.MaxUint32 {
				a.Stats.Pkt64 = &total
			}
			a.Stats.Basic.Bytes += bytes
		}
	}
}

func actions(f tc.Object) []*tc.Action {
	if f.Matchall == nil || f.Matchall.Actions == nil {
		return nil
	}
	return *f.Matchall.Actions
}

func chainOf(o tc.Object) uint32 {
	if o.Chain == nil {
		return 0
	}
	return *o.Chain
}

func prio(m tc.Msg) uint32 { return m.Info >> 16 }

// find is the index of the filter at f's chain, priority and handle, or -1.
func (b *tcBlock) find(f tc.Object) int {
	return slices.IndexFunc(b.filters, func(g tc.Object) bool {
		return chainOf(g) == chainOf(f) && prio(g.Msg) == prio(f.Msg) && g.Handle == f.Handle
	})
}

func (t TC) Close() error { return nil }

func (t TC) Qdiscs() ([]tc.Object, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("dump qdiscs"); err != nil {
		return nil, err
	}
	var out []tc.Object
	for _, d := range slices.Sorted(maps.Keys(k.links)) {
		out = append(out, tc.Object{Msg: tc.Msg{Ifindex: uint32(d), Parent: tc.HandleRoot}, Attribute: tc.Attribute{Kind: "noqueue"}})
		if q, ok := k.tcTable.ingress[d]; ok {
			out = append(out, q)
		}
	}
	return out, nil
}

func (t TC) AddQdisc(o *tc.Object) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("add qdisc"); err != nil {
		return err
	}
	switch {
	case k.links[int(o.Ifindex)] == nil:
		return kernelError(unix.ENODEV, "")
	case o.Parent != tc.HandleIngress:
		return kernelError(unix.EINVAL, "kerneltest: only ingress-slot qdiscs are modelled")
	case o.Kind != "clsact" && o.Kind != "ingress":
		return kernelError(unix.ENOENT, "Specified qdisc kind is unknown")
	}
	if _, ok := k.tcTable.ingress[int(o.Ifindex)]; ok {
		return kernelError(unix.EEXIST, "Exclusivity flag on, cannot modify")
	}
	k.logf("qdisc %d", o.Ifindex)
	k.tcTable.putQdisc(tc.Object{Msg: o.Msg, Attribute: tc.Attribute{Kind: o.Kind, IngressBlock: o.IngressBlock, EgressBlock: o.EgressBlock}})
	return nil
}

// block is the block a filter or chain request names; nil: none.
func (t TC) block(m tc.Msg) *tcBlock {
	if m.Ifindex != tc.MagicBlock {
		panic("kerneltest: only filters and chains of shared blocks are modelled")
	}
	return t.k.tcTable.blocks[m.Parent]
}

// Filters dumps as the kernel does: per classifier instance (chain and
// priority) a header without handle or options, then its filters; Info's
// priority, if set, selects one priority.
func (t TC) Filters(m tc.Msg) ([]tc.Object, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("dump filters"); err != nil {
		return nil, err
	}
	b := t.block(m)
	if b == nil {
		return nil, nil // a dump of no block is empty, not an error
	}
	var out []tc.Object
	headers := map[[2]uint32]bool{}
	for _, f := range b.filters {
		if p := prio(m); p != 0 && prio(f.Msg) != p {
			continue
		}
		if key := [2]uint32{chainOf(f), prio(f.Msg)}; !headers[key] {
			headers[key] = true
			out = append(out, tc.Object{Msg: tc.Msg{Ifindex: f.Ifindex, Parent: f.Parent, Info: f.Info}, Attribute: tc.Attribute{Kind: f.Kind, Chain: new(chainOf(f))}})
		}
		f.Chain = new(chainOf(f))
		out = append(out, f)
	}
	return out, nil
}

func (t TC) AddFilter(o *tc.Object) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("add filter"); err != nil {
		return err
	}
	b := t.block(o.Msg)
	switch {
	case b == nil:
		return errNoBlock
	case prio(o.Msg) == 0 || o.Info&0xFFFF == 0:
		return kernelError(unix.EINVAL, "kerneltest: priority 0 (the kernel would pick one) or protocol 0")
	case o.Kind != "matchall":
		return kernelError(unix.ENOENT, "TC classifier not found")
	case len(actions(*o)) != 1 || actions(*o)[0].Kind != "gact" || actions(*o)[0].Gact == nil:
		return kernelError(unix.ENOENT, "Failed to load TC action module")
	}
	for _, f := range b.filters {
		if chainOf(f) == chainOf(*o) && prio(f.Msg) == prio(o.Msg) {
			if f.Kind != o.Kind || f.Info != o.Info {
				return kernelError(unix.EINVAL, "Filter kind and protocol must match existing filter")
			}
			return kernelError(unix.EEXIST, "Filter already exists") // matchall holds one filter
		}
	}
	k.logf("filter add")
	gact := *actions(*o)[0].Gact
	f := tc.Object{Msg: o.Msg, Attribute: tc.Attribute{Kind: o.Kind, Chain: o.Chain, Matchall: &tc.Matchall{Pcnt: new(uint64(0)), Actions: &[]*tc.Action{
		{Kind: "gact", Gact: &gact, Stats: &tc.GenStats{Basic: &tc.GenBasic{}}}}}}}
	b.filters = append(b.filters, f)
	return nil
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
	if prio(o.Msg) == 0 {
		k.logf("filter flush chain %d", chainOf(*o))
	} else {
		k.logf("filter del")
	}
	b.filters = slices.DeleteFunc(b.filters, gone)
	return nil
}

// Chains lists the chains created explicitly and those holding filters.
func (t TC) Chains(m tc.Msg) ([]tc.Object, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("dump chains"); err != nil {
		return nil, err
	}
	b := t.block(m)
	if b == nil {
		return nil, nil
	}
	chains := maps.Clone(b.chains)
	for _, f := range b.filters {
		chains[chainOf(f)] = true
	}
	var out []tc.Object
	for _, c := range slices.Sorted(maps.Keys(chains)) {
		out = append(out, tc.Object{Msg: m, Attribute: tc.Attribute{Chain: new(c)}})
	}
	return out, nil
}

func (t TC) AddChain(o *tc.Object) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("add chain"); err != nil {
		return err
	}
	b := t.block(o.Msg)
	c := chainOf(*o)
	switch {
	case b == nil:
		return errNoBlock
	case o.Kind != "":
		return kernelError(unix.EOPNOTSUPP, "Chain templates are not supported with specified classifier")
	case b.chains[c] || slices.ContainsFunc(b.filters, func(f tc.Object) bool { return chainOf(f) == c }):
		return kernelError(unix.EEXIST, "Filter chain already exists")
	}
	k.logf("chain %d", c)
	b.chains[c] = true
	return nil
}
