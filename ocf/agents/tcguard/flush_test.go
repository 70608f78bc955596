package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qinqbridge/qinqbridge/ocf"
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

// fakeRestorer records that a demote detached a restorer.
type fakeRestorer struct{ detached int }

func (f *fakeRestorer) Detach(*ocf.Request) error { f.detached++; return nil }

// flushHarness is a harness whose agent flushes with fake links.
func flushHarness(t *testing.T, hold string, later restorer) (*harness, *guard, *fakeBounce) {
	h := newHarness(t, cfgTwo)
	fb := &fakeBounce{}
	g := &guard{open: h.k.Open, score: h.score, bounce: fb, later: later}
	h.agent = newAgent(g)
	if hold != "" {
		h.env = append(h.env, "OCF_RESKEY_"+ParamSwitchFlush+"="+hold)
	}
	h.bridge(cfgTwo)
	h.want("start", nil, 0)
	h.want("promote", nil, 0)
	if len(fb.calls) != 0 {
		t.Fatalf("promote bounced %v", fb.calls)
	}
	return h, g, fb
}

// restore runs the restorer as the detached process would.
func (h *harness) restore(g *guard) {
	h.t.Helper()
	env := ocf.ParseEnv(RestoreArg, h.env, h.agent.Params)
	if err := g.restoreAfterHold(&ocf.Request{Env: env, Log: &ocf.Logger{}}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) flushMarker() bool {
	_, err := os.Stat(filepath.Join(h.k.Dir, flushFile))
	return err == nil
}

func TestSwitchFlush(t *testing.T) {
	for _, tc := range []struct {
		name  string
		param string // switch_flush_ms; "" leaves the default (off)
		want  []string
	}{
		{"off by default", "", nil},
		{"off", "0", nil},
		{"on", "5", []string{"down eth0,eth1,eth2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := &fakeRestorer{}
			h, g, fb := flushHarness(t, tc.param, fr)
			h.want("demote", nil, 0)
			if !slices.Equal(fb.calls, tc.want) {
				t.Fatalf("demote: %v, want %v", fb.calls, tc.want)
			}
			if on := tc.want != nil; fr.detached != map[bool]int{true: 1}[on] || h.flushMarker() != on {
				t.Fatalf("restorers detached %d, flush marker %v", fr.detached, h.flushMarker())
			}
			h.restore(g) // waits out the hold
			if tc.want != nil && !slices.Equal(fb.calls, append(tc.want, "up eth0,eth1,eth2")) {
				t.Fatalf("restorer: %v", fb.calls)
			}
			if h.flushMarker() {
				t.Fatal("flush marker left after the restorer")
			}
		})
	}
}

// Without a restorer the demote holds the trunks down itself.
func TestSwitchFlushInline(t *testing.T) {
	h, _, fb := flushHarness(t, "5", nil)
	h.want("demote", nil, 0)
	if want := []string{"down eth0,eth1,eth2", "up eth0,eth1,eth2"}; !slices.Equal(fb.calls, want) || h.flushMarker() {
		t.Fatalf("demote: %v (marker %v), want %v", fb.calls, h.flushMarker(), want)
	}
}

// During the hold a monitor leaves the trunks and the promotion score
// alone; a promote (or start, stop) brings them up at once, and the
// restorer, finding the flush ended, does nothing.
func TestSwitchFlushHold(t *testing.T) {
	for _, action := range []string{"promote", "stop", "start"} {
		t.Run(action, func(t *testing.T) {
			h, g, fb := flushHarness(t, "60000", &fakeRestorer{})
			h.want("demote", nil, 0)
			sets := len(h.score.set)
			h.want("monitor", unpromoted, 0)
			h.want("monitor", probe, 0)
			if len(fb.calls) != 1 || len(h.score.set) != sets || !h.flushMarker() {
				t.Fatalf("monitor during the hold: bounces %v, scores %v, marker %v", fb.calls, h.score.set[sets:], h.flushMarker())
			}
			if action == "start" {
				h.want("stop", nil, 0)
				fb.calls = fb.calls[:1]
				writeFlush(h.k.Dir, time.Now().Add(time.Minute), []string{"eth0", "eth1", "eth2"})
			}
			h.want(action, nil, 0)
			if want := []string{"down eth0,eth1,eth2", "up eth0,eth1,eth2"}; !slices.Equal(fb.calls, want) || h.flushMarker() {
				t.Fatalf("%s: %v (marker %v), want %v", action, fb.calls, h.flushMarker(), want)
			}
			h.restore(g)
			if len(fb.calls) != 2 {
				t.Fatalf("restorer after %s: %v", action, fb.calls)
			}
		})
	}
}

// A restorer killed (or a demote killed while the trunks were down)
// leaves the marker: the first monitor after the hold brings them up. So
// does one with a marker that records no hold.
func TestSwitchFlushKilled(t *testing.T) {
	for name, marker := range map[string]string{
		"hold over": fmt.Sprintf("until %d\neth0\neth1\n", time.Now().Add(-time.Second).UnixNano()),
		"no hold":   "eth0\neth1\n",
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, cfgTwo)
			fb := &fakeBounce{}
			h.agent = newAgent(&guard{open: h.k.Open, score: h.score, bounce: fb})
			h.bridge(cfgTwo)
			h.want("start", nil, 0)
			if err := os.WriteFile(filepath.Join(h.k.Dir, flushFile), []byte(marker), 0o644); err != nil {
				t.Fatal(err)
			}
			h.want("monitor", unpromoted, 0)
			if !slices.Equal(fb.calls, []string{"up eth0,eth1"}) {
				t.Fatalf("monitor: %v", fb.calls)
			}
			if h.flushMarker() {
				t.Fatal("flush marker left")
			}
		})
	}
}
