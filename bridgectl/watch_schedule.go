package bridgectl

import "time"

// schedule decides when the watcher next checks the kernel. It is pure
// (times come in as arguments) so the debounce and back-off rules are
// tested without clocks.
//
//   - Link events come in bursts: deleting a parent removes every VLAN on
//     it, and one apply of ours emits several events per link. A burst is
//     coalesced into one check once it has been quiet for quiet, but no
//     later than max after its first event, so a steady trickle cannot
//     postpone the check for ever.
//   - A start, a reload, a resubscription and the periodic safety net want a
//     check right away (urgent).
//   - After a failed attempt the next retry waits backoff (doubling from
//     minBackoff up to maxBackoff); events still trigger an attempt, but not
//     sooner than max after the failure, so the events of a partial apply
//     cannot turn a persistent failure into a tight loop.
//   - A successful apply is verified by a check after quiet, like a burst
//     (its own events join that burst). A verification that finds no drift
//     ends the cycle; one that finds drift again applies again, and after
//     fightLimit applies in a row without a clean check the watcher backs
//     off as after a failure: something else keeps changing our links.
type schedule struct {
	quiet, max             time.Duration
	minBackoff, maxBackoff time.Duration

	first, last time.Time // the pending burst; zero: none
	urgent      bool      // check at once
	failedAt    time.Time // zero: the last attempt did not fail
	backoff     time.Duration
	applies     int // applies in a row without a clean check
}

// fightLimit is how many applies in a row, each followed by drift again,
// are taken as a fight with another program rather than as healing.
const fightLimit = 3

// event records a relevant link event at now.
func (s *schedule) event(now time.Time) {
	if s.first.IsZero() {
		s.first = now
	}
	s.last = now
}

// now asks for a check at once.
func (s *schedule) now() { s.urgent = true }

// next returns when the next check is due; false if none is wanted. A time
// in the past means at once.
func (s *schedule) next() (time.Time, bool) {
	var at time.Time
	ok := false
	consider := func(t time.Time) {
		if !ok || t.Before(at) {
			at, ok = t, true
		}
	}
	if s.urgent {
		consider(time.Time{})
	}
	if !s.first.IsZero() {
		t := s.last.Add(s.quiet)
		if limit := s.first.Add(s.max); limit.Before(t) {
			t = limit
		}
		if !s.failedAt.IsZero() {
			if spaced := s.failedAt.Add(s.max); t.Before(spaced) {
				t = spaced
			}
		}
		consider(t)
	}
	if !s.failedAt.IsZero() {
		consider(s.failedAt.Add(s.backoff))
	}
	return at, ok
}

// outcome is what one attempt found and did.
type outcome int

const (
	clean  outcome = iota // no drift: converged
	healed                // drift found and applied
	failed                // the observation or the apply failed
)

// attempted records an attempt that ended at now. It clears what was
// pending: events that arrive later start a new burst.
func (s *schedule) attempted(now time.Time, o outcome) {
	s.urgent = false
	s.first, s.last = time.Time{}, time.Time{}
	switch o {
	case clean:
		s.failedAt, s.backoff, s.applies = time.Time{}, 0, 0
	case healed:
		s.applies++
		if s.applies >= fightLimit {
			s.fail(now)
			return
		}
		s.failedAt, s.backoff = time.Time{}, 0
		s.event(now) // verify once our own events have settled
	case failed:
		s.fail(now)
	}
}

func (s *schedule) fail(now time.Time) {
	s.failedAt = now
	switch {
	case s.backoff == 0:
		s.backoff = s.minBackoff
	case s.backoff < s.maxBackoff:
		s.backoff = min(2*s.backoff, s.maxBackoff)
	}
}

// fighting reports whether the last applies did not stick.
func (s *schedule) fighting() bool { return s.applies >= fightLimit }
