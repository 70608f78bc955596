package tcguard

import (
	"encoding/binary"
	"testing"

	"github.com/florianl/go-tc"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Attribute types the kernel puts in a filter dump that the guard skips
// (include/uapi/linux/{pkt_cls,gen_stats}.h, tc_act/tc_gact.h).
const (
	tcaMatchallFlags = 3
	tcaMatchallPad   = 5
	tcaActIndex      = 3
	tcaActHwStats    = 7
	tcaGactTm        = 1
	tcaStatsPad      = 6
	tcaStatsBasicHw  = 7
	tcaStatsPkt64    = 9
	tcaStatsQueue    = 3
)

// guardFilterDump is the guard filter as Linux lays out its filter-dump
// message (tcf_fill_node, mall_dump, tcf_action_dump_1, gnet_stats_copy_*),
// after dropped frames past 2^32: the action's 32-bit packet field has
// wrapped, TCA_STATS_PKT64 holds the count (go-tc fails the whole dump on
// it), and the matchall hit counter has it too.
func guardFilterDump(t *testing.T, frames, bytes uint64) []byte {
	t.Helper()
	u32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.TCA_KIND, kindMatchall)
	ae.Uint32(unix.TCA_CHAIN, 0)
	ae.Nested(unix.TCA_OPTIONS, func(ae *netlink.AttributeEncoder) error {
		ae.Uint32(tcaMatchallFlags, 0)
		ae.Bytes(tcaMatchallPad, nil)
		ae.Uint64(tcaMatchallPcnt, frames)
		ae.Nested(tcaMatchallAct, func(ae *netlink.AttributeEncoder) error {
			ae.Nested(1, func(ae *netlink.AttributeEncoder) error {
				ae.String(tcaActKind, kindGact)
				ae.Bytes(tcaActHwStats, make([]byte, 8))
				ae.Nested(tcaActOptions, func(ae *netlink.AttributeEncoder) error {
					ae.Bytes(tcaGactTm, make([]byte, 32))
					parms := append(append(append(u32(1), u32(0)...), u32(tc.ActShot)...), append(u32(1), u32(1)...)...)
					ae.Bytes(tcaGactParms, parms)
					return nil
				})
				ae.Uint32(tcaActIndex, 1)
				ae.Nested(tcaActStats, func(ae *netlink.AttributeEncoder) error {
					ae.Bytes(tcaStatsPad, nil)
					basic := append(binary.NativeEndian.AppendUint64(nil, bytes), append(u32(uint32(frames)), 0, 0, 0, 0)...)
					ae.Bytes(tcaStatsBasic, basic)
					ae.Uint64(tcaStatsPkt64, frames)
					ae.Bytes(tcaStatsBasicHw, make([]byte, 16))
					ae.Bytes(tcaStatsQueue, make([]byte, 20))
					return nil
				})
				return nil
			})
			return nil
		})
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return append(tcmsg(guardMsg(testBlock)), attrs...)
}

func TestParseFilterPastTwoTo32Frames(t *testing.T) {
	const frames, bytes = 1<<32 + 7, 64 * (1<<32 + 7)
	o, err := parseFilter(guardFilterDump(t, frames, bytes))
	if err != nil {
		t.Fatal(err)
	}
	f := filterOf(o)
	if !f.isGuard() {
		t.Fatalf("%+v is not the guard", f)
	}
	if a := f.actions[0]; a.packets != frames || a.bytes != bytes {
		t.Fatalf("counters %d packets %d bytes, want %d %d", a.packets, a.bytes, uint64(frames), uint64(bytes))
	}
}

// The header the kernel dumps for the classifier instance: kind and chain,
// handle 0, no options.
func TestParseFilterHeader(t *testing.T) {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.TCA_KIND, kindMatchall)
	ae.Uint32(unix.TCA_CHAIN, 7)
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m := blockMsg(testBlock)
	m.Info = filterInfo()
	o, err := parseFilter(append(tcmsg(m), attrs...))
	if err != nil {
		t.Fatal(err)
	}
	if f := filterOf(o); f.kind != kindMatchall || f.chain != 7 || f.prio != FilterPriority || f.handle != 0 || f.actions != nil {
		t.Fatalf("%+v", f)
	}
}
