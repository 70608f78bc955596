package testbed

import (
	"bytes"
	"net"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	for _, tc := range []struct {
		name string
		tags []Tag
		want []byte // bytes 12.. of the marshalled frame
	}{
		{"untagged", nil, []byte{0x88, 0xb5, 'x'}},
		{"dot1q", []Tag{{0x8100, 300}}, []byte{0x81, 0x00, 0x01, 0x2c, 0x88, 0xb5, 'x'}},
		{"qinq", []Tag{{0x88a8, 100}, {0x8100, 200}}, []byte{0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x88, 0xb5, 'x'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Frame{Dst: mac("02:00:00:00:00:02"), Src: mac("02:00:00:00:00:01"), Tags: tc.tags, EtherType: EtherTypeTest, Payload: []byte("x")}
			b := f.Marshal()
			if !bytes.Equal(b[12:], tc.want) {
				t.Fatalf("marshal: got % x, want % x", b[12:], tc.want)
			}
			g, err := ParseFrame(b)
			if err != nil {
				t.Fatal(err)
			}
			if !SameTags(g.Tags, tc.tags) || g.EtherType != EtherTypeTest || string(g.Payload) != "x" || g.Src.String() != f.Src.String() {
				t.Fatalf("parse: got %+v", g)
			}
		})
	}
}

func TestParseFrameRejectsTruncated(t *testing.T) {
	for _, b := range [][]byte{nil, make([]byte, 13), append(make([]byte, 12), 0x81, 0x00, 0x00)} {
		if _, err := ParseFrame(b); err == nil {
			t.Errorf("ParseFrame(% x): no error", b)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(Frame{Dst: make([]byte, 6), Src: make([]byte, 6), Tags: []Tag{{0x88a8, 100}, {0x8100, 200}}, EtherType: EtherTypeTest, Payload: []byte("p")}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			return
		}
		// A parsed frame marshals back to the same bytes (VIDs carry no PCP/DEI here).
		again, err := ParseFrame(fr.Marshal())
		if err != nil || !SameTags(again.Tags, fr.Tags) || again.EtherType != fr.EtherType || !bytes.Equal(again.Payload, fr.Payload) {
			t.Fatalf("round trip changed %+v into %+v (%v)", fr, again, err)
		}
	})
}
