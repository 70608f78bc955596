package kernel

import (
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// dumpAttempts bounds the retries of a dump the kernel interrupted (its
// link table changed meanwhile).
const dumpAttempts = 5

const rtextFilterSkipStats = 1 << 3 // RTEXT_FILTER_SKIP_STATS; neither x/sys/unix nor nl has it

// Dump reads every link of the namespace with one RTM_GETLINK dump.
// Statistics are skipped unless asked for: they are most of a link message
// and only status shows them.
func (c *Conn) Dump(stats bool) ([]*plan.Observed, error) {
	var out []*plan.Observed
	var err error
	for attempt := 0; attempt < dumpAttempts; attempt++ {
		out, err = c.dumpOnce(stats)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read links: %w", err)
	}
	return out, nil
}

func (c *Conn) dumpOnce(stats bool) ([]*plan.Observed, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: c.sh}
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	if !stats {
		req.AddData(nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterSkipStats)))
	}
	// Decoding a link costs about what the kernel spends dumping it: one
	// goroutine decodes while the next datagram is received. Each message
	// is a slice of its own datagram's copy (nl's Receive), so it stays
	// valid after the callback returns.
	msgs := make(chan []byte, 256)
	type decoded struct {
		links []*plan.Observed
		err   error
	}
	done := make(chan decoded, 1)
	go func() {
		var d decoded
		for m := range msgs {
			if d.err != nil {
				continue
			}
			var o *plan.Observed
			if o, d.err = observe(m, stats); d.err == nil {
				d.links = append(d.links, o)
			}
		}
		done <- d
	}()
	err := req.ExecuteIter(unix.NETLINK_ROUTE, unix.RTM_NEWLINK, func(m []byte) bool {
		msgs <- m
		return true
	})
	close(msgs)
	d := <-done
	if err == nil {
		err = d.err
	}
	return d.links, err
}

// observe decodes one RTM_NEWLINK message body: what netlink.LinkDeserialize
// decodes, plus what it leaves out (the rtnetlink kind of every link, a
// bridge's STP state, IPv6 addrgenmode), read with nl.ParseRouteAttr.
func observe(m []byte, stats bool) (o *plan.Observed, err error) {
	// The library's decoders index attributes without checking their
	// lengths: a message the kernel would never send must be an error,
	// not a crash.
	defer func() {
		if r := recover(); r != nil {
			o, err = nil, fmt.Errorf("malformed link message: %v", r)
		}
	}()
	if len(m) < unix.SizeofIfInfomsg {
		return nil, fmt.Errorf("short link message (%d bytes)", len(m))
	}
	l, err := netlink.LinkDeserialize(nil, m)
	if err != nil {
		return nil, fmt.Errorf("link message: %w", err)
	}
	a := l.Attrs()
	o = &plan.Observed{
		Index:       a.Index,
		Name:        a.Name,
		MasterIndex: a.MasterIndex,
		MTU:         a.MTU,
		Up:          a.RawFlags&unix.IFF_UP != 0,
		Promisc:     a.RawFlags&unix.IFF_PROMISC != 0,
		OperUp:      a.OperState == operUp,
		Group:       a.Group,
		Alias:       a.Alias,
	}
	if stats && a.Statistics != nil {
		o.RxPackets, o.TxPackets = a.Statistics.RxPackets, a.Statistics.TxPackets
		o.RxBytes, o.TxBytes = a.Statistics.RxBytes, a.Statistics.TxBytes
		o.RxDropped, o.TxDropped = a.Statistics.RxDropped, a.Statistics.TxDropped
	}
	switch l := l.(type) {
	case *netlink.Vlan:
		o.ParentIndex, o.ID, o.Proto = a.ParentIndex, uint16(l.VlanId), config.Proto(l.VlanProtocol)
	case *netlink.Bridge:
		o.McastSnoop = l.MulticastSnooping != nil && *l.MulticastSnooping
		if l.AgeingTime != nil {
			o.Ageing = time.Duration(*l.AgeingTime) * 10 * time.Millisecond
		}
		if l.GroupFwdMask != nil {
			o.GroupFwdMask = *l.GroupFwdMask
		}
	}
	if err := observeRest(o, m[unix.SizeofIfInfomsg:]); err != nil {
		return nil, fmt.Errorf("link %s: %w", o.Name, err)
	}
	if o.Name == "" {
		return nil, fmt.Errorf("link %d without a name", o.Index)
	}
	return o, nil
}
