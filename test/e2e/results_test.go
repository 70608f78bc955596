//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/test/e2e/traffic"
)

// row is one line of the result table: one flow in one scenario.
type row struct {
	Test      string        `json:"test"`
	Scenario  string        `json:"scenario"`
	Group     string        `json:"group"` // the flow's translation group
	Moved     bool          `json:"moved"` // the scenario's event promoted the group elsewhere
	Stats     traffic.Stats `json:"stats"`
	PromoteMs float64       `json:"promote_ms"` // the group's; -1: no promotion of it in this scenario
}

// results are the rows of every cluster test of the boot, in the order
// they ran: one table, so that the groups test's gaps stand next to the
// single guard's.
var results []row

// notes are lines printed under the table (the groups test's comparisons).
var notes []string

func TestMain(m *testing.M) {
	code := m.Run()
	printTable()
	os.Exit(code)
}

// longestGap is the longest gap of the flows of group ("": any) in one
// scenario of one test, in ms; false if no row matches.
func longestGap(test, scenario, group string) (float64, bool) {
	gap, found := 0.0, false
	for _, r := range results {
		if r.Test == test && r.Scenario == scenario && (group == "" || r.Group == group) {
			gap, found = max(gap, r.Stats.LongestGapMs), true
		}
	}
	return gap, found
}

// printTable prints every row and note, and keeps them (e2e-table.txt,
// e2e.json) in QB_RESULTS.
func printTable() {
	if len(results) == 0 {
		return
	}
	var b strings.Builder
	test := ""
	for _, r := range results {
		if r.Test != test {
			test = r.Test
			fmt.Fprintf(&b, "\n%s (%s datapath)\n%-24s %-26s %7s %6s %4s %4s %5s %10s %10s %11s\n", test, *datapath, "scenario", "flow", "sent", "lost", "dup", "ooo", "loop", "gap ms", "tail ms", "promote ms")
		}
		p := "-"
		if r.PromoteMs >= 0 {
			p = fmt.Sprintf("%.0f", r.PromoteMs)
		}
		s := r.Stats
		fmt.Fprintf(&b, "%-24s %-26s %7d %6d %4d %4d %5d %10.1f %10.1f %11s\n", r.Scenario, s.Flow, s.Sent, s.Lost, s.Duplicated, s.OutOfOrder, s.Looped, s.LongestGapMs, s.CleanTailMs, p)
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	fmt.Print(b.String())
	if res := os.Getenv("QB_RESULTS"); res != "" {
		os.WriteFile(filepath.Join(res, "e2e-table.txt"), []byte(b.String()), 0o644)
		if j, err := json.MarshalIndent(results, "", "  "); err == nil {
			os.WriteFile(filepath.Join(res, "e2e.json"), j, 0o644)
		}
	}
}
