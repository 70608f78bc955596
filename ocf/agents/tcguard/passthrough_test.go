package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// cfgPass passes LACP between acme's trunks.
const cfgPass = cfgTwo + `
[[passthrough]]
a = "eth0"
b = "eth1"
protocols = ["lacp"]
`

// trunkOps are the kernel log's downs and ups of trunks, in order.
func trunkOps(log []string) []string {
	var out []string
	for _, l := range log {
		if strings.HasPrefix(l, "down eth") || strings.HasPrefix(l, "up eth") {
			out = append(out, l)
		}
	}
	return out
}

// Promote opens the guard, then takes the pass-through trunks down and up
// (the switches renegotiate LACP at once); a guard without pass-throughs
// flaps nothing.
func TestPromoteKicksPassthroughs(t *testing.T) {
	for _, c := range []struct {
		name, cfg string
		want      []string
	}{
		{"pass-through", cfgPass, []string{"down eth0", "down eth1", "up eth0", "up eth1"}},
		{"none", cfgTwo, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.cfg)
			h.bridge(c.cfg)
			h.want("start", nil, 0)
			h.k.Kernel.Log = nil
			r := h.want("promote", nil, 0)
			if got := trunkOps(h.k.Kernel.Log); !slices.Equal(got, c.want) {
				t.Fatalf("promote: %q, want %q", got, c.want)
			}
			if (c.want != nil) != strings.Contains(r.log, "renegotiate LACP") {
				t.Errorf("promote's log: %q", r.log)
			}
			for _, trunk := range []string{"eth0", "eth1"} {
				if !h.k.Link(trunk).Up {
					t.Fatalf("%s left down", trunk)
				}
			}
		})
	}
}

// A kick killed between its down and its up (its record left, a trunk
// down) is ended by the next start, promote or stop.
func TestKilledKickRestored(t *testing.T) {
	for _, action := range []string{"start", "promote", "stop"} {
		t.Run(action, func(t *testing.T) {
			h := newHarness(t, cfgPass)
			h.bridge(cfgPass)
			if action != "start" {
				h.want("start", nil, 0)
			}
			h.k.SetLink("eth0", func(o *plan.Observed) { o.Up = false })
			rec := filepath.Join(h.stateDir, "default", "passthrough-kick")
			if err := os.WriteFile(rec, fmt.Appendf(nil, "%d eth0\n", h.k.Link("eth0").Index), 0o644); err != nil {
				t.Fatal(err)
			}
			h.want(action, nil, 0)
			if !h.k.Link("eth0").Up {
				t.Fatalf("%s left eth0 down", action)
			}
			if _, err := os.Stat(rec); !os.IsNotExist(err) {
				t.Fatalf("%s left the kick's record: %v", action, err)
			}
		})
	}
}
