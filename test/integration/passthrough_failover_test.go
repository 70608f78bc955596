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
// (TestPassthroughLACP's configuration, with carrier propagation.)
const lacpFailoverConfig = lacpConfig + "carrier = true\n"

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
	s.drain(t)
	for d := range 2 {
		st := s.flow(d)
		t.Logf("%s datapath: A open, direction %d: %v", datapath, d, st)
		if st.lost != 0 || st.dups != 0 || st.sendErrs != 0 {
			t.Errorf("direction %d through A: %v, %d send errors", d, st, st.sendErrs)
		}
		if _, ok := st.firstVia[via(s.sw[1-d], a)]; !ok || len(st.firstVia) != 1 {
			t.Errorf("direction %d: came in by %v, want only the member through A", d, st.firstVia)
		}
	}
	lacpClean(t, s)

	// move runs a stream through from, performs event (which opens to)
	// once it is steady, waits until both bonds are bundled through to
	// alone, checks the stream (lacpMove) and logs the times.
	move := func(what string, from, to *lacpNode, event func()) {
		t.Helper()
		s := startLacpStream(t, what, q, v)
		s.waitDelivered(t, "a steady stream", lacpFailoverPatience, func(n [2]int) bool { return n[0] >= lacpSteady && n[1] >= lacpSteady })
		start := time.Now()
		event()
		opened := time.Since(start)
		bundled := lacpWithin(t, sws, to.name+"'s members bundled", start, bundledThrough(to, false))
		recovered := lacpWithin(t, sws, "both bonds through "+to.name+" alone", start, bundledThrough(to, true))
		lacpMove(t, s, datapath, what, start, time.Now(), via, from, to, true)
		t.Logf("%s datapath: %s: %s opened at %v, its members bundled at %v, %s's out of both bundles at %v",
			datapath, what, to.name, opened.Round(time.Millisecond), bundled, from.name, recovered)
	}

	// 2. Planned switchover by hand: block A, then unblock B (B's kick).
	move("planned switchover A -> B (tcguard)", a, b, func() {
		a.guard(t, "block", a.cfg)
		open(b)
	})
	onlyOpen(b)

	// 3. Planned switchover as the agents do it: the demote blocks B and
	// holds its pass-through trunks down for 3 s (the agent's
	// passthroughHold; a detached process brings them up), then the
	// promote unblocks A. The switches see B's members go at once, and
	// A's come up while B's are still down.
	restored := make(chan struct{})
	move("planned switchover B -> A (demote with switch flush, promote)", b, a, func() {
		b.guard(t, "block", b.cfg)
		for _, l := range []string{"q0", "v0"} {
			b.setAdmin(t, l, false)
		}
		time.AfterFunc(3*time.Second, func() { // the agent's hold, not a wait of the test
			defer close(restored)
			for _, name := range []string{"q0", "v0"} {
				l, err := b.ns.Link.LinkByName(name)
				if err == nil {
					err = b.ns.Link.LinkSetUp(l)
				}
				if err != nil {
					t.Errorf("B's %s up after the flush: %v", name, err)
				}
			}
		})
		t.Cleanup(func() { <-restored })
		open(a)
	})
	// B's members back (blocked) leave the bundles through A as they are.
	<-restored
	lacpWithin(t, sws, "both bonds through A alone, B's members back", time.Now(), bundledThrough(a, true))
	onlyOpen(a)

	// 4. Carrier propagation on the open node: the QinQ switch's member
	// to A goes down; A takes its other trunk down, and the VLAN switch's
	// bond loses its member to A at once (not after LACP's 3 s).
	links := subscribeLinks(t, a.ns)
	start = time.Now()
	q.setMember(t, via(q, a), false)
	downAt := links.waitFor(t, "A's v0 set down", func(u netlink.LinkUpdate) bool {
		return u.Attrs().Name == "v0" && u.Attrs().RawFlags&unix.IFF_UP == 0
	})
	dropped := lacpWithin(t, []*lacpSwitch{v}, "the VLAN switch's bond without its member to A", start, func() bool {
		bs := v.bonding(t)
		return !bs.Member(via(v, a)).Up && !slices.Contains(bs.Carrying(), via(v, a))
	})
	if d := downAt.Sub(start); d > lacpFailoverPatience {
		t.Errorf("A's v0 went down %v after its other trunk's far end, more than %v", d, lacpFailoverPatience)
	}
	a.carrier.wait(t, "(guard open): q0 no carrier, v0 down by carrier propagation")
	t.Logf("%s datapath: carrier propagation on A: QinQ switch's member down -> A's v0 down %v, the VLAN switch's bond without it %v",
		datapath, downAt.Sub(start).Round(time.Millisecond), dropped)
	start = time.Now()
	q.setMember(t, via(q, a), true)
	upAgain := links.waitFor(t, "A's v0 set up", func(u netlink.LinkUpdate) bool {
		return u.Attrs().Name == "v0" && u.Attrs().RawFlags&unix.IFF_UP != 0
	})
	rebundled := lacpWithin(t, sws, "both bonds through A again", start, bundledThrough(a, true))
	t.Logf("%s datapath: carrier back on A: member up -> A's v0 up %v, both bonds bundled through A %v",
		datapath, upAgain.Sub(start).Round(time.Millisecond), rebundled)

	// 5. A dies while open: its trunks go dark at once (a node that loses
	// power takes its links with it), then B opens (here at once; under
	// Pacemaker after the cluster noticed).
	move("loss of A, B opened", a, b, func() {
		for _, l := range []string{"q0", "v0"} {
			a.setAdmin(t, l, false)
		}
		open(b)
	})

	// 6. Standalone active/active (no cluster: both guards opened by
	// hand): A comes back blocked, as a node does after a reboot, and is
	// opened beside B. Both switches bundle both members and hash the
	// flows over both translators; nothing is lost, duplicated or looped.
	a.guard(t, "block", a.cfg)
	for _, l := range []string{"q0", "v0"} {
		a.setAdmin(t, l, true)
	}
	start = time.Now()
	open(a)
	both := lacpWithin(t, sws, "both bonds bundled through A and B", start, func() bool {
		return bundledThrough(a, false)() && bundledThrough(b, false)()
	})
	t.Logf("%s datapath: active/active: A opened beside B -> both bonds bundled through both %v", datapath, both)
	s = startLacpFlows(t, "active/active", q, v, 8)
	s.waitDelivered(t, "a steady stream", lacpFailoverPatience, func(n [2]int) bool { return n[0] >= 2*lacpSteady && n[1] >= 2*lacpSteady })
	s.drain(t)
	for d := range 2 {
		st := s.flow(d)
		t.Logf("%s datapath: active/active, direction %d: %v", datapath, d, st)
		if st.lost != 0 || st.dups != 0 || st.sendErrs != 0 {
			t.Errorf("active/active, direction %d: %v, %d send errors", d, st, st.sendErrs)
		}
		for _, n := range nodes {
			if _, ok := st.firstVia[via(s.sw[1-d], n)]; !ok {
				t.Errorf("active/active, direction %d: no frame came in through %s (by member: %v)", d, n.name, st.lastVia)
			}
		}
	}
	lacpClean(t, s)

	// 7. Active/active, B's links die: the switches drop B's members as
	// their carrier goes (miimon) and hash every flow to A.
	s = startLacpFlows(t, "active/active, loss of B", q, v, 8)
	s.waitDelivered(t, "a steady stream", lacpFailoverPatience, func(n [2]int) bool { return n[0] >= lacpSteady && n[1] >= lacpSteady })
	start = time.Now()
	for _, l := range []string{"q0", "v0"} {
		b.setAdmin(t, l, false)
	}
	recovered := lacpWithin(t, sws, "both bonds through A alone", start, bundledThrough(a, true))
	lacpMove(t, s, datapath, "active/active, loss of B", start, time.Now(), via, b, a, false)
	t.Logf("%s datapath: active/active, loss of B: both bonds through A alone at %v", datapath, recovered)
}

