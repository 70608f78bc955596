package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/tcguard"
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

// fakeRestorer records the markers of the restorers a demote detached.
type fakeRestorer struct{ markers []string }

func (f *fakeRestorer) Detach(_ *ocf.Request, marker string) error {
	f.markers = append(f.markers, marker)
	return nil
}

// flushHarness is a harness whose agent flushes with fake links.
func flushHarness(t *testing.T, hold string, later restorer) (*harness, *guard, *fakeBounce) {
	return flushHarnessOf(t, cfgTwo, hold, later)
}

// flushHarnessOf is flushHarness over the configuration cfg.
func flushHarnessOf(t *testing.T, cfg, hold string, later restorer) (*harness, *guard, *fakeBounce) {
	h := newHarness(t, cfg)
	fb := &fakeBounce{}
	g := &guard{open: h.k.Open, score: h.score, bounce: fb, later: later, clock: &stepClock{now: time.Now()}}
	h.agent = newAgent(g)
	if hold != "" {
		h.env = append(h.env, "OCF_RESKEY_"+ParamSwitchFlush+"="+hold)
	}
	h.bridge(cfg)
	h.want("start", nil, 0)
	h.want("promote", nil, 0)
	if len(fb.calls) != 0 {
		t.Fatalf("promote bounced %v", fb.calls)
	}
	return h, g, fb
}

// stepClock is a clock whose Sleep returns at once, having advanced it:
// a restorer waits out a hold of seconds in no time.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Sleep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// restore runs the restorer of marker as the detached process would.
func (h *harness) restore(g *guard, marker string) {
	h.t.Helper()
	env := ocf.ParseEnv(RestoreArg, h.env, h.agent.Params)
	if err := g.restoreAfterHold(&ocf.Request{Env: env, Log: &ocf.Logger{}}, marker); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) flushMarker() bool {
	f, err := readFlushes(osFiles{}, h.k.Dir)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(f) > 0
}

