package bridgectl

import (
	"testing"
	"time"
)

// TestSchedule runs sequences of events and attempts against the schedule
// (times in milliseconds from an epoch) and checks when the next check is
// due. quiet 100, max 1000, backoff 1000 doubling up to 4000.
func TestSchedule(t *testing.T) {
	const none = -1 // no check wanted
	type step struct {
		op   string // "event", "now", "clean", "healed", "failed"
		at   int    // ms
		want int    // next check due, ms; none
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"nothing pending", []step{
			{"clean", 0, none},
		}},
		{"urgent is at once", []step{
			{"now", 5, 0},
			{"clean", 6, none},
		}},
		{"one event waits for quiet", []step{
			{"event", 0, 100},
		}},
		{"a burst is coalesced until quiet", []step{
			{"event", 0, 100},
			{"event", 50, 150},
			{"event", 120, 220},
			{"clean", 220, none},
		}},
		{"a steady trickle is bounded by max", []step{
			{"event", 0, 100},
			{"event", 90, 190},
			{"event", 180, 280},
			{"event", 950, 1000},
			{"event", 990, 1000},
			{"clean", 1000, none},
		}},
		{"events after an attempt start a new burst", []step{
			{"event", 0, 100},
			{"clean", 100, none},
			{"event", 2000, 2100},
		}},
		{"an apply is verified after quiet", []step{
			{"event", 0, 100},
			{"healed", 150, 250},
			{"event", 170, 270}, // our own events join the verification
			{"clean", 270, none},
		}},
		{"failures back off, doubling to the cap", []step{
			{"now", 0, 0},
			{"failed", 0, 1000},
			{"failed", 1000, 3000},
			{"failed", 3000, 7000},
			{"failed", 7000, 11000},
			{"failed", 11000, 15000},
			{"clean", 15000, none},
		}},
		{"events after a failure wait at least max", []step{
			{"failed", 0, 1000},
			{"failed", 1000, 3000},
			{"event", 1100, 2000}, // e.g. the parent came back: sooner than the retry
			{"failed", 2000, 6000},
			{"event", 2100, 3000},
			{"clean", 3000, none},
		}},
		{"urgent overrides the back-off", []step{
			{"failed", 0, 1000},
			{"now", 10, 0},
		}},
		{"success resets the back-off", []step{
			{"failed", 0, 1000},
			{"failed", 1000, 3000},
			{"clean", 3000, none},
			{"failed", 5000, 6000},
		}},
		{"applies that never stick back off", []step{
			{"event", 0, 100},
			{"healed", 100, 200},
			{"healed", 200, 300},
			{"healed", 300, 1300}, // fightLimit: back off as after a failure
			{"healed", 1300, 3300},
			{"clean", 3300, none},
			{"event", 4000, 4100},
			{"healed", 4100, 4200}, // a clean check ended the fight
		}},
	}
	epoch := time.Unix(1_700_000_000, 0)
	ms := func(n int) time.Time { return epoch.Add(time.Duration(n) * time.Millisecond) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &schedule{quiet: 100 * time.Millisecond, max: time.Second, minBackoff: time.Second, maxBackoff: 4 * time.Second}
			for i, st := range tt.steps {
				switch st.op {
				case "event":
					s.event(ms(st.at))
				case "now":
					s.now()
				case "clean":
					s.attempted(ms(st.at), clean)
				case "healed":
					s.attempted(ms(st.at), healed)
				case "failed":
					s.attempted(ms(st.at), failed)
				default:
					t.Fatalf("bad op %q", st.op)
				}
				at, ok := s.next()
				switch {
				case st.want == none && ok:
					t.Errorf("step %d %s@%d: check due at %v, want none", i, st.op, st.at, at.Sub(epoch))
				case st.want == 0 && ok && at.After(ms(st.at)):
					t.Errorf("step %d %s@%d: check due at %v, want at once", i, st.op, st.at, at.Sub(epoch))
				case st.want > 0 && (!ok || !at.Equal(ms(st.want))):
					t.Errorf("step %d %s@%d: check due at %v (%v), want %dms", i, st.op, st.at, at.Sub(epoch), ok, st.want)
				case st.want == 0 && !ok:
					t.Errorf("step %d %s@%d: no check due, want at once", i, st.op, st.at)
				}
			}
		})
	}
}
