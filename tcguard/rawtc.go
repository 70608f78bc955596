package tcguard

import (
	"encoding/binary"
	"errors"

	"github.com/florianl/go-tc"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The tc messages go-tc cannot express, written by hand over its own
// transport (mdlayher/netlink); nothing else in tcguard encodes or decodes
// netlink.
//
//   - The dumps of qdiscs and of the block's filters. go-tc reads with
//     buffers just the size of each datagram, and the kernel sizes dump
//     datagrams by the largest buffer the socket has passed to recvmsg: the
//     dump would go on in one-page datagrams, and the qdisc dump restarts its
//     walk over every device for each, which is quadratic (8 s for 12,000
//     devices under TCG against 1.5 s for `tc qdisc show`). This socket reads
//     with 32 KiB buffers. Also, go-tc fails a whole dump on any attribute it
//     does not know: the options of a qdisc kind it lacks, and
//     TCA_STATS_PKT64, which the kernel adds to an action's counters once
//     they pass 2^32 packets, so every filter dump would fail after ~4.3
//     billion dropped frames. Only what the guard reads is decoded here.
//   - The get of one device's ingress qdisc: go-tc only dumps, and the kernel
//     does not filter qdisc dumps by device.
//   - The creation of an empty chain: go-tc always sends TCA_KIND, and a
//     chain created with a kind gets that classifier as template (an empty
//     kind is refused).
type rawTC struct{ c *netlink.Conn }

// dumpChunk is the largest datagram the kernel builds for a dump
// (SKB_WITH_OVERHEAD(32 KiB) in net/netlink/af_netlink.c).
const dumpChunk = 32 << 10

// Attribute types x/sys/unix lacks (include/uapi/linux/pkt_cls.h,
// tc_act/tc_gact.h, gen_stats.h).
const (
	tcaMatchallAct  = 2 // TCA_MATCHALL_ACT: the actions, nested 1..n
	tcaMatchallPcnt = 4 // TCA_MATCHALL_PCNT: struct tc_matchall_pcnt { __u64 rhit; }
	tcaActKind      = 1 // TCA_ACT_KIND
	tcaActOptions   = 2 // TCA_ACT_OPTIONS
	tcaActStats     = 4 // TCA_ACT_STATS: gnet_stats attributes
	tcaGactParms    = 2 // TCA_GACT_PARMS: struct tc_gact (tc_gen)
	tcaStatsBasic   = 1 // TCA_STATS_BASIC: struct gnet_stats_basic { __u64 bytes; __u32 packets; }
)

func dialRawTC(fd int) (*rawTC, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: fd, MessageBufferSize: dumpChunk})
	if err != nil {
		return nil, err
	}
	_ = c.SetOption(netlink.ExtendedAcknowledge, true)
	return &rawTC{c}, nil
}

func (r *rawTC) close() error { return r.c.Close() }

// tcmsg is struct tcmsg (family AF_UNSPEC, padding zero).
func tcmsg(m tc.Msg) []byte {
	b := make([]byte, 20)
	binary.NativeEndian.PutUint32(b[4:], m.Ifindex)
	binary.NativeEndian.PutUint32(b[8:], m.Handle)
	binary.NativeEndian.PutUint32(b[12:], m.Parent)
	binary.NativeEndian.PutUint32(b[16:], m.Info)
	return b
}

