package kernel

import (
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// The link attributes netlink.LinkDeserialize does not expose, read by
// hand with the library's attribute walker (nl.ParseRouteAttr): the
// rtnetlink kind of every link, a bridge's STP state, IPv6 addrgenmode.
// Along with batch.go and tcguard/tcminfo.go, the only netlink coding
// written here (test/netlink-gates counts it).

// observeRest fills in the attributes netlink.LinkDeserialize leaves out,
// in one pass over the top-level attributes (a map of them per link cost a
// third more on a dump of 12,000 links).
func observeRest(o *plan.Observed, b []byte) error {
	top, err := nl.ParseRouteAttr(b)
	if err != nil {
		return err
	}
	for _, t := range top {
		switch t.Attr.Type &^ unix.NLA_F_NESTED {
		case unix.IFLA_LINKINFO:
			nested(t.Value, unix.IFLA_INFO_KIND, func(v []byte) bool { o.Kind = unix.ByteSliceToString(v); return true })
			o.STP = o.Kind == string(plan.Bridge) && nested(t.Value, unix.IFLA_INFO_DATA, func(v []byte) bool {
				return nested(v, unix.IFLA_BR_STP_STATE, func(v []byte) bool { return len(v) >= 4 && nl.NativeEndian().Uint32(v) != 0 })
			})
		case unix.IFLA_AF_SPEC:
			o.AddrGenNone = nested(t.Value, unix.AF_INET6, func(v []byte) bool {
				return nested(v, unix.IFLA_INET6_ADDR_GEN_MODE, func(v []byte) bool { return len(v) >= 1 && v[0] == addrGenModeNone })
			})
		}
	}
	return nil
}

// nested applies f to the value of attribute typ in b; false if it is absent
// or b does not parse.
func nested(b []byte, typ uint16, f func(v []byte) bool) bool {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return false
	}
	for _, a := range attrs {
		if a.Attr.Type&^unix.NLA_F_NESTED == typ {
			return f(a.Value)
		}
	}
	return false
}
