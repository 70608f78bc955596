package traffic

import (
	"strings"
	"testing"
	"time"
)

func TestCheckRecovered(t *testing.T) {
	const (
		bound = 10 * time.Second
		tail  = 2 * time.Second
	)
	for _, tc := range []struct {
		name   string
		st     Stats
		maxGap time.Duration
		want   string // substring of the error; "" for none
	}{
		{"no loss, no bound", Stats{Sent: 9000, CleanTailMs: 9000}, 0, ""},
		{"no loss allowed, one lost", Stats{Sent: 9000, Lost: 1, LongestGapMs: 1, CleanTailMs: 5000}, 0, "1 lost"},
		{"switchover within the bound", Stats{Sent: 9000, Lost: 800, LongestGapMs: 800, CleanTailMs: 5000}, bound, ""},
		{"gap exactly the bound", Stats{Sent: 40000, Lost: 10000, LongestGapMs: 10000, CleanTailMs: 5000}, bound, ""},
		{"gap over the bound", Stats{Sent: 40000, Lost: 12000, LongestGapMs: 12000.5, GapStartMs: 3000, CleanTailMs: 5000}, bound, "longest gap 12000.5 ms from 3000.0 ms (12000 lost), bound 10s"},
		// Unicast after a switchover without the switch flush: lost from
		// the demote to the end; the gap alone is within the bound.
		{"never recovered", Stats{Sent: 9000, Lost: 6000, LongestGapMs: 6000, GapStartMs: 3000, CleanTailMs: 0}, bound, "did not recover"},
		{"recovered too late", Stats{Sent: 9000, Lost: 7500, LongestGapMs: 7500, CleanTailMs: 1500}, bound, "last 1500.0 ms"},
		{"nothing sent", Stats{}, bound, "no frame sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.st.Flow = "t1 unicast q>v"
			err := tc.st.CheckRecovered(tc.maxGap, tail)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case err != nil && !strings.HasPrefix(err.Error(), tc.st.Flow+": "):
				t.Fatalf("error %q does not name the flow", err)
			}
		})
	}
}

func TestCheckStopped(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   Stats
		ok   bool
	}{
		{"stopped at the removal", Stats{Sent: 9000, Lost: 5000, CleanTailMs: 0}, true},
		{"still forwarded", Stats{Sent: 9000, CleanTailMs: 9000}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.st.CheckStopped(); (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok %v", err, tc.ok)
			}
		})
	}
}
