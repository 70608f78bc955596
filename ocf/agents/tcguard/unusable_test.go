package main

import (
	"os"
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl/config/configtest"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// A configuration file over the limits, or one that is no file (a FIFO
// nobody writes to), fails validate-all and start, and never stop, demote
// or monitor: those need no file while a block is recorded, and otherwise
// fall back to the default block without hanging on the file.
func TestUnusableFile(t *testing.T) {
	us, err := configtest.WriteUnusable(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		t.Run(u.Name, func(t *testing.T) {
			cfg := []string{"OCF_RESKEY_config=" + u.Path}
			with := func(env []string) []string { return append(append([]string(nil), cfg...), env...) }
			code := 6 // the file's content: the same on every node
			if !u.Invalid {
				code = 1
			}

			// Nothing applied, never started.
			h := newHarness(t, "")
			h.want("validate-all", cfg, code, u.Sub)
			h.want("start", cfg, code, u.Sub)
			h.want("monitor", with(probe), 7)
			h.want("stop", cfg, 0)
			h.want("demote", cfg, 0)

			// Running on the applied configuration, then the file went bad.
			h = newHarness(t, cfgTwo)
			h.bridge(cfgTwo)
			h.want("start", nil, 0)
			h.want("promote", nil, 0)
			h.want("monitor", with(promoted), 8)
			h.want("demote", cfg, 0)
			h.wantState(tcguard.Blocked)
			h.want("promote", cfg, 0)
			if err := os.Remove(h.k.Dir + "/" + startedFile); err != nil {
				t.Fatal(err)
			}
			h.want("stop", cfg, 0) // no started marker: the applied block
			h.wantState(tcguard.Blocked)
		})
	}
}
