// Package kernel talks rtnetlink for bridgectl: it reads the links of a
// network namespace into a plan.State and executes a plan.Plan, pipelining
// requests over one socket (many messages per sendmsg, acks read in bulk)
// because at 4094 translations round trips, not the kernel, would dominate.
package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Conn is one NETLINK_ROUTE socket inside a network namespace.
type Conn struct {
	fd  int
	seq uint32
	buf []byte // receive buffer, reused
}

// Window is how many requests go out before their acks are read: enough to
// amortise the system calls, few enough that the acks fit the socket's
// receive buffer.
const Window = 256

// Dial opens a socket in the namespace ns (netns.None(): the current one).
func Dial(ns netns.NsHandle) (*Conn, error) {
	fd := -1
	err := inNetns(ns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	c := &Conn{fd: fd, buf: make([]byte, 1<<20)}
	// Extended acks carry the kernel's error text; capped acks do not echo
	// our request back, keeping each ack small.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rtnetlink bind: %w", err)
	}
	return c, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }

// inNetns runs f on a thread switched into ns. Sockets made in f stay there.
func inNetns(ns netns.NsHandle, f func() error) error {
	if !ns.IsOpen() {
		return f()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("enter netns: %w", err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// Never hand a thread in the wrong namespace back to the runtime.
		runtime.Goexit()
	}
	return ferr
}

// Request is one rtnetlink message and what it does, for error reports.
type Request struct {
	Type  uint16
	Flags uint16
	Body  []byte        // family header and attributes
	What  string        // for error reports
	Done  syscall.Errno // an error that means the work is already done, if any
	// Joined: Exec sends the next request in the same sendmsg. The kernel
	// carries out every message of one sendmsg in the sender's system call
	// (netlink_rcv_skb, under rtnl_mutex, with no point where a signal is
	// taken), so a kill -9 of bridgectl cannot fall between the two.
	Joined bool
}

// joined returns r with Joined set.
func (r Request) joined() Request {
	r.Joined = true
	return r
}

// windowEnd is where the window starting at reqs[start] ends: Window
// requests, stretched so that it never ends on a Joined request.
func windowEnd(reqs []Request, start int) int {
	end := min(start+Window, len(reqs))
	for end < len(reqs) && reqs[end-1].Joined {
		end++
	}
	return end
}

// KernelError is a request the kernel refused.
type KernelError struct {
	What  string
	Errno syscall.Errno
	Msg   string // extended ack text, if any
}

func (e *KernelError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("%s: %v (%s)", e.What, e.Errno, e.Msg)
	}
	return fmt.Sprintf("%s: %v", e.What, e.Errno)
}

func (e *KernelError) Unwrap() error { return e.Errno }

// Exec sends the requests in windows and waits for every ack. It stops after
// the first window in which a request failed and returns how many requests
// succeeded before the first failure, and that failure. Requests in the same
// window after a failure may have been carried out too: callers re-read the
// kernel instead of trusting a count.
func (c *Conn) Exec(reqs []Request) (int, error) {
	var out []byte
	for start, end := 0, 0; start < len(reqs); start = end {
		end = windowEnd(reqs, start)
		out = out[:0]
		first := c.seq + 1
		for _, r := range reqs[start:end] {
			c.seq++
			out = appendMsg(out, r.Type, r.Flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK, c.seq, r.Body)
		}
		if err := c.send(out); err != nil {
			return start, err
		}
		failed := -1
		var ferr error
		pending := end - start
		for pending > 0 {
			msgs, err := c.recv()
			if err != nil {
				return start, err
			}
			for _, m := range msgs {
				if m.Header.Type != unix.NLMSG_ERROR || m.Header.Seq < first || m.Header.Seq > c.seq {
					continue
				}
				pending--
				errno, text := parseAck(m.Data)
				i := start + int(m.Header.Seq-first)
				if errno != 0 && errno != reqs[i].Done && (failed < 0 || i < failed) {
					failed = i
					ferr = &KernelError{What: reqs[i].What, Errno: errno, Msg: text}
				}
			}
		}
		if failed >= 0 {
			return failed, ferr
		}
	}
	return len(reqs), nil
}

// Dump sends one dump request and calls f for every message of the reply.
// An interrupted dump (the kernel's tables changed meanwhile) is retried.
func (c *Conn) Dump(typ uint16, body []byte, f func(syscall.NetlinkMessage) error) error {
	for attempt := 0; ; attempt++ {
		err := c.dumpOnce(typ, body, f)
		if errors.Is(err, errDumpInterrupted) && attempt < 5 {
			continue
		}
		return err
	}
}

var errDumpInterrupted = errors.New("netlink dump interrupted")

func (c *Conn) dumpOnce(typ uint16, body []byte, f func(syscall.NetlinkMessage) error) error {
	c.seq++
	seq := c.seq
	if err := c.send(appendMsg(nil, typ, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, seq, body)); err != nil {
		return err
	}
	interrupted := false
	for {
		msgs, err := c.recv()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				if interrupted {
					return errDumpInterrupted
				}
				return nil
			case unix.NLMSG_ERROR:
				if errno, text := parseAck(m.Data); errno != 0 {
					return &KernelError{What: "dump", Errno: errno, Msg: text}
				}
			default:
				if !interrupted {
					if err := f(m); err != nil {
						return err
					}
				}
			}
		}
	}
}

func (c *Conn) send(b []byte) error {
	for {
		err := unix.Sendto(c.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if err == unix.EINTR {
			continue
		}
		return err
	}
}

func (c *Conn) recv() ([]syscall.NetlinkMessage, error) {
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("rtnetlink receive: %w", err)
		}
		return syscall.ParseNetlinkMessage(c.buf[:n])
	}
}

func appendMsg(b []byte, typ, flags uint16, seq uint32, body []byte) []byte {
	n := unix.NLMSG_HDRLEN + len(body)
	b = binary.NativeEndian.AppendUint32(b, uint32(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0) // the kernel fills in our port id
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// parseAck returns the errno of an NLMSG_ERROR payload and the extended ack
// message, if the kernel attached one.
func parseAck(d []byte) (syscall.Errno, string) {
	if len(d) < 4 {
		return syscall.EIO, "short ack"
	}
	code := int32(binary.NativeEndian.Uint32(d))
	if code == 0 {
		return 0, ""
	}
	errno := syscall.Errno(-code)
	// struct nlmsgerr: error, then the request's header (payload capped).
	if len(d) < 4+unix.NLMSG_HDRLEN {
		return errno, ""
	}
	tlv := d[4+unix.NLMSG_HDRLEN:]
	for len(tlv) >= 4 {
		l := int(binary.NativeEndian.Uint16(tlv))
		t := binary.NativeEndian.Uint16(tlv[2:])
		if l < 4 || l > len(tlv) {
			break
		}
		if t == unix.NLMSGERR_ATTR_MSG {
			s := tlv[4:l]
			for len(s) > 0 && s[len(s)-1] == 0 {
				s = s[:len(s)-1]
			}
			return errno, string(s)
		}
		tlv = tlv[(l+3)&^3:]
	}
	return errno, ""
}
