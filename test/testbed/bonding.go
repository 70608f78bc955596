package testbed

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Bonding is what /proc/net/bonding/BOND says about an 802.3ad bond: its
// active aggregator and, per member, the aggregator it is in and what LACP
// negotiated for it. (vishvananda/netlink decodes the members' LACP state
// but not the bond's active aggregator, IFLA_BOND_AD_INFO.)
type Bonding struct {
	ActiveAggregator int              // 0: none
	Partner          net.HardwareAddr // the active aggregator's partner system
	Members          []BondMember
}

// BondMember is one member ("Slave Interface") of the bond.
type BondMember struct {
	Name          string
	Up            bool // MII status up
	Aggregator    int  // 0: in none
	ActorState    uint8
	PartnerSystem net.HardwareAddr
}

// LACP port state bits (IEEE 802.1AX): a member that both collects and
// distributes carries the bond's traffic.
const (
	LACPCollecting   = 0x10
	LACPDistributing = 0x20
)

// ReadBonding reads the bond's /proc/net/bonding file in ns.
func ReadBonding(ns *NS, bond string) (Bonding, error) {
	var b []byte
	if err := ns.Do(func() error {
		var err error
		b, err = os.ReadFile("/proc/thread-self/net/bonding/" + bond)
		return err
	}); err != nil {
		return Bonding{}, err
	}
	return ParseBonding(string(b))
}

// ParseBonding decodes the text of /proc/net/bonding/BOND (Linux's
// bond_procfs.c; the partner details are printed for CAP_NET_ADMIN only).
func ParseBonding(text string) (Bonding, error) {
	var b Bonding
	var m *BondMember
	section := "" // "active", "actor" or "partner": where indented keys belong
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		indented := strings.HasPrefix(line, "\t") || strings.HasPrefix(line, " ")
		key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		if !indented {
			section = ""
		}
		var err error
		switch {
		case !indented && key == "Active Aggregator Info":
			section = "active"
		case !indented && key == "Slave Interface":
			b.Members = append(b.Members, BondMember{Name: val})
			m = &b.Members[len(b.Members)-1]
		case !indented && key == "details actor lacp pdu":
			section = "actor"
		case !indented && key == "details partner lacp pdu":
			section = "partner"
		case section == "active" && key == "Aggregator ID":
			b.ActiveAggregator, err = strconv.Atoi(val)
		case section == "active" && key == "Partner Mac Address":
			b.Partner, err = net.ParseMAC(val)
		case m == nil:
		case !indented && key == "MII Status":
			m.Up = val == "up"
		case !indented && key == "Aggregator ID":
			m.Aggregator, err = strconv.Atoi(val)
		case section == "actor" && key == "port state":
			var s uint64
			s, err = strconv.ParseUint(val, 10, 8)
			m.ActorState = uint8(s)
		case section == "partner" && key == "system mac address":
			m.PartnerSystem, err = net.ParseMAC(val)
		}
		if err != nil {
			return Bonding{}, fmt.Errorf("/proc/net/bonding: %q: %w", line, err)
		}
	}
	return b, sc.Err()
}

// Member returns the member called name (zero if the bond has none).
func (b Bonding) Member(name string) BondMember {
	for _, m := range b.Members {
		if m.Name == name {
			return m
		}
	}
	return BondMember{}
}

// Carrying lists the members that carry the bond's traffic: up, in the
// active aggregator, collecting and distributing.
func (b Bonding) Carrying() []string {
	var out []string
	for _, m := range b.Members {
		if m.Up && b.ActiveAggregator != 0 && m.Aggregator == b.ActiveAggregator && m.ActorState&(LACPCollecting|LACPDistributing) == LACPCollecting|LACPDistributing {
			out = append(out, m.Name)
		}
	}
	return out
}

// HasPartner reports whether LACP negotiated a partner for the member.
func (m BondMember) HasPartner() bool {
	for _, c := range m.PartnerSystem {
		if c != 0 {
			return true
		}
	}
	return false
}
