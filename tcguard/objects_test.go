package tcguard

import (
	"testing"

	"github.com/florianl/go-tc"
)

// The drop counter of a filter as go-tc decodes it from a dump: the
// matchall's 64-bit hit counter when the kernel sends one, else the action's
// 64-bit count (TCA_STATS_PKT64, present past 2^32), else its 32-bit field.
func TestFilterOfDropCounter(t *testing.T) {
	const frames, bytes = 1<<32 + 7, 64 * (1<<32 + 7)
	for _, c := range []struct {
		name  string
		pcnt  *uint64
		basic uint32
		pkt64 *uint64
		want  uint64
	}{
		{"hit counter", new(uint64(frames)), 7, new(uint64(frames)), frames},
		{"hit counter over the action's", new(uint64(frames)), 7, nil, frames},
		{"PKT64 without hit counter", nil, 7, new(uint64(frames)), frames},
		{"32 bits only", nil, 7, nil, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := *guardFilterObject(testBlock)
			o.Matchall.Pcnt = c.pcnt
			(*o.Matchall.Actions)[0].Stats = &tc.GenStats{Basic: &tc.GenBasic{Bytes: bytes, Packets: c.basic}, Pkt64: c.pkt64}
			f := filterOf(o)
			if !f.isGuard() {
				t.Fatalf("%+v is not the guard", f)
			}
			if a := f.actions[0]; a.packets != c.want || a.bytes != bytes {
				t.Fatalf("counters %d packets %d bytes, want %d %d", a.packets, a.bytes, c.want, uint64(bytes))
			}
		})
	}
}
