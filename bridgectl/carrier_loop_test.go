package bridgectl

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/carrier"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/kerneltest"
)

const carrierPair = `
[[passthrough]]
a = "eth0"
b = "eth1"
protocols = ["lacp"]
carrier = true
`

// propagatorRig runs a Propagator over the in-memory kernel and a fake
// event source; steps tells each step done.
type propagatorRig struct {
	t      *testing.T
	m      *Manager
	k      *kerneltest.Kernel
	ev     *fakeSource
	steps  chan error
	cancel func()
	done   chan error
}

func newPropagatorRig(t *testing.T, grace time.Duration) *propagatorRig {
	m, k := fakeManager(t)
	m.KickHold = 0
	cfg, raw := parse(t, twoTranslations+carrierPair)
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	r := &propagatorRig{t: t, m: m, k: k, ev: &fakeSource{}, steps: make(chan error, 1024), done: make(chan error, 1)}
	p := NewPropagator(m, r.ev)
	p.Grace = grace
	p.Logf = t.Logf
	p.stepped = func(_ carrier.Plan, err error) { r.steps <- err }
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- p.Run(ctx, cfg) }()
	t.Cleanup(r.stop)
	r.until("first step", func() bool { return true })
	return r
}

func (r *propagatorRig) stop() {
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
		if err := <-r.done; err != nil {
			r.t.Errorf("Run: %v", err)
		}
	}
}

// until waits, step by step, for cond; it fails after 5 s.
func (r *propagatorRig) until(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case err := <-r.steps:
			if err != nil {
				r.t.Logf("step: %v", err)
			}
			if cond() {
				return
			}
		case <-deadline:
			r.t.Fatalf("waiting for %s: timed out", what)
		}
	}
}

// carrierEvent changes a trunk's carrier and tells the propagator.
func (r *propagatorRig) carrierEvent(name string, on bool) {
	r.k.SetCarrier(name, on)
	l := r.k.Link(name)
	r.ev.send(Event{Link: &LinkEvent{Name: name, Index: l.Index, Up: l.Up, OperUp: l.OperUp}})
}

// notify sends the event the kernel sends for a link's change (the
// propagator's own included).
func (r *propagatorRig) notify(name string) {
	l := r.k.Link(name)
	r.ev.send(Event{Link: &LinkEvent{Name: name, Index: l.Index, Up: l.Up, OperUp: l.OperUp}})
	r.until("the step after "+name+"'s event", func() bool { return true })
}

func (r *propagatorRig) up(name string) bool { return r.k.Link(name).Up }

