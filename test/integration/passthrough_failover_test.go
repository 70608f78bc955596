//go:build integration

package integration

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LACP through two translators (issue 16). Two "switches", each a
// namespace with an 802.3ad bond (lacp_rate fast, miimon 100) of two
// members: the QinQ switch's qa leads to node A's trunk q0 and qb to node
// B's, the VLAN switch's va and vb to A's and B's v0. Each node is a
// namespace running bridgectl with the same configuration, a pass-through
// pair q0 <-> v0 with carrier propagation, and `bridgectl carrier` in the
// background. Whichever node's guard is open carries the bundle; the
// test moves it as a cluster would and measures what the switches see.
//
// Figures are logged, never asserted: the bounds are deadlines on
// conditions (lacpFailoverPatience), generous for TCG.
const lacpFailoverConfig = `datapath = %q

[[translation]]
name = "lacp"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }

[[passthrough]]
a = "q0"
b = "v0"
protocols = ["lacp"]
carrier = true
`

// lacpFailoverPatience bounds each wait on the bonds, the carrier and the
// stream.
const lacpFailoverPatience = 20 * time.Second

// lacpSteady is how many frames each direction delivers around a move to
// call the stream steady (before) or flowing again (after).
const lacpSteady = 300

// lacpNode is one translator: its namespace and state, its configuration,
// and its carrier propagator's notify status.
type lacpNode struct {
	*bcEnv
	name    string // "A", "B"
	cfg     string
	carrier *notifyStatus
}

// TestPassthroughTwoTranslators: both datapaths.
func TestPassthroughTwoTranslators(t *testing.T) {
	for _, datapath := range []string{"bridge", "tc"} {
		t.Run(datapath, func(t *testing.T) { lacpTwoTranslators(t, datapath) })
	}
}

