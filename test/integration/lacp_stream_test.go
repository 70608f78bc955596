//go:build integration

package integration

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// lacpStream is a sequence-numbered stream both ways between two switches'
// bonds, sent as a switch sends: through its bond, which picks the member
// (the translator) by its active aggregator. Direction 0 goes from sw[0]
// (the QinQ side, 100.200) to sw[1] (the VLAN side, 300), direction 1
// back. Every test frame of the stream that reaches either switch is
// recorded twice: at the member it came in by (which translator carried
// it) and at the bond (what the switch took in: a bond drops what arrives
// on a member outside its active aggregator). Frame seq of direction d
// comes from src[d] with its last byte seq mod flows: a bond hashes
// flows over its members by the addresses' last bytes (layer2 policy).
type lacpStream struct {
	label string
	sw    [2]*lacpSwitch
	tags  [2][]testbed.Tag // what frames carry on sw[i]'s side
	src   [2]net.HardwareAddr
	flows int
	tx    [2]*testbed.Port // on the bonds

	mu        sync.Mutex
	sent      [2][]time.Time      // by direction: when seq i was sent
	sendErrs  [2]int              // sends the socket refused (the frame counts as lost)
	delivered [2]map[int]int      // by direction: seq -> times the receiving bond took it
	via       [2]map[string][]int // by direction: member -> seqs that came in by it, in order
	looped    int                 // frames back at the switch that sent them
	sockDrops int                 // frames the test's sockets dropped (buffer full)
	wrong     []string            // frames with other tags or addresses than the translation's
	update    chan struct{}       // a frame arrived
	quit      chan struct{}       // stops senders and receivers
	sending   chan struct{}       // stops senders
	senders   sync.WaitGroup
	wg        sync.WaitGroup // the receivers
	ports     []*testbed.Port
	stopOnce  sync.Once
	sendOnce  sync.Once
}

// lacpStreamTick paces each direction's sender: one frame per tick.
const lacpStreamTick = time.Millisecond

// startLacpStream starts a stream of one flow each way.
func startLacpStream(t *testing.T, label string, q, v *lacpSwitch) *lacpStream {
	t.Helper()
	return startLacpFlows(t, label, q, v, 1)
}

// startLacpFlows opens a socket on each bond and each member, then starts
// both senders, each sending flows flows in turn.
func startLacpFlows(t *testing.T, label string, q, v *lacpSwitch, flows int) *lacpStream {
	t.Helper()
	s := &lacpStream{
		label: label, sw: [2]*lacpSwitch{q, v}, flows: flows,
		tags:    [2][]testbed.Tag{qinq(100, 200), dot1q(300)},
		src:     [2]net.HardwareAddr{{0x02, 0, 0, 0x1f, 0x01, 0}, {0x02, 0, 0, 0x1f, 0x02, 0}},
		update:  make(chan struct{}, 1),
		quit:    make(chan struct{}),
		sending: make(chan struct{}),
	}
	for d := range 2 {
		s.delivered[d] = map[int]int{}
		s.via[d] = map[string][]int{}
	}
	t.Cleanup(s.stop)
	for i, sw := range s.sw {
		for _, dev := range append([]string{sw.bond}, sw.members...) {
			p, err := testbed.OpenPort(sw.ns, dev)
			if err != nil {
				s.stop()
				t.Fatal(err)
			}
			s.ports = append(s.ports, p)
			if dev == sw.bond {
				s.tx[i] = p
			}
			s.wg.Add(1)
			go s.receive(p, i, dev, dev == sw.bond)
		}
	}
	for d := range 2 {
		s.senders.Add(1)
		go s.send(d)
	}
	return s
}

