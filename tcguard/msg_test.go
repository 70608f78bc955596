package tcguard

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// le builds expected bytes: 32-bit words are written in host order, like
// every netlink integer, so the layouts below hold on any host.
func le(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case uint32:
			b = binary.NativeEndian.AppendUint32(b, v)
		case attr:
			b = binary.NativeEndian.AppendUint16(b, v.len)
			b = binary.NativeEndian.AppendUint16(b, v.typ)
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		}
	}
	return b
}

type attr struct{ len, typ uint16 }

const nested = 0x8000 // NLA_F_NESTED

func TestNewClsactMsg(t *testing.T) {
	m := newClsactMsg(7, 29026, kindClsact)
	if m.Header.Type != unix.RTM_NEWQDISC || m.Header.Flags != netlink.Request|netlink.Acknowledge|netlink.Create|netlink.Excl {
		t.Fatalf("header %+v: want RTM_NEWQDISC with NLM_F_EXCL, never NLM_F_REPLACE", m.Header)
	}
	want := le(
		uint32(0), uint32(7), uint32(0xFFFF0000), uint32(0xFFFFFFF1), uint32(0), // tcmsg: dev 7, ffff: at parent ingress
		attr{11, unix.TCA_KIND}, "clsact\x00\x00",
		attr{8, unix.TCA_INGRESS_BLOCK}, uint32(29026),
		attr{8, unix.TCA_EGRESS_BLOCK}, uint32(29026),
	)
	if !bytes.Equal(m.Data, want) {
		t.Fatalf("data\n% x\nwant\n% x", m.Data, want)
	}
}

func TestGuardFilterMsgs(t *testing.T) {
	tcm := le(uint32(0), uint32(0xFFFFFFFF), uint32(1), uint32(29026), []byte{0x00, 0x03, 0x01, 0x00})
	// tcm_info: priority 1 in the high half, ETH_P_ALL in network order.
	if binary.NativeEndian.Uint32(tcm[16:]) != filterInfo() {
		t.Fatalf("tcm_info %#x, want priority 1 / ETH_P_ALL (0x0003 big-endian)", filterInfo())
	}
	add := newGuardFilterMsg(29026, kindMatchall, kindGact)
	parms := make([]byte, 20)
	parms[8] = 2 // tc_gen.action = TC_ACT_SHOT
	want := le(tcm,
		attr{13, unix.TCA_KIND}, "matchall\x00\x00\x00\x00",
		attr{52, unix.TCA_OPTIONS | nested},
		attr{48, tcaMatchallAct | nested},
		attr{44, 1 | nested}, // first action
		attr{9, tcaActKind}, "gact\x00\x00\x00\x00",
		attr{28, tcaActOptions | nested},
		attr{24, tcaGactParms}, parms,
	)
	if add.Header.Type != unix.RTM_NEWTFILTER || add.Header.Flags&netlink.Excl == 0 || add.Header.Flags&netlink.Replace != 0 {
		t.Fatalf("add header %+v", add.Header)
	}
	if !bytes.Equal(add.Data, want) {
		t.Fatalf("add data\n% x\nwant\n% x", add.Data, want)
	}
	// What we send parses as the guard.
	if f, err := parseFilter(add); err != nil || !f.isGuard() {
		t.Fatalf("parse of the add request: %+v %v", f, err)
	}

	del := delGuardFilterMsg(29026)
	want = le(tcm, attr{13, unix.TCA_KIND}, "matchall\x00\x00\x00\x00")
	if del.Header.Type != unix.RTM_DELTFILTER || !bytes.Equal(del.Data, want) {
		t.Fatalf("del %+v\n% x\nwant\n% x", del.Header, del.Data, want)
	}
	if binary.NativeEndian.Uint32(del.Data[16:])>>16 == 0 {
		t.Fatal("delete with priority 0 would flush the chain")
	}
	dump := dumpGuardFilterMsg(29026)
	if dump.Header.Flags != netlink.Request|netlink.Dump || !bytes.Equal(dump.Data[:20], le(uint32(0), uint32(0xFFFFFFFF), uint32(0), uint32(29026), tcm[16:])) {
		t.Fatalf("dump %+v % x", dump.Header, dump.Data)
	}
}

func TestChainMsgs(t *testing.T) {
	m := newChainMsg(29026, ArmedChain)
	want := le(uint32(0), uint32(0xFFFFFFFF), uint32(0), uint32(29026), uint32(0), attr{8, unix.TCA_CHAIN}, ArmedChain)
	if m.Header.Type != unix.RTM_NEWCHAIN || m.Header.Flags&netlink.Excl == 0 || !bytes.Equal(m.Data, want) {
		t.Fatalf("%+v % x", m.Header, m.Data)
	}
	if c, err := parseChain(m); err != nil || c != ArmedChain {
		t.Fatalf("parseChain: %d %v", c, err)
	}
}

func TestParseFilterStats(t *testing.T) {
	f := filter{prio: FilterPriority, handle: FilterHandle, kind: kindMatchall,
		actions: []action{{kind: kindGact, verdict: tcActShot, hasVerdict: true}}}
	for _, tc := range []struct{ packets, bytes uint64 }{{0, 0}, {1000, 64000}, {5_000_000_000, 320_000_000_000}} {
		got, err := parseFilter(netlink.Message{Data: filterBytes(29026, f, tc.packets, tc.bytes)})
		if err != nil || !got.isGuard() {
			t.Fatalf("%+v %v", got, err)
		}
		if a := got.actions[0]; a.packets != tc.packets || a.bytes != tc.bytes {
			t.Errorf("counters %d/%d, want %d/%d", a.packets, a.bytes, tc.packets, tc.bytes)
		}
	}
	notDrop := f
	notDrop.actions = []action{{kind: kindGact, verdict: 0, hasVerdict: true}}
	if got, _ := parseFilter(netlink.Message{Data: filterBytes(29026, notDrop, 0, 0)}); got.isGuard() {
		t.Fatal("a gact pass taken for the guard")
	}
	if _, err := parseFilter(netlink.Message{Data: []byte{1, 2, 3}}); err == nil {
		t.Fatal("short message accepted")
	}
}

func TestParseQdisc(t *testing.T) {
	for _, q := range []qdisc{
		{ifindex: 9, parent: tcHIngress, kind: "clsact", ingressBlock: 29026, egressBlock: 29026},
		{ifindex: 11, parent: tcHIngress, kind: "clsact", ingressBlock: 29026},
		{ifindex: 12, parent: tcHIngress, kind: "clsact", egressBlock: 29026},
		{ifindex: 10, parent: tcHIngress, kind: "ingress"},
	} {
		got, err := parseQdisc(netlink.Message{Data: qdiscBytes(q)})
		if err != nil || got != q {
			t.Errorf("parse %+v: %+v %v", q, got, err)
		}
		if got.ours(29026) != (q.ingressBlock == 29026 && q.egressBlock == 29026 && q.kind == "clsact") {
			t.Errorf("%+v: ours %v", q, got.ours(29026))
		}
	}
	g := getIngressQdiscMsg(9)
	if g.Header.Flags&netlink.Dump != 0 || !bytes.Equal(g.Data, le(uint32(0), uint32(9), uint32(0), uint32(0xFFFFFFF1), uint32(0))) {
		t.Fatalf("get %+v % x", g.Header, g.Data)
	}
}
