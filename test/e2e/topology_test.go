//go:build e2e

package e2e

import (
	"fmt"
	"net"

	"github.com/qinqbridge/qinqbridge/test/testbed"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// netNS is a named network namespace of the testbed.
type netNS struct {
	name string
	h    netns.NsHandle
	nl   *netlink.Handle
}

// createNS creates a named namespace with lo up.
func createNS(name string) (*netNS, error) {
	var h netns.NsHandle
	err := testbed.Do(netns.None(), func() error { // NewNamed switches the locked thread; Do restores it
		var err error
		h, err = netns.NewNamed(name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, err
	}
	n := &netNS{name: name, h: h, nl: nl}
	return n, n.up("lo")
}

// remove deletes the namespace's name and our handles; the kernel frees
// it, and deletes its interfaces, once no process is left in it.
func (n *netNS) remove() {
	n.nl.Close()
	n.h.Close()
	netns.DeleteNamed(n.name)
}

func (n *netNS) up(name string) error {
	l, err := n.nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", name, n.name, err)
	}
	return n.nl.LinkSetUp(l)
}

// cable is a veth pair from interface a in namespace na to b in nb, both up.
func cable(na *netNS, a string, nb *netNS, b string) error {
	la := netlink.NewLinkAttrs()
	la.Name = a
	la.Namespace = netlink.NsFd(int(na.h))
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: b, PeerNamespace: netlink.NsFd(int(nb.h))}); err != nil {
		return fmt.Errorf("veth %s/%s - %s/%s: %w", na.name, a, nb.name, b, err)
	}
	if err := na.up(a); err != nil {
		return err
	}
	return nb.up(b)
}

// switchName is the bridge that is the switch in a switch namespace.
const switchName = "sw"

// newSwitch is a namespace with a Linux bridge: MAC learning with the
// default ageing (300 s), no STP, and — like real switches — a port whose
// carrier goes down loses the addresses learned on it.
func newSwitch(name string) (*netNS, error) {
	n, err := createNS(name)
	if err != nil {
		return nil, err
	}
	la := netlink.NewLinkAttrs()
	la.Name = switchName
	if err := n.nl.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil {
		return nil, fmt.Errorf("bridge in %s: %w", name, err)
	}
	return n, n.up(switchName)
}

// plug cables interface ifname of namespace n to a new port portName of
// switch sw.
func plug(n *netNS, ifname string, sw *netNS, portName string) error {
	return plugInto(n, ifname, sw, portName, switchName)
}

// plugInto cables interface ifname of namespace n to a new port portName
// of switch sw, enslaved to master: the switch's bridge, or its LAG.
func plugInto(n *netNS, ifname string, sw *netNS, portName, master string) error {
	if err := cable(n, ifname, sw, portName); err != nil {
		return err
	}
	m, err := sw.nl.LinkByName(master)
	if err != nil {
		return err
	}
	p, err := sw.nl.LinkByName(portName)
	if err != nil {
		return err
	}
	if master == switchName {
		return sw.nl.LinkSetMaster(p, m)
	}
	// A bond enslaves only links that are down ("Device can not be
	// enslaved while up").
	if err := sw.nl.LinkSetDown(p); err != nil {
		return err
	}
	if err := sw.nl.LinkSetMaster(p, m); err != nil {
		return fmt.Errorf("%s into %s of %s: %w", portName, master, sw.name, err)
	}
	return sw.up(portName)
}

// lagName is the LACP bundle of a switch in the pass-through topology.
const lagName = "lag"

// addLAG gives switch sw an 802.3ad bond (lacp_rate fast, miimon 100,
// the system id mac) as a port of its bridge: the nodes' trunks become its
// members, one bundle across the translators (README, "LACP
// pass-through"). The switch learns the hosts behind the bundle, not
// behind a node.
func addLAG(sw *netNS, mac net.HardwareAddr) error {
	la := netlink.NewLinkAttrs()
	la.Name, la.HardwareAddr = lagName, mac
	b := netlink.NewLinkBond(la)
	b.Mode, b.LacpRate, b.Miimon = netlink.BOND_MODE_802_3AD, netlink.BOND_LACP_RATE_FAST, 100
	if err := sw.nl.LinkAdd(b); err != nil {
		return fmt.Errorf("bond in %s: %w", sw.name, err)
	}
	br, err := sw.nl.LinkByName(switchName)
	if err != nil {
		return err
	}
	l, err := sw.nl.LinkByName(lagName)
	if err != nil {
		return err
	}
	if err := sw.nl.LinkSetMaster(l, br); err != nil {
		return err
	}
	return sw.up(lagName)
}

