//go:build !integration

package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qinqbridge/qinqbridge/ocf"
)

// The switch flush against every interleaving of the actors that can meet
// it: the restorer of a demote's flush against a second demote (and its
// own restorer), a promote, a monitor, a promote and demote in a row, and
// two of those at once. Each actor is the real agent code; its atomic
// steps — a marker read, written or removed, the trunks listed, taken
// down or up, a sleep — each wait for the scheduler, which enumerates
// every order of them (stateless model checking: each schedule is run
// from scratch, and the next one differs in the last choice that had an
// alternative). After every step, a trunk that is down must be named by a
// marker, which the actions honour; after every schedule, and a monitor
// once every hold is over, every trunk must be up and no marker left.

// world is the fake kernel's trunks, the fake state directory and the
// fake clock, shared by the actors, and the scheduler that runs them.
type world struct {
	t      *testing.T
	h      *harness
	trunks map[string]bool // name → administratively up
	files  map[string][]byte
	now    time.Time
	actors []*actor
	spawns int
}

// actor is one agent process; it runs only while it holds the turn.
type actor struct {
	name   string
	turn   chan struct{}
	report chan string // from the actor: the step it waits to take, "" when done
	at     string
}

// spawn adds an actor and runs it up to its first step: what it does
// before touches neither trunks, markers nor clock, so when it runs makes
// no difference.
func (w *world) spawn(name string, run func(g *guard)) {
	a := &actor{name: name, turn: make(chan struct{}), report: make(chan string)}
	w.actors = append(w.actors, a)
	go func() {
		<-a.turn
		defer func() {
			if p := recover(); p != nil {
				w.t.Errorf("%s panicked: %v", name, p)
			}
			a.report <- ""
		}()
		run(w.guard(name))
	}()
	a.turn <- struct{}{}
	a.at = <-a.report
}

// step is called by an actor's fakes before each atomic operation: it
// hands the turn back and waits to be chosen. Actor "" (set-up and final
// checks) runs unscheduled.
func (w *world) step(name, op string) {
	if name == "" {
		return
	}
	for _, a := range w.actors {
		if a.name == name {
			a.report <- op
			<-a.turn
			return
		}
	}
	panic("unknown actor " + name)
}

// guard is the agent as actor name runs it: the harness's fake node, the
// world's trunks, files and clock.
func (w *world) guard(name string) *guard {
	return &guard{open: w.h.k.Open, score: w.h.score,
		bounce: worldBounce{w, name}, later: worldLater{w, name},
		files: worldFiles{w, name}, clock: worldClock{w, name}}
}

// exec runs an OCF action as actor g.
func (w *world) exec(g *guard, action string, env ...string) {
	var out, errb strings.Builder
	if code := newAgent(g).Exec([]string{"tcguard", action}, append(append([]string(nil), w.h.env...), env...), &out, &errb); code != 0 && code != 7 && code != 8 {
		w.t.Errorf("%s: exit %d: %s", action, code, errb.String())
	}
}

// run schedules the actors: at each step, choices[i] picks among the
// runnable ones (0 past the end). It returns the number of runnable actors
// at each step and the trace.
func (w *world) run(choices []int) (widths []int, trace []string) {
	for {
		var runnable []*actor
		for _, a := range w.actors {
			if a.at != "" {
				runnable = append(runnable, a)
			}
		}
		if len(runnable) == 0 {
			return widths, trace
		}
		c := 0
		if i := len(widths); i < len(choices) {
			c = choices[i]
		}
		widths = append(widths, len(runnable))
		a := runnable[c]
		trace = append(trace, a.name+":"+a.at)
		a.turn <- struct{}{}
		a.at = <-a.report
		if err := w.invariant(); err != nil {
			w.t.Fatalf("after %s: %v", strings.Join(trace, " "), err)
		}
	}
}

// invariant: every trunk that is down is named by a marker.
func (w *world) invariant() error {
	flushes, err := readFlushes(worldFiles{w, ""}, w.h.k.Dir)
	if err != nil {
		return err
	}
	var named []string
	for _, f := range flushes {
		named = append(named, f.trunks...)
	}
	for name, up := range w.trunks {
		if !up && !slices.Contains(named, name) {
			return fmt.Errorf("%s down, and no marker names it (markers %v)", name, w.files)
		}
	}
	return nil
}

// worldBounce: each parent is its own trunk, listed only while up (as
// netlinkBounce lists only administratively up interfaces).
type worldBounce struct {
	w     *world
	actor string
}

func (b worldBounce) Trunks(_ string, parents []string) ([]string, error) {
	b.w.step(b.actor, "list trunks")
	var up []string
	for _, p := range parents {
		if b.w.trunks[p] {
			up = append(up, p)
		}
	}
	return up, nil
}

// SetUp changes one link at a time, as netlinkBounce does.
func (b worldBounce) SetUp(_ string, names []string, up bool) error {
	for _, n := range names {
		b.w.step(b.actor, fmt.Sprintf("%s up=%v", n, up))
		b.w.trunks[n] = up
	}
	return nil
}

// worldLater starts the restorer as one more actor.
type worldLater struct {
	w     *world
	actor string
}

func (l worldLater) Detach(r *ocf.Request, marker string) error {
	l.w.spawns++
	env := r.Environ
	l.w.spawn(fmt.Sprintf("R%d", l.w.spawns), func(g *guard) {
		e := ocf.ParseEnv(RestoreArg, env, newAgent(g).Params)
		if err := g.restoreAfterHold(&ocf.Request{Env: e, Log: &ocf.Logger{}}, marker); err != nil {
			l.w.t.Errorf("restorer: %v", err)
		}
	})
	return nil
}

