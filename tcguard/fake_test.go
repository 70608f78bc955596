package tcguard

import (
	"encoding/binary"
	"fmt"
	"iter"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// fakeKernel answers the guard's rtnetlink requests the way Linux 6.1 does
// (as verified in the testbed VM, see guard_integration_test.go), one
// datagram per answer, so the guard's logic can be tested on any host. It
// models one namespace: devices, their ingress qdiscs, and shared blocks.
type fakeKernel struct {
	t       *testing.T
	devices map[int]bool
	ingress map[int]qdisc
	blocks  map[uint32]*fakeBlock
	log     []string        // state-changing requests, in order
	hook    func(op string) // called before each state-changing request
	queue   [][]netlink.Message
}

type fakeBlock struct {
	filter  *filter  // the matchall at our priority, if any
	others  []filter // somebody else's filters, anywhere in the block
	packets uint64   // its action's counters
	bytes   uint64
	chains  map[uint32]bool // explicitly created chains
}

func newFakeKernel(t *testing.T, devices ...int) *fakeKernel {
	k := &fakeKernel{t: t, devices: map[int]bool{}, ingress: map[int]qdisc{}, blocks: map[uint32]*fakeBlock{}}
	for _, d := range devices {
		k.devices[d] = true
	}
	return k
}

// guard returns a Guard talking to the fake kernel.
func (k *fakeKernel) guard(block uint32) *Guard {
	g := newGuard(Options{Block: block, StateDir: filepath.Join(k.t.TempDir(), "default")}, netlink.NewConn(k, 1))
	k.t.Cleanup(func() { g.Close() })
	return g
}

// deleteDevice removes a device; a block without bound qdisc disappears
// with its chains and filters, as in the kernel.
func (k *fakeKernel) deleteDevice(ifindex int) {
	q, ok := k.ingress[ifindex]
	delete(k.devices, ifindex)
	delete(k.ingress, ifindex)
	if ok && q.ingressBlock != 0 && !k.bound(q.ingressBlock) {
		delete(k.blocks, q.ingressBlock)
	}
	if ok && q.egressBlock != 0 && !k.bound(q.egressBlock) {
		delete(k.blocks, q.egressBlock)
	}
}

func (k *fakeKernel) bound(block uint32) bool {
	for _, q := range k.ingress {
		if q.uses(block) {
			return true
		}
	}
	return false
}

// netlink.Socket

func (k *fakeKernel) Close() error { return nil }

// Deadlines: the fake answers at once.
func (k *fakeKernel) SetDeadline(time.Time) error      { return nil }
func (k *fakeKernel) SetReadDeadline(time.Time) error  { return nil }
func (k *fakeKernel) SetWriteDeadline(time.Time) error { return nil }

func (k *fakeKernel) Send(m netlink.Message) error { return k.SendMessages([]netlink.Message{m}) }

func (k *fakeKernel) SendMessages(ms []netlink.Message) error {
	for _, m := range ms {
		k.handle(m)
	}
	return nil
}

func (k *fakeKernel) Receive() ([]netlink.Message, error) {
	var out []netlink.Message
	for m, err := range k.ReceiveIter() {
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (k *fakeKernel) ReceiveIter() iter.Seq2[netlink.Message, error] {
	return func(yield func(netlink.Message, error) bool) {
		if len(k.queue) == 0 {
			yield(netlink.Message{}, fmt.Errorf("fake kernel: receive with nothing queued (would block)"))
			return
		}
		d := k.queue[0]
		k.queue = k.queue[1:]
		for _, m := range d {
			if !yield(m, nil) {
				return
			}
		}
	}
}

// Answers.

func (k *fakeKernel) ack(req netlink.Message, errno unix.Errno, text string) {
	data := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	h := req.Header
	hdr := make([]byte, 16)
	binary.NativeEndian.PutUint32(hdr[0:], h.Length)
	binary.NativeEndian.PutUint16(hdr[4:], uint16(h.Type))
	binary.NativeEndian.PutUint16(hdr[6:], uint16(h.Flags))
	binary.NativeEndian.PutUint32(hdr[8:], h.Sequence)
	binary.NativeEndian.PutUint32(hdr[12:], h.PID)
	data = append(data, hdr...)
	var flags netlink.HeaderFlags
	if errno == 0 {
		flags |= netlink.Capped
	} else {
		data = append(data, req.Data...) // the request, echoed
	}
	if text != "" {
		flags |= netlink.AcknowledgeTLVs
		ae := netlink.NewAttributeEncoder()
		ae.String(1, text) // NLMSGERR_ATTR_MSG
		b, _ := ae.Encode()
		data = append(data, b...)
	}
	k.queue = append(k.queue, []netlink.Message{{Header: netlink.Header{Type: netlink.Error, Flags: flags, Sequence: h.Sequence, PID: 1}, Data: data}})
}

func (k *fakeKernel) reply(req netlink.Message, typ uint16, data []byte) {
	k.queue = append(k.queue, []netlink.Message{{Header: netlink.Header{Type: netlink.HeaderType(typ), Sequence: req.Header.Sequence, PID: 1}, Data: data}})
}

func (k *fakeKernel) dumpReply(req netlink.Message, typ uint16, objs [][]byte) {
	var d []netlink.Message
	for _, o := range objs {
		d = append(d, netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Multi, Sequence: req.Header.Sequence, PID: 1}, Data: o})
	}
	d = append(d, netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi, Sequence: req.Header.Sequence, PID: 1}, Data: make([]byte, 4)})
	k.queue = append(k.queue, d)
}

