package tcguard

import (
	"encoding/binary"
	"errors"

	"github.com/florianl/go-tc"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The three tc messages go-tc cannot express, written by hand over its own
// transport (mdlayher/netlink); nothing else in tcguard encodes netlink.
//
//   - The qdisc dump. go-tc reads with buffers just the size of each
//     datagram, and the kernel sizes dump datagrams by the largest buffer the
//     socket has passed to recvmsg: the dump would go on in one-page
//     datagrams, and the qdisc dump restarts its walk over every device for
//     each, which is quadratic (8 s for 12,000 devices under TCG against
//     1.5 s for `tc qdisc show`). This socket reads with 32 KiB buffers. Also,
//     go-tc fails the whole dump on the options of any qdisc kind it does not
//     know; only kind and blocks are read here.
//   - The get of one device's ingress qdisc: go-tc only dumps, and the kernel
//     does not filter qdisc dumps by device.
//   - The creation of an empty chain: go-tc always sends TCA_KIND, and a
//     chain created with a kind gets that classifier as template (an empty
//     kind is refused).
type rawTC struct{ c *netlink.Conn }

// dumpChunk is the largest datagram the kernel builds for a dump
// (SKB_WITH_OVERHEAD(32 KiB) in net/netlink/af_netlink.c).
const dumpChunk = 32 << 10

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

func (r *rawTC) qdiscs() ([]tc.Object, error) {
	req := netlink.Message{Header: netlink.Header{Type: unix.RTM_GETQDISC, Flags: netlink.Request | netlink.Dump}, Data: tcmsg(tc.Msg{})}
	for range 5 {
		msgs, err := r.c.Execute(req)
		if err != nil {
			return nil, err
		}
		if len(msgs) > 0 && msgs[0].Header.Flags&netlink.DumpInterrupted != 0 {
			continue // the qdiscs changed meanwhile
		}
		out := make([]tc.Object, len(msgs))
		for i, m := range msgs {
			if out[i], err = parseQdisc(m.Data); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, errors.New("qdisc dump interrupted five times in a row")
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

func parseQdisc(b []byte) (tc.Object, error) {
	if len(b) < 20 {
		return tc.Object{}, errors.New("tc message shorter than struct tcmsg")
	}
	o := tc.Object{Msg: tc.Msg{Ifindex: binary.NativeEndian.Uint32(b[4:]), Handle: binary.NativeEndian.Uint32(b[8:]),
		Parent: binary.NativeEndian.Uint32(b[12:]), Info: binary.NativeEndian.Uint32(b[16:])}}
	ad, err := netlink.NewAttributeDecoder(b[20:])
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
