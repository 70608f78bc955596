package traffic

import (
	"fmt"
	"net"
	"time"

	"github.com/qinqbridge/qinqbridge/test/testbed"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Endpoint is a host's interface: a raw socket in its namespace.
type Endpoint struct {
	Name    string
	fd      int
	ifindex int
}

// recvTimeout bounds each receive, so that a receiver notices the end of
// its session.
const recvTimeout = 50 * time.Millisecond

// Open binds a raw socket to ifname in namespace ns. Once it returns the
// socket receives.
func Open(name string, ns netns.NsHandle, ifname string) (*Endpoint, error) {
	e := &Endpoint{Name: name, fd: -1}
	err := testbed.Do(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		e.fd, e.ifindex = fd, ifi.Index
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return err
		}
		// FORCE: beyond rmem_max (200 KiB, a tenth of a second of traffic),
		// so that a receiver descheduled for a while (TCG) loses nothing.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(recvTimeout.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		if e.fd >= 0 {
			unix.Close(e.fd)
		}
		return nil, fmt.Errorf("endpoint %s: packet socket on %s: %w", name, ifname, err)
	}
	return e, nil
}

// Close closes the socket.
func (e *Endpoint) Close() error { return unix.Close(e.fd) }

func (e *Endpoint) send(b []byte) error {
	return unix.Sendto(e.fd, b, 0, &unix.SockaddrLinklayer{Ifindex: e.ifindex, Halen: 6})
}

// recv returns the next frame received (not sent) on the endpoint, with
// the VLAN tag the kernel stripped put back, or nil after recvTimeout.
func (e *Endpoint) recv(buf, oob []byte) ([]byte, error) {
	for {
		n, oobn, _, from, err := unix.Recvmsg(e.fd, buf, oob, 0)
		if err == unix.EAGAIN || err == unix.EWOULDBLOCK {
			return nil, nil
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		return testbed.RestoreTag(buf[:n], oob[:oobn]), nil
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// errNoBufs: the socket's queue is full; the frame counts as sent and lost.
var errNoBufs = unix.ENOBUFS

// drops returns the frames the kernel dropped because the socket's buffer
// was full since the last call (reading the statistics resets them).
func (e *Endpoint) drops() int {
	st, err := unix.GetsockoptTpacketStats(e.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return -1
	}
	return int(st.Drops)
}
