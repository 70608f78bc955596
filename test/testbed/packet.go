package testbed

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Port is a raw AF_PACKET socket bound to one interface of a namespace:
// it sends whole frames and receives them with the tag the kernel stripped
// (VLAN offload) put back, so tests compare the bytes of the wire.
type Port struct {
	fd      int
	ifindex int
}

// OpenPort binds a raw socket to ifname inside ns. Once it returns, the
// socket is receiving: a sender may start.
func OpenPort(ns *NS, ifname string) (*Port, error) {
	p := &Port{fd: -1}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		p.fd, p.ifindex = fd, ifi.Index
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return err
		}
		// FORCE: beyond rmem_max (200 KiB, a fraction of a second of a
		// test's stream), so that a receiver descheduled for a while
		// (TCG) loses nothing; Drops tells if it did all the same.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		if p.fd >= 0 {
			unix.Close(p.fd)
		}
		return nil, fmt.Errorf("packet socket on %s in %s: %w", ifname, ns.Name, err)
	}
	return p, nil
}

// Drops is how many frames the socket dropped (its receive buffer full)
// since the previous call: the kernel resets the count as it reports it.
func (p *Port) Drops() (int, error) {
	st, err := unix.GetsockoptTpacketStats(p.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, fmt.Errorf("packet socket statistics: %w", err)
	}
	return int(st.Drops), nil
}

// Close closes the socket.
func (p *Port) Close() error { return unix.Close(p.fd) }

// Send transmits one frame.
func (p *Port) Send(f Frame) error {
	b := f.Marshal()
	return unix.Sendto(p.fd, b, 0, &unix.SockaddrLinklayer{Ifindex: p.ifindex, Halen: 6})
}

// Recv returns the next frame received (not sent) on the port whose
// EtherType is want, or an error once the deadline passes.
func (p *Port) Recv(want uint16, deadline time.Time) (Frame, error) {
	return p.recv(deadline, func(f Frame) bool { return f.EtherType == want }, fmt.Sprintf("with EtherType %#04x ", want))
}

// Receive calls fn with each frame of EtherType want the port receives,
// until quit is closed (within 100 ms). Errors are skipped: a receive
// timeout, or the ENETDOWN a socket keeps for its device that went down
// (one error, then frames again).
func (p *Port) Receive(quit <-chan struct{}, want uint16, fn func(Frame)) {
	for {
		select {
		case <-quit:
			return
		default:
		}
		f, err := p.Recv(want, time.Now().Add(100*time.Millisecond))
		if err != nil {
			continue
		}
		fn(f)
	}
}

// RecvAny returns the next frame received (not sent) on the port, or an
// error once the deadline passes.
func (p *Port) RecvAny(deadline time.Time) (Frame, error) {
	return p.recv(deadline, func(Frame) bool { return true }, "")
}

// recv returns the next frame received that accept takes; what describes
// them in the error.
func (p *Port) recv(deadline time.Time, accept func(Frame) bool, what string) (Frame, error) {
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return Frame{}, fmt.Errorf("no frame %sbefore the deadline", what)
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(p.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return Frame{}, err
		}
		n, oobn, _, from, err := unix.Recvmsg(p.fd, buf, oob, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return Frame{}, err
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		raw := RestoreTag(buf[:n], oob[:oobn])
		f, err := ParseFrame(raw)
		if err != nil || !accept(f) {
			continue
		}
		return f, nil
	}
}

// RestoreTag puts the VLAN tag that the kernel moved into skb metadata back
// into the frame b, as libpcap does, from the PACKET_AUXDATA control
// message oob (recvmsg on a socket with PACKET_AUXDATA set).
func RestoreTag(b, oob []byte) []byte {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return b
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			continue
		}
		aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
		if aux.Status&unix.TP_STATUS_VLAN_VALID == 0 || len(b) < 12 {
			continue
		}
		tpid := aux.Vlan_tpid
		if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID == 0 {
			tpid = unix.ETH_P_8021Q
		}
		out := make([]byte, 0, len(b)+4)
		out = append(out, b[:12]...)
		out = binary.BigEndian.AppendUint16(out, tpid)
		out = binary.BigEndian.AppendUint16(out, aux.Vlan_tci)
		return append(out, b[12:]...)
	}
	return b
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
