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
	if err := cable(n, ifname, sw, portName); err != nil {
		return err
	}
	br, err := sw.nl.LinkByName(switchName)
	if err != nil {
		return err
	}
	p, err := sw.nl.LinkByName(portName)
	if err != nil {
		return err
	}
	return sw.nl.LinkSetMaster(p, br)
}

// topology is everything but the cluster nodes: the QinQ-side switch with
// the QinQ host, the VLAN-side switch with the VLAN host, and the switch of
// the corosync network.
type topology struct {
	swq, swv, swc *netNS
	hq, hv        *netNS
	pairs         int // trunk pairs per node (wireNode)
}

func buildTopology(pairs int) (*topology, error) {
	tp := &topology{pairs: pairs}
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
// node (the second pair's NODE-1).
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
		if err := plug(n, c.ifname, c.sw, c.port); err != nil {
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
