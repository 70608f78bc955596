package kernel

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
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

// VLAN_FLAG_REORDER_HDR | VLAN_FLAG_LOOSE_BINDING, from if_vlan.h.
const vlanFlags = 1 | 4

// vlanLines is what a VLAN create must encode after its other attributes.
func vlanLines(parent uint32, proto, id uint16) []string {
	flags := u32hex(vlanFlags) + u32hex(vlanFlags)
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

// wire is r as it goes out: the netlink header's type and flags, and the
// body after it.
func wire(t *testing.T, r Request) (typ, flags uint16, body []byte) {
	t.Helper()
	m, err := r.netlink()
	if err != nil {
		t.Fatal(err)
	}
	m.Seq = 77
	b := m.Serialize()
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d messages (%v) in % x", len(msgs), err, b)
	}
	h := msgs[0].Header
	if int(h.Len) != len(b) || len(b)%4 != 0 || h.Seq != 77 {
		t.Errorf("header %+v for %d bytes", h, len(b))
	}
	return h.Type, h.Flags, msgs[0].Data
}

func create(index int, name string, group uint32, mtu int, v VLAN, master *int, what string) Request {
	return Request{Op: OpCreate, Index: index, Name: name, Kind: plan.VLAN, VLAN: v,
		Attrs: Attrs{Group: group, MTU: mtu, Master: master}, What: what}
}

func createBridge(index int, name string, group uint32, mtu int, b BridgeSettings, what string) Request {
	return Request{Op: OpCreate, Index: index, Name: name, Kind: plan.Bridge,
		Attrs: Attrs{Group: group, MTU: mtu, Bridge: &b}, What: what}
}

