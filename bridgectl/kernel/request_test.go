package kernel

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// The requests bridgectl sends are checked by decoding them with an
// independent netlink implementation (mdlayher/netlink's attribute
// decoder): the ifinfomsg header, then every attribute as one line
// "PATH = HEX", PATH being attribute types from the top ("18/2/1"); a
// nest (NLA_F_NESTED set, as the kernel's strict parsers want) is a line
// "PATH {" followed by its attributes.

// ifinfomsg is the decoded family header of a link request.
type ifinfomsg struct {
	family        uint8
	index         int32
	flags, change uint32
}

func decodeLinkRequest(t *testing.T, body []byte) (ifinfomsg, []string) {
	t.Helper()
	if len(body) < unix.SizeofIfInfomsg {
		t.Fatalf("body of %d bytes: shorter than struct ifinfomsg", len(body))
	}
	h := ifinfomsg{
		family: body[0],
		index:  int32(binary.NativeEndian.Uint32(body[4:])),
		flags:  binary.NativeEndian.Uint32(body[8:]),
		change: binary.NativeEndian.Uint32(body[12:]),
	}
	if body[1] != 0 || binary.NativeEndian.Uint16(body[2:]) != 0 {
		t.Errorf("ifinfomsg padding/type not zero: % x", body[:4])
	}
	var lines []string
	var walk func(b []byte, path string)
	walk = func(b []byte, path string) {
		ad, err := netlink.NewAttributeDecoder(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for ad.Next() {
			p := fmt.Sprint(ad.Type())
			if path != "" {
				p = path + "/" + p
			}
			if ad.TypeFlags()&netlink.Nested != 0 {
				lines = append(lines, p+" {")
				walk(ad.Bytes(), p)
				continue
			}
			lines = append(lines, p+" = "+hex.EncodeToString(ad.Bytes()))
		}
		if err := ad.Err(); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	walk(body[unix.SizeofIfInfomsg:], "")
	return h, lines
}

// Values as the kernel reads them: integers in host order except where the
// attribute is big-endian by definition (IFLA_VLAN_PROTOCOL).
func u8hex(v uint8) string { return hex.EncodeToString([]byte{v}) }
func u16hex(v uint16) string {
	return hex.EncodeToString(binary.NativeEndian.AppendUint16(nil, v))
}
func be16hex(v uint16) string { return hex.EncodeToString(binary.BigEndian.AppendUint16(nil, v)) }
func u32hex(v uint32) string {
	return hex.EncodeToString(binary.NativeEndian.AppendUint32(nil, v))
}
func strzhex(s string) string { return hex.EncodeToString(append([]byte(s), 0)) }

// at names an attribute by its path of types from the top level.
func at(types ...int) string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = fmt.Sprint(t)
	}
	return strings.Join(s, "/")
}

const (
	linkinfo = unix.IFLA_LINKINFO
	infoData = unix.IFLA_INFO_DATA
	afSpec   = unix.IFLA_AF_SPEC
)

// vlanLines is what vlanInfo(parent, proto, id) must encode.
func vlanLines(parent uint32, proto, id uint16) []string {
	flags := u32hex(vlanFlagReorderHdr|vlanFlagLooseBinding) + u32hex(vlanFlagReorderHdr|vlanFlagLooseBinding)
	return []string{
		at(unix.IFLA_LINK) + " = " + u32hex(parent),
		at(linkinfo) + " {",
		at(linkinfo, unix.IFLA_INFO_KIND) + " = " + strzhex("vlan"),
		at(linkinfo, infoData) + " {",
		at(linkinfo, infoData, unix.IFLA_VLAN_ID) + " = " + u16hex(id),
		at(linkinfo, infoData, unix.IFLA_VLAN_PROTOCOL) + " = " + be16hex(proto),
		// struct ifla_vlan_flags {flags, mask}: reorder_hdr and
		// loose_binding set, nothing else touched.
		at(linkinfo, infoData, unix.IFLA_VLAN_FLAGS) + " = " + flags,
	}
}

