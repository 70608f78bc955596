package tc

// Tests of the qinqbridge patches (PATCHES.md). Run from the qinqbridge
// module: go test github.com/florianl/go-tc

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/florianl/go-tc/internal/unix"
	"github.com/mdlayher/netlink"
)

// kernelFilterDump is a matchall filter with one gact action as Linux lays
// out its filter-dump message (tcf_fill_node, mall_dump, tcf_action_dump_1,
// gnet_stats_copy_*) after frames past 2^32: the action's 32-bit packet
// field has wrapped and TCA_STATS_PKT64 holds the count, as the matchall's
// hit counter does. The tcmsg header is left out.
func kernelFilterDump(t *testing.T, frames, bytes uint64) []byte {
	t.Helper()
	u32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	ae := netlink.NewAttributeEncoder()
	ae.String(tcaKind, "matchall")
	ae.Uint32(tcaChain, 0)
	ae.Nested(tcaOptions, func(ae *netlink.AttributeEncoder) error {
		ae.Uint32(tcaMatchallFlags, 0)
		ae.Bytes(tcaMatchallPad, nil)
		ae.Uint64(tcaMatchallPcnt, frames)
		ae.Nested(tcaMatchallAct, func(ae *netlink.AttributeEncoder) error {
			ae.Nested(1, func(ae *netlink.AttributeEncoder) error {
				ae.String(tcaActKind, "gact")
				ae.Bytes(tcaActHwStats, make([]byte, 8))
				ae.Nested(tcaActOptions, func(ae *netlink.AttributeEncoder) error {
					ae.Bytes(tcaGactTm, make([]byte, 32))
					parms := append(append(append(u32(1), u32(0)...), u32(ActShot)...), append(u32(1), u32(1)...)...)
					ae.Bytes(tcaGactParm, parms)
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
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Patch 1: a filter dump past 2^32 packets decodes, with the 64-bit count.
func TestPatch1FilterDumpWithPkt64(t *testing.T) {
	const frames, bytes = 1<<32 + 7, 64 * (1<<32 + 7)
	var a Attribute
	if err := extractTcmsgAttributes(unix.RTM_GETTFILTER, kernelFilterDump(t, frames, bytes), &a); err != nil {
		t.Fatal(err)
	}
	if a.Matchall == nil || a.Matchall.Pcnt == nil || *a.Matchall.Pcnt != frames || a.Matchall.Actions == nil || len(*a.Matchall.Actions) != 1 {
		t.Fatalf("matchall %+v", a.Matchall)
	}
	act := (*a.Matchall.Actions)[0]
	if act.Kind != "gact" || act.Gact == nil || act.Gact.Parms == nil || act.Gact.Parms.Action != ActShot {
		t.Fatalf("action %+v", act)
	}
	s := act.Stats
	if s == nil || s.Basic == nil || s.Basic.Bytes != bytes || s.Basic.Packets != 7 || s.Pkt64 == nil || *s.Pkt64 != frames {
		t.Fatalf("stats %+v", s)
	}
	// And back.
	b, err := marshalGenStats(s)
	if err != nil {
		t.Fatal(err)
	}
	var again GenStats
	if err := unmarshalGenStats(b, &again); err != nil || again.Pkt64 == nil || *again.Pkt64 != frames {
		t.Fatalf("round trip %+v %v", again, err)
	}
}

func hasAttr(opts []tcOption, typ uint16) bool {
	for _, o := range opts {
		if o.Type == typ {
			return true
		}
	}
	return false
}

// Patch 3: a chain without kind is sent without TCA_KIND; with a kind (a
// template) and for filters, TCA_KIND is sent as before.
func TestPatch3ChainWithoutKind(t *testing.T) {
	chain := uint32(7)
	for _, c := range []struct {
		action int
		kind   string
		want   bool
	}{
		{unix.RTM_NEWCHAIN, "", false},
		{unix.RTM_NEWCHAIN, "matchall", true},
		{unix.RTM_DELCHAIN, "", false},
		{unix.RTM_DELTFILTER, "matchall", true},
	} {
		o := &Object{Msg: Msg{Ifindex: MagicBlock, Parent: 1}, Attribute: Attribute{Kind: c.kind, Chain: &chain}}
		opts, err := validateFilterObject(c.action, o)
		if err != nil {
			t.Fatalf("%d %q: %v", c.action, c.kind, err)
		}
		if got := hasAttr(opts, tcaKind); got != c.want || !hasAttr(opts, tcaChain) {
			t.Fatalf("%d %q: TCA_KIND sent: %v, want %v (options %+v)", c.action, c.kind, got, c.want, opts)
		}
	}
}

// Patch 4: a qdisc of a kind go-tc does not know, with options and
// statistics, decodes (kind kept, the rest skipped) instead of failing.
func TestPatch4UnknownKind(t *testing.T) {
	ae := netlink.NewAttributeEncoder()
	ae.String(tcaKind, "skbprio")
	ae.Bytes(tcaOptions, []byte{64, 0, 0, 0})
	ae.Bytes(tcaXstats, []byte{1, 2, 3, 4})
	ae.Uint32(tcaIngressBlock, 5)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var a Attribute
	if err := extractTcmsgAttributes(unix.RTM_GETQDISC, b, &a); err != nil {
		t.Fatal(err)
	}
	if a.Kind != "skbprio" || a.IngressBlock == nil || *a.IngressBlock != 5 {
		t.Fatalf("%+v", a)
	}
}

// sentConn records the requests sent and acknowledges each.
type sentConn struct{ sent []netlink.Message }

func (c *sentConn) Close() error                             { return nil }
func (c *sentConn) JoinGroup(uint32) error                   { return nil }
func (c *sentConn) LeaveGroup(uint32) error                  { return nil }
func (c *sentConn) SetOption(netlink.ConnOption, bool) error { return nil }
func (c *sentConn) SetReadDeadline(time.Time) error          { return nil }
func (c *sentConn) Receive() ([]netlink.Message, error)      { return nil, nil }
func (c *sentConn) Send(m netlink.Message) (netlink.Message, error) {
	m.Header.Sequence, m.Header.PID = 1, 1
	c.sent = append(c.sent, m)
	return m, nil
}

// Patch 5: Actions().Replace asks the kernel to replace (NLM_F_REPLACE) an
// existing action; Add still refuses one (NLM_F_EXCL).
func TestPatch5ActionReplaceFlags(t *testing.T) {
	c := &sentConn{}
	a := (&Tc{con: c, logger: setDummyLogger()}).Actions()
	gact := []*Action{{Kind: "gact", Gact: &Gact{Parms: &GactParms{Index: 9, Action: ActPipe}}}}
	if err := a.Replace(gact); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(gact); err != nil {
		t.Fatal(err)
	}
	if len(c.sent) != 2 {
		t.Fatalf("sent %d requests", len(c.sent))
	}
	if f := c.sent[0].Header.Flags; f&netlink.Replace == 0 || f&netlink.Excl != 0 || f&netlink.Create == 0 {
		t.Fatalf("replace sent flags %v", f)
	}
	if f := c.sent[1].Header.Flags; f&netlink.Replace != 0 || f&netlink.Excl == 0 {
		t.Fatalf("add sent flags %v", f)
	}
}

// Patch 6: EtherTypes the kernel keeps in network byte order — act_vlan's
// push protocol, flower's VLAN EtherTypes — are sent and read that way.
func TestPatch6NetworkOrderEtherTypes(t *testing.T) {
	proto := uint16(0x88a8)
	b, err := marshalVlan(&VLan{PushProtocol: &proto})
	if err != nil {
		t.Fatal(err)
	}
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		t.Fatal(err)
	}
	for ad.Next() {
		if ad.Type() == tcaVLanPushVLanProtocol && (ad.Bytes()[0] != 0x88 || ad.Bytes()[1] != 0xa8) {
			t.Fatalf("push protocol sent as % x", ad.Bytes())
		}
	}
	var v VLan
	if err := unmarshalVLan(b, &v); err != nil || v.PushProtocol == nil || *v.PushProtocol != proto {
		t.Fatalf("push protocol read back: %v %v", v.PushProtocol, err)
	}
	et, cet := uint16(0x8100), uint16(0x0800)
	fb, err := marshalFlower(&Flower{KeyVlanEthType: &et, KeyCVlanEthType: &cet})
	if err != nil {
		t.Fatal(err)
	}
	var f Flower
	if err := unmarshalFlower(fb, &f); err != nil || f.KeyVlanEthType == nil || *f.KeyVlanEthType != et || *f.KeyCVlanEthType != cet {
		t.Fatalf("flower EtherTypes read back: %+v %v", f, err)
	}
}

// Patch 7: act_vlan's push priority, a u8 in the kernel's dumps, decodes.
func TestPatch7VlanPushPriorityU8(t *testing.T) {
	ae := netlink.NewAttributeEncoder()
	ae.Uint16(tcaVLanPushVLanID, 300)
	ae.Uint8(tcaVLanPushVLanPriority, 5) // nla_put_u8, as tcf_vlan_dump
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var v VLan
	if err := unmarshalVLan(b, &v); err != nil || v.PushPriority == nil || *v.PushPriority != 5 {
		t.Fatalf("push priority: %v %v", v.PushPriority, err)
	}
	prio := uint32(5)
	enc, err := marshalVlan(&VLan{PushPriority: &prio})
	if err != nil {
		t.Fatal(err)
	}
	if err := unmarshalVLan(enc, &v); err != nil || *v.PushPriority != 5 {
		t.Fatalf("round trip: %v %v", v.PushPriority, err)
	}
}