func TestRequests(t *testing.T) {
	const owner, doomed = defaults.OwnerGroup, defaults.DoomedGroup
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
			req:   create(7, "eth0.s100", owner, 1500, VLAN{3, config.Dot1AD, 100}, nil, "x"),
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
			req:   create(8, "eth0.s100.4094", owner, 0, VLAN{7, config.Dot1Q, 4094}, nil, "x"),
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
			req:   create(9, "eth1.300", owner, 1496, VLAN{2, config.Dot1Q, 300}, ptr(12), "x"),
			typ:   unix.RTM_NEWLINK,
			flags: unix.NLM_F_CREATE | unix.NLM_F_EXCL,
			hdr:   ifinfomsg{index: 9},
			attrs: cat([]string{
				at(unix.IFLA_IFNAME) + " = " + strzhex("eth1.300"),
				at(unix.IFLA_GROUP) + " = " + u32hex(owner),
				at(unix.IFLA_MTU) + " = " + u32hex(1496),
				at(unix.IFLA_MASTER) + " = " + u32hex(12),
			}, vlanLines(2, 0x8100, 300)),
		},
		{
			name:  "create bridge, default ageing 300 s",
			req:   createBridge(12, "br-vps-bm", owner, 1496, BridgeSettings{300 * time.Second, plan.GroupFwdMask}, "x"),
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
			req:   set(12, Attrs{Bridge: &BridgeSettings{0, 0}}, "x"),
			typ:   unix.RTM_NEWLINK,
			hdr:   ifinfomsg{index: 12},
			attrs: bridgeLines(0, 0),
		},
		{
			name:  "modify bridge: ageing 1 s is 100 clock ticks",
			req:   set(12, Attrs{Bridge: &BridgeSettings{time.Second, 0x4000}}, "x"),
			typ:   unix.RTM_NEWLINK,
			hdr:   ifinfomsg{index: 12},
			attrs: bridgeLines(100, 0x4000),
		},
		{
			name:  "modify bridge: ageing 1000000 s",
			req:   set(12, Attrs{Bridge: &BridgeSettings{1000000 * time.Second, plan.GroupFwdMask}}, "x"),
			typ:   unix.RTM_NEWLINK,
			hdr:   ifinfomsg{index: 12},
			attrs: bridgeLines(100000000, 0xfff8),
		},
		{
			name:  "configure after create: no IPv6 addresses, alias",
			req:   set(9, Attrs{NoAddresses: true, Alias: "qinqbridge vps-bm b"}, "x"),
			typ:   unix.RTM_NEWLINK,
			hdr:   ifinfomsg{index: 9},
			attrs: cat(noAddressLines, []string{at(unix.IFLA_IFALIAS) + " = " + strzhex("qinqbridge vps-bm b")}),
		},
		{
			name:  "mark for deletion: the doomed group",
			req:   set(9, Attrs{Group: doomed}, "x"),
			typ:   unix.RTM_NEWLINK,
			hdr:   ifinfomsg{index: 9},
			attrs: []string{at(unix.IFLA_GROUP) + " = " + u32hex(doomed)},
		},
		{
			name: "modify: group back, mtu, master released",
			req:  set(9, Attrs{Group: owner, MTU: 1400, Master: ptr(0)}, "x"),
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
			req:  Request{Op: OpUp, Index: 9, What: "x"},
			typ:  unix.RTM_NEWLINK,
			hdr:  ifinfomsg{index: 9, flags: unix.IFF_UP, change: unix.IFF_UP},
		},
		{
			name: "set down: IFF_UP in change only",
			req:  Request{Op: OpDown, Index: 9, What: "x"},
			typ:  unix.RTM_NEWLINK,
			hdr:  ifinfomsg{index: 9, change: unix.IFF_UP},
		},
		{
			name:   "delete one link: its index, nothing else",
			req:    Request{Op: OpDelete, Index: 9, What: "x", Done: unix.ENODEV},
			typ:    unix.RTM_DELLINK,
			hdr:    ifinfomsg{index: 9},
			doneOK: unix.ENODEV,
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
			typ, flags, body := wire(t, tc.req)
			if want := tc.flags | unix.NLM_F_REQUEST | unix.NLM_F_ACK; typ != tc.typ || flags != want {
				t.Errorf("type %d flags %#x, want %d %#x", typ, flags, tc.typ, want)
			}
			if tc.req.Done != tc.doneOK {
				t.Errorf("done errno %v, want %v", tc.req.Done, tc.doneOK)
			}
			if tc.req.What != "x" {
				t.Errorf("what %q", tc.req.What)
			}
			h, got := decodeLinkRequest(t, body)
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
		_, _, body := wire(t, Request{Op: OpCreate, Name: s, Kind: plan.Bridge, Attrs: Attrs{Group: 42, Bridge: &BridgeSettings{}}})
		if (len(body)-unix.SizeofIfInfomsg)%4 != 0 {
			t.Errorf("%q: attributes of %d bytes, not 4-aligned", s, len(body)-unix.SizeofIfInfomsg)
		}
		_, got := decodeLinkRequest(t, body)
		want := cat([]string{at(unix.IFLA_IFNAME) + " = " + strzhex(s), at(unix.IFLA_GROUP) + " = " + u32hex(42)}, bridgeLines(0, 0))
		if !slices.Equal(got, want) {
			t.Errorf("%q: %q, want %q", s, got, want)
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
		{"vlan 802.1ad", create(7, "eth0.s100", defaults.OwnerGroup, 1500, VLAN{3, config.Dot1AD, 100}, nil, "x"),
			plan.Observed{Index: 7, Name: "eth0.s100", Kind: "vlan", ParentIndex: 3, Proto: config.Dot1AD, ID: 100, MTU: 1500, Group: defaults.OwnerGroup}},
		{"vlan 802.1Q port", create(9, "eth1.300", defaults.OwnerGroup, 1496, VLAN{2, config.Dot1Q, 300}, ptr(12), "x"),
			plan.Observed{Index: 9, Name: "eth1.300", Kind: "vlan", ParentIndex: 2, Proto: config.Dot1Q, ID: 300, MasterIndex: 12, MTU: 1496, Group: defaults.OwnerGroup}},
		{"bridge", createBridge(12, "br-x", defaults.OwnerGroup, 1496, BridgeSettings{42 * time.Second, plan.GroupFwdMask}, "x"),
			plan.Observed{Index: 12, Name: "br-x", Kind: "bridge", MTU: 1496, Group: defaults.OwnerGroup, Ageing: 42 * time.Second, GroupFwdMask: plan.GroupFwdMask}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, body := wire(t, tc.req)
			unflagNests(body[unix.SizeofIfInfomsg:])
			o, err := observe(body, false)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*o, tc.want) {
				t.Errorf("read back %+v\nwant      %+v", *o, tc.want)
			}
		})
	}
}

// unflagNests clears NLA_F_NESTED in the attributes of b, recursively, in
// place: the kernel's link dumps (rtnl_fill_ifinfo) start their nests
// without the flag, which the kernel's strict parsers want in requests.
func unflagNests(b []byte) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			return
		}
		if typ := binary.NativeEndian.Uint16(b[2:]); typ&unix.NLA_F_NESTED != 0 {
			binary.NativeEndian.PutUint16(b[2:], typ&^unix.NLA_F_NESTED)
			unflagNests(b[4:l])
		}
		b = b[min((l+3)&^3, len(b)):]
	}
}
