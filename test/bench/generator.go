package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The data plane's traffic generator: an AF_PACKET socket with
// PACKET_QDISC_BYPASS, fed with sendmmsg, on one thread pinned to one CPU.
//
// Why not kernel pktgen: its svlan_id writes the outer tag with TPID 0x8100
// (verified in the testbed VM: a pktgen frame with svlan_id 100, vlan_id 200
// matches `protocol 802.1q flower vlan_id 100 vlan_ethtype 802.1q cvlan_id
// 200`, never `protocol 802.1ad`), and it has one VLAN ID per device; our
// QinQ side expects 802.1ad and the benchmark spreads frames over several
// translations. Frames written here carry any tags.
//
// Why sendmmsg and not PACKET_TX_RING: tpacket_snd copies only the link
// header into the skb and attaches the rest of the frame as page fragments
// of the ring, so every receiver would first pull the tags out of the
// fragments, a cost real NIC frames (headers in the linear area) do not
// have; packet_snd copies a frame under a page into one linear skb. One
// sendmmsg sends a batch of prebuilt frames: no per-frame work in user space.
// PACKET_QDISC_BYPASS hands each skb straight to the veth's xmit.

// genBatch is the number of frames per sendmmsg call.
const genBatch = 256

// vlanTag is one 802.1Q or 802.1ad tag as it is written on the wire.
type vlanTag struct{ tpid, vid uint16 }

const (
	tpid8021Q  = 0x8100
	tpid8021AD = 0x88a8
)

// generator sends frames until stopped; sent counts the frames the kernel
// accepted (the offered load: a veth accepts every frame, and drops those
// its peer's backlog has no room for).
type generator struct {
	stopping atomic.Bool
	sent     atomic.Uint64
	done     chan error
}

// startGenerator sends frames round robin on dev in namespace netnsName from
// a thread pinned to cpu.
func startGenerator(netnsName, dev string, frames [][]byte, cpu int) *generator {
	g := &generator{done: make(chan error, 1)}
	opened := make(chan error, 1)
	go func() {
		// The thread is pinned and moved into netnsName for good: it is
		// never unlocked, so the runtime ends it with this goroutine.
		runtime.LockOSThread()
		fd, err := openTxSocket(netnsName, dev, cpu)
		opened <- err
		if err != nil {
			return
		}
		defer unix.Close(fd)
		g.done <- g.send(fd, frames)
	}()
	if err := <-opened; err != nil {
		fatalf("generator on %s/%s: %v", netnsName, dev, err)
	}
	return g
}

// stop ends the sending and waits for the thread.
func (g *generator) stop() {
	g.stopping.Store(true)
	if err := <-g.done; err != nil {
		fatalf("generator: %v", err)
	}
}

// openTxSocket pins the calling (locked) thread to cpu, moves it into the
// namespace and returns a send-only packet socket bound to dev.
func openTxSocket(netnsName, dev string, cpu int) (int, error) {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return -1, fmt.Errorf("pin to cpu %d: %w", cpu, err)
	}
	if err := enterNetns(netnsName); err != nil {
		return -1, err
	}
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return -1, err
	}
	// Protocol 0: the socket receives nothing.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("PACKET_QDISC_BYPASS: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind to %s: %w", dev, err)
	}
	return fd, nil
}

// enterNetns moves the calling thread, which must be locked and never be
// unlocked, into the named namespace.
func enterNetns(name string) error {
	h, err := netns.GetFromName(name)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return fmt.Errorf("setns %s: %w", name, err)
	}
	return nil
}

// mmsghdr is struct mmsghdr (x/sys/unix has no sendmmsg).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

func (g *generator) send(fd int, frames [][]byte) error {
	iovs := make([]unix.Iovec, genBatch)
	msgs := make([]mmsghdr, genBatch)
	for i := range msgs {
		f := frames[i%len(frames)]
		iovs[i].Base = &f[0]
		iovs[i].SetLen(len(f))
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
	}
	for !g.stopping.Load() {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
		switch errno {
		case 0:
			g.sent.Add(uint64(n))
		case unix.ENOBUFS, unix.EAGAIN, unix.EINTR:
		default:
			return fmt.Errorf("sendmmsg: %w", errno)
		}
	}
	runtime.KeepAlive(frames)
	runtime.KeepAlive(iovs)
	return nil
}

// flowMAC is the source MAC address of flow i: the receiver's check tells
// the flows apart by it (and a bridge learns one address per flow).
func flowMAC(i int) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, 1, byte(i + 1)} }

// sinkMAC is every frame's destination: an address nobody owns, so a
// bridge floods it to its other port, as it does before it has learned.
var sinkMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}

// buildFrame returns a frame of flow i with tags (outermost first): an
// IPv4/UDP datagram padded to length bytes (no FCS).
func buildFrame(tags []vlanTag, i, length int) []byte {
	f := make([]byte, length)
	copy(f[0:], sinkMAC)
	copy(f[6:], flowMAC(i))
	off := 12
	for _, t := range tags {
		binary.BigEndian.PutUint16(f[off:], t.tpid)
		binary.BigEndian.PutUint16(f[off+2:], t.vid)
		off += 4
	}
	binary.BigEndian.PutUint16(f[off:], unix.ETH_P_IP)
	writeIPv4UDP(f[off+2:], i)
	return f
}

// writeIPv4UDP fills p with an IPv4 header and a UDP header (port 9,
// discard) from 10.0.0.1 to 10.0.1.<i+1>, the rest zero payload: a valid
// datagram, so whatever parses the frame (RPS's flow hash) does its usual
// work.
func writeIPv4UDP(p []byte, i int) {
	ip := p[:20]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(p)))
	ip[8] = 64
	ip[9] = unix.IPPROTO_UDP
	copy(ip[12:], []byte{10, 0, 0, 1})
	copy(ip[16:], []byte{10, 0, 1, byte(i + 1)})
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	udp := p[20:28]
	binary.BigEndian.PutUint16(udp[0:], 9)
	binary.BigEndian.PutUint16(udp[2:], 9)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(p)-20))
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
