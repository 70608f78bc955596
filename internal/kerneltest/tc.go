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
	gacts   map[uint32]*gactAction // by index
}

// gactAction is a gact action as the kernel shares it by index: filters
// bind it (bindcnt); one made by RTM_NEWACTION is also held on its own
// (standalone), and it is freed when nothing holds it.
type gactAction struct {
	verdict        uint32
	binds          int
	standalone     bool // made by RTM_NEWACTION: without TCA_ACT_FLAGS_BIND
	packets, bytes uint64
	drops          uint32
}

type tcBlock struct {
	filters []tc.Object     // every chain, every priority, in creation order
	chains  map[uint32]bool // chains created explicitly (RTM_NEWCHAIN)
}

func (t *tcTable) init() {
	t.ingress = map[int]tc.Object{}
	t.blocks = map[uint32]*tcBlock{}
	t.gacts = map[uint32]*gactAction{}
}

// gact is the shared action a filter's action binds; nil for a planted
// filter's.
func (t *tcTable) gact(a *tc.Action) *gactAction {
	if a.Gact == nil || a.Gact.Parms == nil {
		return nil
	}
	return t.gacts[a.Gact.Parms.Index]
}

// unbind drops a filter's hold on its actions.
func (t *tcTable) unbind(f tc.Object) {
	for _, a := range actions(f) {
		g := t.gact(a)
		if g == nil {
			continue
		}
		if g.binds--; g.binds == 0 && !g.standalone {
			delete(t.gacts, a.Gact.Parms.Index)
		}
	}
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
		if blk := t.blocks[deref(b)]; blk != nil && !t.bound(*b) {
			for _, f := range blk.filters {
				t.unbind(f)
			}
			delete(t.blocks, *b)
		}
	}
}

func deref(p *uint32) uint32 {
	if p == nil {
		return 0
	}
	return *p
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

// TC is the Kernel seen through the tc seam (tcnl.TC).
type TC struct{ k *Kernel }

// TC returns the namespace's tc seam (tcnl.TC).
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
// filter at its chain, priority and handle, unchecked. Its gact actions
// must be new (a planted filter binds no shared action).
func (k *Kernel) PlantFilter(block uint32, f tc.Object) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.tcTable.blocks[block]
	if i := b.find(f); i >= 0 {
		k.tcTable.unbind(b.filters[i])
		b.filters[i] = f
		return
	}
	b.filters = append(b.filters, f)
}

// RemoveFilter deletes the filter at chain 0, prio and handle of a block,
// as `tc filter del block B prio P handle H KIND` does; false if there was
// none.
func (k *Kernel) RemoveFilter(block uint32, prio uint16, handle uint32) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.tcTable.blocks[block]
	if b == nil {
		return false
	}
	i := b.find(BlockFilter(block, 0, prio, handle, ""))
	if i < 0 {
		return false
	}
	k.tcTable.unbind(b.filters[i])
	b.filters = slices.Delete(b.filters, i, i+1)
	return true
}

// SetGact changes a gact action's verdict in place, as `tc actions change
// action gact VERDICT index I` does; false if there is no such action.
func (k *Kernel) SetGact(index, verdict uint32) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	g := k.tcTable.gacts[index]
	if g != nil {
		g.verdict = verdict
	}
	return g != nil
}

// Gact is a gact action's verdict and how many filters bind it; false if
// there is no such action.
func (k *Kernel) Gact(index uint32) (verdict uint32, binds int, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	g := k.tcTable.gacts[index]
	if g == nil {
		return 0, 0, false
	}
	return g.verdict, g.binds, true
}

// PlantChain creates an empty chain in a block, unchecked.
func (k *Kernel) PlantChain(block, chain uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.tcTable.blocks[block].chains[chain] = true
}

// Frames passes frames through the block's matchall filters as the kernel
// counts them: the filter's hit counter (Pcnt) in 64 bits; each gact
// action's bytes in 64 and packets in 64 (sent as the 32-bit field of
// struct gnet_stats_basic, which wraps, and, once that differs from the
// count, in TCA_STATS_PKT64: gnet_stats_copy_basic), and, if it drops, its
// drops in the 32-bit field of struct gnet_stats_queue.
func (k *Kernel) Frames(block uint32, packets, bytes uint64) {
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
			g := k.tcTable.gact(a)
			if g == nil {
				continue // planted
			}
			g.packets += packets
			g.bytes += bytes
			if g.verdict == tc.ActShot {
				g.drops += uint32(packets)
			}
		}
	}
}

