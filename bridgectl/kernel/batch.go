package kernel

import (
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The one part of the link talk written by hand, because the library has no
// API for it: nl.NetlinkSocket.Send sends one message per sendmsg, and the
// library's request execution waits for each ack before the next send. A
// window of requests (built by nl, see request.go) goes out here in ONE
// sendmsg, which is what makes it fast at thousands of links and what
// Request.Joined relies on (the kernel carries out one sendmsg's messages in
// one system call); the acks come back through the library's Receive.

// ack is the kernel's answer to request seq.
type ack struct {
	seq   uint32
	errno syscall.Errno
	msg   string // extended ack text (NLMSGERR_ATTR_MSG), if any
}

// sendWindow sends msgs (consecutive sequence numbers) in one sendmsg and
// returns their acks.
func (c *Conn) sendWindow(msgs []*nl.NetlinkRequest) ([]ack, error) {
	var b []byte
	for _, m := range msgs {
		b = append(b, m.Serialize()...) // each is 4-aligned: nl pads its attributes
	}
	for {
		err := unix.Sendto(c.sock.GetFd(), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if err == unix.EINTR {
			continue
		} else if err != nil {
			return nil, err
		}
		break
	}
	first, last := msgs[0].Seq, msgs[len(msgs)-1].Seq
	acks := make([]ack, 0, len(msgs))
	for len(acks) < len(msgs) {
		got, _, err := c.sock.Receive()
		if err != nil {
			return nil, err
		}
		for _, m := range got {
			if m.Header.Type == unix.NLMSG_ERROR && m.Header.Seq >= first && m.Header.Seq <= last {
				errno, msg := parseAck(m)
				acks = append(acks, ack{m.Header.Seq, errno, msg})
			}
		}
	}
	return acks, nil
}

// parseAck reads an NLMSG_ERROR: struct nlmsgerr (the errno, then the
// request's header, and its payload unless capped), then with
// NLM_F_ACK_TLVS the extended ack attributes.
func parseAck(m syscall.NetlinkMessage) (syscall.Errno, string) {
	d := m.Data
	if len(d) < 4+unix.NLMSG_HDRLEN {
		return syscall.EIO, "short ack"
	}
	errno := syscall.Errno(-int32(nl.NativeEndian().Uint32(d)))
	if errno == 0 || m.Header.Flags&unix.NLM_F_ACK_TLVS == 0 {
		return errno, ""
	}
	echoed := unix.NLMSG_HDRLEN
	if m.Header.Flags&unix.NLM_F_CAPPED == 0 {
		echoed = int(nl.NativeEndian().Uint32(d[4:])+3) &^ 3
	}
	if echoed > len(d)-4 {
		return errno, ""
	}
	tlvs := d[4+echoed:]
	// The kernel pads every attribute; nl.ParseRouteAttr slices past the
	// end of an unpadded last one.
	attrs, _ := nl.ParseRouteAttr(tlvs[:len(tlvs)&^3])
	for _, a := range attrs {
		if a.Attr.Type == unix.NLMSGERR_ATTR_MSG {
			return errno, unix.ByteSliceToString(a.Value)
		}
	}
	return errno, ""
}