func lacpTwoTranslators(t *testing.T, datapath string) {
	nodes := [2]*lacpNode{{bcEnv: newBCEnv(t), name: "A"}, {bcEnv: newBCEnv(t), name: "B"}}
	a, b := nodes[0], nodes[1]
	for _, n := range nodes {
		// The QinQ side carries what the VLAN side sends, with its S-tag.
		for _, l := range []string{"q0", "q0p"} {
			if err := n.ns.Link.LinkSetMTU(n.link(t, l), 1504); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The switches before bridgectl down at cleanup (see lacpThrough).
	q := newLacpSwitch(t, "bondq", net.HardwareAddr{0x02, 0, 0, 0x1a, 0xc0, 0x01}, 1504, lacpMember{a.bcEnv, "q0p", "qa"}, lacpMember{b.bcEnv, "q0p", "qb"})
	v := newLacpSwitch(t, "bondv", net.HardwareAddr{0x02, 0, 0, 0x1a, 0xc0, 0x02}, 1500, lacpMember{a.bcEnv, "v0p", "va"}, lacpMember{b.bcEnv, "v0p", "vb"})
	sws := []*lacpSwitch{q, v}
	// via is the member of switch sw that leads to node n.
	via := func(sw *lacpSwitch, n *lacpNode) string { return sw.members[slices.Index(nodes[:], n)] }
	for _, n := range nodes {
		n.cfg = n.write(t, "lacp.toml", fmt.Sprintf(lacpFailoverConfig, datapath))
		n.downAtCleanup(t)
		n.bridgectl(t, 0, "apply", "-c", n.cfg)
		n.carrier = n.startDaemon(t, "carrier", n.cfg)
		n.carrier.wait(t, "READY=1", "q0<->v0 (guard blocked): q0 up, v0 up")
	}

	// bundledThrough: on both switches the member to n carries the bond's
	// traffic, partnered with the other switch; with only, it is the only
	// one and the other member is in no aggregator with a partner.
	bundledThrough := func(n *lacpNode, only bool) func() bool {
		return func() bool {
			for i, sw := range sws {
				bs := sw.bonding(t)
				carrying := bs.Carrying()
				m := bs.Member(via(sw, n))
				if !slices.Contains(carrying, m.Name) || !bytes.Equal(m.PartnerSystem, sws[1-i].mac) {
					return false
				}
				if only && len(carrying) != 1 {
					return false
				}
			}
			return true
		}
	}
	// open runs tcguard unblock on n and checks it kicked the trunks.
	open := func(n *lacpNode) {
		t.Helper()
		r := n.guard(t, "unblock", n.cfg)
		if !strings.Contains(r.stderr, "taken down and up") {
			t.Errorf("unblock on %s did not kick the pass-through trunks: %q", n.name, r.stderr)
		}
	}
	// onlyOpen checks the guards: n open, the other node blocked.
	onlyOpen := func(n *lacpNode) {
		t.Helper()
		for _, m := range nodes {
			want := "blocked"
			if m == n {
				want = "open"
			}
			if s := m.status(t, m.cfg); s.State != want || !s.OK {
				t.Fatalf("node %s: tcguard status %+v, want %s", m.name, s, want)
			}
		}
	}

	// 1. A opens: each bond bundles the member through A, and only it.
	start := time.Now()
	open(a)
	took := lacpWithin(t, sws, "both bonds bundled through A alone", start, bundledThrough(a, true))
	t.Logf("%s datapath: A opened -> both bonds bundled through A: %v", datapath, took)
	for _, sw := range sws {
		m := sw.bonding(t).Member(via(sw, b))
		if m.Aggregator == sw.bonding(t).ActiveAggregator || m.HasPartner() {
			t.Fatalf("%s: the member through blocked B is in the active aggregator or has a partner: %+v", sw.bond, m)
		}
	}
	onlyOpen(a)
	if got := b.passCounts(t); got["q0"] != 0 || got["v0"] != 0 {
		t.Fatalf("blocked B passed slow-protocol frames: %v", got)
	}
	// Counted frames cross translated, through A, each once.
	s := startLacpStream(t, "open", q, v)
	s.waitDelivered(t, "a steady stream", lacpFailoverPatience, func(n [2]int) bool { return n[0] >= lacpSteady && n[1] >= lacpSteady })
	s.stopSending()
	s.waitDelivered(t, "every frame sent", lacpFailoverPatience, func(n [2]int) bool { return n[0] == s.sentCount(0) && n[1] == s.sentCount(1) })
	s.stop()
	for d := range 2 {
		st := s.flow(d)
		t.Logf("%s datapath: A open, direction %d: %v", datapath, d, st)
		if st.lost != 0 || st.dups != 0 || st.sendErrs != 0 {
			t.Errorf("direction %d through A: %v, %d send errors", d, st, st.sendErrs)
		}
		if len(st.firstVia) != 1 || st.lastVia[via(s.sw[1-d], a)] != st.sent-1 {
			t.Errorf("direction %d: came in by %v, want only the member through A", d, st.lastVia)
		}
	}
	lacpClean(t, s)

	// 2. Planned switchover under traffic: block A, then unblock B (B's
	// kick), as Pacemaker demotes and promotes.
	s = startLacpStream(t, "switchover", q, v)
	s.waitDelivered(t, "a steady stream", lacpFailoverPatience, func(n [2]int) bool { return n[0] >= lacpSteady && n[1] >= lacpSteady })
	start = time.Now()
	rb := a.guard(t, "block", a.cfg)
	blocked := time.Since(start)
	open(b)
	unblocked := time.Since(start)
	bundled := lacpWithin(t, sws, "B's members bundled", start, bundledThrough(b, false))
	recovered := lacpWithin(t, sws, "both bonds through B alone", start, bundledThrough(b, true))
	onlyOpen(b)
	lacpMove(t, s, datapath, "planned switchover A -> B", start, via, a, b)
	t.Logf("%s datapath: planned switchover: block A %v (tcguard %v), unblock B done at %v, B's members bundled at %v, A's out of both bundles at %v",
		datapath, blocked.Round(time.Millisecond), rb.took.Round(time.Millisecond), unblocked.Round(time.Millisecond), bundled, recovered)

	// 3. Carrier propagation on the open node: the QinQ switch's member
	// to B goes down; B takes its other trunk down, and the VLAN switch's
	// bond loses the member to B at once (not after LACP's 3 s).
	links := subscribeLinks(t, b.ns)
	start = time.Now()
	q.setMember(t, via(q, b), false)
	downAt := links.waitFor(t, "B's v0 set down", func(u netlink.LinkUpdate) bool {
		return u.Attrs().Name == "v0" && u.Attrs().RawFlags&unix.IFF_UP == 0
	})
	dropped := lacpWithin(t, []*lacpSwitch{v}, "the VLAN switch's bond without its member to B", start, func() bool {
		bs := v.bonding(t)
		return !bs.Member(via(v, b)).Up && !slices.Contains(bs.Carrying(), via(v, b))
	})
	if d := downAt.Sub(start); d > lacpFailoverPatience {
		t.Errorf("B's v0 went down %v after its other trunk's far end, more than %v", d, lacpFailoverPatience)
	}
	b.carrier.wait(t, "(guard open): q0 no carrier, v0 down by carrier propagation")
	t.Logf("%s datapath: carrier propagation on B: QinQ switch's member down -> B's v0 down %v, the VLAN switch's bond without it %v",
		datapath, downAt.Sub(start).Round(time.Millisecond), dropped)
	start = time.Now()
	q.setMember(t, via(q, b), true)
	upAgain := links.waitFor(t, "B's v0 set up", func(u netlink.LinkUpdate) bool {
		return u.Attrs().Name == "v0" && u.Attrs().RawFlags&unix.IFF_UP != 0
	})
	rebundled := lacpWithin(t, sws, "both bonds through B again", start, bundledThrough(b, true))
	t.Logf("%s datapath: carrier back on B: member up -> B's v0 up %v, both bonds bundled through B %v",
		datapath, upAgain.Sub(start).Round(time.Millisecond), rebundled)

	// 4. B dies while open: its trunks go dark at once (as a node that
	// loses power takes its links with it), then A opens.
	s = startLacpStream(t, "loss", q, v)
	s.waitDelivered(t, "a steady stream", lacpFailoverPatience, func(n [2]int) bool { return n[0] >= lacpSteady && n[1] >= lacpSteady })
	start = time.Now()
	for _, l := range []string{"q0", "v0"} {
		b.setAdmin(t, l, false)
	}
	open(a)
	unblocked = time.Since(start)
	recovered = lacpWithin(t, sws, "both bonds through A alone", start, bundledThrough(a, true))
	lacpMove(t, s, datapath, "loss of B, A opened", start, via, b, a)
	t.Logf("%s datapath: loss of B: unblock A done at %v, both bonds through A alone at %v", datapath, unblocked.Round(time.Millisecond), recovered)
}

// lacpMove lets the stream flow through the new node until each direction
// has delivered lacpSteady more frames, stops it, waits for the last
// frames, and checks the move: no frame duplicated or looped, the old and
// the new node never both carrying (every frame in by the member to the
// new node was sent after every frame in by the member to the old one),
// and once the stream flows through the new node nothing more is lost.
// It logs the gap of each direction.
func lacpMove(t *testing.T, s *lacpStream, datapath, what string, start time.Time, via func(*lacpSwitch, *lacpNode) string, from, to *lacpNode) {
	t.Helper()
	newM := [2]string{via(s.sw[1], to), via(s.sw[0], to)} // by direction: where it comes in
	s.waitDelivered(t, "the stream through "+to.name, lacpFailoverPatience, func([2]int) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.via[0][newM[0]]) >= lacpSteady && len(s.via[1][newM[1]]) >= lacpSteady
	})
	s.stopSending()
	last := [2]int{s.sentCount(0) - 1, s.sentCount(1) - 1}
	s.waitDelivered(t, "the last frames", lacpFailoverPatience, func([2]int) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.delivered[0][last[0]] > 0 && s.delivered[1][last[1]] > 0
	})
	s.stop()
	for d := range 2 {
		st := s.flow(d)
		in := s.sw[1-d] // where direction d arrives
		oldM, newM := via(in, from), via(in, to)
		t.Logf("%s datapath: %s, direction %d: %v", datapath, what, d, st)
		if st.dups != 0 {
			t.Errorf("%s, direction %d: %d frames duplicated", what, d, st.dups)
		}
		first, ok := st.firstVia[newM]
		if !ok {
			t.Errorf("%s, direction %d: nothing came in through %s", what, d, to.name)
			continue
		}
		if last, ok := st.lastVia[oldM]; ok && last >= first {
			t.Errorf("%s, direction %d: both nodes carried: frame %d in by %s after frame %d by %s", what, d, last, oldM, first, newM)
		}
		if n := st.lostAfter(first); n != 0 {
			t.Errorf("%s, direction %d: %d frames lost after the stream came through %s (from frame %d)", what, d, n, to.name, first)
		}
		t.Logf("%s datapath: %s, direction %d: gap %v (%d frames lost), first frame through %s sent %v after the move began",
			datapath, what, d, st.gap.Round(time.Millisecond), st.lost, to.name, st.sentAt(first).Sub(start).Round(time.Millisecond))
	}
	lacpClean(t, s)
}

