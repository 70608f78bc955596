//go:build e2e

package e2e

import (
	"flag"
	"net"

	"github.com/qinqbridge/qinqbridge/test/e2e/traffic"
	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// The test configuration: three translations, then (the configuration
// change) the first two unchanged, the third removed and ten added as one
// ranged translation.
const (
	configBase = `# e2e: the translations the traffic runs over
[[translation]]
name = "t1"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }

[[translation]]
name = "t2"
a = { parent = "eth0", outer = 100, inner = 201 }
b = { parent = "eth1", vlan = 301 }
`
	configT3 = `
[[translation]]
name = "t3"
a = { parent = "eth0", outer = 100, inner = 202 }
b = { parent = "eth1", vlan = 302 }
`
	configAdded = `
[[translation]]
name = "more"
a = { parent = "eth0", outer = 110, inner = "300-309" }
b = { parent = "eth1", vlan = "400-409" }
`
	configBefore = configBase + configT3
	configAfter  = configBase + configAdded
)

// datapath is the datapath the run's configurations use ("bridge": the
// default, no key). `test/e2e/run -datapath=tc` runs the cluster test in
// the tc datapath.
var datapath = flag.String("datapath", "bridge", "the configurations' datapath: bridge or tc")

// configText is a configuration in the run's datapath.
func configText(translations string) string {
	if *datapath == "bridge" {
		return translations
	}
	return "datapath = \"" + *datapath + "\"\n" + translations
}

// addedLink and removedLink tell that a node applied configAfter.
const (
	addedLink   = "eth1.409"
	removedLink = "eth1.302"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func qinq(outer, inner uint16) []testbed.Tag {
	return []testbed.Tag{{TPID: 0x88a8, VID: outer}, {TPID: 0x8100, VID: inner}}
}

func dot1q(vid uint16) []testbed.Tag { return []testbed.Tag{{TPID: 0x8100, VID: vid}} }

// Host addresses: x* behind the QinQ switch, y* behind the VLAN switch.
var (
	x1, y1 = mac("02:00:00:00:01:01"), mac("02:00:00:00:02:01")
	x2, y2 = mac("02:00:00:00:01:02"), mac("02:00:00:00:02:02")
	x3     = mac("02:00:00:00:01:03")
	x4, y4 = mac("02:00:00:00:01:04"), mac("02:00:00:00:02:04")
	bcast  = mac("ff:ff:ff:ff:ff:ff")
)

// Flow names.
const (
	flowBiQV   = "t1 unicast q>v (bidir)"
	flowBiVQ   = "t1 unicast v>q (bidir)"
	flowOneWay = "t2 unicast q>v (one-way)"
	flowBcast  = "t1 broadcast q>v"
	flowT3     = "t3 unicast q>v"
)

// rate is frames per second of the unicast flows, each way.
const rate = 1000

// flows: a bidirectional unicast pair (each switch has learned the other
// host behind the promoted node), a one-way unicast flow towards a host
// that announced itself once and is silent since (the QinQ switch still
// has it behind the node that forwarded the announcement), broadcasts
// (a loop would multiply them) and a flow over the translation the
// configuration change removes.
func flows() []traffic.Flow {
	return []traffic.Flow{
		{ID: 1, Name: flowBiQV, From: "hq", To: "hv", Src: x1, Dst: y1, SendTags: qinq(100, 200), WantTags: dot1q(300), Rate: rate},
		{ID: 2, Name: flowBiVQ, From: "hv", To: "hq", Src: y1, Dst: x1, SendTags: dot1q(300), WantTags: qinq(100, 200), Rate: rate},
		{ID: 3, Name: flowOneWay, From: "hq", To: "hv", Src: x2, Dst: y2, SendTags: qinq(100, 201), WantTags: dot1q(301), Rate: rate},
		{ID: 4, Name: flowBcast, From: "hq", To: "hv", Src: x3, Dst: bcast, SendTags: qinq(100, 200), WantTags: dot1q(300), Rate: rate / 5},
		{ID: 5, Name: flowT3, From: "hq", To: "hv", Src: x4, Dst: y4, SendTags: qinq(100, 202), WantTags: dot1q(302), Rate: rate / 5},
	}
}

// announce has the silent hosts send once, so that the switches learn
// them behind the promoted node, as after any earlier traffic.
func announce(hq, hv *traffic.Endpoint) error {
	if err := traffic.Announce(hv, y2, x2, dot1q(301)); err != nil {
		return err
	}
	return traffic.Announce(hv, y4, x4, dot1q(302))
}
