//go:build integration

package integration

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// Frames through the translator, from the switches' side of the trunks.

// bcWire is the switch's end of a trunk: a raw socket on the trunk's peer.
type bcWire struct {
	name string
	port *testbed.Port
	src  net.HardwareAddr // source address of the frames it sends
}

// bcDst is the destination of every test frame. No frame ever carries it as
// a source, so no bridge learns it and every bridge floods: the frame leaves
// by the translation's other port.
var bcDst = net.HardwareAddr{0x02, 0, 0, 0xbc, 0xff, 0xff}

var bcSeq atomic.Int64

// wire opens a raw socket on a trunk's peer; it receives from then on.
func (e *bcEnv) wire(t *testing.T, peer string) *bcWire {
	t.Helper()
	p, err := testbed.OpenPort(e.ns, peer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &bcWire{name: peer, port: p, src: net.HardwareAddr{0x02, 0, 0, 0xbc, 0, byte(bcSeq.Add(1))}}
}

// send transmits a test frame with tags and a payload no other frame has;
// it returns the payload.
func (w *bcWire) send(t *testing.T, tags []testbed.Tag) string {
	t.Helper()
	payload := fmt.Sprintf("qbbc|%d|%s|%v|", bcSeq.Add(1), w.name, tags)
	f := testbed.Frame{Dst: bcDst, Src: w.src, Tags: tags, EtherType: testbed.EtherTypeTest, Payload: []byte(payload)}
	if err := w.port.Send(f); err != nil {
		t.Fatalf("send on %s: %v", w.name, err)
	}
	return payload
}

// await receives until the frame with payload arrives and returns it with
// the payloads of the other test frames received meanwhile.
func (w *bcWire) await(t *testing.T, payload string) (testbed.Frame, []string) {
	t.Helper()
	deadline := time.Now().Add(guardPatience)
	var others []string
	for {
		f, err := w.port.Recv(testbed.EtherTypeTest, deadline)
		if err != nil {
			t.Fatalf("%s: frame %q never arrived (%v); other test frames seen: %q", w.name, payload, err, others)
		}
		got := string(f.Payload)
		if strings.HasPrefix(got, payload) { // veth does not pad, but a NIC would
			return f, others
		}
		others = append(others, got)
	}
}

// cross sends a frame tagged in from one wire and checks that it leaves by
// the other wire tagged out, addresses and payload unchanged.
func cross(t *testing.T, from *bcWire, in []testbed.Tag, to *bcWire, out []testbed.Tag) []string {
	t.Helper()
	payload := from.send(t, in)
	got, others := to.await(t, payload)
	if !testbed.SameTags(got.Tags, out) {
		t.Fatalf("%s %v -> %s: tags %v, want %v", from.name, in, to.name, got.Tags, out)
	}
	if got.Src.String() != from.src.String() || got.Dst.String() != bcDst.String() {
		t.Fatalf("%s %v -> %s: addresses changed: %v > %v", from.name, in, to.name, got.Src, got.Dst)
	}
	return others
}

// rxDropped is a link's count of received frames nobody took.
func (e *bcEnv) rxDropped(t *testing.T, name string) uint64 {
	t.Helper()
	l := e.link(t, name)
	if l.Attrs().Statistics == nil {
		t.Fatalf("%s: no statistics", name)
	}
	return l.Attrs().Statistics.RxDropped
}

// noCross sends a frame tagged in that no translation carries and checks
// that it does not come out at to. The proof does not depend on timing:
// the kernel counts the frame as dropped on dropAt (the link whose VLAN
// lookup fails: no subinterface for the tag), and a frame sent afterwards
// on a real translation (marker) arrives with no trace of it before.
func (e *bcEnv) noCross(t *testing.T, from *bcWire, in []testbed.Tag, dropAt string, to *bcWire, marker []testbed.Tag, markerOut []testbed.Tag) {
	t.Helper()
	before := e.rxDropped(t, dropAt)
	payload := from.send(t, in)
	guardWait(t, fmt.Sprintf("frame %v dropped on %s", in, dropAt), func() bool { return e.rxDropped(t, dropAt) > before })
	for _, o := range cross(t, from, marker, to, markerOut) {
		if strings.HasPrefix(o, payload) {
			t.Fatalf("%s %v came out at %s: no translation carries it", from.name, in, to.name)
		}
	}
}

func qinq(outer, inner uint16) []testbed.Tag {
	return []testbed.Tag{{TPID: 0x88a8, VID: outer}, {TPID: 0x8100, VID: inner}}
}

func dot1q(ids ...uint16) []testbed.Tag {
	var tags []testbed.Tag
	for _, id := range ids {
		tags = append(tags, testbed.Tag{TPID: 0x8100, VID: id})
	}
	return tags
}
