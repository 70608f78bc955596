package testbed

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// Tag is one 802.1Q/802.1ad tag as it is on the wire.
type Tag struct {
	TPID uint16 // 0x8100 or 0x88a8
	VID  uint16
}

func (t Tag) String() string { return fmt.Sprintf("%#04x:%d", t.TPID, t.VID) }

// Frame is an Ethernet frame with its tags, outermost first.
type Frame struct {
	Dst, Src  net.HardwareAddr
	Tags      []Tag
	EtherType uint16
	Payload   []byte
}

// EtherTypeTest is the IEEE "local experimental" EtherType: nothing else in a
// testbed sends it, so a receiver can ignore the kernel's own chatter.
const EtherTypeTest = 0x88b5

// Marshal returns the frame's bytes, tags inserted after the source address.
func (f Frame) Marshal() []byte {
	b := make([]byte, 0, 14+4*len(f.Tags)+len(f.Payload))
	b = append(b, f.Dst...)
	b = append(b, f.Src...)
	for _, t := range f.Tags {
		b = binary.BigEndian.AppendUint16(b, t.TPID)
		b = binary.BigEndian.AppendUint16(b, t.VID&0x0fff)
	}
	b = binary.BigEndian.AppendUint16(b, f.EtherType)
	return append(b, f.Payload...)
}

// ParseFrame decodes an Ethernet frame, peeling every 802.1Q/802.1ad tag.
func ParseFrame(b []byte) (Frame, error) {
	if len(b) < 14 {
		return Frame{}, errors.New("frame shorter than an Ethernet header")
	}
	f := Frame{Dst: net.HardwareAddr(bytes.Clone(b[0:6])), Src: net.HardwareAddr(bytes.Clone(b[6:12]))}
	rest := b[12:]
	for {
		if len(rest) < 2 {
			return Frame{}, errors.New("truncated EtherType")
		}
		et := binary.BigEndian.Uint16(rest)
		if et != 0x8100 && et != 0x88a8 {
			f.EtherType = et
			f.Payload = bytes.Clone(rest[2:])
			return f, nil
		}
		if len(rest) < 4 {
			return Frame{}, errors.New("truncated VLAN tag")
		}
		f.Tags = append(f.Tags, Tag{TPID: et, VID: binary.BigEndian.Uint16(rest[2:]) & 0x0fff})
		rest = rest[4:]
	}
}

// SameTags reports whether two tag stacks are equal.
func SameTags(a, b []Tag) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
