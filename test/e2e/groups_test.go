//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qinqbridge/qinqbridge/test/e2e/traffic"
)

// The groups test's cluster: two translation groups, each on a trunk pair
// of its own (east on eth0/eth1, west on eth2/eth3, plugged into the same
// two switches: their tags are disjoint and a translation only crosses
// from the QinQ switch to the VLAN switch, so no loop), each with its own
// guard clone. Own trunks keep the switch flush usable per group: a
// demote takes only that group's trunks down.
const (
	groupsBefore = `# e2e groups: east and west, each on trunks of its own
[[group]]
name = "east"        # block derived from the name

[[group]]
name = "west"
block = 30000

[[translation]]
name = "t1"
group = "east"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }

[[translation]]
name = "t2"
group = "east"
a = { parent = "eth0", outer = 100, inner = 201 }
b = { parent = "eth1", vlan = 301 }

[[translation]]
name = "w1"
group = "west"
a = { parent = "eth2", outer = 120, inner = 200 }
b = { parent = "eth3", vlan = 320 }

[[translation]]
name = "w2"
group = "west"
a = { parent = "eth2", outer = 120, inner = 201 }
b = { parent = "eth3", vlan = 321 }
`
	// The configuration change adds ten translations to west.
	groupsAdded = `
[[translation]]
name = "w-more"
group = "west"
a = { parent = "eth2", outer = 130, inner = "300-309" }
b = { parent = "eth3", vlan = "420-429" }
`
	groupsAddedLink = "eth3.429"
)

// groupsCRMFile is the N+1 example the test's cluster configuration comes
// from.
const groupsCRMFile = "../../examples/cluster/qinqbridge-groups.crm"

var (
	east = guardGroup{"east", "ms_guard_east", "p_guard_east"}
	west = guardGroup{"west", "ms_guard_west", "p_guard_west"}
)

// Flow names of west (east's flows are the single guard test's t1 and t2
// flows).
const (
	flowWestBiQV   = "w1 unicast q>v (bidir)"
	flowWestBiVQ   = "w1 unicast v>q (bidir)"
	flowWestOneWay = "w2 unicast q>v (one-way)"
	flowWestBcast  = "w1 broadcast q>v"
)

// Hosts of west's flows (east's are the single guard test's).
var (
	x5, y5 = mac("02:00:00:00:01:05"), mac("02:00:00:00:02:05")
	x6, y6 = mac("02:00:00:00:01:06"), mac("02:00:00:00:02:06")
	x7     = mac("02:00:00:00:01:07")
)

// groupsFlows: per group what the single guard test runs (bidirectional
// unicast, one-way unicast towards a silent host, broadcasts), the unicast
// flows at half its rate, the broadcasts at its broadcast rate: the VM is
// offered as many frames per second as in the single guard test (3400/s:
// there 3 x 1000 unicast + 200 broadcast + 200 over t3; here 2 x (3 x 500
// + 200)), so that the move gaps, CPU-bound work under TCG, compare.
func groupsFlows() []traffic.Flow {
	const r, b = rate / 2, rate / 5
	return []traffic.Flow{
		{ID: 1, Name: flowBiQV, From: "hq", To: "hv", Src: x1, Dst: y1, SendTags: qinq(100, 200), WantTags: dot1q(300), Rate: r},
		{ID: 2, Name: flowBiVQ, From: "hv", To: "hq", Src: y1, Dst: x1, SendTags: dot1q(300), WantTags: qinq(100, 200), Rate: r},
		{ID: 3, Name: flowOneWay, From: "hq", To: "hv", Src: x2, Dst: y2, SendTags: qinq(100, 201), WantTags: dot1q(301), Rate: r},
		{ID: 4, Name: flowBcast, From: "hq", To: "hv", Src: x3, Dst: bcast, SendTags: qinq(100, 200), WantTags: dot1q(300), Rate: b},
		{ID: 11, Name: flowWestBiQV, From: "hq", To: "hv", Src: x5, Dst: y5, SendTags: qinq(120, 200), WantTags: dot1q(320), Rate: r},
		{ID: 12, Name: flowWestBiVQ, From: "hv", To: "hq", Src: y5, Dst: x5, SendTags: dot1q(320), WantTags: qinq(120, 200), Rate: r},
		{ID: 13, Name: flowWestOneWay, From: "hq", To: "hv", Src: x6, Dst: y6, SendTags: qinq(120, 201), WantTags: dot1q(321), Rate: r},
		{ID: 14, Name: flowWestBcast, From: "hq", To: "hv", Src: x7, Dst: bcast, SendTags: qinq(120, 200), WantTags: dot1q(320), Rate: b},
	}
}

