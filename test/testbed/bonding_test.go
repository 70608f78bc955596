package testbed

import (
	"slices"
	"testing"
)

// The layout of Linux 6.1's bond_procfs.c for an 802.3ad bond of two
// members, one bundled with a partner and one without.
const bondingText = `Ethernet Channel Bonding Driver: v6.1.0-28-amd64

Bonding Mode: IEEE 802.3ad Dynamic link aggregation
Transmit Hash Policy: layer2 (0)
MII Status: up
MII Polling Interval (ms): 100
Up Delay (ms): 0
Down Delay (ms): 0
Peer Notification Delay (ms): 0

802.3ad info
LACP active: on
LACP rate: fast
Min links: 0
Aggregator selection policy (ad_select): stable
System priority: 65535
System MAC address: 02:00:00:1a:c0:0a
Active Aggregator Info:
	Aggregator ID: 1
	Number of ports: 1
	Actor Key: 15
	Partner Key: 15
	Partner Mac Address: 02:00:00:1a:c0:0b

Slave Interface: xa
MII Status: up
Speed: 10000 Mbps
Duplex: full
Link Failure Count: 0
Permanent HW addr: 1e:51:2b:6c:0c:01
Slave queue ID: 0
Aggregator ID: 1
Actor Churn State: none
Partner Churn State: none
Actor Churned Count: 0
Partner Churned Count: 0
details actor lacp pdu:
    system priority: 65535
    system mac address: 02:00:00:1a:c0:0a
    port key: 15
    port priority: 255
    port number: 1
    port state: 63
details partner lacp pdu:
    system priority: 65535
    system mac address: 02:00:00:1a:c0:0b
    oper key: 15
    port priority: 255
    port number: 1
    port state: 63

Slave Interface: xb
MII Status: down
Speed: Unknown
Duplex: Unknown
Link Failure Count: 1
Permanent HW addr: 1e:51:2b:6c:0c:02
Slave queue ID: 0
Aggregator ID: 2
Actor Churn State: churned
Partner Churn State: churned
Actor Churned Count: 1
Partner Churned Count: 1
details actor lacp pdu:
    system priority: 65535
    system mac address: 02:00:00:1a:c0:0a
    port key: 15
    port priority: 255
    port number: 2
    port state: 71
details partner lacp pdu:
    system priority: 65535
    system mac address: 00:00:00:00:00:00
    oper key: 1
    port priority: 255
    port number: 1
    port state: 1
`

func TestParseBonding(t *testing.T) {
	for _, c := range []struct {
		name     string
		text     string
		active   int
		partner  string
		carrying []string
		members  []BondMember
	}{
		{name: "one bundled, one without partner", text: bondingText, active: 1, partner: "02:00:00:1a:c0:0b", carrying: []string{"xa"},
			members: []BondMember{{Name: "xa", Up: true, Aggregator: 1, ActorState: 63}, {Name: "xb", Aggregator: 2, ActorState: 71}}},
		{name: "no active aggregator", text: "MII Status: up\n\nSlave Interface: xa\nMII Status: up\n", members: []BondMember{{Name: "xa", Up: true}}},
		{name: "empty", text: ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := ParseBonding(c.text)
			if err != nil {
				t.Fatal(err)
			}
			if b.ActiveAggregator != c.active || (c.partner == "") != (b.Partner == nil) || (b.Partner != nil && b.Partner.String() != c.partner) {
				t.Errorf("active aggregator %d partner %v, want %d %s", b.ActiveAggregator, b.Partner, c.active, c.partner)
			}
			if got := b.Carrying(); !slices.Equal(got, c.carrying) {
				t.Errorf("carrying %v, want %v", got, c.carrying)
			}
			if len(b.Members) != len(c.members) {
				t.Fatalf("members %+v, want %+v", b.Members, c.members)
			}
			for i, want := range c.members {
				got := b.Members[i]
				if got.Name != want.Name || got.Up != want.Up || got.Aggregator != want.Aggregator || got.ActorState != want.ActorState {
					t.Errorf("member %d: %+v, want %+v", i, got, want)
				}
				if b.Member(want.Name).Name != want.Name {
					t.Errorf("Member(%q) not found", want.Name)
				}
			}
			if b.Member("nope").Name != "" {
				t.Error("Member of an unknown name found one")
			}
			if len(b.Members) == 2 && (!b.Members[0].HasPartner() || b.Members[1].HasPartner()) {
				t.Errorf("partners: xa %v, xb %v; want xa only", b.Members[0].PartnerSystem, b.Members[1].PartnerSystem)
			}
		})
	}
	if _, err := ParseBonding("Active Aggregator Info:\n\tAggregator ID: x\n"); err == nil {
		t.Error("a bad aggregator id parsed")
	}
}
