package tcguard

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Kernel ABI constants that golang.org/x/sys/unix does not define, from
// include/uapi/linux/{rtnetlink,pkt_sched,pkt_cls,gen_stats}.h and
// tc_act/tc_gact.h.
const (
	tcHIngress      = 0xFFFFFFF1 // TC_H_INGRESS == TC_H_CLSACT: a device's ingress slot
	clsactHandle    = 0xFFFF0000 // ffff:, the handle tc(8) gives clsact/ingress
	magicBlock      = 0xFFFFFFFF // TCM_IFINDEX_MAGIC_BLOCK: tcm_parent is a block index
	tcmsgLen        = 20         // struct tcmsg
	tcaMatchallAct  = 2          // TCA_MATCHALL_ACT
	tcaActKind      = 1          // TCA_ACT_KIND
	tcaActOptions   = 2          // TCA_ACT_OPTIONS
	tcaActStats     = 4          // TCA_ACT_STATS
	tcaGactParms    = 2          // TCA_GACT_PARMS
	tcaStatsBasic   = 1          // TCA_STATS_BASIC: struct gnet_stats_basic
	tcaStatsPkt64   = 8          // TCA_STATS_PKT64: packets when they overflow u32
	tcActShot       = 2          // TC_ACT_SHOT
	tcGactLen       = 20         // struct tc_gact (tc_gen)
	gactActionOff   = 8          // offset of tc_gen.action
	actionListFirst = 1          // actions are nested under their order, from 1
)

// Kinds of the objects the guard creates.
const (
	kindClsact   = "clsact"
	kindMatchall = "matchall"
	kindGact     = "gact"
)

// tcmsg is struct tcmsg without its padding. For block filters ifindex is
// magicBlock and parent the block index.
type tcmsg struct {
	ifindex uint32
	handle  uint32
	parent  uint32
	info    uint32 // filters: priority << 16 | protocol (network order)
}

func (t tcmsg) marshal() []byte {
	b := make([]byte, tcmsgLen) // family AF_UNSPEC and padding stay zero
	binary.NativeEndian.PutUint32(b[4:], t.ifindex)
	binary.NativeEndian.PutUint32(b[8:], t.handle)
	binary.NativeEndian.PutUint32(b[12:], t.parent)
	binary.NativeEndian.PutUint32(b[16:], t.info)
	return b
}

func parseTcmsg(b []byte) (tcmsg, []byte, error) {
	if len(b) < tcmsgLen {
		return tcmsg{}, nil, fmt.Errorf("tc message of %d bytes, shorter than struct tcmsg", len(b))
	}
	return tcmsg{
		ifindex: binary.NativeEndian.Uint32(b[4:]),
		handle:  binary.NativeEndian.Uint32(b[8:]),
		parent:  binary.NativeEndian.Uint32(b[12:]),
		info:    binary.NativeEndian.Uint32(b[16:]),
	}, b[tcmsgLen:], nil
}

// htons converts a host-order 16-bit value to network order, as the
// protocol half of tcm_info expects.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// filterInfo is tcm_info of the guard filter: our priority, every protocol.
func filterInfo() uint32 { return uint32(FilterPriority)<<16 | uint32(htons(unix.ETH_P_ALL)) }

const (
	flagsDo     = netlink.Request | netlink.Acknowledge
	flagsCreate = flagsDo | netlink.Create | netlink.Excl // never replace
	flagsDump   = netlink.Request | netlink.Dump
)

func message(typ uint16, flags netlink.HeaderFlags, t tcmsg, attrs func(ae *netlink.AttributeEncoder)) netlink.Message {
	data := t.marshal()
	if attrs != nil {
		ae := netlink.NewAttributeEncoder()
		attrs(ae)
		b, err := ae.Encode()
		if err != nil {
			// Only fixed-size scalars and strings are encoded: cannot fail.
			panic("tcguard: encoding netlink attributes: " + err.Error())
		}
		data = append(data, b...)
	}
	return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: flags}, Data: data}
}

// newClsactMsg creates a clsact qdisc on a port with its ingress and its
// egress bound to block: the drop filter then also stops frames leaving the
// port, such as those a foreign interface enslaved to the translation's
// bridge sends (its own ingress is not ours to guard). NLM_F_EXCL: an existing ingress-slot qdisc answers EEXIST instead
// of being touched. kind is a parameter only so tests can ask for a kind the
// kernel does not have.
func newClsactMsg(ifindex int, block uint32, kind string) netlink.Message {
	return message(unix.RTM_NEWQDISC, flagsCreate,
		tcmsg{ifindex: uint32(ifindex), handle: clsactHandle, parent: tcHIngress},
		func(ae *netlink.AttributeEncoder) {
			ae.String(unix.TCA_KIND, kind)
			ae.Uint32(unix.TCA_INGRESS_BLOCK, block)
			ae.Uint32(unix.TCA_EGRESS_BLOCK, block)
		})
}