// groupsAnnounce has each group's silent host send once.
func groupsAnnounce(hq, hv *traffic.Endpoint) error {
	if err := traffic.Announce(hv, y2, x2, dot1q(301)); err != nil {
		return err
	}
	return traffic.Announce(hv, y6, x6, dot1q(321))
}

// groupsCRM writes examples/cluster/qinqbridge-groups.crm as this
// cluster needs it and returns its path: clone-max=2 (the example has
// three nodes, this cluster two) and switch_flush_ms=300, as in
// qinqbridge.crm (the example's groups share their trunks, where the
// agent refuses a flush; here each group has trunks of its own). The
// rest — a guard clone per group, ordered after and colocated with the
// bridge, the promoted roles' spread at -1, load-threshold — is the
// example's, so the test runs the placement users copy.
func groupsCRM(base string) (string, error) {
	b, err := os.ReadFile(groupsCRMFile)
	if err != nil {
		return "", err
	}
	s := string(b)
	for _, r := range []struct {
		old, new string
		n        int
	}{{"clone-max=3", "clone-max=2", 2}, {"switch_flush_ms=0", "switch_flush_ms=300", 2}} {
		if c := strings.Count(s, r.old); c != r.n {
			return "", fmt.Errorf("%s has %q %d times, the test replaces it %d times: adapt groupsCRM", groupsCRMFile, r.old, c, r.n)
		}
		s = strings.ReplaceAll(s, r.old, r.new)
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(base, "qinqbridge-groups.crm")
	return path, os.WriteFile(path, []byte(s), 0o644)
}

// TestGroupsCluster is the N+1 case on two nodes: east and west promoted
// on different nodes with traffic on both; a planned move of east onto
// west's node; that node lost (both groups on the survivor); its rejoin,
// where the example's spread moves a group back to it; a move, and the
// clear of its constraint (the spread moves the group back); a
// translation added to west. Every scenario checks what
// TestTwoNodeCluster's do, per group: never two nodes' guards of one
// group open, no duplicated or looped frame, every flow recovered, no
// frame lost in a group the event does not move. Each move is a scenario
// of its own, so that its gap is one move's. It runs after
// TestTwoNodeCluster in the same boot and notes its gaps next to that
// test's (groups_summary_test.go).
func TestGroupsCluster(t *testing.T) {
	c := setup(t, clusterSpec{
		name:   "groups",
		pairs:  2,
		crm:    groupsCRM,
		before: groupsBefore, after: groupsBefore + groupsAdded, added: groupsAddedLink,
		groups: []guardGroup{east, west},
		flows:  groupsFlows(),
		flowGroup: map[string]string{
			flowBiQV: east.name, flowBiVQ: east.name, flowOneWay: east.name, flowBcast: east.name,
			flowWestBiQV: west.name, flowWestBiVQ: west.name, flowWestOneWay: west.name, flowWestBcast: west.name,
		},
		announce: groupsAnnounce,
	})
	p := c.waitPlacement(settleTimeout, "east and west promoted on different nodes", spread)
	eastHome, westHome := p[east.name], p[west.name]
	t.Logf("promoted: east on %s, west on %s", eastHome, westHome)

	const steady = "1 steady 10 s"
	before := c.forwarded()
	c.scenario(steady, 10*time.Second, noEvent, outage{})
	c.checkShares(steady, before, c.forwarded())

	// A planned move of one group, its constraint kept: cleared now, the
	// spread (-1) would move east straight back (scenario 4b does that).
	const move = "2 move east"
	c.scenario(move, 0, func() (placement, time.Time) { return c.moveKept(east, westHome) }, outage{maxGap: moveGap})
	c.noteMove(move, east.name)

	const lost = "3 node with both lost"
	c.scenario(lost, 0, func() (placement, time.Time) {
		p, at := c.lose(westHome)
		c.clear(east, c.where) // the node it preferred is gone: nothing moves
		return p, at
	}, outage{maxGap: nodeLostGap})
	c.noteNodeLoss(lost)

	// Back, the node gets a group again: the spread moves one there
	// (demote, flush, promote) while the node starts its resources.
	const rejoin = "3b lost node rejoins"
	var rebalanced placement
	c.scenario(rejoin, 0, func() (placement, time.Time) {
		var at time.Time
		rebalanced, at = c.rejoin(westHome, spread)
		return rebalanced, at
	}, outage{maxGap: moveGap})
	for g := range rebalanced {
		c.noteMove(rejoin, g)
	}

	// The operator's move, and the clear of its constraint: the spread
	// moves the group back.
	home := c.where
	const moveAgain, moveBack = "4 move east", "4b clear: east back"
	c.scenario(moveAgain, 0, func() (placement, time.Time) { return c.moveKept(east, c.other(home[east.name])) }, outage{maxGap: moveGap})
	c.noteMove(moveAgain, east.name)
	c.scenario(moveBack, 0, func() (placement, time.Time) {
		at := time.Now()
		c.clear(east, home)
		return placement{east.name: home[east.name]}, at
	}, outage{maxGap: moveGap})
	c.noteMove(moveBack, east.name)
	c.noteMoves([]string{move, moveAgain, moveBack})

	c.scenario("5 config change", 0, func() (placement, time.Time) { return c.reconfigure() }, outage{})
}

// forwarded reads, per node and group, the frames the node's translations
// forwarded (bridgectl status: in the bridge datapath what left through
// the translations' bridge ports, in the tc datapath what their filters
// redirected).
func (c *cluster) forwarded() map[string]map[string]uint64 {
	c.t.Helper()
	out := map[string]map[string]uint64{}
	for _, name := range c.order {
		n := c.nodes[name]
		s, err := n.runT(time.Minute, "bridgectl", "status", "--json")
		if err != nil {
			c.t.Fatalf("%v\n%s", err, s)
		}
		type end struct {
			Links []struct {
				TxPackets uint64 `json:"tx_packets"`
			}
		}
		var r struct {
			Translations []struct {
				Group   string
				A, B    end
				Filters []struct{ Forwarded uint64 }
			}
		}
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			c.t.Fatalf("bridgectl status --json on %s: %v\n%s", name, err, s)
		}
		out[name] = map[string]uint64{}
		for _, t := range r.Translations {
			for _, e := range []end{t.A, t.B} {
				if len(e.Links) > 0 {
					out[name][t.Group] += e.Links[len(e.Links)-1].TxPackets // the bridge port
				}
			}
			for _, f := range t.Filters {
				out[name][t.Group] += f.Forwarded
			}
		}
	}
	return out
}

// checkShares requires each group's traffic of the scenario forwarded by
// the node where the group is promoted — at least what its flows
// received — and none by the other node: each node's share, in its own
// counters.
func (c *cluster) checkShares(scenario string, before, after map[string]map[string]uint64) {
	c.t.Helper()
	for _, g := range c.spec.groups {
		var received uint64
		for _, r := range results {
			if r.Test == c.t.Name() && r.Scenario == scenario && r.Group == g.name {
				received += uint64(r.Stats.Received)
			}
		}
		for _, name := range c.order {
			d := after[name][g.name] - before[name][g.name]
			c.t.Logf("%s: %s forwarded %d frames of group %s (its flows received %d)", scenario, name, d, g.name, received)
			switch {
			case name == c.where[g.name] && d < received:
				c.t.Errorf("%s: %s, where %s is promoted, forwarded %d of its frames, its flows received %d", scenario, name, g.name, d, received)
			case name != c.where[g.name] && d != 0:
				c.t.Errorf("%s: %s forwarded %d frames of group %s, promoted on %s", scenario, name, d, g.name, c.where[g.name])
			}
		}
	}
}