func (s *lacpStream) send(d int) {
	defer s.senders.Done()
	tick := time.NewTicker(lacpStreamTick)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-s.sending:
			return
		case <-s.quit:
			return
		case <-tick.C:
		}
		f := testbed.Frame{Dst: bcDst, Src: s.srcOf(d, seq), Tags: s.tags[d], EtherType: testbed.EtherTypeTest,
			Payload: fmt.Appendf(nil, "qblacp|%s|%d|%d|", s.label, d, seq)}
		s.mu.Lock()
		s.sent[d] = append(s.sent[d], time.Now())
		s.mu.Unlock()
		if err := s.tx[d].Send(f); err != nil {
			s.mu.Lock()
			s.sendErrs[d]++
			s.mu.Unlock()
		}
	}
}

// srcOf is the source address of frame seq of direction d.
func (s *lacpStream) srcOf(d, seq int) net.HardwareAddr {
	a := slices.Clone(s.src[d])
	a[5] = byte(seq % s.flows)
	return a
}

// receive records the stream's frames arriving at dev of switch at.
func (s *lacpStream) receive(p *testbed.Port, at int, dev string, bond bool) {
	defer s.wg.Done()
	p.Receive(s.quit, testbed.EtherTypeTest, func(f testbed.Frame) {
		parts := strings.Split(string(f.Payload), "|")
		if len(parts) < 5 || parts[0] != "qblacp" || parts[1] != s.label {
			return
		}
		d, err1 := strconv.Atoi(parts[2])
		seq, err2 := strconv.Atoi(parts[3])
		if err1 != nil || err2 != nil || d < 0 || d > 1 {
			return
		}
		s.mu.Lock()
		switch {
		case d == at:
			if !bond { // counted once, where it came in
				s.looped++
			}
		case !testbed.SameTags(f.Tags, s.tags[at]) || f.Src.String() != s.srcOf(d, seq).String() || f.Dst.String() != bcDst.String():
			s.wrong = append(s.wrong, fmt.Sprintf("frame %d of direction %d at %s: %v > %v tags %v, want %v", seq, d, dev, f.Src, f.Dst, f.Tags, s.tags[at]))
		case bond:
			s.delivered[d][seq]++
		default:
			s.via[d][dev] = append(s.via[d][dev], seq)
		}
		s.mu.Unlock()
		select {
		case s.update <- struct{}{}:
		default:
		}
	})
}

// stopSending stops both senders and returns once they have: the counts
// of sent frames are final (a frame being sent as it is called is sent
// and counted before it returns). The receivers go on.
func (s *lacpStream) stopSending() {
	s.sendOnce.Do(func() { close(s.sending) })
	s.senders.Wait()
}

// drain stops the senders, waits until every frame sent was delivered
// (at most lacpFailoverPatience) and ends the stream.
func (s *lacpStream) drain(t *testing.T) {
	t.Helper()
	s.stopSending()
	s.waitDelivered(t, "every frame sent", lacpFailoverPatience, func(n [2]int) bool { return n[0] == s.sentCount(0) && n[1] == s.sentCount(1) })
	s.stop()
}

// stop ends the stream and closes its sockets.
func (s *lacpStream) stop() {
	s.stopOnce.Do(func() {
		s.stopSending()
		close(s.quit)
		s.wg.Wait()
		for _, p := range s.ports {
			n, err := p.Drops()
			s.mu.Lock()
			if err != nil {
				s.wrong = append(s.wrong, err.Error())
			}
			s.sockDrops += n
			s.mu.Unlock()
			p.Close()
		}
	})
}

// sentCount is how many frames direction d has sent.
func (s *lacpStream) sentCount(d int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent[d])
}

// inSince counts the frames of direction d that came in by member and
// were sent at at or later.
func (s *lacpStream) inSince(d int, member string, at time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	seqs, n := s.via[d][member], 0
	for i := len(seqs) - 1; i >= 0 && !s.sent[d][seqs[i]].Before(at); i-- {
		n++
	}
	return n
}

