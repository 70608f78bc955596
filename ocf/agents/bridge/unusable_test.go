package main

import (
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl/config/configtest"
)

// A configuration file over the limits, or one that is no file (a FIFO
// nobody writes to), fails validate-all and start, is refused by
// reload-agent (the applied configuration keeps running); a running
// bridge's monitor (which reads the file every interval) reports it as
// degraded, without hanging or allocating without bound; stop succeeds.
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
			h := newHarness(t, cfgAcme)
			h.want("validate-all", cfg, code, u.Sub)
			h.want("start", cfg, code, u.Sub)
			h.want("monitor", with(probe), 7)
			h.want("stop", cfg, 0)

			h.started()
			h.want("monitor", with(recurring), 190, "applied configuration runs", u.Sub)
			// Refused; the applied configuration keeps running.
			h.want("reload-agent", cfg, 0)
			h.want("monitor", with(recurring), 190, "applied configuration runs", u.Sub)
			h.want("monitor", recurring, 0)
			h.want("stop", cfg, 0)
			if n := h.k.Owned(); n != 0 {
				t.Fatalf("%d links of ours left after stop", n)
			}
		})
	}
}
