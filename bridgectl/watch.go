package bridgectl

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// Converger is what the watcher needs of the kernel; *Manager implements
// it. Apply is the one implementation of converging: the watcher only
// decides when to call it.
type Converger interface {
	Observe(cfg *config.Config, guard bool) (*View, error)
	Apply(cfg *config.Config, raw []byte) (*View, plan.Result, error)
}

// WatchOptions tune the watcher. Zero values take the defaults.
type WatchOptions struct {
	Debounce      time.Duration // check once events have been quiet this long
	DebounceMax   time.Duration // but no later than this after a burst's first event
	CheckInterval time.Duration // full check even without events; < 0: never
	Watchdog      time.Duration // send WATCHDOG=1 this often; 0: not at all
	MinBackoff    time.Duration // first retry after a failure
	MaxBackoff    time.Duration // longest wait between retries
	Resubscribe   time.Duration // wait before retrying a failed subscription
}

// Defaults of WatchOptions.
const (
	DefaultDebounce      = 100 * time.Millisecond
	DefaultDebounceMax   = 500 * time.Millisecond
	DefaultCheckInterval = time.Minute
	defaultMinBackoff    = time.Second
	defaultMaxBackoff    = 30 * time.Second
	defaultResubscribe   = time.Second
)

func (o WatchOptions) withDefaults() WatchOptions {
	set := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	set(&o.Debounce, DefaultDebounce)
	set(&o.DebounceMax, DefaultDebounceMax)
	set(&o.CheckInterval, DefaultCheckInterval)
	set(&o.MinBackoff, defaultMinBackoff)
	set(&o.MaxBackoff, defaultMaxBackoff)
	set(&o.Resubscribe, defaultResubscribe)
	o.DebounceMax = max(o.DebounceMax, o.Debounce)
	return o
}

// Watcher keeps a namespace converged to a configuration: it re-applies
// when a link or tc event concerns the configuration, re-reads the file on
// Reload, and reports through the systemd notify protocol.
//
// Only its own goroutine (Run) touches the kernel; Reload may be called
// from anywhere.
type Watcher struct {
	Kernel Converger
	Events EventSource
	// Load reads and validates the configuration file (on Reload).
	Load func() (*config.Config, []byte, error)
	// Notify sends one notify-protocol message, e.g. "READY=1\nSTATUS=...".
	Notify func(state string)
	// Logf logs one line.
	Logf    func(format string, args ...any)
	Options WatchOptions

	reload chan struct{}
	kick   chan struct{}
	scope  atomic.Pointer[scope]

	// waiting, if set, is told each time the loop is about to wait, and
	// when its next check is due (ok false: none): tests use it to see the
	// loop settle without sleeping.
	waiting func(at time.Time, ok bool)
}

// NewWatcher returns a watcher over k and ev; set Load, Notify and Logf
// (no-ops by default) before Run.
func NewWatcher(k Converger, ev EventSource, o WatchOptions) *Watcher {
	return &Watcher{
		Kernel: k, Events: ev, Options: o,
		Load:   func() (*config.Config, []byte, error) { return nil, nil, fmt.Errorf("no configuration loader") },
		Notify: func(string) {},
		Logf:   func(string, ...any) {},
		reload: make(chan struct{}, 1),
		kick:   make(chan struct{}, 1),
	}
}

// Reload asks Run to re-read the configuration (SIGHUP). Requests made
// while one is pending are merged.
func (w *Watcher) Reload() {
	select {
	case w.reload <- struct{}{}:
	default:
	}
}

// watchState is Run's own state.
type watchState struct {
	cfg     *config.Config
	raw     []byte
	fresh   bool   // cfg not applied yet: the next attempt applies (and records) it
	ready   bool   // READY=1 sent
	cfgErr  string // why the last reload was refused; "" once a file loads
	lastErr string // the last failure logged, to log a persistent one once
	status  string // the last status, without cfgErr
	sent    string // the last STATUS= sent
	heals   int    // drift healed since the start: numbers each report
}

