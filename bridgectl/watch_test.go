package bridgectl

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/florianl/go-tc"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

// kernelSetup is a fakeKernel's starting point in a table.
type kernelSetup struct {
	drift, failApply, ownEvents int
	ownEvent                    Event // what each own event is; default ourLinkNews
}

// fakeKernel stands for a Manager: drift is how many links the kernel
// lacks; Apply fixes them (unless sticky) and emits our own link events.
type fakeKernel struct {
	mu        sync.Mutex
	drift     int
	sticky    bool // another program undoes every apply
	failApply int  // so many applies fail first
	ownEvents int  // events each apply emits, as the kernel does for our links
	ownEvent  Event
	src       *fakeSource
	observes  int
	applies   int
	files     []string // the configuration of each apply
}

func (k *fakeKernel) view() *View {
	p := &plan.Plan{}
	for range k.drift {
		p.Steps = append(p.Steps, plan.Step{Op: plan.Create, Link: plan.Link{Name: "q0.s100.200", Kind: plan.VLAN, Parent: "q0.s100", Proto: config.Dot1Q, ID: 200, MTU: 1496}})
	}
	return &View{State: plan.NewState(nil), Plan: p}
}

func (k *fakeKernel) Observe(cfg *config.Config, guard bool) (*View, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.observes++
	return k.view(), nil
}

func (k *fakeKernel) Apply(cfg *config.Config, raw []byte) (*View, plan.Result, error) {
	k.mu.Lock()
	k.applies++
	k.files = append(k.files, cfg.File)
	if k.failApply > 0 {
		k.failApply--
		k.mu.Unlock()
		return nil, plan.Result{}, &plan.MissingParentError{Parent: "q0", Pos: cfg.File + ":4"}
	}
	v := k.view()
	res := plan.Result{Created: k.drift}
	if !k.sticky {
		k.drift = 0
	}
	n := k.ownEvents
	k.mu.Unlock()
	for range n {
		k.src.send(k.ownEvent)
	}
	return v, res, nil
}

func (k *fakeKernel) get(f func(k *fakeKernel) int) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return f(k)
}

// fakeSource hands out subscriptions the test feeds.
type fakeSource struct {
	mu     sync.Mutex
	subs   []*fakeSub
	refuse bool // Subscribe fails
}

type fakeSub struct {
	ch     chan Event
	closed bool
}

func (s *fakeSource) Subscribe(ctx context.Context) (<-chan Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse {
		return nil, syscall.EPERM
	}
	sub := &fakeSub{ch: make(chan Event, 4096)}
	s.subs = append(s.subs, sub)
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		sub.close()
	})
	return sub.ch, nil
}

func (sub *fakeSub) close() {
	if !sub.closed {
		sub.closed = true
		close(sub.ch)
	}
}

// send delivers ev on the current subscription, if it is open.
func (s *fakeSource) send(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.subs); n > 0 && !s.subs[n-1].closed {
		s.subs[n-1].ch <- ev
	}
}

// fail ends the current subscription the way a socket overrun does.
func (s *fakeSource) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subs[len(s.subs)-1]
	sub.ch <- Event{Err: err}
	sub.close()
}

func (s *fakeSource) setRefuse(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = v
}