// getIngressQdiscMsg asks for the qdisc in a port's ingress slot. The kernel
// answers a single-qdisc get as a notification, sent back to the asker only
// with NLM_F_ECHO.
func getIngressQdiscMsg(ifindex int) netlink.Message {
	return message(unix.RTM_GETQDISC, flagsDo|netlink.Echo, tcmsg{ifindex: uint32(ifindex), parent: tcHIngress}, nil)
}

// dumpQdiscsMsg dumps every qdisc of the namespace: the kernel does not
// filter qdisc dumps by device, and one dump beats a request per port.
func dumpQdiscsMsg() netlink.Message {
	return message(unix.RTM_GETQDISC, flagsDump, tcmsg{}, nil)
}

func blockMsg(block uint32) tcmsg { return tcmsg{ifindex: magicBlock, parent: block} }

// newGuardFilterMsg adds the guard: matchall, one gact action "drop".
func newGuardFilterMsg(block uint32, cls, act string) netlink.Message {
	t := blockMsg(block)
	t.handle, t.info = FilterHandle, filterInfo()
	return message(unix.RTM_NEWTFILTER, flagsCreate, t, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.TCA_KIND, cls)
		ae.Nested(unix.TCA_OPTIONS, func(ae *netlink.AttributeEncoder) error {
			ae.Nested(tcaMatchallAct, func(ae *netlink.AttributeEncoder) error {
				ae.Nested(actionListFirst, func(ae *netlink.AttributeEncoder) error {
					ae.String(tcaActKind, act)
					ae.Nested(tcaActOptions, func(ae *netlink.AttributeEncoder) error {
						parms := make([]byte, tcGactLen)
						binary.NativeEndian.PutUint32(parms[gactActionOff:], tcActShot)
						ae.Bytes(tcaGactParms, parms)
						return nil
					})
					return nil
				})
				return nil
			})
			return nil
		})
	})
}

// delGuardFilterMsg deletes exactly the guard: kind, priority and handle are
// all set, because priority 0 would flush the chain and a missing kind lets
// the kernel delete whatever sits at that priority.
func delGuardFilterMsg(block uint32) netlink.Message {
	t := blockMsg(block)
	t.handle, t.info = FilterHandle, filterInfo()
	return message(unix.RTM_DELTFILTER, flagsDo, t, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.TCA_KIND, kindMatchall)
	})
}

// dumpGuardFilterMsg lists the filters at our priority in chain 0. A dump
// (unlike a get) answers "nothing" rather than an error when the block or the
// chain does not exist, so absence is never confused with a bad request.
func dumpGuardFilterMsg(block uint32) netlink.Message {
	t := blockMsg(block)
	t.info = filterInfo()
	return message(unix.RTM_GETTFILTER, flagsDump, t, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(unix.TCA_CHAIN, 0)
	})
}

// dumpBlockFiltersMsg lists every filter of the block, in every chain and at
// every priority (no TCA_CHAIN, tcm_info 0): what is not the guard is not ours.
func dumpBlockFiltersMsg(block uint32) netlink.Message {
	return message(unix.RTM_GETTFILTER, flagsDump, blockMsg(block), nil)
}

// newChainMsg explicitly creates an (empty) chain in the block.
func newChainMsg(block, chain uint32) netlink.Message {
	return message(unix.RTM_NEWCHAIN, flagsCreate, blockMsg(block), func(ae *netlink.AttributeEncoder) {
		ae.Uint32(unix.TCA_CHAIN, chain)
	})
}

// dumpChainsMsg lists the block's chains; empty when the block does not exist.
func dumpChainsMsg(block uint32) netlink.Message {
	return message(unix.RTM_GETCHAIN, flagsDump, blockMsg(block), nil)
}

// qdisc is what the guard needs to know of a qdisc.
type qdisc struct {
	ifindex      int
	parent       uint32
	kind         string
	ingressBlock uint32 // 0: ingress not bound to a shared block
	egressBlock  uint32 // 0: egress not bound to a shared block
}

func parseQdisc(m netlink.Message) (qdisc, error) {
	t, rest, err := parseTcmsg(m.Data)
	if err != nil {
		return qdisc{}, err
	}
	q := qdisc{ifindex: int(int32(t.ifindex)), parent: t.parent}
	ad, err := netlink.NewAttributeDecoder(rest)
	if err != nil {
		return qdisc{}, err
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.TCA_KIND:
			q.kind = ad.String()
		case unix.TCA_INGRESS_BLOCK:
			q.ingressBlock = ad.Uint32()
		case unix.TCA_EGRESS_BLOCK:
			q.egressBlock = ad.Uint32()
		}
	}
	return q, ad.Err()
}

