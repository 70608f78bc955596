package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeBounce records the interfaces set down and up; each parent is its
// own trunk.
type fakeBounce struct{ calls []string }

func (f *fakeBounce) Trunks(_ string, parents []string) ([]string, error) { return parents, nil }

func (f *fakeBounce) SetUp(_ string, names []string, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	f.calls = append(f.calls, state+" "+strings.Join(names, ","))
	return nil
}

func TestSwitchFlush(t *testing.T) {
	for _, tc := range []struct {
		name  string
		param string // switch_flush_ms; "" leaves the default (off)
		want  []string
	}{
		{"off by default", "", nil},
		{"off", "0", nil},
		{"on", "5", []string{"down eth0,eth1,eth2", "up eth0,eth1,eth2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cfgTwo)
			fb := &fakeBounce{}
			h.agent = newAgent(&guard{open: h.k.Open, score: h.score, bounce: fb})
			if tc.param != "" {
				h.env = append(h.env, "OCF_RESKEY_"+ParamSwitchFlush+"="+tc.param)
			}
			h.bridge(cfgTwo)
			h.want("start", nil, 0)
			h.want("promote", nil, 0)
			if len(fb.calls) != 0 {
				t.Fatalf("promote bounced %v", fb.calls)
			}
			h.want("demote", nil, 0)
			if !slices.Equal(fb.calls, tc.want) {
				t.Fatalf("demote: %v, want %v", fb.calls, tc.want)
			}
			if _, err := os.Stat(filepath.Join(h.k.Dir, flushFile)); !os.IsNotExist(err) {
				t.Fatalf("flush marker left after demote: %v", err)
			}
		})
	}
}

// A demote killed while the trunks were down leaves the marker: the next
// monitor (or start, promote) brings them up.
func TestSwitchFlushKilled(t *testing.T) {
	h := newHarness(t, cfgTwo)
	fb := &fakeBounce{}
	h.agent = newAgent(&guard{open: h.k.Open, score: h.score, bounce: fb})
	h.bridge(cfgTwo)
	h.want("start", nil, 0)
	if err := os.WriteFile(filepath.Join(h.k.Dir, flushFile), []byte("eth0\neth1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.want("monitor", unpromoted, 0)
	if !slices.Equal(fb.calls, []string{"up eth0,eth1"}) {
		t.Fatalf("monitor: %v", fb.calls)
	}
	if _, err := os.Stat(filepath.Join(h.k.Dir, flushFile)); !os.IsNotExist(err) {
		t.Fatalf("flush marker left: %v", err)
	}
}
