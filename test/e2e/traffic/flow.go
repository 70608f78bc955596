// Package traffic is the e2e test's traffic tool: it sends sequence-numbered
// Ethernet frames between hosts at a fixed rate over raw AF_PACKET sockets,
// checks the tags and payload of every frame received, and counts per flow
// the frames lost, duplicated and out of order, and the longest gap.
//
// A flow is one direction of traffic between two endpoints with the tags it
// is sent with and the tags it must arrive with (a translation rewrites
// them). A Session binds every receiver before any sender starts, so a
// frame is never lost to a socket that is not there yet.
package traffic

import (
	"encoding/binary"
	"errors"
	"net"

	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// Flow is one direction of traffic.
type Flow struct {
	ID       uint16 // carried in every frame; unique in a session
	Name     string
	From, To string // endpoint names
	Src, Dst net.HardwareAddr
	SendTags []testbed.Tag // tags on the wire at From, outermost first
	WantTags []testbed.Tag // tags the frame must have at To
	Rate     int           // frames per second
}

// magic starts every payload, so that a frame of ours is told apart from
// anything else using the experimental EtherType.
var magic = [4]byte{'Q', 'B', 'E', '2'}

// payloadLen: magic, flow id, sequence number, send time, fill pattern.
const (
	headerLen  = 4 + 2 + 8 + 8
	patternLen = 30
	payloadLen = headerLen + patternLen
)

// payload is what a frame carries after the EtherType.
type payload struct {
	Flow   uint16
	Seq    uint64
	SentNs int64 // send time, nanoseconds since the session started
}

func (p payload) marshal(b []byte) []byte {
	b = append(b, magic[:]...)
	b = binary.BigEndian.AppendUint16(b, p.Flow)
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(p.SentNs))
	for i := 0; i < patternLen; i++ {
		b = append(b, byte(p.Seq)+byte(i)) // a pattern that differs per frame
	}
	return b
}

var (
	errNotOurs = errors.New("not a traffic frame")
	errCorrupt = errors.New("payload corrupt")
)

// parsePayload decodes and checks a payload: errNotOurs for a frame without
// the magic, errCorrupt when the fill pattern is wrong or short.
func parsePayload(b []byte) (payload, error) {
	if len(b) < len(magic) || [4]byte(b[:4]) != magic {
		return payload{}, errNotOurs
	}
	if len(b) < payloadLen {
		return payload{}, errCorrupt
	}
	p := payload{
		Flow:   binary.BigEndian.Uint16(b[4:]),
		Seq:    binary.BigEndian.Uint64(b[6:]),
		SentNs: int64(binary.BigEndian.Uint64(b[14:])),
	}
	for i := 0; i < patternLen; i++ {
		if b[headerLen+i] != byte(p.Seq)+byte(i) {
			return payload{}, errCorrupt
		}
	}
	// Ethernet pads short frames; anything after the pattern must be padding.
	return p, nil
}

// frame returns the whole frame of a flow's packet.
func (f *Flow) frame(buf []byte, p payload) []byte {
	fr := testbed.Frame{Dst: f.Dst, Src: f.Src, Tags: f.SendTags, EtherType: testbed.EtherTypeTest}
	b := append(buf[:0], fr.Marshal()...)
	return p.marshal(b)
}