// ours reports whether q is a guard clsact: both directions bound to block.
func (q qdisc) ours(block uint32) bool {
	return q.kind == kindClsact && q.ingressBlock == block && q.egressBlock == block
}

// uses reports whether q binds either direction to block.
func (q qdisc) uses(block uint32) bool { return q.ingressBlock == block || q.egressBlock == block }

// action is one action of a filter, with its counters.
type action struct {
	kind           string
	verdict        int32 // gact: tc_gen.action
	hasVerdict     bool
	packets, bytes uint64
}

// filter is one filter (or, with handle 0, the header the kernel sends for
// the classifier instance itself) of a filter dump.
type filter struct {
	prio    uint16
	handle  uint32
	chain   uint32
	kind    string
	actions []action
}

func parseFilter(m netlink.Message) (filter, error) {
	t, rest, err := parseTcmsg(m.Data)
	if err != nil {
		return filter{}, err
	}
	f := filter{prio: uint16(t.info >> 16), handle: t.handle}
	ad, err := netlink.NewAttributeDecoder(rest)
	if err != nil {
		return filter{}, err
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.TCA_KIND:
			f.kind = ad.String()
		case unix.TCA_CHAIN:
			f.chain = ad.Uint32()
		case unix.TCA_OPTIONS:
			// Options are classifier-specific: read them only for matchall.
			if f.kind == kindMatchall {
				ad.Nested(func(ad *netlink.AttributeDecoder) error {
					for ad.Next() {
						if ad.Type() == tcaMatchallAct {
							ad.Nested(func(ad *netlink.AttributeDecoder) error {
								for ad.Next() {
									ad.Nested(func(ad *netlink.AttributeDecoder) error {
										a, err := parseAction(ad)
										f.actions = append(f.actions, a)
										return err
									})
								}
								return nil
							})
						}
					}
					return nil
				})
			}
		}
	}
	return f, ad.Err()
}

func parseAction(ad *netlink.AttributeDecoder) (action, error) {
	var a action
	for ad.Next() {
		switch ad.Type() {
		case tcaActKind:
			a.kind = ad.String()
		case tcaActOptions:
			if a.kind != kindGact {
				continue
			}
			ad.Nested(func(ad *netlink.AttributeDecoder) error {
				for ad.Next() {
					if ad.Type() == tcaGactParms {
						b := ad.Bytes()
						if len(b) < tcGactLen {
							return errors.New("short TCA_GACT_PARMS")
						}
						a.verdict, a.hasVerdict = int32(binary.NativeEndian.Uint32(b[gactActionOff:])), true
					}
				}
				return nil
			})
		case tcaActStats:
			ad.Nested(func(ad *netlink.AttributeDecoder) error {
				for ad.Next() {
					switch ad.Type() {
					case tcaStatsBasic: // struct gnet_stats_basic { u64 bytes; u32 packets; }
						b := ad.Bytes()
						if len(b) < 12 {
							return errors.New("short TCA_STATS_BASIC")
						}
						a.bytes = binary.NativeEndian.Uint64(b)
						if a.packets == 0 {
							a.packets = uint64(binary.NativeEndian.Uint32(b[8:]))
						}
					case tcaStatsPkt64: // sent (after BASIC) only when packets overflow u32
						a.packets = ad.Uint64()
					}
				}
				return nil
			})
		}
	}
	return a, ad.Err()
}

// isGuard reports whether f is the guard filter exactly as we create it.
func (f filter) isGuard() bool {
	return f.handle == FilterHandle && f.prio == FilterPriority && f.chain == 0 &&
		f.kind == kindMatchall && len(f.actions) == 1 &&
		f.actions[0].kind == kindGact && f.actions[0].hasVerdict && f.actions[0].verdict == tcActShot
}

func parseChain(m netlink.Message) (uint32, error) {
	_, rest, err := parseTcmsg(m.Data)
	if err != nil {
		return 0, err
	}
	ad, err := netlink.NewAttributeDecoder(rest)
	if err != nil {
		return 0, err
	}
	for ad.Next() {
		if ad.Type() == unix.TCA_CHAIN {
			return ad.Uint32(), ad.Err()
		}
	}
	if err := ad.Err(); err != nil {
		return 0, err
	}
	return 0, nil // chain 0 may be sent without TCA_CHAIN by old kernels
}