// dumped is a filter as a dump shows it: its gact actions as they are now,
// with their counters.
func (t *tcTable) dumped(f tc.Object) tc.Object {
	if len(actions(f)) == 0 {
		return f
	}
	var acts []*tc.Action
	for _, a := range actions(f) {
		g := t.gact(a)
		if g == nil {
			acts = append(acts, a) // not shared (vlan, mirred) or planted: as stored
			continue
		}
		basic := &tc.GenBasic{Bytes: g.bytes, Packets: uint32(g.packets)}
		stats := &tc.GenStats{Basic: basic, Queue: &tc.GenQueue{Drops: g.drops}}
		if g.packets > math.MaxUint32 {
			stats.Pkt64 = new(g.packets)
		}
		parms := *a.Gact.Parms
		parms.Action, parms.BindCnt = g.verdict, uint32(g.binds)
		acts = append(acts, &tc.Action{Kind: "gact", Index: parms.Index, Gact: &tc.Gact{Parms: &parms}, Stats: stats})
	}
	if f.Matchall != nil {
		m := *f.Matchall
		m.Actions = &acts
		f.Matchall = &m
	} else {
		fl := *f.Flower
		fl.Actions = &acts
		f.Flower = &fl
	}
	return f
}

// actions are a matchall's or a flower's actions.
func actions(f tc.Object) []*tc.Action {
	switch {
	case f.Matchall != nil && f.Matchall.Actions != nil:
		return *f.Matchall.Actions
	case f.Flower != nil && f.Flower.Actions != nil:
		return *f.Flower.Actions
	}
	return nil
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
	if m.Ifindex != tc.MagicBlock {
		return nil, nil // a device's own hooks: no filter is modelled there
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
		out = append(out, k.tcTable.dumped(f))
	}
	return out, nil
}

// bind binds a filter's gact action as tcf_idr_check_alloc does: index 0
// gets a new index; an existing index is bound as it is (its verdict
// kept); a new one is created with the filter's verdict.
func (t *tcTable) bind(p *tc.GactParms) {
	if p.Index == 0 {
		p.Index = 1
		for t.gacts[p.Index] != nil {
			p.Index++
		}
	}
	g := t.gacts[p.Index]
	if g == nil {
		g = &gactAction{verdict: p.Action}
		t.gacts[p.Index] = g
	}
	g.binds++
}

// Actions dumps the gact actions, as the kernel does (bind and ref counts
// as a dump shows them: the filters', and one more for a standalone one).
func (t TC) Actions(kind string) ([]*tc.Action, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("dump actions"); err != nil {
		return nil, err
	}
	if kind != "gact" {
		return nil, nil
	}
	var out []*tc.Action
	for _, i := range slices.Sorted(maps.Keys(k.tcTable.gacts)) {
		g := k.tcTable.gacts[i]
		ref := g.binds
		if g.standalone {
			ref++
		}
		stats := &tc.GenStats{Basic: &tc.GenBasic{Bytes: g.bytes, Packets: uint32(g.packets)}, Queue: &tc.GenQueue{Drops: g.drops}}
		out = append(out, &tc.Action{Kind: "gact", Index: i, Stats: stats,
			Gact: &tc.Gact{Parms: &tc.GactParms{Index: i, Action: g.verdict, BindCnt: uint32(g.binds), RefCnt: uint32(ref)}}})
	}
	return out, nil
}

// DeleteAction deletes a standalone gact action nothing binds.
func (t TC) DeleteAction(a *tc.Action) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("delete action"); err != nil {
		return err
	}
	g := k.tcTable.gacts[a.Index]
	switch {
	case a.Kind != "gact":
		return kernelError(unix.EINVAL, "kerneltest: only gact actions are modelled")
	case g == nil:
		return kernelError(unix.ENOENT, "TC action with specified index not found")
	case g.binds > 0:
		return kernelError(unix.EPERM, "Failed to delete TC action")
	}
	k.logf("action %d del", a.Index)
	delete(k.tcTable.gacts, a.Index)
	return nil
}

// ReplaceAction changes a gact action in place, or creates it standalone.
func (t TC) ReplaceAction(a *tc.Action) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("replace action"); err != nil {
		return err
	}
	if a.Kind != "gact" || a.Gact == nil || a.Gact.Parms == nil || a.Gact.Parms.Index == 0 {
		return kernelError(unix.EINVAL, "kerneltest: only gact actions with an index are modelled")
	}
	k.logf("action %d verdict %d", a.Gact.Parms.Index, a.Gact.Parms.Action)
	g := k.tcTable.gacts[a.Gact.Parms.Index]
	if g == nil {
		g = &gactAction{standalone: true}
		k.tcTable.gacts[a.Gact.Parms.Index] = g
	}
	g.verdict = a.Gact.Parms.Action
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