// bridgeLines is what bridgeInfo(ageing, mask) must encode: STP off,
// multicast snooping off, ageing in clock_t (1/100 s), the forward mask.
func bridgeLines(ageingTicks uint32, mask uint16) []string {
	return []string{
		at(linkinfo) + " {",
		at(linkinfo, unix.IFLA_INFO_KIND) + " = " + strzhex("bridge"),
		at(linkinfo, infoData) + " {",
		at(linkinfo, infoData, unix.IFLA_BR_STP_STATE) + " = " + u32hex(0),
		at(linkinfo, infoData, unix.IFLA_BR_MCAST_SNOOPING) + " = " + u8hex(0),
		at(linkinfo, infoData, unix.IFLA_BR_AGEING_TIME) + " = " + u32hex(ageingTicks),
		at(linkinfo, infoData, unix.IFLA_BR_GROUP_FWD_MASK) + " = " + u16hex(mask),
	}
}

// noAddressLines is IPv6 addrgenmode none, nested in AF_SPEC / AF_INET6.
var noAddressLines = []string{
	at(afSpec) + " {",
	at(afSpec, unix.AF_INET6) + " {",
	at(afSpec, unix.AF_INET6, unix.IFLA_INET6_ADDR_GEN_MODE) + " = " + u8hex(addrGenModeNone),
}

func cat(parts ...[]string) []string { return slices.Concat(parts...) }