// topology is everything but the cluster nodes: the QinQ-side switch with
// the QinQ host, the VLAN-side switch with the VLAN host, and the switch of
// the corosync network.
type topology struct {
	swq, swv, swc *netNS
	hq, hv        *netNS
	pairs         int  // trunk pairs per node (wireNode)
	lag           bool // the trunks are members of the switches' LAGs (addLAG)
}

// Pass-through topology: the LACP system ids of the two switches' LAGs.
var (
	lagMACQ = mac("02:00:00:1a:c0:01")
	lagMACV = mac("02:00:00:1a:c0:02")
)

func buildTopology(pairs int, lag bool) (*topology, error) {
	tp := &topology{pairs: pairs, lag: lag}
	var err error
	for _, s := range []struct {
		p    **netNS
		name string
		sw   bool
	}{{&tp.swq, "qb-swq", true}, {&tp.swv, "qb-swv", true}, {&tp.swc, "qb-swc", true}, {&tp.hq, "qb-hq", false}, {&tp.hv, "qb-hv", false}} {
		if s.sw {
			*s.p, err = newSwitch(s.name)
		} else {
			*s.p, err = createNS(s.name)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := plug(tp.hq, "eth0", tp.swq, "host"); err != nil {
		return nil, err
	}
	if err := plug(tp.hv, "eth0", tp.swv, "host"); err != nil {
		return nil, err
	}
	if lag {
		if err := addLAG(tp.swq, lagMACQ); err != nil {
			return nil, err
		}
		if err := addLAG(tp.swv, lagMACV); err != nil {
			return nil, err
		}
	}
	return tp, nil
}

func (tp *topology) remove() {
	for _, n := range []*netNS{tp.swq, tp.swv, tp.swc, tp.hq, tp.hv} {
		if n != nil {
			n.remove()
		}
	}
}

// wireNode gives a node namespace its NICs, as the production topology
// has them: per trunk pair a QinQ trunk to the QinQ switch and a VLAN
// trunk to the VLAN switch — eth0 and eth1, then eth2 and eth3 (the
// groups test: a group on trunks of its own) — and cl0 (corosync, address
// addr/24) to the corosync switch. The switch ports are named after the
// node (the second pair's NODE-1); in the pass-through topology the trunks'
// ports are members of the switches' LAGs.
func (tp *topology) wireNode(n *netNS, port string, addr net.IP) error {
	type nic struct {
		ifname, port string
		sw           *netNS
		qinq         bool
	}
	var nics []nic
	for i := range tp.pairs {
		p := port
		if i > 0 {
			p = fmt.Sprintf("%s-%d", port, i)
		}
		nics = append(nics, nic{fmt.Sprintf("eth%d", 2*i), p, tp.swq, true}, nic{fmt.Sprintf("eth%d", 2*i+1), p, tp.swv, false})
	}
	nics = append(nics, nic{"cl0", port, tp.swc, false})
	for _, c := range nics {
		master := switchName
		if tp.lag && c.sw != tp.swc {
			master = lagName
		}
		if err := plugInto(n, c.ifname, c.sw, c.port, master); err != nil {
			return err
		}
		if !c.qinq || *datapath != "tc" {
			continue
		}
		// The QinQ trunk carries what the VLAN trunk sends, plus the S-tag
		// (plan refuses it otherwise: mirred does not check MTUs).
		l, err := n.nl.LinkByName(c.ifname)
		if err != nil {
			return err
		}
		if err := n.nl.LinkSetMTU(l, 1504); err != nil {
			return err
		}
	}
	cl, err := n.nl.LinkByName("cl0")
	if err != nil {
		return err
	}
	return n.nl.AddrAdd(cl, &netlink.Addr{IPNet: &net.IPNet{IP: addr, Mask: net.CIDRMask(24, 32)}})
}
