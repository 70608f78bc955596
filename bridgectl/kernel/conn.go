package kernel

import (
	"fmt"
	"sync/atomic"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/internal/namespace"
)

// Conn is the kernel's link table: one NETLINK_ROUTE socket inside a network
// namespace. Requests are pipelined (Window of them per sendmsg, acks read
// in bulk, see batch.go) because at 4094 translations round trips, not the
// kernel, would dominate.
type Conn struct {
	sock *nl.NetlinkSocket
	sh   *nl.SocketHandle // sock, with the sequence numbers for it
}

var _ Links = (*Conn)(nil)

// Window is how many requests go out before their acks are read: enough to
// amortise the system calls, few enough that the acks fit the socket's
// receive buffer.
const Window = 256

// Dial opens a socket in the namespace ns.
func Dial(ns *namespace.NetNS) (*Conn, error) {
	s, err := nl.GetNetlinkSocketAt(ns.Handle(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink socket in %s: %w", ns, err)
	}
	// Extended acks carry the kernel's error text. A window's acks, and
	// a dump of thousands of links, need more than the default buffer.
	_ = s.SetExtAck(true)
	if err := s.SetReceiveBufferSize(4<<20, true); err != nil {
		_ = s.SetReceiveBufferSize(4<<20, false)
	}
	_ = unix.SetsockoptInt(s.GetFd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	return &Conn{sock: s, sh: &nl.SocketHandle{Socket: s}}, nil
}

// Close closes the socket.
func (c *Conn) Close() error {
	c.sock.Close()
	return nil
}

// nextSeq is the sequence number of the next request on this socket; dumps
// (nl's ExecuteIter) take theirs from the same counter.
func (c *Conn) nextSeq() uint32 { return atomic.AddUint32(&c.sh.Seq, 1) }

// windowEnd is where the window starting at reqs[start] ends: Window
// requests, stretched so that it never ends on a Joined request.
func windowEnd(reqs []Request, start int) int {
	end := min(start+Window, len(reqs))
	for end < len(reqs) && reqs[end-1].Joined {
		end++
	}
	return end
}

// Exec sends the requests in windows and waits for every ack. It stops after
// the first window in which a request failed (see Links.Exec).
func (c *Conn) Exec(reqs []Request) (int, error) {
	for start, end := 0, 0; start < len(reqs); start = end {
		end = windowEnd(reqs, start)
		msgs := make([]*nl.NetlinkRequest, 0, end-start)
		for _, r := range reqs[start:end] {
			m, err := r.netlink()
			if err != nil {
				return start, err
			}
			m.Seq = c.nextSeq()
			msgs = append(msgs, m)
		}
		first := msgs[0].Seq
		acks, err := c.sendWindow(msgs)
		if err != nil {
			return start, fmt.Errorf("rtnetlink: %w", err)
		}
		failed := -1
		var ferr error
		for _, a := range acks {
			i := start + int(a.seq-first)
			if a.errno != 0 && a.errno != reqs[i].Done && (failed < 0 || i < failed) {
				failed = i
				ferr = &KernelError{What: reqs[i].What, Errno: a.errno, Msg: a.msg}
			}
		}
		if failed >= 0 {
			return failed, ferr
		}
	}
	return len(reqs), nil
}