func TestRequests(t *testing.T) {
	const owner, doomed = plan.OwnerGroup, plan.DoomedGroup
	for _, tc := range []struct {
		name   string
		req    Request
		typ    uint16
		flags  uint16
		hdr    ifinfomsg
		attrs  []string
		doneOK syscall.Errno // an errno Exec treats as done
	}{
		{
			name:  "create S-tag vlan 802.1ad",
			req:   create(7, "eth0.s100", owner, 1500, vlanInfo(3, uint16(config.Dot1AD), 100), "x"),
			typ:   unix.RTM_NEWLINK,
			flags: unix.NLM_F_CREATE | unix.NLM_F_EXCL,
			hdr:   ifinfomsg{family: unix.AF_UNSPEC, index: 7},
			attrs: cat([]string{
				at(unix.IFLA_IFNAME) + " = " + strzhex("eth0.s100"),
				at(unix.IFLA_GROUP) + " = " + u32hex(owner),
				at(unix.IFLA_MTU) + " = " + u32hex(1500),
			}, vlanLines(3, 0x88a8, 100)),
		},
		{
			name:  "create C-tag vlan 802.1Q, automatic mtu, id 4094",
			req:   create(8, "eth0.s100.4094", owner, 0, vlanInfo(7, uint16(config.Dot1Q), 4094), "x"),
			typ:   unix.RTM_NEWLINK,
			flags: unix.NLM_F_CREATE | unix.NLM_F_EXCL,
			hdr:   ifinfomsg{index: 8},
			attrs: cat([]string{
				at(unix.IFLA_IFNAME) + " = " + strzhex("eth0.s100.4094"),
				at(unix.IFLA_GROUP) + " = " + u32hex(owner),
			}, vlanLines(7, 0x8100, 4094)),
		},
		{
			name:  "create bridge port: vlan with its master in the same message",
			req:   create(9, "eth1.300", owner, 1496, vlanInfo(2, uint16(config.Dot1Q), 300).u32(ifMaster, 12), "x"),
			typ:   unix.RTM_NEWLINK,
			flags: unix.NLM_F_CREATE | unix.NLM_F_EXCL,
			hdr:   ifinfomsg{index: 9},
			attrs: cat([]string{
				at(unix.IFLA_IFNAME) + " = " + strzhex("eth1.300"),
				at(unix.IFLA_GROUP) + " = " + u32hex(owner),
				at(unix.IFLA_MTU) + " = " + u32hex(1496),
			}, vlanLines(2, 0x8100, 300), []string{at(unix.IFLA_MASTER) + " = " + u32hex(12)}),
		},
		{
			name:  "create bridge, default ageing 300 s",
			req:   create(12, "br-vps-bm", owner, 1496, bridgeInfo(300*time.Second, plan.GroupFwdMask), "x"),
			typ:   unix.RTM_NEWLINK,
			flags: unix.NLM_F_CREATE | unix.NLM_F_EXCL,
			hdr:   ifinfomsg{index: 12},
			attrs: cat([]string{
				at(unix.IFLA_IFNAME) + " = " + strzhex("br-vps-bm"),
				at(unix.IFLA_GROUP) + " = " + u32hex(owner),
				at(unix.IFLA_MTU) + " = " + u32hex(1496),
			}, bridgeLines(30000, 0xfff8)),
		},
		{
			name:  "modify bridge: ageing 0 (a hub), another mask",
			req:   set(12, bridgeInfo(0, 0), "x"),
			typ:   unix.RTM_NEWLINK,
			hdr:   ifinfomsg{index: 12},
			attrs: bridgeLines(0, 0),
		},
		{
			name:  "modify bridge: ageing 1 s is 100 clock ticks",
			req:   set(12, bridgeInfo(time.Second, 0x4000), "x"),
			typ:   unix.RTM_NEWLINK,
			hdr:   ifinfomsg{index: 12},
			attrs: bridgeLines(100, 0x4000),
		},
		{
			name:  "modify bridge: ageing 1000000 s",
			req:   set(12, bridgeInfo(1000000*time.Second, plan.GroupFwdMask), "x"),
			typ:   unix.RTM_NEWLINK,
			hdr:   ifinfomsg{index: 12},
			attrs: bridgeLines(100000000, 0xfff8),
		},
		{
			name:  "configure after create: no IPv6 addresses, alias",
			req:   set(9, noAddresses().str(ifAlias, "qinqbridge vps-bm b"), "x"),
			typ:   unix.RTM_NEWLINK,
			hdr:   ifinfomsg{index: 9},
			attrs: cat(noAddressLines, []string{at(unix.IFLA_IFALIAS) + " = " + strzhex("qinqbridge vps-bm b")}),
		},
		{
			name:  "mark for deletion: the doomed group",
			req:   set(9, attrs(nil).u32(ifGroup, doomed), "x"),
			typ:   unix.RTM_NEWLINK,
			hdr:   ifinfomsg{index: 9},
			attrs: []string{at(unix.IFLA_GROUP) + " = " + u32hex(doomed)},
		},
		{
			name: "modify: group back, mtu, master released",
			req:  set(9, attrs(nil).u32(ifGroup, owner).u32(ifMTU, 1400).u32(ifMaster, 0), "x"),
			typ:  unix.RTM_NEWLINK,
			hdr:  ifinfomsg{index: 9},
			attrs: []string{
				at(unix.IFLA_GROUP) + " = " + u32hex(owner),
				at(unix.IFLA_MTU) + " = " + u32hex(1400),
				at(unix.IFLA_MASTER) + " = " + u32hex(0),
			},
		},
		{
			name: "set up: IFF_UP in flags and change, nothing else",
			req:  up(9, "x"),
			typ:  unix.RTM_NEWLINK,
			hdr:  ifinfomsg{index: 9, flags: unix.IFF_UP, change: unix.IFF_UP},
		},
		{
			name:   "delete the doomed group: no index, the group; an empty group is done",
			req:    deleteGroup(doomed, "x"),
			typ:    unix.RTM_DELLINK,
			hdr:    ifinfomsg{},
			attrs:  []string{at(unix.IFLA_GROUP) + " = " + u32hex(doomed)},
			doneOK: unix.ENODEV,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.Type != tc.typ || tc.req.Flags != tc.flags {
				t.Errorf("type %d flags %#x, want %d %#x (Exec adds REQUEST|ACK)", tc.req.Type, tc.req.Flags, tc.typ, tc.flags)
			}
			if tc.req.Done != tc.doneOK {
				t.Errorf("done errno %v, want %v", tc.req.Done, tc.doneOK)
			}
			if tc.req.What != "x" {
				t.Errorf("what %q", tc.req.What)
			}
			h, got := decodeLinkRequest(t, tc.req.Body)
			if h != tc.hdr {
				t.Errorf("ifinfomsg %+v, want %+v", h, tc.hdr)
			}
			if !slices.Equal(got, tc.attrs) {
				t.Errorf("attributes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.attrs, "\n  "))
			}
		})
	}
}