func (k *fakeKernel) change(op string) {
	if k.hook != nil {
		k.hook(op)
	}
	k.log = append(k.log, op)
}

func (k *fakeKernel) handle(req netlink.Message) {
	t, rest, err := parseTcmsg(req.Data)
	if err != nil {
		k.t.Fatalf("fake kernel: %v", err)
	}
	attrs := map[uint16][]byte{}
	ad, _ := netlink.NewAttributeDecoder(rest)
	for ad.Next() {
		attrs[ad.Type()] = ad.Bytes()
	}
	typ := uint16(req.Header.Type)
	dump := req.Header.Flags&netlink.Dump == netlink.Dump
	if !dump && req.Header.Flags&netlink.Acknowledge == 0 {
		k.t.Errorf("fake kernel: request %d without NLM_F_ACK", typ)
	}
	block := t.parent
	b := k.blocks[block]
	if t.ifindex == magicBlock && b == nil && k.bound(block) {
		b = &fakeBlock{chains: map[uint32]bool{}}
		k.blocks[block] = b
	}
	switch {
	case typ == unix.RTM_NEWQDISC:
		ifindex := int(t.ifindex)
		kind := cstring(attrs[unix.TCA_KIND])
		switch {
		case !k.devices[ifindex]:
			k.ack(req, unix.ENODEV, "")
		case kind != kindClsact && kind != "ingress":
			k.ack(req, unix.ENOENT, "Specified qdisc kind is unknown")
		case k.ingress[ifindex].kind != "":
			k.ack(req, unix.EEXIST, "Exclusivity flag on, cannot modify")
		default:
			k.change(fmt.Sprintf("qdisc %d", ifindex))
			q := qdisc{ifindex: ifindex, parent: tcHIngress, kind: kind}
			if v, ok := attrs[unix.TCA_INGRESS_BLOCK]; ok {
				q.ingressBlock = binary.NativeEndian.Uint32(v)
			}
			if v, ok := attrs[unix.TCA_EGRESS_BLOCK]; ok {
				q.egressBlock = binary.NativeEndian.Uint32(v)
			}
			k.ingress[ifindex] = q
			k.ack(req, 0, "")
		}
	case typ == unix.RTM_GETQDISC && dump:
		var objs [][]byte
		for _, ifindex := range slices.Sorted(maps.Keys(k.devices)) {
			objs = append(objs, qdiscBytes(qdisc{ifindex: ifindex, parent: 0xFFFFFFFF, kind: "noqueue"}))
			if q, ok := k.ingress[ifindex]; ok {
				objs = append(objs, qdiscBytes(q))
			}
		}
		k.dumpReply(req, unix.RTM_NEWQDISC, objs)
	case typ == unix.RTM_GETQDISC:
		q, ok := k.ingress[int(t.ifindex)]
		if !ok {
			k.ack(req, unix.ENOENT, "Cannot find specified qdisc on specified device")
			return
		}
		if req.Header.Flags&netlink.Echo != 0 { // else only multicast to RTNLGRP_TC
			k.reply(req, unix.RTM_NEWQDISC, qdiscBytes(q))
		}
		k.ack(req, 0, "")
	case t.ifindex == magicBlock && b == nil && !dump:
		k.ack(req, unix.EINVAL, "Block of given index was not found")
	case typ == unix.RTM_NEWTFILTER:
		if t.info>>16 == 0 || t.handle == 0 {
			k.t.Errorf("fake kernel: filter added with priority or handle 0")
		}
		f, _ := parseFilter(req)
		switch {
		case b.filter != nil:
			k.ack(req, unix.EEXIST, "Filter already exists")
		case f.kind != kindMatchall:
			k.ack(req, unix.ENOENT, "TC classifier not found")
		case len(f.actions) != 1 || f.actions[0].kind != kindGact:
			k.ack(req, unix.ENOENT, "Failed to load TC action module")
		default:
			k.change("filter add")
			b.filter, b.packets, b.bytes = &f, 0, 0
			k.ack(req, 0, "")
		}
	case typ == unix.RTM_DELTFILTER:
		if t.info>>16 == 0 || t.handle == 0 || cstring(attrs[unix.TCA_KIND]) == "" {
			k.t.Errorf("fake kernel: filter deleted without priority, handle or kind: would flush")
		}
		if b.filter == nil {
			k.ack(req, unix.ENOENT, "Cannot find specified filter chain")
			return
		}
		k.change("filter del")
		b.filter = nil
		k.ack(req, 0, "")
	case typ == unix.RTM_GETTFILTER && dump:
		// Without TCA_CHAIN the kernel dumps every chain; tcm_info's
		// priority 0 means every priority.
		_, oneChain := attrs[unix.TCA_CHAIN]
		prio := uint16(t.info >> 16)
		var objs [][]byte
		if b != nil && b.filter != nil {
			hdr := *b.filter
			hdr.handle, hdr.actions = 0, nil
			objs = append(objs, filterBytes(block, hdr, 0, 0), filterBytes(block, *b.filter, b.packets, b.bytes))
		}
		if b != nil {
			for _, f := range b.others {
				if (oneChain && f.chain != 0) || (prio != 0 && f.prio != prio) {
					continue
				}
				objs = append(objs, filterBytes(block, f, 0, 0))
			}
		}
		k.dumpReply(req, unix.RTM_NEWTFILTER, objs)
	case typ == unix.RTM_NEWCHAIN:
		c := binary.NativeEndian.Uint32(attrs[unix.TCA_CHAIN])
		if b.chains[c] {
			k.ack(req, unix.EEXIST, "Filter chain already exists")
			return
		}
		k.change(fmt.Sprintf("chain %d", c))
		b.chains[c] = true
		k.ack(req, 0, "")
	case typ == unix.RTM_GETCHAIN && dump:
		var objs [][]byte
		if b != nil {
			chains := slices.Sorted(maps.Keys(b.chains))
			if b.filter != nil && !b.chains[0] {
				chains = append(chains, 0)
			}
			for _, c := range chains {
				objs = append(objs, message(unix.RTM_NEWCHAIN, 0, blockMsg(block), func(ae *netlink.AttributeEncoder) {
					ae.Uint32(unix.TCA_CHAIN, c)
				}).Data)
			}
		}
		k.dumpReply(req, unix.RTM_NEWCHAIN, objs)
	default:
		k.t.Fatalf("fake kernel: unexpected request type %d flags %v", typ, req.Header.Flags)
	}
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// qdiscBytes encodes a qdisc as the kernel dumps it.
func qdiscBytes(q qdisc) []byte {
	h := uint32(clsactHandle)
	if q.parent != tcHIngress {
		h = 0
	}
	return message(unix.RTM_NEWQDISC, 0, tcmsg{ifindex: uint32(q.ifindex), handle: h, parent: q.parent}, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.TCA_KIND, q.kind)
		if q.ingressBlock != 0 {
			ae.Uint32(unix.TCA_INGRESS_BLOCK, q.ingressBlock)
		}
		if q.egressBlock != 0 {
			ae.Uint32(unix.TCA_EGRESS_BLOCK, q.egressBlock)
		}
	}).Data
}