func (s *fakeSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// watchRig runs a Watcher over the fakes and records what it says.
type watchRig struct {
	t      *testing.T
	k      *fakeKernel
	src    *fakeSource
	w      *Watcher
	cancel func()
	done   chan error

	mu      sync.Mutex
	notes   []string // notify messages, in order
	readyAt int      // applies done when READY=1 came; -1: not yet
	due     bool     // the loop's last wait had a check due
	dueAt   time.Time
	waits   int
	load    func() (*config.Config, []byte, error)
}

var rigOptions = WatchOptions{
	Debounce: 5 * time.Millisecond, DebounceMax: 50 * time.Millisecond, CheckInterval: -1,
	MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Resubscribe: time.Millisecond,
}

func newRig(t *testing.T, k *fakeKernel, o WatchOptions) *watchRig {
	src := &fakeSource{}
	k.src = src
	r := &watchRig{t: t, k: k, src: src, readyAt: -1, done: make(chan error, 1)}
	r.w = NewWatcher(k, src, o)
	r.w.Notify = func(s string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.notes = append(r.notes, s)
		if s == "READY=1" && r.readyAt < 0 {
			r.readyAt = k.get(func(k *fakeKernel) int { return k.applies })
		}
	}
	r.w.Logf = t.Logf
	r.w.Load = func() (*config.Config, []byte, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.load()
	}
	r.w.waiting = func(at time.Time, ok bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.due, r.dueAt = ok, at
		r.waits++
	}
	return r
}

func (r *watchRig) start(cfg *config.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.w.Run(ctx, cfg, []byte("raw")) }()
	r.t.Cleanup(cancel)
}

// until waits for cond; the bound only catches a hang.
func (r *watchRig) until(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.mu.Lock()
			r.t.Fatalf("timed out waiting for %s; notes: %q", what, r.notes)
		}
		time.Sleep(time.Millisecond)
	}
}

// settled: the loop waits with no check due (so no apply can follow).
func (r *watchRig) settled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waits > 0 && !r.due
}

func (r *watchRig) ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readyAt >= 0
}

// noted reports whether a notify message starts with prefix and contains
// every one of parts.
func (r *watchRig) noted(prefix string, parts ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.notes {
		if strings.HasPrefix(n, prefix) && containsAll(n, parts) {
			return true
		}
	}
	return false
}

func (r *watchRig) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := 0
	for _, n := range r.notes {
		if n == msg {
			c++
		}
	}
	return c
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func (r *watchRig) applies() int { return r.k.get(func(k *fakeKernel) int { return k.applies }) }

func (r *watchRig) lastFile() string {
	r.k.mu.Lock()
	defer r.k.mu.Unlock()
	return r.k.files[len(r.k.files)-1]
}

func (r *watchRig) setDrift(n int) { r.k.mu.Lock(); r.k.drift = n; r.k.mu.Unlock() }

// stop ends Run the way SIGTERM does and checks it returned nil.
func (r *watchRig) stop() {
	r.t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return after cancel")
	}
	if !r.noted("STOPPING=1") {
		r.t.Error("no STOPPING=1")
	}
}

var (
	ourDeletion = Event{Link: &LinkEvent{Deleted: true, Index: 7, Name: "q0.s100.200", Group: defaults.OwnerGroup}}
	ourLinkNews = Event{Link: &LinkEvent{Index: 7, Name: "q0.s100.200", Group: defaults.OwnerGroup}}
	// A port's clsact qdisc deleted: its binding to the guard's block.
	qdiscDeleted = Event{TC: &TCEvent{Type: unix.RTM_DELQDISC, Ifindex: 7, Parent: tc.HandleIngress}}
	// Our own apply binding a port.
	qdiscAdded = Event{TC: &TCEvent{Type: unix.RTM_NEWQDISC, Ifindex: 7, Parent: tc.HandleIngress}}
)

