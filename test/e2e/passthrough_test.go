//go:build e2e

package e2e

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The pass-through cluster (issue 16): TestTwoNodeCluster's cluster and
// traffic, but each switch bundles the two nodes' trunks in one LAG
// (802.3ad, lacp_rate fast) that is its bridge's port, and the nodes pass
// LACP between their trunks ([[passthrough]] with carrier propagation):
// the promoted node's trunks are the bundles' members, the switches learn
// the hosts behind the bundle, and a move is the switches' LACP moving
// the bundle as the guard moves. The crm file is the one users copy
// (switch_flush_ms=300, which the agent raises to its pass-through hold,
// 3 s: the demote takes the old node's members out of the bundles at
// once, and they come back after the new node's).
const passthroughPair = `
[[passthrough]]
a = "eth0"
b = "eth1"
protocols = ["lacp"]
carrier = true
`

// passthroughRun selects TestPassthroughCluster, in every run: it adds
// ~2 min 40 s per datapath. `-passthrough=false` leaves it out while
// iterating on something else (the test then says so as it skips).
var passthroughRun = flag.Bool("passthrough", true, "run TestPassthroughCluster (LACP pass-through over switch LAGs)")

// lagTimeout bounds the wait for the bundles after the cluster settled:
// the kick's hold and LACP's negotiation, seconds; generous for TCG.
const lagTimeout = time.Minute

func passthroughCluster() clusterSpec {
	s := singleGuard()
	s.name = "passthrough"
	s.lacp = true
	s.before, s.after = configBefore+passthroughPair, configAfter+passthroughPair
	return s
}

// TestPassthroughCluster runs TestTwoNodeCluster's scenarios but the
// configuration change over the LAGs: every scenario checks what that
// test's do (never both guards open, no duplicated or looped frame, every
// flow recovered, the gap bounds, nothing lost on a rejoin). A move's
// event ends once both LAGs are bundled through the new node alone, so
// the traffic window after it is recovered traffic. The lines under the
// table give each move's gap next to TestTwoNodeCluster's of the same
// boot, and where the time went: until the guard opened (Pacemaker), and
// from then until both LAGs bundled (the renegotiation kick's hold, then
// LACP).
func TestPassthroughCluster(t *testing.T) {
	if !*passthroughRun {
		t.Skip("left out by -passthrough=false")
	}
	c := setup(t, passthroughCluster())
	g := c.spec.groups[0]
	first := c.waitPlacement(settleTimeout, "settled roles", anywhere)[g.name]
	other := c.other(first)
	c.waitBundled(first, time.Time{})
	t.Logf("promoted: %s; both LAGs bundled through it", first)

	c.scenario("1 steady 10 s", 10*time.Second, noEvent, outage{})
	c.lacpScenario(scenarioSwitchover, scenarioSwitchover, other, func() (placement, time.Time) { return c.move(g, other) }, outage{maxGap: moveGap})
	c.lacpScenario(scenarioNodeLost, scenarioNodeLost, first, func() (placement, time.Time) { return c.lose(other) }, outage{maxGap: nodeLostGap})
	// The rejoining node's trunks join the LAGs without a partner (its
	// guard is blocked): the bundles stay, nothing is lost.
	c.lacpScenario("3b lost node rejoins", "", first, func() (placement, time.Time) {
		return c.rejoin(other, exactly(placement{g.name: first}))
	}, outage{})
	c.lacpScenario(scenarioFailback, scenarioFailback, other, func() (placement, time.Time) { return c.move(g, other) }, outage{maxGap: moveGap})
}

// lacpScenario is scenario with an event that ends once both LAGs are
// bundled through node alone; it then notes the gap, the guard's opening
// and the bundling, next to single (TestTwoNodeCluster's scenario of that
// name; "": none).
func (c *cluster) lacpScenario(name, single, node string, event func() (placement, time.Time), want outage) {
	c.t.Helper()
	var at time.Time
	var moved placement
	c.scenario(name, 0, func() (placement, time.Time) {
		moved, at = event()
		c.waitBundled(node, at)
		return moved, at
	}, want)
	c.noteLACP(name, single, node, at, moved)
}

// waitBundled waits until both LAGs are bundled through node alone at
// since or later.
func (c *cluster) waitBundled(node string, since time.Time) {
	c.t.Helper()
	deadline := time.Now().Add(lagTimeout)
	for {
		if _, ok := c.lags.bundledAfter(node, since); ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the LAGs not bundled through %s alone %v after the cluster settled; their changes since: %v", node, lagTimeout, c.lags.since(since))
		}
		time.Sleep(lagInterval)
	}
}

// noteLACP notes a scenario's longest gap with where its time went: the
// guard seen open on node after the event (Pacemaker: the demote, its
// flush, the controller, the promote), both LAGs bundled through node
// alone (from the opening: the promote's kick, which holds the trunks
// down 500 ms, then LACP), and TestTwoNodeCluster's gap of scenario
// single in this boot.
func (c *cluster) noteLACP(scenario, single, node string, at time.Time, moved placement) {
	gap, ok := longestGap(c.t.Name(), scenario, "")
	if !ok || at.IsZero() {
		return
	}
	parts := []string{fmt.Sprintf("%s %s: gap %.1f ms", c.t.Name(), scenario, gap)}
	g := c.spec.groups[0].name
	opened, okOpen := c.watch.openedAfter(node, g, at)
	if _, ok := moved[g]; ok && okOpen {
		parts = append(parts, fmt.Sprintf("guard open on %s %.0f ms after the event (Pacemaker)", node, ms(opened.Sub(at))))
	}
	if b, ok := c.lags.bundledAfter(node, at); ok {
		s := fmt.Sprintf("both LAGs through %s alone at %.0f ms", node, ms(b.Sub(at)))
		if _, ok := moved[g]; ok && okOpen {
			s += fmt.Sprintf(" (%.0f ms after the opening: the kick's hold, then LACP)", ms(b.Sub(opened)))
		}
		parts = append(parts, s)
	}
	note := strings.Join(parts, ", ")
	if single != "" {
		if sg, ok := longestGap("TestTwoNodeCluster", single, ""); ok {
			note += fmt.Sprintf(" | TestTwoNodeCluster (Pacemaker alone, no LAG) %s: gap %.1f ms", single, sg)
		}
	}
	c.note(note)
	for _, s := range c.lags.since(at) {
		c.t.Logf("LAGs at %.0f ms: QinQ switch carried by %v, VLAN switch by %v", ms(s.at.Sub(at)), s.q, s.v)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
