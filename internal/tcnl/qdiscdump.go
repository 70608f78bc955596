package tcnl

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/florianl/go-tc"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The qdisc dump, decoded by hand over go-tc's own transport: the guard
// reads every qdisc of the namespace on each plan, check and status (which
// devices are bound to its block), and go-tc decodes each qdisc whole —
// options, statistics, rate estimators — at ~5 µs a qdisc: at 8,000 ports
// under TCG that alone made a no-op apply cost 4% of a full one. Only the
// header, kind and shared blocks are read here. test/netlink-gates counts
// these lines.

// tcmsgLen is the size of struct tcmsg (family, padding, ifindex, handle,
// parent, info).
const tcmsgLen = 20

// dialQdiscs opens the qdisc dump's socket in the namespace fd (0: the
// current one), with 32 KiB reads (see dumpChunk). It is opened with the
// sockets: the namespace's fd may be closed afterwards.
func dialQdiscs(fd int) (*netlink.Conn, error) {
	return netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: fd, MessageBufferSize: dumpChunk})
}

// dumpQdiscs dumps every qdisc of c's namespace, waiting at most timeout.
func dumpQdiscs(c *netlink.Conn, timeout time.Duration) ([]tc.Object, error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	req := netlink.Message{Header: netlink.Header{Type: unix.RTM_GETQDISC, Flags: netlink.Request | netlink.Dump},
		Data: make([]byte, tcmsgLen)}
	msgs, err := c.Execute(req)
	if err != nil {
		return nil, err
	}
	// Not seen from tc_dump_qdisc; should a kernel mark the dump
	// interrupted, the caller fails rather than act on a partial list.
	if len(msgs) > 0 && msgs[0].Header.Flags&netlink.DumpInterrupted != 0 {
		return nil, errors.New("qdisc dump interrupted")
	}
	out := make([]tc.Object, len(msgs))
	for i, m := range msgs {
		if out[i], err = qdiscOfMessage(m.Data); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// qdiscOfMessage decodes struct tcmsg and the attributes the guard reads.
func qdiscOfMessage(b []byte) (tc.Object, error) {
	if len(b) < tcmsgLen {
		return tc.Object{}, errors.New("qdisc message shorter than struct tcmsg")
	}
	u32 := func(at int) uint32 { return binary.NativeEndian.Uint32(b[at:]) }
	o := tc.Object{Msg: tc.Msg{Ifindex: u32(4), Handle: u32(8), Parent: u32(12), Info: u32(16)}}
	ad, err := netlink.NewAttributeDecoder(b[tcmsgLen:])
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