// Run applies cfg, sends READY=1 once that succeeded, and keeps the
// namespace converged until ctx ends; then it returns nil and leaves
// everything in place. If the first apply fails (a parent interface is
// missing, a foreign link is in the way) it keeps retrying, on events and
// with back-off, and sends READY=1 when one succeeds. It returns an error
// only if it cannot subscribe to events at the start.
func (w *Watcher) Run(ctx context.Context, cfg *config.Config, raw []byte) error {
	o := w.Options.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the subscription and its pump
	st := &watchState{cfg: cfg, raw: raw, fresh: true}
	w.scope.Store(newScope(cfg, nil))

	// Subscribe before the first look at the kernel, so no change between
	// the two goes unseen.
	lost := make(chan error, 1)
	if err := w.subscribe(ctx, lost); err != nil {
		return err
	}
	sched := &schedule{quiet: o.Debounce, max: o.DebounceMax, minBackoff: o.MinBackoff, maxBackoff: o.MaxBackoff}
	sched.now()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var periodic, watchdog <-chan time.Time
	if o.CheckInterval > 0 {
		t := time.NewTicker(o.CheckInterval)
		defer t.Stop()
		periodic = t.C
	}
	if o.Watchdog > 0 {
		t := time.NewTicker(o.Watchdog)
		defer t.Stop()
		watchdog = t.C
		w.Notify("WATCHDOG=1")
	}
	var resub <-chan time.Time
	w.setStatus(st, "applying "+cfg.File)

	for {
		var due <-chan time.Time
		at, ok := sched.next()
		if ok {
			timer.Reset(max(time.Until(at), 0))
			due = timer.C
		}
		if w.waiting != nil {
			w.waiting(at, ok)
		}
		select {
		case <-ctx.Done():
			w.Notify("STOPPING=1")
			return nil
		case <-w.kick:
			sched.event(time.Now())
		case err := <-lost:
			w.Logf("events lost (%v): resubscribing, full check", err)
			sched.now()
			if err := w.subscribe(ctx, lost); err != nil {
				w.Logf("resubscribe failed, retrying in %s: %v", o.Resubscribe, err)
				resub = time.After(o.Resubscribe)
			}
		case <-resub:
			resub = nil
			sched.now()
			if err := w.subscribe(ctx, lost); err != nil {
				w.Logf("resubscribe failed, retrying in %s: %v", o.Resubscribe, err)
				resub = time.After(o.Resubscribe)
			} else {
				w.Logf("resubscribed to events")
			}
		case <-w.reload:
			if w.reloadConfig(st) {
				sched.now()
			}
		case <-periodic:
			sched.now()
		case <-watchdog:
			w.Notify("WATCHDOG=1")
		case <-due:
			res := w.attempt(st)
			sched.attempted(time.Now(), res)
			if res == healed && sched.fighting() {
				w.Logf("the links drifted again after %d applies in a row: another program keeps changing them; backing off", fightLimit)
			}
		}
	}
}

// subscribe starts a subscription and a pump that turns its relevant
// events into kicks and its end into a message on lost. The pump never
// blocks on the loop, so a busy loop (applying) cannot make the socket
// overrun.
func (w *Watcher) subscribe(ctx context.Context, lost chan<- error) error {
	events, err := w.Events.Subscribe(ctx)
	if err != nil {
		return err
	}
	go func() {
		var err error
		for ev := range events {
			if ev.Err != nil {
				err = ev.Err
				continue
			}
			if w.scope.Load().relevant(ev) {
				select {
				case w.kick <- struct{}{}:
				default: // a kick is pending: this event joins it
				}
			}
		}
		if err == nil {
			err = fmt.Errorf("event channel closed")
		}
		select {
		case lost <- err:
		case <-ctx.Done():
		}
	}()
	return nil
}