// lacpClean checks that no frame of the stream came back to the switch
// that sent it or left the translator with other tags or addresses.
func lacpClean(t *testing.T, s *lacpStream) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.looped != 0 {
		t.Errorf("stream %s: %d frames looped back to their sender", s.label, s.looped)
	}
	if len(s.wrong) != 0 {
		t.Errorf("stream %s: %d frames not as translated, e.g. %s", s.label, len(s.wrong), s.wrong[0])
	}
}

// lacpWithin waits at most lacpFailoverPatience for cond and returns the
// time since start when it held; on a timeout it shows the bonds.
func lacpWithin(t *testing.T, sws []*lacpSwitch, what string, start time.Time, cond func() bool) time.Duration {
	t.Helper()
	deadline := time.Now().Add(lacpFailoverPatience)
	for !cond() {
		if time.Now().After(deadline) {
			for _, s := range sws {
				t.Logf("%s:\n%s", s.bond, s.proc(t))
			}
			t.Fatalf("%s: not reached after %v", what, lacpFailoverPatience)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start).Round(10 * time.Millisecond)
}

// setMember sets a member of the switch's bond up or down.
func (s *lacpSwitch) setMember(t *testing.T, name string, up bool) {
	t.Helper()
	l, err := s.ns.Link.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if up {
		err = s.ns.Link.LinkSetUp(l)
	} else {
		err = s.ns.Link.LinkSetDown(l)
	}
	if err != nil {
		t.Fatalf("%s %s up=%v: %v", s.bond, name, up, err)
	}
}
