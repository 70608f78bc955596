package kernel

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
)

// Constants the x/sys/unix package does not carry.
const (
	rtextFilterSkipStats = 1 << 3 // RTEXT_FILTER_SKIP_STATS
	addrGenModeNone      = 1      // IN6_ADDR_GEN_MODE_NONE
	vlanFlagReorderHdr   = 1      // VLAN_FLAG_REORDER_HDR
	vlanFlagLooseBinding = 4      // VLAN_FLAG_LOOSE_BINDING
	operUp               = 6      // IF_OPER_UP (RFC 2863)
)

// attrs builds a netlink attribute list.
type attrs []byte

func (a attrs) raw(typ uint16, v []byte) attrs {
	a = binary.NativeEndian.AppendUint16(a, uint16(4+len(v)))
	a = binary.NativeEndian.AppendUint16(a, typ)
	a = append(a, v...)
	for len(a)%4 != 0 {
		a = append(a, 0)
	}
	return a
}

func (a attrs) u8(typ uint16, v uint8) attrs { return a.raw(typ, []byte{v}) }
func (a attrs) u16(typ uint16, v uint16) attrs {
	return a.raw(typ, binary.NativeEndian.AppendUint16(nil, v))
}
func (a attrs) be16(typ uint16, v uint16) attrs {
	return a.raw(typ, binary.BigEndian.AppendUint16(nil, v))
}
func (a attrs) u32(typ uint16, v uint32) attrs {
	return a.raw(typ, binary.NativeEndian.AppendUint32(nil, v))
}
func (a attrs) str(typ uint16, s string) attrs { return a.raw(typ, append([]byte(s), 0)) }
func (a attrs) nest(typ uint16, inner attrs) attrs {
	return a.raw(typ|unix.NLA_F_NESTED, inner)
}

// ifinfo is struct ifinfomsg followed by attributes.
func ifinfo(index int, flags, change uint32, a attrs) []byte {
	b := make([]byte, unix.SizeofIfInfomsg, unix.SizeofIfInfomsg+len(a))
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(int32(index)))
	binary.NativeEndian.PutUint32(b[8:], flags)
	binary.NativeEndian.PutUint32(b[12:], change)
	return append(b, a...)
}

// create builds RTM_NEWLINK for a new link at a chosen ifindex. Choosing the
// index lets one pipelined batch create a parent and its children (IFLA_LINK
// and IFLA_MASTER need indexes) without a round trip per link.
func create(index int, name string, group uint32, mtu int, a attrs, what string) Request {
	head := attrs(nil).str(unix.IFLA_IFNAME, name).u32(unix.IFLA_GROUP, group)
	if mtu > 0 {
		head = head.u32(unix.IFLA_MTU, uint32(mtu))
	}
	return Request{Type: unix.RTM_NEWLINK, Flags: unix.NLM_F_CREATE | unix.NLM_F_EXCL,
		Body: ifinfo(index, 0, 0, append(head, a...)), What: what}
}

// vlanInfo describes a VLAN link. Loose binding keeps its admin state ours:
// without it the kernel refuses to set a VLAN up while its parent is down and
// sets it down whenever the parent goes down; the oper state still follows
// the parent's carrier.
func vlanInfo(parent int, proto, id uint16) attrs {
	flags := binary.NativeEndian.AppendUint32(nil, vlanFlagReorderHdr|vlanFlagLooseBinding)  // flags
	flags = binary.NativeEndian.AppendUint32(flags, vlanFlagReorderHdr|vlanFlagLooseBinding) // mask
	data := attrs(nil).u16(unix.IFLA_VLAN_ID, id).be16(unix.IFLA_VLAN_PROTOCOL, proto).raw(unix.IFLA_VLAN_FLAGS, flags)
	info := attrs(nil).str(unix.IFLA_INFO_KIND, "vlan").nest(unix.IFLA_INFO_DATA, data)
	return attrs(nil).u32(unix.IFLA_LINK, uint32(parent)).nest(unix.IFLA_LINKINFO, info)
}

// bridgeInfo makes a transparent translator: no STP, no multicast snooping
// (it must not filter multicast), every forwardable link-local group passed.
func bridgeInfo(ageing time.Duration, fwdMask uint16) attrs {
	data := attrs(nil).
		u32(unix.IFLA_BR_STP_STATE, 0).
		u8(unix.IFLA_BR_MCAST_SNOOPING, 0).
		u32(unix.IFLA_BR_AGEING_TIME, uint32(ageing/(10*time.Millisecond))). // clock_t, USER_HZ=100
		u16(unix.IFLA_BR_GROUP_FWD_MASK, fwdMask)
	info := attrs(nil).str(unix.IFLA_INFO_KIND, "bridge").nest(unix.IFLA_INFO_DATA, data)
	return attrs(nil).nest(unix.IFLA_LINKINFO, info)
}

// noAddresses asks IPv6 not to generate a link-local address: a translator
// link has no addresses and must send nothing of its own (no DAD, no MLD).
// The kernel takes IFLA_AF_SPEC only on an existing link, so it goes with
// the alias in one set request right after the create.
func noAddresses() attrs {
	inet6 := attrs(nil).u8(unix.IFLA_INET6_ADDR_GEN_MODE, addrGenModeNone)
	return attrs(nil).nest(unix.IFLA_AF_SPEC, attrs(nil).nest(unix.AF_INET6, inet6))
}

// set builds RTM_NEWLINK (no create) changing attributes of link index.
func set(index int, a attrs, what string) Request {
	return Request{Type: unix.RTM_NEWLINK, Body: ifinfo(index, 0, 0, a), What: what}
}

// down clears IFF_UP on link index.
func down(index int, what string) Request {
	return Request{Type: unix.RTM_NEWLINK, Body: ifinfo(index, 0, unix.IFF_UP, nil), What: what}
}

// up sets IFF_UP on link index.
func up(index int, what string) Request {
	return Request{Type: unix.RTM_NEWLINK, Body: ifinfo(index, unix.IFF_UP, unix.IFF_UP, nil), What: what}
}

// deleteGroup deletes every link in a device group in one kernel batch. The
// kernel answers ENODEV for an empty group: nothing left to delete.
func deleteGroup(group uint32, what string) Request {
	return Request{Type: unix.RTM_DELLINK, Body: ifinfo(0, 0, 0, attrs(nil).u32(unix.IFLA_GROUP, group)), What: what, Done: unix.ENODEV}
}

// deleteLink deletes link index alone. The kernel answers ENODEV if it is
// gone already, e.g. with the parent it was stacked on: done.
func deleteLink(index int, what string) Request {
	return Request{Type: unix.RTM_DELLINK, Body: ifinfo(index, 0, 0, nil), What: what, Done: unix.ENODEV}
}

func dumpLinks(stats bool) []byte {
	if stats {
		return ifinfo(0, 0, 0, nil)
	}
	return ifinfo(0, 0, 0, attrs(nil).u32(unix.IFLA_EXT_MASK, rtextFilterSkipStats))
}

// Short names for the link attributes used in set requests.
const (
	ifGroup  = unix.IFLA_GROUP
	ifMTU    = unix.IFLA_MTU
	ifMaster = unix.IFLA_MASTER
	ifAlias  = unix.IFLA_IFALIAS
)