// filterBytes encodes a block's filter as the kernel dumps it, with the
// action's statistics (TCA_STATS_PKT64 only when packets overflow u32).
func filterBytes(block uint32, f filter, packets, bytes uint64) []byte {
	t := blockMsg(block)
	t.handle, t.info = f.handle, uint32(f.prio)<<16|uint32(htons(unix.ETH_P_ALL))
	return message(unix.RTM_NEWTFILTER, 0, t, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.TCA_KIND, f.kind)
		ae.Uint32(unix.TCA_CHAIN, f.chain)
		if f.handle == 0 {
			return // the classifier's own header: no options
		}
		ae.Nested(unix.TCA_OPTIONS, func(ae *netlink.AttributeEncoder) error {
			ae.Nested(tcaMatchallAct, func(ae *netlink.AttributeEncoder) error {
				for i, a := range f.actions {
					ae.Nested(uint16(i+1), func(ae *netlink.AttributeEncoder) error {
						ae.String(tcaActKind, a.kind)
						ae.Nested(tcaActStats, func(ae *netlink.AttributeEncoder) error {
							basic := make([]byte, 16)
							binary.NativeEndian.PutUint64(basic, bytes)
							binary.NativeEndian.PutUint32(basic[8:], uint32(packets))
							ae.Bytes(tcaStatsBasic, basic)
							if packets > 0xFFFFFFFF {
								ae.Uint64(tcaStatsPkt64, packets)
							}
							return nil
						})
						ae.Nested(tcaActOptions, func(ae *netlink.AttributeEncoder) error {
							parms := make([]byte, tcGactLen)
							binary.NativeEndian.PutUint32(parms[gactActionOff:], uint32(a.verdict))
							ae.Bytes(tcaGactParms, parms)
							return nil
						})
						return nil
					})
				}
				return nil
			})
			ae.Uint32(3, 0) // TCA_MATCHALL_FLAGS
			return nil
		})
	}).Data
}
