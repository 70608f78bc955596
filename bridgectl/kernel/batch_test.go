package kernel

import (
	"encoding/binary"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

// ackMsg builds an NLMSG_ERROR the way the kernel's netlink_ack does: the
// errno, the request's header with (capped) or without its payload, then
// with ACK_TLVS the extended ack attributes.
func ackMsg(errno int32, reqLen uint32, payload int, capped bool, text string) syscall.NetlinkMessage {
	d := binary.NativeEndian.AppendUint32(nil, uint32(-errno))
	d = binary.NativeEndian.AppendUint32(d, reqLen)
	d = append(d, make([]byte, unix.NLMSG_HDRLEN-4+payload)...)
	var flags uint16
	if capped {
		flags |= unix.NLM_F_CAPPED
	}
	if text != "" {
		flags |= unix.NLM_F_ACK_TLVS
		v := append([]byte(text), 0)
		d = binary.NativeEndian.AppendUint16(d, uint16(4+len(v)))
		d = binary.NativeEndian.AppendUint16(d, unix.NLMSGERR_ATTR_MSG)
		d = append(d, v...)
		for len(d)%4 != 0 {
			d = append(d, 0)
		}
	}
	return syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.NLMSG_ERROR, Flags: flags}, Data: d}
}

func TestParseAck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		m     syscall.NetlinkMessage
		errno syscall.Errno
		text  string
	}{
		{"success", ackMsg(0, 40, 0, false, ""), 0, ""},
		{"error without text", ackMsg(int32(unix.EEXIST), 40, 24, false, ""), unix.EEXIST, ""},
		{"error with text, request echoed", ackMsg(int32(unix.EINVAL), 42, 28, false, "unknown attribute"), unix.EINVAL, "unknown attribute"},
		{"error with text, capped", ackMsg(int32(unix.EOPNOTSUPP), 4000, 0, true, "cannot delete"), unix.EOPNOTSUPP, "cannot delete"},
		{"short", syscall.NetlinkMessage{Data: []byte{1, 2}}, syscall.EIO, "short ack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errno, text := parseAck(tc.m)
			if errno != tc.errno || text != tc.text {
				t.Fatalf("%v %q, want %v %q", errno, text, tc.errno, tc.text)
			}
		})
	}
}

// parseAck reads whatever a socket delivers without panicking.
func FuzzParseAck(f *testing.F) {
	for _, m := range []syscall.NetlinkMessage{
		ackMsg(0, 40, 0, false, ""), ackMsg(22, 42, 28, false, "x"), ackMsg(95, 4000, 0, true, "cannot delete"),
	} {
		f.Add(m.Header.Flags, m.Data)
	}
	f.Fuzz(func(t *testing.T, flags uint16, d []byte) {
		parseAck(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.NLMSG_ERROR, Flags: flags}, Data: d})
	})
}

// observe turns any message into a link or an error, never a panic, and a
// link it returns has a name.
func FuzzObserve(f *testing.F) {
	v := 300
	for _, r := range []Request{
		create(9, "eth1.300", defaults.OwnerGroup, 1496, VLAN{2, 0x8100, 300}, &v, "x"),
		createBridge(12, "br-x", defaults.OwnerGroup, 1496, BridgeSettings{GroupFwdMask: plan.GroupFwdMask}, "x"),
		set(9, Attrs{NoAddresses: true, Alias: "qinqbridge x"}, "x"),
	} {
		m, err := r.netlink()
		if err != nil {
			f.Fatal(err)
		}
		body := m.Serialize()[unix.NLMSG_HDRLEN:]
		unflagNests(body[unix.SizeofIfInfomsg:])
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := observe(b, true)
		if err == nil && o.Name == "" {
			t.Fatal("a link without a name")
		}
	})
}