// TestWatcher drives the loop through its situations with a fake kernel
// and a fake event source.
func TestWatcher(t *testing.T) {
	cfg := mustParse(t, watchTestConfig)
	cfg2 := mustParse(t, watchTestConfig+`
[[translation]]
name = "zone"
a = { parent = "q0", vlan = 400 }
b = { parent = "v0", vlan = 500 }
`)
	cfg2.File = "new.toml"
	broken := config.Errors{
		{Pos: config.Pos{File: "test.toml", Line: 3}, Msg: "a: unknown key \"parnt\""},
		{Pos: config.Pos{File: "test.toml", Line: 9}, Msg: "name: missing"},
	}

	tests := []struct {
		name string
		k    kernelSetup
		opts func(*WatchOptions)
		run  func(t *testing.T, r *watchRig)
	}{
		{"ready only after the first apply", kernelSetup{drift: 4}, nil, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			if r.readyAt != 1 {
				t.Errorf("READY=1 after %d applies, want after the first", r.readyAt)
			}
			if !r.noted("STATUS=converged: 1 translations") {
				t.Errorf("no converged status: %q", r.notes)
			}
		}},
		{"not ready while the first apply fails, ready when it succeeds", kernelSetup{failApply: 3}, nil, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			if r.readyAt != 4 {
				t.Errorf("READY=1 after %d applies, want after the 4th (3 failed)", r.readyAt)
			}
			if !r.noted("STATUS=not ready, apply failed: test.toml:4: parent interface q0 does not exist") {
				t.Errorf("no failure status: %q", r.notes)
			}
		}},
		{"a burst of events heals once", kernelSetup{}, nil, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			r.setDrift(2)
			for range 100 {
				r.src.send(ourDeletion)
			}
			r.until("healed and settled", func() bool { return r.applies() >= 2 && r.settled() })
			if n := r.applies(); n != 2 {
				t.Errorf("%d applies, want 2 (start, one heal for the burst)", n)
			}
			if !r.noted("STATUS=drift healed #1 at ", "2 created", "converged: 1 translations") {
				t.Errorf("no healed status: %q", r.notes)
			}
		}},
		{"our own events end with a clean check", kernelSetup{drift: 1, ownEvents: 300}, nil, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			r.setDrift(1)
			r.src.send(ourDeletion)
			r.until("healed and settled", func() bool { return r.applies() >= 2 && r.settled() })
			if n := r.applies(); n != 2 {
				t.Errorf("%d applies, want 2: our own events must not cause applies", n)
			}
			if o := r.k.get(func(k *fakeKernel) int { return k.observes }); o < 2 {
				t.Errorf("%d checks, want at least 2 (the drift, the verification)", o)
			}
		}},
		{"a tc event heals: a port's qdisc deleted", kernelSetup{}, nil, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			r.setDrift(1) // the port is unbound: only the tc event says so
			r.src.send(qdiscDeleted)
			r.until("healed and settled", func() bool { return r.applies() == 2 && r.settled() })
			if !r.noted("STATUS=drift healed #1 at ") {
				t.Errorf("no healed status: %q", r.notes)
			}
		}},
		{"a burst of tc and link events heals once", kernelSetup{}, nil, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			r.setDrift(1)
			for range 50 {
				r.src.send(qdiscDeleted)
				r.src.send(ourDeletion)
			}
			r.until("healed and settled", func() bool { return r.applies() >= 2 && r.settled() })
			if n := r.applies(); n != 2 {
				t.Errorf("%d applies, want 2 (start, one heal for the burst)", n)
			}
		}},
		{"our own tc events end with a clean check", kernelSetup{ownEvents: 300, ownEvent: qdiscAdded}, nil, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			r.setDrift(1)
			r.src.send(qdiscDeleted)
			r.until("healed and settled", func() bool { return r.applies() >= 2 && r.settled() })
			if n := r.applies(); n != 2 {
				t.Errorf("%d applies, want 2: our own tc events must not cause applies", n)
			}
			if o := r.k.get(func(k *fakeKernel) int { return k.observes }); o < 2 {
				t.Errorf("%d checks, want at least 2 (the drift, the verification)", o)
			}
		}},
		{"a lost subscription resubscribes and checks everything", kernelSetup{}, nil, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			r.setDrift(1) // changed while no events were received
			r.src.fail(errors.New("Receive failed: no buffer space available"))
			r.until("resubscribed and healed", func() bool { return r.src.count() == 2 && r.applies() == 2 && r.settled() })
			r.setDrift(1) // the new subscription works
			r.src.send(ourDeletion)
			r.until("healed again", func() bool { return r.applies() == 3 && r.settled() })
		}},
		{"a refused resubscription is retried", kernelSetup{}, nil, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			r.src.setRefuse(true)
			r.src.fail(errors.New("Receive failed: no buffer space available"))
			r.until("a full check", func() bool { return r.k.get(func(k *fakeKernel) int { return k.observes }) >= 1 })
			r.src.setRefuse(false)
			r.until("resubscribed", func() bool { return r.src.count() == 2 })
		}},
		{"reload applies the new file", kernelSetup{}, nil, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			r.mu.Lock()
			r.load = func() (*config.Config, []byte, error) { return cfg2, []byte("raw2"), nil }
			r.mu.Unlock()
			r.w.Reload()
			r.until("converged on the new file", func() bool { return r.noted("STATUS=converged: 2 translations") })
			if f := r.lastFile(); f != "new.toml" {
				t.Errorf("last apply of %s, want new.toml", f)
			}
		}},
		{"a broken file is refused, the last good configuration stays", kernelSetup{}, nil, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			r.mu.Lock()
			r.load = func() (*config.Config, []byte, error) { return nil, nil, broken }
			r.mu.Unlock()
			r.w.Reload()
			r.until("config error status", func() bool {
				return r.noted("STATUS=config error: test.toml:3: a: unknown key", "(and 1 more)", "converged: 1 translations")
			})
			r.setDrift(1)
			r.src.send(ourDeletion)
			r.until("healed", func() bool { return r.applies() == 2 && r.settled() })
			if f := r.lastFile(); f != "test.toml" {
				t.Errorf("healed with %s, want the last good test.toml", f)
			}
			if !r.noted("STATUS=config error: ", "drift healed") {
				t.Errorf("the config error is not shown after healing: %q", r.notes)
			}
		}},
		{"fighting another program backs off", kernelSetup{}, func(o *WatchOptions) { o.MinBackoff = time.Hour; o.MaxBackoff = time.Hour }, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			r.k.mu.Lock()
			r.k.drift, r.k.sticky = 1, true
			r.k.mu.Unlock()
			r.src.send(ourDeletion)
			r.until("backing off", func() bool {
				r.mu.Lock()
				defer r.mu.Unlock()
				return r.due && time.Until(r.dueAt) > 30*time.Minute
			})
			if n := r.applies(); n != 1+fightLimit {
				t.Errorf("%d applies, want %d (start, then fightLimit)", n, 1+fightLimit)
			}
		}},
		{"watchdog pings", kernelSetup{}, func(o *WatchOptions) { o.Watchdog = time.Millisecond }, func(t *testing.T, r *watchRig) {
			r.until("3 pings", func() bool { return r.count("WATCHDOG=1") >= 3 })
		}},
		{"periodic full check", kernelSetup{}, func(o *WatchOptions) { o.CheckInterval = 2 * time.Millisecond }, func(t *testing.T, r *watchRig) {
			r.until("ready", r.ready)
			r.setDrift(1) // no event: only the periodic check finds it
			r.until("healed", func() bool { return r.applies() == 2 })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := rigOptions
			if tt.opts != nil {
				tt.opts(&o)
			}
			k := &fakeKernel{drift: tt.k.drift, failApply: tt.k.failApply, ownEvents: tt.k.ownEvents, ownEvent: ourLinkNews}
			if tt.k.ownEvent.Link != nil || tt.k.ownEvent.TC != nil {
				k.ownEvent = tt.k.ownEvent
			}
			r := newRig(t, k, o)
			r.start(cfg)
			tt.run(t, r)
			r.stop()
		})
	}
}

// TestWatcherCannotSubscribe: without link events at the start Run fails
// at once and touches nothing.
func TestWatcherCannotSubscribe(t *testing.T) {
	k := &fakeKernel{}
	r := newRig(t, k, rigOptions)
	r.src.refuse = true
	err := r.w.Run(context.Background(), mustParse(t, watchTestConfig), nil)
	if !errors.Is(err, syscall.EPERM) {
		t.Errorf("Run: %v, want EPERM", err)
	}
	if k.applies+k.observes != 0 {
		t.Errorf("%d applies, %d checks, want none", k.applies, k.observes)
	}
}