// waitDelivered waits until cond holds of the delivered counts, at most
// patience.
func (s *lacpStream) waitDelivered(t *testing.T, what string, patience time.Duration, cond func(delivered [2]int) bool) {
	t.Helper()
	deadline := time.After(patience)
	for {
		s.mu.Lock()
		n := [2]int{len(s.delivered[0]), len(s.delivered[1])}
		s.mu.Unlock()
		if cond(n) {
			return
		}
		select {
		case <-s.update:
		case <-time.After(50 * time.Millisecond): // senders run on: check their counts too
		case <-deadline:
			t.Fatalf("stream %s: %s: not reached after %v (delivered %v of %d, %d sent)", s.label, what, patience, n, s.sentCount(0), s.sentCount(1))
		}
	}
}

// flowStats sums up one direction of a stream.
type flowStats struct {
	sent, delivered, dups, sendErrs int
	lost                            int
	gapFrames                       int            // the longest run of lost frames
	gap                             time.Duration  // from its first frame's send to the next delivered one's
	firstVia                        map[string]int // member -> first seq in by it
	lastVia                         map[string]int
	lostAfter                       func(seq int) int // frames after seq not delivered
	lostSeqs                        func(after int) []int
	seenBy                          func(seq int) []string // the members it came in by
	sentAt                          func(seq int) time.Time
	// deliveredVia is the first frame that came in by member, was sent
	// at from or later and was delivered.
	deliveredVia func(member string, from time.Time) (int, bool)
}

// flow computes the statistics of direction d.
func (s *lacpStream) flow(d int) flowStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	sent := append([]time.Time(nil), s.sent[d]...)
	delivered := map[int]int{}
	for k, v := range s.delivered[d] {
		delivered[k] = v
	}
	st := flowStats{sent: len(sent), sendErrs: s.sendErrs[d], firstVia: map[string]int{}, lastVia: map[string]int{}}
	for seq, n := range delivered {
		if seq < len(sent) {
			st.delivered++
		}
		st.dups += n - 1
	}
	run := 0
	for seq := range sent {
		if delivered[seq] > 0 {
			run = 0
			continue
		}
		st.lost++
		run++
		if run > st.gapFrames {
			st.gapFrames = run
			first, next := sent[seq-run+1], sent[len(sent)-1]
			if seq+1 < len(sent) {
				next = sent[seq+1]
			}
			st.gap = next.Sub(first)
		}
	}
	for m, seqs := range s.via[d] {
		if len(seqs) > 0 {
			st.firstVia[m], st.lastVia[m] = seqs[0], seqs[len(seqs)-1]
		}
	}
	st.lostAfter = func(after int) int {
		n := 0
		for seq := after + 1; seq < len(sent); seq++ {
			if delivered[seq] == 0 {
				n++
			}
		}
		return n
	}
	st.sentAt = func(seq int) time.Time { return sent[seq] }
	st.lostSeqs = func(after int) []int {
		var out []int
		for seq := after + 1; seq < len(sent); seq++ {
			if delivered[seq] == 0 {
				out = append(out, seq)
			}
		}
		return out
	}
	via := map[string][]int{}
	for m, seqs := range s.via[d] {
		via[m] = append([]int(nil), seqs...)
	}
	st.seenBy = func(seq int) []string {
		var out []string
		for m, seqs := range via {
			if slices.Contains(seqs, seq) {
				out = append(out, m)
			}
		}
		return out
	}
	st.deliveredVia = func(member string, from time.Time) (int, bool) {
		for _, seq := range via[member] {
			if seq < len(sent) && !sent[seq].Before(from) && delivered[seq] > 0 {
				return seq, true
			}
		}
		return 0, false
	}
	return st
}

func (st flowStats) String() string {
	return fmt.Sprintf("%d sent, %d delivered, %d lost (longest gap %d frames, %v), %d duplicated, first/last seq by member %v/%v",
		st.sent, st.delivered, st.lost, st.gapFrames, st.gap.Round(time.Millisecond), st.dups, st.firstVia, st.lastVia)
}