// dump runs a dump request, again if the kernel's objects changed meanwhile.
func (r *rawTC) dump(typ netlink.HeaderType, m tc.Msg, parse func([]byte) (tc.Object, error)) ([]tc.Object, error) {
	req := netlink.Message{Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Dump}, Data: tcmsg(m)}
	for range 5 {
		msgs, err := r.c.Execute(req)
		if err != nil {
			return nil, err
		}
		if len(msgs) > 0 && msgs[0].Header.Flags&netlink.DumpInterrupted != 0 {
			continue
		}
		out := make([]tc.Object, len(msgs))
		for i, m := range msgs {
			if out[i], err = parse(m.Data); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, errors.New("tc dump interrupted five times in a row")
}

func (r *rawTC) qdiscs() ([]tc.Object, error) { return r.dump(unix.RTM_GETQDISC, tc.Msg{}, parseQdisc) }

// filters dumps the filters m selects (see TC.Filters).
func (r *rawTC) filters(m tc.Msg) ([]tc.Object, error) {
	return r.dump(unix.RTM_GETTFILTER, m, parseFilter)
}

// ingressQdisc: the kernel answers a single-qdisc get as a notification,
// sent back to the asker only with NLM_F_ECHO, before the ack. It sends
// none when the slot holds the builtin noop qdisc, which it does on every
// device whose ingress qdisc was deleted or whose creation failed (the slot
// exists from the first attempt on), and acks 0 all the same: without
// NLM_F_ACK nothing at all would come back. Both kinds of empty slot are
// ENOENT here, as the kernel says for a device whose slot never existed.
func (r *rawTC) ingressQdisc(ifindex uint32) (tc.Object, error) {
	req, err := r.c.Send(netlink.Message{Header: netlink.Header{Type: unix.RTM_GETQDISC, Flags: netlink.Request | netlink.Echo | netlink.Acknowledge},
		Data: tcmsg(tc.Msg{Ifindex: ifindex, Parent: tc.HandleIngress})})
	if err != nil {
		return tc.Object{}, err
	}
	var got []tc.Object
	for {
		msgs, err := r.c.Receive() // an error answer comes back as err
		if err != nil {
			return tc.Object{}, err
		}
		if err := netlink.Validate(req, msgs); err != nil {
			return tc.Object{}, err
		}
		for _, m := range msgs {
			if m.Header.Type != netlink.Error {
				o, err := parseQdisc(m.Data)
				if err != nil {
					return tc.Object{}, err
				}
				got = append(got, o)
				continue
			}
			if len(got) == 0 { // the ack
				return tc.Object{}, &netlink.OpError{Op: "receive", Err: unix.ENOENT, Sequence: req.Header.Sequence,
					Message: "no qdisc in the ingress slot (the kernel acknowledged the get and sent none)"}
			}
			return got[0], nil
		}
	}
}

// parseTcmsg reads struct tcmsg and returns a decoder of the attributes.
func parseTcmsg(b []byte) (tc.Object, *netlink.AttributeDecoder, error) {
	if len(b) < 20 {
		return tc.Object{}, nil, errors.New("tc message shorter than struct tcmsg")
	}
	o := tc.Object{Msg: tc.Msg{Ifindex: u32(b, 4), Handle: u32(b, 8), Parent: u32(b, 12), Info: u32(b, 16)}}
	ad, err := netlink.NewAttributeDecoder(b[20:])
	return o, ad, err
}

// parseQdisc reads kind and shared blocks.
func parseQdisc(b []byte) (tc.Object, error) {
	o, ad, err := parseTcmsg(b)
	if err != nil {
		return tc.Object{}, err
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.TCA_KIND:
			o.Kind = ad.String()
		case unix.TCA_INGRESS_BLOCK:
			o.IngressBlock = new(ad.Uint32())
		case unix.TCA_EGRESS_BLOCK:
			o.EgressBlock = new(ad.Uint32())
		}
	}
	return o, ad.Err()
}

// parseFilter reads kind and chain and, of a matchall, its hit counter and
// each action's kind, gact verdict and byte counter. Every other attribute
// (TCA_STATS_PKT64 among them: the 64-bit packet count here is the hit
// counter, the same frames) is skipped.
func parseFilter(b []byte) (tc.Object, error) {
	o, ad, err := parseTcmsg(b)
	if err != nil {
		return tc.Object{}, err
	}
	var options []byte
	for ad.Next() {
		switch ad.Type() {
		case unix.TCA_KIND:
			o.Kind = ad.String()
		case unix.TCA_CHAIN:
			o.Chain = new(ad.Uint32())
		case unix.TCA_OPTIONS:
			options = ad.Bytes()
		}
	}
	if err := ad.Err(); err != nil || o.Kind != kindMatchall || options == nil {
		return o, err
	}
	o.Matchall = &tc.Matchall{}
	ad, err = netlink.NewAttributeDecoder(options)
	if err != nil {
		return tc.Object{}, err
	}
	for ad.Next() {
		switch ad.Type() {
		case tcaMatchallPcnt:
			o.Matchall.Pcnt = new(ad.Uint64())
		case tcaMatchallAct:
			acts := []*tc.Action{}
			ad.Nested(func(ad *netlink.AttributeDecoder) error {
				for ad.Next() {
					a := &tc.Action{}
					ad.Nested(func(ad *netlink.AttributeDecoder) error { return parseAction(ad, a) })
					acts = append(acts, a)
				}
				return nil
			})
			o.Matchall.Actions = &acts
		}
	}
	return o, ad.Err()
}

func parseAction(ad *netlink.AttributeDecoder, a *tc.Action) error {
	for ad.Next() {
		switch ad.Type() {
		case tcaActKind:
			a.Kind = ad.String()
		case tcaActOptions:
			ad.Nested(func(ad *netlink.AttributeDecoder) error {
				for ad.Next() {
					if p := ad.Bytes(); ad.Type() == tcaGactParms && len(p) >= 20 {
						a.Gact = &tc.Gact{Parms: &tc.GactParms{Index: u32(p, 0), Capab: u32(p, 4), Action: u32(p, 8), RefCnt: u32(p, 12), BindCnt: u32(p, 16)}}
					}
				}
				return nil
			})
		case tcaActStats:
			ad.Nested(func(ad *netlink.AttributeDecoder) error {
				for ad.Next() {
					if s := ad.Bytes(); ad.Type() == tcaStatsBasic && len(s) >= 12 {
						a.Stats = &tc.GenStats{Basic: &tc.GenBasic{Bytes: binary.NativeEndian.Uint64(s), Packets: u32(s, 8)}}
					}
				}
				return nil
			})
		}
	}
	return nil
}

func u32(b []byte, at int) uint32 { return binary.NativeEndian.Uint32(b[at:]) }

func (r *rawTC) addChain(o *tc.Object) error {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(unix.TCA_CHAIN, *o.Chain)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = r.c.Execute(netlink.Message{Header: netlink.Header{Type: unix.RTM_NEWCHAIN,
		Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Excl}, Data: append(tcmsg(o.Msg), attrs...)})
	return err
}