func TestSwitchFlush(t *testing.T) {
	fileFlush := "[guard]\nswitch_flush_ms = 5\n" + cfgTwo
	// A pass-through's trunks go down for a kick's hold with or without
	// switch_flush_ms: its switches must drop this node's member at once.
	pair := cfgTwo + "\n[[passthrough]]\na = \"eth0\"\nb = \"eth1\"\nprotocols = [\"lacp\"]\n"
	for _, tc := range []struct {
		name  string
		param string // switch_flush_ms; "" leaves the default (off)
		file  string // the configuration; "": cfgTwo
		want  []string
		hold  time.Duration
	}{
		{"off by default", "", "", nil, 0},
		{"off", "0", "", nil, 0},
		{"on", "5", "", []string{"down eth0,eth1,eth2"}, 5 * time.Millisecond},
		{"the file's [guard] switch_flush_ms", "", fileFlush, []string{"down eth0,eth1,eth2"}, 5 * time.Millisecond},
		{"the parameter wins over the file", "0", fileFlush, nil, 0},
		{"pass-through, no switch flush: its trunks", "", pair, []string{"down eth0,eth1"}, passthroughHold},
		{"pass-through, switch flush off: its trunks", "0", pair, []string{"down eth0,eth1"}, passthroughHold},
		{"pass-through and a shorter switch flush: every trunk, the pass-through's hold", "5", pair, []string{"down eth0,eth1,eth2"}, passthroughHold},
		{"pass-through and a longer switch flush", "4000", pair, []string{"down eth0,eth1,eth2"}, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := &fakeRestorer{}
			file := tc.file
			if file == "" {
				file = cfgTwo
			}
			h, g, fb := flushHarnessOf(t, file, tc.param, fr)
			h.want("demote", nil, 0)
			if !slices.Equal(fb.calls, tc.want) {
				t.Fatalf("demote: %v, want %v", fb.calls, tc.want)
			}
			if on := tc.want != nil; len(fr.markers) != map[bool]int{true: 1}[on] || h.flushMarker() != on {
				t.Fatalf("restorers detached %v, flush marker %v", fr.markers, h.flushMarker())
			}
			if tc.want == nil {
				return
			}
			f, err := readFlushes(osFiles{}, h.k.Dir)
			if err != nil || len(f) != 1 {
				t.Fatalf("flush markers %v (%v)", f, err)
			}
			if hold := f[0].until.Sub(g.now()); hold != tc.hold {
				t.Fatalf("held %v, want %v", hold, tc.hold)
			}
			h.restore(g, fr.markers[0]) // waits out the hold
			if up := strings.Replace(tc.want[0], "down", "up", 1); !slices.Equal(fb.calls, append(tc.want, up)) {
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
// alone; a promote (or start) brings them up at once, and the restorer,
// finding the flush ended, does nothing. A stop leaves them to the
// restorer.
func TestSwitchFlushHold(t *testing.T) {
	for _, action := range []string{"promote", "stop", "start"} {
		t.Run(action, func(t *testing.T) {
			fr := &fakeRestorer{}
			h, g, fb := flushHarness(t, "10000", fr)
			h.want("demote", nil, 0)
			sets := len(h.score.set)
			h.want("monitor", unpromoted, 0)
			h.want("monitor", probe, 0)
			if len(fb.calls) != 1 || len(h.score.set) != sets || !h.flushMarker() {
				t.Fatalf("monitor during the hold: bounces %v, scores %v, marker %v", fb.calls, h.score.set[sets:], h.flushMarker())
			}
			down, up := []string{"down eth0,eth1,eth2"}, []string{"down eth0,eth1,eth2", "up eth0,eth1,eth2"}
			if action == "stop" {
				// The stop leaves the hold to its restorer.
				h.want("stop", nil, 0)
				if !slices.Equal(fb.calls, down) || !h.flushMarker() {
					t.Fatalf("stop during the hold: %v (marker %v), want %v and the marker", fb.calls, h.flushMarker(), down)
				}
				h.restore(g, fr.markers[0])
				if !slices.Equal(fb.calls, up) || h.flushMarker() {
					t.Fatalf("restorer after stop: %v (marker %v), want %v", fb.calls, h.flushMarker(), up)
				}
				return
			}
			if action == "start" {
				h.want("stop", nil, 0)
				h.restore(g, fr.markers[0])
				fb.calls = fb.calls[:1]
				writeFlush(osFiles{}, h.k.Dir, time.Now().Add(time.Minute), []string{"eth0", "eth1", "eth2"})
			}
			h.want(action, nil, 0)
			if !slices.Equal(fb.calls, up) || h.flushMarker() {
				t.Fatalf("%s: %v (marker %v), want %v", action, fb.calls, h.flushMarker(), up)
			}
			h.restore(g, fr.markers[0])
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

// switch_flush_ms is 0 (off) to maxSwitchFlush ms. validate-all and start
// refuse anything else with OCF_ERR_CONFIGURED (fatal: the operator must
// fix the resource); a demote, which must block whatever its parameters,
// blocks and flushes nothing.
func TestSwitchFlushRange(t *testing.T) {
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{"0", true},
		{"1", true},
		{"300", true},
		{"10000", true},
		{" 250 ", true},
		{"-1", false},
		{"-300", false},
		{"10001", false},
		{"9223372036854775807", false}, // overflowed the hold into the past
		{"18446744073709551616", false},
		{"3s", false},
	} {
		t.Run(tc.value, func(t *testing.T) {
			h, _, fb := flushHarness(t, "0", &fakeRestorer{})
			env := []string{"OCF_RESKEY_" + ParamSwitchFlush + "=" + tc.value}
			code, reason := 0, []string{}
			if !tc.ok {
				code, reason = 6, []string{ParamSwitchFlush, tc.value}
			}
			h.want("validate-all", env, code, reason...)
			h.want("start", env, code, reason...)
			h.want("promote", nil, 0)
			h.want("demote", env, 0)
			h.wantState(tcguard.Blocked)
			flushed := len(fb.calls) > 0
			if want := tc.ok && tc.value != "0"; flushed != want {
				t.Fatalf("demote with %s=%q flushed %v, want %v", ParamSwitchFlush, tc.value, fb.calls, want)
			}
		})
	}
}

// Which files are markers, and which holds are over: a hold that cannot
// be read, or that would end further away than any valid one (clock set
// back, damaged file), is over — a trunk up on a blocked node is safe.
func TestFlushMarkers(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	at := func(d time.Duration) string { return fmt.Sprintf("until %d\neth0\n", now.Add(d).UnixNano()) }
	for _, tc := range []struct {
		name, content string
		marker, over  bool
	}{
		{flushFile, at(time.Second), true, false},                       // earlier versions' single marker
		{flushFile + ".0123456789abcdef", at(-time.Second), true, true}, // hold over
		{flushFile + ".0123456789abcdef", at(0), true, true},
		{flushFile + ".0123456789abcdef", at(maxSwitchFlush * time.Millisecond), true, false},
		{flushFile + ".0123456789abcdef", at(time.Hour), true, true}, // implausible
		{flushFile + ".0123456789abcdef", "until soon\neth0\n", true, true},
		{flushFile + ".0123456789abcdef", "eth0\n", true, true},                    // no hold recorded
		{"." + flushFile + ".0123456789abcdef.123", at(time.Second), false, false}, // a write in progress
		{flushFile + ".0123456789abcdef.tmp", at(time.Second), false, false},
		{flushFile + ".0123456789ABCDEF", at(time.Second), false, false},
		{flushFile + ".123", at(time.Second), false, false},
	} {
		t.Run(fmt.Sprintf("%s %q", tc.name, tc.content), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, tc.name), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			flushes, err := readFlushes(osFiles{}, dir)
			if err != nil || (len(flushes) == 1) != tc.marker {
				t.Fatalf("read %v, %v; want a marker: %v", flushes, err, tc.marker)
			}
			if !tc.marker {
				return
			}
			if f := flushes[0]; !slices.Equal(f.trunks, []string{"eth0"}) || holdOver(f, now) != tc.over {
				t.Fatalf("trunks %v, hold over %v; want %v", f.trunks, holdOver(f, now), tc.over)
			}
		})
	}
}

// The restorer ends the flush its argument names: only a marker of the
// state directory (no path), the single marker of earlier versions too.
func TestRestorerMarker(t *testing.T) {
	h, g, fb := flushHarness(t, "0", nil)
	env := ocf.ParseEnv(RestoreArg, h.env, h.agent.Params)
	r := &ocf.Request{Env: env, Log: &ocf.Logger{}}
	for _, bad := range []string{"../default/" + flushFile, startedFile, flushFile + ".0123", ""} {
		if err := g.restoreAfterHold(r, bad); err == nil {
			t.Errorf("restorer of %q: no error", bad)
		}
	}
	legacy := fmt.Sprintf("until %d\neth0\neth1\n", time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(h.k.Dir, flushFile), []byte(legacy), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.restoreAfterHold(r, flushFile); err != nil || !slices.Equal(fb.calls, []string{"up eth0,eth1"}) || h.flushMarker() {
		t.Fatalf("restorer of the earlier versions' marker: %v, %v, marker left %v", err, fb.calls, h.flushMarker())
	}
}