// Strings of every length modulo 4 are NUL-terminated and padded, so the
// attribute after them is where the decoder looks for it.
func TestStringAttrPadding(t *testing.T) {
	for _, s := range []string{"", "a", "ab", "abc", "abcd", "enp129s0f1np1"} {
		body := set(1, attrs(nil).str(ifAlias, s).u32(ifGroup, 42), "x").Body
		if (len(body)-unix.SizeofIfInfomsg)%4 != 0 {
			t.Errorf("%q: attributes of %d bytes, not 4-aligned", s, len(body)-unix.SizeofIfInfomsg)
		}
		_, got := decodeLinkRequest(t, body)
		want := []string{at(unix.IFLA_IFALIAS) + " = " + strzhex(s), at(unix.IFLA_GROUP) + " = " + u32hex(42)}
		if !slices.Equal(got, want) {
			t.Errorf("%q: %q, want %q", s, got, want)
		}
	}
}

func TestDumpLinksRequest(t *testing.T) {
	for _, tc := range []struct {
		stats bool
		attrs []string
	}{
		{false, []string{at(unix.IFLA_EXT_MASK) + " = " + u32hex(1<<3)}}, // RTEXT_FILTER_SKIP_STATS
		{true, nil},
	} {
		h, got := decodeLinkRequest(t, dumpLinks(tc.stats))
		if h != (ifinfomsg{}) || !slices.Equal(got, tc.attrs) {
			t.Errorf("stats=%v: %+v %q, want an empty ifinfomsg and %q", tc.stats, h, got, tc.attrs)
		}
	}
}

// appendMsg frames requests the way the kernel (and syscall's parser)
// reads them: back to back, each length-prefixed and 4-aligned.
func TestAppendMsg(t *testing.T) {
	bodies := [][]byte{up(3, "x").Body, {1, 2, 3}, {}, dumpLinks(false), {9}}
	var b []byte
	for i, body := range bodies {
		b = appendMsg(b, unix.RTM_NEWLINK+uint16(i), unix.NLM_F_REQUEST|unix.NLM_F_ACK, uint32(100+i), body)
		if len(b)%4 != 0 {
			t.Fatalf("after message %d: %d bytes, not 4-aligned", i, len(b))
		}
	}
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(bodies) {
		t.Fatalf("%d messages, want %d", len(msgs), len(bodies))
	}
	for i, m := range msgs {
		h := m.Header
		if h.Len != uint32(unix.NLMSG_HDRLEN+len(bodies[i])) || h.Type != unix.RTM_NEWLINK+uint16(i) ||
			h.Flags != unix.NLM_F_REQUEST|unix.NLM_F_ACK || h.Seq != uint32(100+i) || h.Pid != 0 {
			t.Errorf("message %d: header %+v", i, h)
		}
		if string(m.Data[:len(bodies[i])]) != string(bodies[i]) {
			t.Errorf("message %d: body % x, want % x", i, m.Data, bodies[i])
		}
	}
}

// What a create request carries reads back, through the parser of the
// kernel's link dumps, as the link that was wanted: the two agree on every
// attribute the planner compares.
func TestCreateReadsBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  Request
		want plan.Observed
	}{
		{"vlan 802.1ad", create(7, "eth0.s100", plan.OwnerGroup, 1500, vlanInfo(3, uint16(config.Dot1AD), 100), "x"),
			plan.Observed{Index: 7, Name: "eth0.s100", Kind: "vlan", ParentIndex: 3, Proto: config.Dot1AD, ID: 100, MTU: 1500, Group: plan.OwnerGroup}},
		{"vlan 802.1Q port", create(9, "eth1.300", plan.OwnerGroup, 1496, vlanInfo(2, uint16(config.Dot1Q), 300).u32(ifMaster, 12), "x"),
			plan.Observed{Index: 9, Name: "eth1.300", Kind: "vlan", ParentIndex: 2, Proto: config.Dot1Q, ID: 300, MasterIndex: 12, MTU: 1496, Group: plan.OwnerGroup}},
		{"bridge", create(12, "br-x", plan.OwnerGroup, 1496, bridgeInfo(42*time.Second, plan.GroupFwdMask), "x"),
			plan.Observed{Index: 12, Name: "br-x", Kind: "bridge", MTU: 1496, Group: plan.OwnerGroup, Ageing: 42 * time.Second, GroupFwdMask: plan.GroupFwdMask}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseLink(tc.req.Body)
			if err != nil {
				t.Fatal(err)
			}
			if *o != tc.want {
				t.Errorf("read back %+v\nwant      %+v", *o, tc.want)
			}
		})
	}
}
