package traffic

import (
	"fmt"
	"time"
)

// CheckRecovered returns an error naming the flow, its longest gap and the
// bound unless the flow came through an event: frames arrived again and
// kept arriving (none lost in the last `tail` of sending), and its longest
// stretch of lost frames is at most maxGap (maxGap 0: none lost at all).
// Both are needed: a flow that never recovers has a gap only as long as
// the session lasted after the event, which a generous bound may allow.
func (s Stats) CheckRecovered(maxGap, tail time.Duration) error {
	switch {
	case s.Sent == 0:
		return fmt.Errorf("%s: no frame sent", s.Flow)
	case s.CleanTailMs < ms(int64(tail)):
		return fmt.Errorf("%s: did not recover: received without loss for the last %.1f ms of sending only, want %v (longest gap %.1f ms from %.1f ms, bound %v)",
			s.Flow, s.CleanTailMs, tail, s.LongestGapMs, s.GapStartMs, maxGap)
	case maxGap == 0 && s.Lost > 0:
		return fmt.Errorf("%s: %d lost (longest gap %.1f ms from %.1f ms), bound 0: none may be lost",
			s.Flow, s.Lost, s.LongestGapMs, s.GapStartMs)
	case s.LongestGapMs > ms(int64(maxGap)):
		return fmt.Errorf("%s: longest gap %.1f ms from %.1f ms (%d lost), bound %v",
			s.Flow, s.LongestGapMs, s.GapStartMs, s.Lost, maxGap)
	}
	return nil
}

// CheckStopped returns an error unless the flow was no longer forwarded at
// the end: for a flow whose translation the event removed.
func (s Stats) CheckStopped() error {
	if s.CleanTailMs > 0 {
		return fmt.Errorf("%s: its translation was removed, yet its frames of the last %.1f ms of sending arrived", s.Flow, s.CleanTailMs)
	}
	return nil
}