type worldFiles struct {
	w     *world
	actor string
}

func (f worldFiles) ReadDir(dir string) ([]string, error) {
	f.w.step(f.actor, "list markers")
	var names []string
	for p := range f.w.files {
		if filepath.Dir(p) == dir {
			names = append(names, filepath.Base(p))
		}
	}
	slices.Sort(names)
	return names, nil
}

// ReadFile is part of the step of the ReadDir before it: markers are
// written once and removed once, so reading them one by one can only miss
// one written meanwhile, as if written after the listing (another
// schedule), or find one removed meanwhile gone, as if removed before.
func (f worldFiles) ReadFile(path string) ([]byte, error) {
	b, ok := f.w.files[path]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return b, nil
}

func (f worldFiles) WriteFile(path string, data []byte) error {
	f.w.step(f.actor, "write "+filepath.Base(path))
	f.w.files[path] = data
	return nil
}

func (f worldFiles) RemoveFile(path string) error {
	f.w.step(f.actor, "remove "+filepath.Base(path))
	delete(f.w.files, path)
	return nil
}

// worldClock advances only when an actor sleeps: to the end of its sleep.
type worldClock struct {
	w     *world
	actor string
}

func (c worldClock) Now() time.Time { return c.w.now }

func (c worldClock) Sleep(d time.Duration) {
	end := c.w.now.Add(d)
	c.w.step(c.actor, "sleep")
	if end.After(c.w.now) {
		c.w.now = end
	}
}

// cfgOne has two trunks: enough for a demote to find some of them up, few
// enough steps to try every order.
const cfgOne = `
[[translation]]
name = "acme"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }
`

// newWorld is the world the schedules of one test start from: a node
// with the bridge applied.
func newWorld(t *testing.T) *world {
	// Thousands of schedules write the started and score files
	// (node.WriteFile syncs): on tmpfs a sync costs nothing.
	if dir, err := os.MkdirTemp("/dev/shm", "tcguard-test"); err == nil {
		os.Remove(dir)
		t.Setenv("TMPDIR", "/dev/shm")
	}
	h := newHarness(t, cfgOne)
	h.env = append(h.env, "OCF_RESKEY_"+ParamSwitchFlush+"=300")
	h.bridge(cfgOne)
	return &world{t: t, h: h}
}

// reset makes the world a started, promoted, then demoted node whose
// demote took the trunks down and detached restorer R1, not yet run.
func (w *world) reset() {
	w.t.Helper()
	w.trunks = map[string]bool{"eth0": true, "eth1": true}
	w.files = map[string][]byte{}
	w.now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.actors, w.spawns = nil, 0
	g := w.guard("")
	w.exec(g, "start")
	w.exec(g, "promote")
	w.exec(g, "demote")
	if len(w.actors) != 1 || !slices.Equal(w.downTrunks(), []string{"eth0", "eth1"}) {
		w.t.Fatalf("demote: %d restorers, trunks down %v", len(w.actors), w.downTrunks())
	}
}

func (w *world) downTrunks() []string {
	var down []string
	for name, up := range w.trunks {
		if !up {
			down = append(down, name)
		}
	}
	slices.Sort(down)
	return down
}

func TestSwitchFlushInterleavings(t *testing.T) {
	unpromotedMonitor := []string{"OCF_RESKEY_CRM_meta_interval=11000", "OCF_RESKEY_CRM_meta_role=Unpromoted"}
	// The actions of one instance run one at a time (Pacemaker's executor
	// runs one operation of a resource at a time): each case is one
	// sequence of them, against R1 and the restorers its demotes start.
	// The longer ones (about 2 min in all) run with QB_FLUSH_EXHAUSTIVE=1.
	for _, c := range []struct {
		actions string
		long    bool
	}{
		{"demote", false},
		{"promote", false},
		{"monitor", false},
		{"stop", false},
		{"stop start", false},
		{"promote demote", false},
		{"demote stop", false},
		{"promote demote stop", true},
		{"monitor promote demote", true},
		{"promote demote monitor", true},
		{"demote demote", true},
	} {
		actions := c.actions
		t.Run(actions, func(t *testing.T) {
			if c.long && os.Getenv("QB_FLUSH_EXHAUSTIVE") == "" {
				t.Skip("set QB_FLUSH_EXHAUSTIVE=1 to run it")
			}
			var choices []int
			schedules := 0
			w := newWorld(t)
			for {
				w.reset()
				w.spawn("A", func(g *guard) {
					for _, action := range strings.Fields(actions) {
						var env []string
						if action == "monitor" {
							env = unpromotedMonitor
						}
						w.exec(g, action, env...)
					}
				})
				widths, trace := w.run(choices)
				schedules++
				w.now = w.now.Add(time.Hour) // every hold is over
				w.exec(w.guard(""), "monitor", unpromotedMonitor...)
				if down := w.downTrunks(); len(down) > 0 || len(w.files) > 0 {
					t.Fatalf("schedule %s\nthen a monitor after the hold: trunks %v down, markers %v", strings.Join(trace, " "), down, w.files)
				}
				// The next schedule: the choices taken (0 past the given
				// ones), the last one that had an alternative advanced.
				taken := make([]int, len(widths))
				copy(taken, choices)
				i := len(taken) - 1
				for i >= 0 && taken[i]+1 >= widths[i] {
					i--
				}
				if i < 0 {
					break
				}
				choices = append(taken[:i], taken[i]+1)
			}
			t.Logf("%d schedules", schedules)
		})
	}
}
