package tcnl

import (
	"encoding/binary"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// qdiscMessage lays out an RTM_NEWQDISC body as the kernel does.
func qdiscMessage(t testing.TB, ifindex, parent uint32, kind string, ingress, egress uint32) []byte {
	b := make([]byte, tcmsgLen)
	binary.NativeEndian.PutUint32(b[4:], ifindex)
	binary.NativeEndian.PutUint32(b[8:], 0xFFFF0000)
	binary.NativeEndian.PutUint32(b[12:], parent)
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.TCA_KIND, kind)
	ae.Bytes(unix.TCA_STATS2, []byte{8, 0, 1, 0, 0, 0, 0, 0}) // skipped
	if ingress != 0 {
		ae.Uint32(unix.TCA_INGRESS_BLOCK, ingress)
	}
	if egress != 0 {
		ae.Uint32(unix.TCA_EGRESS_BLOCK, egress)
	}
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return append(b, attrs...)
}

func TestQdiscOfMessage(t *testing.T) {
	for _, c := range []struct {
		name            string
		msg             []byte
		kind            string
		ingress, egress uint32
		err             bool
	}{
		{"clsact on two blocks", qdiscMessage(t, 7, 0xFFFFFFF1, "clsact", 29026, 29027), "clsact", 29026, 29027, false},
		{"ingress, no block", qdiscMessage(t, 8, 0xFFFFFFF1, "ingress", 0, 0), "ingress", 0, 0, false},
		{"short", make([]byte, tcmsgLen-1), "", 0, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, err := qdiscOfMessage(c.msg)
			if (err != nil) != c.err {
				t.Fatalf("err %v", err)
			}
			if err != nil {
				return
			}
			block := func(p *uint32) uint32 {
				if p == nil {
					return 0
				}
				return *p
			}
			if o.Kind != c.kind || block(o.IngressBlock) != c.ingress || block(o.EgressBlock) != c.egress || o.Ifindex == 0 || o.Parent != 0xFFFFFFF1 {
				t.Fatalf("got %+v", o)
			}
		})
	}
}

func FuzzQdiscOfMessage(f *testing.F) {
	f.Add(qdiscMessage(f, 7, 0xFFFFFFF1, "clsact", 29026, 29026))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		qdiscOfMessage(b) // must not panic
	})
}
