package kernel

import (
	"fmt"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// Constants the x/sys/unix package does not carry.
const (
	addrGenModeNone = 1 // IN6_ADDR_GEN_MODE_NONE
	operUp          = 6 // IF_OPER_UP (RFC 2863)
)

// netlink translates r into the rtnetlink message the kernel takes for it.
// Exec sets the sequence number.
func (r Request) netlink() (*nl.NetlinkRequest, error) {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(r.Index)
	typ, flags := unix.RTM_NEWLINK, unix.NLM_F_ACK
	var attrs []*nl.RtAttr
	switch r.Op {
	case OpCreate:
		// At a chosen ifindex, so that one pipelined window creates a
		// parent and its children (IFLA_LINK and IFLA_MASTER need
		// indexes) without a round trip per link; down (no IFF_UP), so
		// that a port is bound to the guard before it comes up; group,
		// MTU and master in the same message, not as later requests.
		flags |= unix.NLM_F_CREATE | unix.NLM_F_EXCL
		attrs = append([]*nl.RtAttr{nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(r.Name))}, r.Attrs.netlink()...)
		switch {
		case r.Kind == plan.VLAN && r.Attrs.Bridge == nil:
			attrs = append(attrs, nl.NewRtAttr(unix.IFLA_LINK, nl.Uint32Attr(uint32(r.VLAN.Parent))), vlanInfo(r.VLAN))
		case r.Kind == plan.Bridge && r.Attrs.Bridge != nil:
		default:
			return nil, fmt.Errorf("%s: a %q link with bridge settings %v", r.What, r.Kind, r.Attrs.Bridge)
		}
	case OpSet:
		attrs = r.Attrs.netlink()
	case OpUp:
		msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	case OpDown:
		msg.Change = unix.IFF_UP
	case OpPromiscOn:
		msg.Flags, msg.Change = unix.IFF_PROMISC, unix.IFF_PROMISC
	case OpPromiscOff:
		msg.Change = unix.IFF_PROMISC
	case OpDelete:
		typ = unix.RTM_DELLINK
	case OpDeleteGroup:
		// No index: the kernel deletes every link of the group in one
		// batch (see delete.go).
		typ = unix.RTM_DELLINK
		msg.Index = 0
		attrs = append(attrs, nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(r.Group)))
	default:
		return nil, fmt.Errorf("%s: unknown request %d", r.What, r.Op)
	}
	req := nl.NewNetlinkRequest(typ, flags)
	req.AddData(msg)
	for _, a := range attrs {
		req.AddData(a)
	}
	return req, nil
}

// netlink is the attributes a create or set request carries, in the order
// group, mtu, master, bridge settings, IPv6, alias.
func (a Attrs) netlink() []*nl.RtAttr {
	var out []*nl.RtAttr
	if a.Group != 0 {
		out = append(out, nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(a.Group)))
	}
	if a.MTU > 0 {
		out = append(out, nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(a.MTU))))
	}
	if a.Master != nil {
		out = append(out, nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(*a.Master))))
	}
	if a.Bridge != nil {
		out = append(out, bridgeInfo(*a.Bridge))
	}
	if a.NoAddresses {
		// IPv6 must not generate a link-local address: a translator
		// link has no addresses and sends nothing of its own (no DAD,
		// no MLD).
		spec := nl.NewRtAttr(unix.IFLA_AF_SPEC|unix.NLA_F_NESTED, nil)
		spec.AddRtAttr(unix.AF_INET6|unix.NLA_F_NESTED, nil).AddRtAttr(unix.IFLA_INET6_ADDR_GEN_MODE, nl.Uint8Attr(addrGenModeNone))
		out = append(out, spec)
	}
	if a.Alias != "" {
		out = append(out, nl.NewRtAttr(unix.IFLA_IFALIAS, nl.ZeroTerminated(a.Alias)))
	}
	return out
}

// vlanInfo describes a VLAN link. Loose binding keeps its admin state ours:
// without it the kernel refuses to set a VLAN up while its parent is down and
// sets it down whenever the parent goes down; the oper state still follows
// the parent's carrier.
func vlanInfo(v VLAN) *nl.RtAttr {
	const flags = nl.VLAN_FLAG_REORDER_HDR | nl.VLAN_FLAG_LOOSE_BINDING
	info := nl.NewRtAttr(unix.IFLA_LINKINFO|unix.NLA_F_NESTED, nil)
	info.AddRtAttr(unix.IFLA_INFO_KIND, nl.ZeroTerminated("vlan"))
	data := info.AddRtAttr(unix.IFLA_INFO_DATA|unix.NLA_F_NESTED, nil)
	data.AddRtAttr(unix.IFLA_VLAN_ID, nl.Uint16Attr(v.ID))
	data.AddRtAttr(unix.IFLA_VLAN_PROTOCOL, nl.BEUint16Attr(uint16(v.Proto)))
	// struct ifla_vlan_flags {flags, mask}: nothing else touched.
	data.AddRtAttr(unix.IFLA_VLAN_FLAGS, append(nl.Uint32Attr(flags), nl.Uint32Attr(flags)...))
	return info
}

// bridgeInfo is a bridge's settings (ageing in clock_t, USER_HZ=100).
func bridgeInfo(b BridgeSettings) *nl.RtAttr {
	info := nl.NewRtAttr(unix.IFLA_LINKINFO|unix.NLA_F_NESTED, nil)
	info.AddRtAttr(unix.IFLA_INFO_KIND, nl.ZeroTerminated("bridge"))
	data := info.AddRtAttr(unix.IFLA_INFO_DATA|unix.NLA_F_NESTED, nil)
	data.AddRtAttr(unix.IFLA_BR_STP_STATE, nl.Uint32Attr(0))
	data.AddRtAttr(unix.IFLA_BR_MCAST_SNOOPING, nl.Uint8Attr(0))
	data.AddRtAttr(unix.IFLA_BR_AGEING_TIME, nl.Uint32Attr(uint32(b.Ageing/(10*time.Millisecond))))
	data.AddRtAttr(unix.IFLA_BR_GROUP_FWD_MASK, nl.Uint16Attr(b.GroupFwdMask))
	return info
}