// attempt checks the kernel and applies if it drifted (or if the
// configuration is new: applying records it).
func (w *Watcher) attempt(st *watchState) outcome {
	if !st.fresh {
		v, err := w.Kernel.Observe(st.cfg, true)
		if err != nil {
			w.failure(st, "check failed", err)
			return failed
		}
		w.scope.Store(newScope(st.cfg, v.State))
		if v.Plan.Empty() {
			w.converged(st, "")
			return clean
		}
		var b strings.Builder
		v.Plan.WriteDrift(&b)
		w.Logf("drift: %s", limitLines(b.String(), 20))
	}
	v, res, err := w.Kernel.Apply(st.cfg, st.raw)
	if v != nil {
		w.scope.Store(newScope(st.cfg, v.State))
	}
	if err != nil {
		if v != nil && res != (plan.Result{}) {
			err = fmt.Errorf("%w (done before it: %s)", err, res)
		}
		w.failure(st, "apply failed", err)
		return failed
	}
	if st.fresh {
		st.fresh = false
		w.Logf("applied %s: %d translations, %s", st.cfg.File, len(st.cfg.Translations), res)
		w.converged(st, "")
		if v.Plan.Empty() {
			return clean
		}
		return healed
	}
	st.heals++
	w.Logf("drift healed: %s", res)
	w.converged(st, fmt.Sprintf("drift healed #%d at %s: %s", st.heals, time.Now().Format(time.TimeOnly), res))
	return healed
}

// converged reports success; the first one is READY=1. healed says what
// was just repaired; without it a "drift healed" status stays up, so the
// operator still sees the last repair.
func (w *Watcher) converged(st *watchState, healed string) {
	if st.lastErr != "" {
		w.Logf("recovered: converged")
		st.lastErr = ""
	}
	msg := fmt.Sprintf("converged: %d translations", len(st.cfg.Translations))
	switch {
	case healed != "":
		msg = healed + "; " + msg
	case strings.HasPrefix(st.status, "drift healed") && strings.HasSuffix(st.status, msg):
		msg = st.status
	}
	w.setStatus(st, msg)
	if !st.ready {
		st.ready = true
		w.Notify("READY=1")
	}
}

// failure logs a failed attempt (a repeated one once) and shows it.
func (w *Watcher) failure(st *watchState, what string, err error) {
	msg := what + ": " + oneLine(err.Error())
	if msg != st.lastErr {
		w.Logf("%s, retrying: %s", what, limitLines(err.Error(), 20))
		st.lastErr = msg
	}
	if !st.ready {
		msg = "not ready, " + msg
	}
	w.setStatus(st, msg+"; retrying")
}

// reloadConfig re-reads the file. A broken file is logged with every
// FILE:LINE error and refused: the last good configuration stays in force.
func (w *Watcher) reloadConfig(st *watchState) bool {
	cfg, raw, err := w.Load()
	if err != nil {
		w.Logf("reload refused, keeping the last good configuration (%d translations):", len(st.cfg.Translations))
		for _, l := range strings.Split(err.Error(), "\n") {
			w.Logf("  %s", l)
		}
		st.cfgErr = "config error: " + oneLine(err.Error())
		w.setStatus(st, st.status)
		return false
	}
	w.Logf("reloaded %s: %d translations", cfg.File, len(cfg.Translations))
	st.cfg, st.raw, st.fresh, st.cfgErr = cfg, raw, true, ""
	w.scope.Store(newScope(cfg, nil))
	w.setStatus(st, "applying "+cfg.File)
	return true
}

// setStatus shows msg as STATUS= if that changes it. A refused reload is
// shown first until a file loads.
func (w *Watcher) setStatus(st *watchState, msg string) {
	st.status = msg
	full := msg
	if st.cfgErr != "" {
		full = st.cfgErr + "; running the last good configuration: " + msg
	}
	if full != st.sent {
		st.sent = full
		w.Notify("STATUS=" + full)
	}
}

// oneLine is the first line of s, and how many more there are.
func oneLine(s string) string {
	first, rest, ok := strings.Cut(s, "\n")
	if !ok {
		return first
	}
	return fmt.Sprintf("%s (and %d more)", first, strings.Count(rest, "\n")+1)
}

// limitLines keeps the first n lines of s, then counts the rest.
func limitLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) <= n {
		return strings.Join(lines, "\n  ")
	}
	return strings.Join(lines[:n], "\n  ") + fmt.Sprintf("\n  ... and %d more", len(lines)-n)
}