// lacpMove lets the stream flow through the new node until each direction
// has had lacpSteady frames sent after recovered in by it, stops the stream, waits for the last
// frames, and checks the move: no frame duplicated or looped, with
// exclusive the old and the new node never both carrying (every frame in
// by the member to the new node was sent after every frame in by the
// member to the old one; active/active has both carry before the move),
// and nothing lost once the stream flows through the new node after the
// bonds reported the bundle there (recovered; a bond's transmit path
// follows its aggregator a moment later, so the first frame delivered
// after that marks recovery). It logs each direction's gap.
func lacpMove(t *testing.T, s *lacpStream, datapath, what string, start, recovered time.Time, via func(*lacpSwitch, *lacpNode) string, from, to *lacpNode, exclusive bool) {
	t.Helper()
	newM := [2]string{via(s.sw[1], to), via(s.sw[0], to)} // by direction: where it comes in
	s.waitDelivered(t, "the stream through "+to.name, lacpFailoverPatience, func([2]int) bool {
		return s.inSince(0, newM[0], recovered) >= lacpSteady && s.inSince(1, newM[1], recovered) >= lacpSteady
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
		if last, ok := st.lastVia[oldM]; exclusive && ok && last >= first {
			t.Errorf("%s, direction %d: both nodes carried: frame %d in by %s after frame %d by %s", what, d, last, oldM, first, newM)
		}
		back, ok := st.deliveredVia(newM, recovered)
		if !ok {
			t.Errorf("%s, direction %d: nothing sent after the bundle through %s was delivered", what, d, to.name)
			continue
		}
		if lost := st.lostSeqs(back); len(lost) != 0 {
			var where []string
			for _, seq := range lost[:min(len(lost), 10)] {
				where = append(where, fmt.Sprintf("%d (sent at %v, in by %v)", seq, st.sentAt(seq).Sub(start).Round(time.Millisecond), st.seenBy(seq)))
			}
			t.Errorf("%s, direction %d: %d frames lost after the stream flowed through %s again (from frame %d): %s", what, d, len(lost), to.name, back, strings.Join(where, ", "))
		}
		t.Logf("%s datapath: %s, direction %d: gap %v (%d frames lost in all), first frame in through %s sent at %v, %d frames lost between the bundle and frame %d (sent at %v)",
			datapath, what, d, st.gap.Round(time.Millisecond), st.lost, to.name, st.sentAt(first).Sub(start).Round(time.Millisecond),
			st.lostAfter(firstAtOrAfter(st, recovered)-1)-st.lostAfter(back), back, st.sentAt(back).Sub(start).Round(time.Millisecond))
	}
	lacpClean(t, s)
}

// firstAtOrAfter is the first frame sent at at or later.
func firstAtOrAfter(st flowStats, at time.Time) int {
	seq := 0
	for seq < st.sent && st.sentAt(seq).Before(at) {
		seq++
	}
	return seq
}

// lacpClean checks that no frame of the stream came back to the switch
// that sent it or left the translator with other tags or addresses.
func lacpClean(t *testing.T, s *lacpStream) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sockDrops != 0 {
		t.Errorf("stream %s: the test's sockets dropped %d frames (receive buffers full): the counts above are not the translators'", s.label, s.sockDrops)
	}
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
