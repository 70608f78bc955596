// Package carrier decides carrier propagation across pass-through pairs
// (what systemd-networkd calls BindCarrier= and switches link-state
// tracking): on a node whose guard is open, a trunk of a pair with
// carrier = true that goes operationally down takes the other trunk
// administratively down until it returns, so the far switch drops that
// member of its bundle at once instead of at LACP's timeout.
//
// Decide is level-triggered: from the pairs, the links' states and the
// record of the downs made so far it computes what to do now, whatever
// happened before (a crash included). It does no I/O.
package carrier

import (
	"slices"
	"strings"
)

// Pair is a pass-through pair with carrier propagation.
type Pair struct {
	A, B string
	// Open: the guard of the pair's group is open on this node. A node
	// that is not promoted propagates nothing (fail closed: its links
	// are none of the switches' business).
	Open bool
}

// Link is a trunk's state.
type Link struct {
	Exists bool
	Index  int
	Up     bool // administratively up (IFF_UP)
	OperUp bool
	// Recovering: it came up a moment ago (we brought it up, an operator
	// did, a renegotiation kick did) and its carrier may not be back yet;
	// its being oper down is not a loss until its grace has passed
	// (Recovery).
	Recovering bool
	// Held: a renegotiation kick has it down or is bringing it up: the
	// kick's, not a loss, and not ours to set.
	Held bool
}

// Down is one trunk bridgectl took down: Trunk (ifindex Index) because
// Cause lost its carrier. The record of these is written before the trunk
// goes down, and an entry is forgotten only once the trunk is up again.
type Down struct {
	Index int
	Trunk string
	Cause string
}

// Plan is what to do now, in this order: write Record (if RecordChanged),
// set Downs down, set Ups up, write After (if AfterChanged). Killed after
// the first write, the record names a trunk that may still be up: the next
// Decide sets it down if its cause is still lost, else forgets it. Killed
// before the last, the record names trunks already up: forgotten next
// time.
type Plan struct {
	Record        []Down
	RecordChanged bool
	Downs         []Down
	Ups           []Down
	After         []Down
	AfterChanged  bool
}

// Empty reports whether the plan does nothing.
func (p Plan) Empty() bool {
	return !p.RecordChanged && len(p.Downs) == 0 && len(p.Ups) == 0 && !p.AfterChanged
}

// Decide computes the plan for pairs, links (by name; a missing name is a
// missing link) and the record.
//
// A trunk is lost when it exists, is oper down, and is neither ours (in
// the record: a trunk we took down never propagates back), recovering nor
// held. The other trunk of its pair goes down, on a node whose guard is
// open, if it exists, is up and is not lost itself: both trunks lost take
// nothing down (each is down anyway, and taking one down would hide its
// carrier's return). Ours come back up when that no longer holds — the
// cause returned or recovers, vanished, the guard closed, the pair left
// the configuration. A trunk down without our record (an operator's) is
// never set up. A recorded trunk found up while its cause is still lost is
// set down again: that is a down a crash interrupted.
func Decide(pairs []Pair, links map[string]Link, record []Down) Plan {
	ours := map[string]Down{}
	var p Plan
	for _, d := range record {
		l := links[d.Trunk]
		if !l.Exists || l.Index != d.Index {
			// Gone, or another device under its name: nothing of ours
			// to bring back.
			p.AfterChanged = true
			continue
		}
		ours[d.Trunk] = d
		p.Record = append(p.Record, d)
	}
	lost := func(name string) bool {
		l := links[name]
		_, mine := ours[name]
		return l.Exists && !l.OperUp && !mine && !l.Recovering && !l.Held
	}
	// want: the trunks that should be down, by the trunk they follow.
	want := map[string]string{}
	for _, pr := range pairs {
		if !pr.Open {
			continue
		}
		for _, d := range [][2]string{{pr.A, pr.B}, {pr.B, pr.A}} {
			cause, target := d[0], d[1]
			if lost(cause) && links[target].Exists && !lost(target) {
				want[target] = cause
			}
		}
	}
	for _, name := range sortedKeys(want) {
		l := links[name]
		if l.Held {
			continue // the kick's for now; decided again when it is done
		}
		if d, mine := ours[name]; mine {
			if l.Up {
				p.Downs = append(p.Downs, d) // an interrupted down
			}
			continue
		}
		if !l.Up {
			continue // down already, not by us: an operator's, never ours
		}
		d := Down{Index: l.Index, Trunk: name, Cause: want[name]}
		p.Record = append(p.Record, d)
		p.RecordChanged = true
		p.Downs = append(p.Downs, d)
	}
	for _, d := range p.Record {
		if _, keep := want[d.Trunk]; keep || links[d.Trunk].Held {
			p.After = append(p.After, d)
			continue
		}
		p.AfterChanged = true
		if !links[d.Trunk].Up {
			p.Ups = append(p.Ups, d)
		}
	}
	sortDowns(p.Record)
	sortDowns(p.After)
	return p
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortDowns(ds []Down) {
	slices.SortFunc(ds, func(a, b Down) int { return strings.Compare(a.Trunk, b.Trunk) })
}
