package traffic

import (
	"sync/atomic"
	"time"
)

// Stats is what a session measured for one flow.
type Stats struct {
	Flow       string `json:"flow"`
	Rate       int    `json:"rate"`
	Sent       int    `json:"sent"`
	Received   int    `json:"received"`   // frames of the flow at its destination, duplicates included
	Lost       int    `json:"lost"`       // sent, never received
	Duplicated int    `json:"duplicated"` // received more than once
	OutOfOrder int    `json:"out_of_order"`
	Bad        int    `json:"bad"`    // wrong tags, addresses or payload
	Looped     int    `json:"looped"` // arrived at another endpoint than its destination
	// LongestGapMs is the longest run of consecutive lost frames, in send
	// time: from the first lost frame's send to the next received frame's
	// (or the end of sending). 0 without loss.
	LongestGapMs float64 `json:"longest_gap_ms"`
	// GapStartMs is when that stretch began, in send time since the
	// session started.
	GapStartMs float64 `json:"gap_start_ms"`
	// CleanTailMs is how long the flow ran without loss at the end, in
	// send time: from the first frame after its last lost one to one
	// interval after its last send (the whole session without loss). 0 if
	// its last frame was lost: a flow that never recovered from an outage.
	CleanTailMs float64 `json:"clean_tail_ms"`
}

// flowState is one flow's accounting. sentNs is written by the sender
// only, seen and outOfOrder by the receiver of the flow's destination
// only; both are read after they stopped.
type flowState struct {
	flow       Flow
	sentNs     []int64 // send time by sequence number
	seen       []uint16
	maxSeq     int64
	outOfOrder int
	bad        atomic.Int64
	looped     atomic.Int64
}

func newFlowState(f Flow) *flowState { return &flowState{flow: f, maxSeq: -1} }

// received records the arrival of seq at the flow's destination.
func (s *flowState) received(seq uint64) {
	if seq >= 1<<32 {
		s.bad.Add(1)
		return
	}
	for uint64(len(s.seen)) <= seq {
		s.seen = append(s.seen, make([]uint16, len(s.seen)+1024)...)
	}
	if s.seen[seq] < ^uint16(0) {
		s.seen[seq]++
	}
	if s.seen[seq] == 1 {
		if int64(seq) < s.maxSeq {
			s.outOfOrder++
		} else {
			s.maxSeq = int64(seq)
		}
	}
}

func (s *flowState) stats() Stats {
	st := Stats{Flow: s.flow.Name, Rate: s.flow.Rate, Sent: len(s.sentNs), OutOfOrder: s.outOfOrder,
		Bad: int(s.bad.Load()), Looped: int(s.looped.Load())}
	seen := func(i int) bool { return i < len(s.seen) && s.seen[i] > 0 }
	for i, n := range s.seen {
		st.Received += int(n)
		if n > 1 {
			st.Duplicated += int(n) - 1
		}
		if i >= st.Sent && n > 0 { // cannot happen: sends are recorded first
			st.Bad += int(n)
		}
	}
	for i := 0; i < st.Sent; i++ {
		if !seen(i) {
			st.Lost++
		}
	}
	interval := int64(time.Second) / int64(max(s.flow.Rate, 1))
	gap, start := longestGap(s.sentNs, seen, interval)
	st.LongestGapMs, st.GapStartMs = ms(gap), ms(start)
	st.CleanTailMs = ms(cleanTail(s.sentNs, seen, interval))
	return st
}

// longestGap returns the longest run of consecutive lost frames as a
// stretch of send time — from the send of its first frame to the send of
// the next frame received (or one interval after the last send) — and
// when it started. Without loss it is 0: a sender that stalls (TCG) makes
// no gap, only frames that were sent and never arrived do.
func longestGap(sentNs []int64, seen func(int) bool, intervalNs int64) (gap, start int64) {
	runStart := -1
	for i, t := range sentNs {
		switch {
		case !seen(i) && runStart < 0:
			runStart = i
		case seen(i) && runStart >= 0:
			if d := t - sentNs[runStart]; d > gap {
				gap, start = d, sentNs[runStart]
			}
			runStart = -1
		}
	}
	if runStart >= 0 {
		if d := sentNs[len(sentNs)-1] + intervalNs - sentNs[runStart]; d > gap {
			gap, start = d, sentNs[runStart]
		}
	}
	return gap, start
}

// cleanTail returns the stretch of send time at the end in which every
// frame arrived: from the send of the first frame after the last lost one
// to one interval after the last send; 0 if the last frame was lost or
// nothing was sent.
func cleanTail(sentNs []int64, seen func(int) bool, intervalNs int64) int64 {
	n := len(sentNs)
	first := n // first frame of the received run that ends the session
	for first > 0 && seen(first-1) {
		first--
	}
	if first == n {
		return 0
	}
	return sentNs[n-1] + intervalNs - sentNs[first]
}

func ms(ns int64) float64 { return float64(ns/1000) / 1000 }