func (r *propagatorRig) guard(open bool) {
	r.t.Helper()
	cfg, _ := parse(r.t, twoTranslations+carrierPair)
	g, err := r.m.GroupGuard(cfg, "")
	if err != nil {
		r.t.Fatal(err)
	}
	defer g.Close()
	if open {
		_, err = r.m.Unblock(g, "")
	} else {
		err = g.Block()
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.ev.send(Event{TC: &TCEvent{Type: unix.RTM_NEWACTION}})
}

func TestPropagator(t *testing.T) {
	r := newPropagatorRig(t, time.Hour)
	// Blocked (as apply leaves a node): eth0's loss is not propagated. The
	// step after it is the proof the event was seen.
	r.carrierEvent("eth0", false)
	r.until("a step after eth0's loss", func() bool { return true })
	if !r.up("eth1") {
		t.Fatal("blocked node: eth1 taken down")
	}
	r.carrierEvent("eth0", true)

	r.guard(true)
	r.carrierEvent("eth0", false)
	r.until("eth1 down after eth0's loss", func() bool { return !r.up("eth1") })
	r.carrierEvent("eth0", true)
	r.until("eth1 up after eth0's return", func() bool { return r.up("eth1") })
	r.notify("eth1")

	// An operator's down of eth1 takes eth0 down; eth0 never takes eth1
	// back up; the operator's up brings eth0 back.
	r.k.SetLink("eth1", func(o *plan.Observed) { o.Up = false })
	r.ev.send(Event{Link: &LinkEvent{Name: "eth1", Up: false}})
	r.until("eth0 down after eth1 set down", func() bool { return !r.up("eth0") })
	r.carrierEvent("eth0", false) // eth0's far end flaps
	r.until("a step after eth0's loss", func() bool { return true })
	r.carrierEvent("eth0", true)
	r.until("a step after eth0's return", func() bool { return true })
	if r.up("eth1") {
		t.Fatal("the operator's down of eth1 undone")
	}
	r.k.SetLink("eth1", func(o *plan.Observed) { o.Up = true })
	r.ev.send(Event{Link: &LinkEvent{Name: "eth1", Up: true}})
	r.until("eth0 up after eth1 set up", func() bool { return r.up("eth0") })
	r.notify("eth0") // the kernel's notification of our up, carrier back

	// Blocking brings our down back up.
	r.carrierEvent("eth0", false)
	r.until("eth1 down", func() bool { return !r.up("eth1") })
	r.guard(false)
	r.until("eth1 up once blocked", func() bool { return r.up("eth1") })
	r.notify("eth1")
	r.carrierEvent("eth0", true)

	// Stopping brings our downs back up.
	r.guard(true)
	r.carrierEvent("eth0", false)
	r.until("eth1 down", func() bool { return !r.up("eth1") })
	r.stop()
	if !r.up("eth1") {
		t.Fatal("eth1 left down after the propagator stopped")
	}
	if ok, _ := r.m.dir.Exists(carrier.RecordFile); ok {
		t.Fatal("record left after the propagator stopped")
	}
}

// A trunk we bring up without carrier is recovering: not a loss until its
// grace ends, and then the timer (no event) wakes the loop.
func TestPropagatorGrace(t *testing.T) {
	r := newPropagatorRig(t, 300*time.Millisecond)
	r.guard(true)
	r.carrierEvent("eth0", false)
	r.until("eth1 down", func() bool { return !r.up("eth1") })
	r.k.SetCarrier("eth1", false) // its far end goes too, unseen while down
	start := time.Now()
	r.carrierEvent("eth0", true)
	r.until("eth1 up", func() bool { return r.up("eth1") })
	if !r.up("eth0") {
		t.Fatal("eth0 taken down while eth1 recovers")
	}
	r.until("eth0 down once eth1's grace is over", func() bool { return !r.up("eth0") })
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("eth0 down %v after eth1's up: within its grace", d)
	}
}

// fakeCarrierKernel fails its first fails steps.
type fakeCarrierKernel struct {
	mu       sync.Mutex
	fails    int
	steps    int
	guardErr error
	lastOpen map[string]bool
	restored int
}

func (k *fakeCarrierKernel) CarrierGuards(cfg *config.Config, pairs []config.Passthrough) (map[string]bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.guardErr != nil {
		return map[string]bool{"default": false}, k.guardErr
	}
	return map[string]bool{"default": true}, nil
}

func (k *fakeCarrierKernel) Propagate(pairs []config.Passthrough, open map[string]bool, r *carrier.Recovery) (carrier.Plan, string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.steps++
	k.lastOpen = open
	if k.steps <= k.fails {
		return carrier.Plan{}, "", errors.New("lock held")
	}
	return carrier.Plan{}, "fine", nil
}

func (k *fakeCarrierKernel) RestoreCarrier() ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.restored++
	return nil, nil
}

// A failed step is retried by a timer with back-off (not at once, not in
// a loop), and READY=1 waits for the first that succeeds; a guard that
// cannot be read counts as closed and the step still runs (it undoes our
// downs).
func TestPropagatorRetries(t *testing.T) {
	for _, guardErr := range []error{nil, errors.New("tc: EPERM")} {
		k := &fakeCarrierKernel{fails: 2, guardErr: guardErr}
		cfg, _ := parse(t, twoTranslations+carrierPair)
		p := NewPropagator(k, &fakeSource{})
		steps := make(chan error, 100)
		p.stepped = func(_ carrier.Plan, err error) { steps <- err }
		ready := make(chan string, 10)
		p.Notify = func(s string) { ready <- s }
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.Run(ctx, cfg) }()
		start := time.Now()
		for i := 0; i < 3; i++ {
			err := <-steps
			if (i < 2 || guardErr != nil) != (err != nil) {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Fatalf("three steps in %v: retried without back-off (100 ms, then 200 ms)", d)
		}
		k.mu.Lock()
		open := k.lastOpen["default"]
		k.mu.Unlock()
		if open != (guardErr == nil) {
			t.Fatalf("guard error %v: Propagate saw the guard open=%v", guardErr, open)
		}
		if guardErr == nil {
			if msg := <-ready; !strings.HasPrefix(msg, "READY=1\n") {
				t.Fatalf("first notification %q, want READY=1", msg)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if k.restored != 1 {
			t.Fatalf("restored %d times on stop, want 1", k.restored)
		}
	}
}
