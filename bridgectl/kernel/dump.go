package kernel

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// Links reads every link of the namespace with one dump. Statistics are
// skipped unless asked for: they are most of a link message and only status
// shows them.
func (c *Conn) Links(stats bool) ([]*plan.Observed, error) {
	var out []*plan.Observed
	err := c.Dump(unix.RTM_GETLINK, dumpLinks(stats), func(m syscall.NetlinkMessage) error {
		if m.Header.Type != unix.RTM_NEWLINK {
			return nil
		}
		o, err := parseLink(m.Data)
		if err != nil {
			return err
		}
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read links: %w", err)
	}
	return out, nil
}

// forEachAttr calls f for each attribute in b.
func forEachAttr(b []byte, f func(typ uint16, v []byte)) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			return
		}
		f(binary.NativeEndian.Uint16(b[2:])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER), b[4:l])
		b = b[min((l+3)&^3, len(b)):]
	}
}

func u32(v []byte) uint32 {
	if len(v) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(v)
}

func u16(v []byte) uint16 {
	if len(v) < 2 {
		return 0
	}
	return binary.NativeEndian.Uint16(v)
}

func u8(v []byte) uint8 {
	if len(v) < 1 {
		return 0
	}
	return v[0]
}

func str(v []byte) string {
	for len(v) > 0 && v[len(v)-1] == 0 {
		v = v[:len(v)-1]
	}
	return string(v)
}

// parseLink decodes one RTM_NEWLINK message body.
func parseLink(b []byte) (*plan.Observed, error) {
	if len(b) < unix.SizeofIfInfomsg {
		return nil, fmt.Errorf("short link message (%d bytes)", len(b))
	}
	o := &plan.Observed{
		Index: int(int32(binary.NativeEndian.Uint32(b[4:]))),
		Up:    binary.NativeEndian.Uint32(b[8:])&unix.IFF_UP != 0,
	}
	var link int
	var info, data []byte
	forEachAttr(b[unix.SizeofIfInfomsg:], func(t uint16, v []byte) {
		switch t {
		case unix.IFLA_IFNAME:
			o.Name = str(v)
		case unix.IFLA_MTU:
			o.MTU = int(u32(v))
		case unix.IFLA_LINK:
			link = int(u32(v))
		case unix.IFLA_MASTER:
			o.MasterIndex = int(u32(v))
		case unix.IFLA_OPERSTATE:
			o.OperUp = u8(v) == operUp
		case unix.IFLA_IFALIAS:
			o.Alias = str(v)
		case unix.IFLA_GROUP:
			o.Group = u32(v)
		case unix.IFLA_LINKINFO:
			info = v
		case unix.IFLA_STATS64:
			// struct rtnl_link_stats64 starts rx_packets, tx_packets, rx_bytes, tx_bytes.
			if len(v) >= 32 {
				o.RxPackets = binary.NativeEndian.Uint64(v)
				o.TxPackets = binary.NativeEndian.Uint64(v[8:])
				o.RxBytes = binary.NativeEndian.Uint64(v[16:])
				o.TxBytes = binary.NativeEndian.Uint64(v[24:])
			}
		case unix.IFLA_AF_SPEC:
			forEachAttr(v, func(af uint16, v []byte) {
				if af == unix.AF_INET6 {
					forEachAttr(v, func(t uint16, v []byte) {
						if t == unix.IFLA_INET6_ADDR_GEN_MODE {
							o.AddrGenNone = u8(v) == addrGenModeNone
						}
					})
				}
			})
		}
	})
	forEachAttr(info, func(t uint16, v []byte) {
		switch t {
		case unix.IFLA_INFO_KIND:
			o.Kind = str(v)
		case unix.IFLA_INFO_DATA:
			data = v
		}
	})
	switch o.Kind {
	case "vlan":
		o.ParentIndex = link
		forEachAttr(data, func(t uint16, v []byte) {
			switch t {
			case unix.IFLA_VLAN_ID:
				o.ID = u16(v)
			case unix.IFLA_VLAN_PROTOCOL:
				if len(v) >= 2 {
					o.Proto = config.Proto(binary.BigEndian.Uint16(v))
				}
			}
		})
	case "bridge":
		forEachAttr(data, func(t uint16, v []byte) {
			switch t {
			case unix.IFLA_BR_STP_STATE:
				o.STP = u32(v) != 0
			case unix.IFLA_BR_MCAST_SNOOPING:
				o.McastSnoop = u8(v) != 0
			case unix.IFLA_BR_AGEING_TIME:
				o.Ageing = time.Duration(u32(v)) * 10 * time.Millisecond
			case unix.IFLA_BR_GROUP_FWD_MASK:
				o.GroupFwdMask = u16(v)
			}
		})
	}
	if o.Name == "" {
		return nil, fmt.Errorf("link %d without a name", o.Index)
	}
	return o, nil
}
