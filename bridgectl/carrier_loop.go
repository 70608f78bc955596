package bridgectl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/florianl/go-tc"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/carrier"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// CarrierKernel is what a Propagator needs of the kernel; *Manager
// implements it.
type CarrierKernel interface {
	CarrierGuards(cfg *config.Config, pairs []config.Passthrough) (map[string]bool, error)
	Propagate(pairs []config.Passthrough, open map[string]bool, r *carrier.Recovery) (carrier.Plan, string, error)
	RestoreCarrier() ([]string, error)
}

// Propagator runs carrier propagation: it decides again on every link
// event of a pair's trunk, re-reads the guards on the tc events that may
// change one, and wakes by a timer when a trunk's recovery grace ends or a
// failed step is retried. It never polls. When it stops it brings up the
// trunks it took down.
type Propagator struct {
	Kernel CarrierKernel
	Events EventSource
	Logf   func(format string, args ...any)
	// Notify sends one notify-protocol message: READY=1 once the first
	// step succeeded, STATUS= with the pairs' state when it changes.
	Notify func(state string)
	Grace  time.Duration // carrier.DefaultGrace if 0

	reload chan *config.Config
	// stepped, if set, is told after each step: tests wait on it.
	stepped func(carrier.Plan, error)
}

// NewPropagator returns a propagator over k and ev.
func NewPropagator(k CarrierKernel, ev EventSource) *Propagator {
	return &Propagator{Kernel: k, Events: ev, Logf: func(string, ...any) {}, Notify: func(string) {}, reload: make(chan *config.Config, 1)}
}

// Reload makes Run use cfg's pairs from now on.
func (p *Propagator) Reload(cfg *config.Config) {
	for {
		select {
		case p.reload <- cfg:
			return
		default:
		}
		select { // replace a pending one
		case <-p.reload:
		default:
		}
	}
}

// carrierScope is what the propagator's events are tested against.
type carrierScope struct {
	trunks map[string]bool
	blocks map[uint32]bool // the guards' bridge-port blocks
}

func newCarrierScope(cfg *config.Config, pairs []config.Passthrough) carrierScope {
	s := carrierScope{trunks: map[string]bool{}, blocks: map[uint32]bool{}}
	for _, p := range pairs {
		s.trunks[p.A], s.trunks[p.B] = true, true
		b := cfg.BlockOf(p.Group)
		s.blocks[b], s.blocks[tcguard.EgressBlock(b)] = true, true
	}
	return s
}

// guardEvent reports whether a tc event may have changed a guard: its
// action (replaced by block and unblock), its filters and blocks, or a
// message the library could not parse. The tc datapath's translation
// filters (the trunk block) do not count: an apply adds thousands.
func (s carrierScope) guardEvent(ev TCEvent) bool {
	switch {
	case ev.Undecoded:
		return true
	case ev.Type == unix.RTM_NEWACTION || ev.Type == unix.RTM_DELACTION:
		return true
	case ev.Type == unix.RTM_NEWQDISC || ev.Type == unix.RTM_DELQDISC:
		return true
	case ev.Type == unix.RTM_NEWTFILTER || ev.Type == unix.RTM_DELTFILTER ||
		ev.Type == unix.RTM_NEWCHAIN || ev.Type == unix.RTM_DELCHAIN:
		return ev.Ifindex == tc.MagicBlock && s.blocks[ev.Parent]
	}
	return false
}

// Run propagates for cfg until ctx ends, then brings our downs back up.
// It returns an error only if it cannot subscribe at the start.
func (p *Propagator) Run(ctx context.Context, cfg *config.Config) error {
	r := carrier.NewRecovery(p.Grace)
	pairs := CarrierPairs(cfg)
	scope := newCarrierScope(cfg, pairs)
	events, cancel, err := p.subscribe(ctx)
	if err != nil {
		return err
	}
	defer func() { cancel() }() // the subscription in force then
	defer p.restore()

	var (
		open       map[string]bool
		guardsDue  = true // read the guards before the next step
		stepDue    = true
		ready      bool
		backoff    time.Duration
		retryAt    time.Time
		lastErr    string
		status     string
		resubAfter <-chan time.Time
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if stepDue && (retryAt.IsZero() || !time.Now().Before(retryAt)) {
			stepDue = false
			summary, err := p.step(cfg, pairs, &open, &guardsDue, r)
			if err != nil {
				if msg := err.Error(); msg != lastErr {
					p.Logf("carrier propagation failed, retrying: %v", err)
					lastErr = msg
				}
				backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
				retryAt, stepDue = time.Now().Add(backoff), true
			} else {
				if lastErr != "" {
					p.Logf("carrier propagation recovered")
				}
				lastErr, backoff, retryAt = "", 0, time.Time{}
				msg := "STATUS=" + summary
				if !ready {
					ready = true
					msg = "READY=1\n" + msg
				}
				if msg != status {
					status = msg
					p.Notify(msg)
				}
			}
		}
		// The timer: the end of a recovery grace, or a retry, which
		// any step waits for.
		at, ok := r.Next()
		if !retryAt.IsZero() {
			at, ok = retryAt, true
		}
		var due <-chan time.Time
		if ok {
			timer.Reset(max(time.Until(at), 0))
			due = timer.C
		}
		select {
		case <-ctx.Done():
			p.Notify("STOPPING=1")
			return nil
		case c := <-p.reload:
			cfg, pairs = c, CarrierPairs(c)
			scope = newCarrierScope(cfg, pairs)
			p.Logf("reloaded %s: %d pairs with carrier propagation", cfg.File, len(pairs))
			guardsDue, stepDue = true, true
		case ev, alive := <-events:
			// Take every event already queued before the next step: a
			// burst (an apply binding thousands of ports) costs one
			// step, not one per event.
			for more := true; more; {
				if !alive || ev.Err != nil {
					p.Logf("events lost (%v): resubscribing, full check", ev.Err)
					cancel()
					for range events { // its source closes it once ctx ends
					}
					if events, cancel, err = p.subscribe(ctx); err != nil {
						p.Logf("resubscribe failed, retrying in 1s: %v", err)
						events, resubAfter = nil, time.After(time.Second)
					}
					guardsDue, stepDue = true, true
					break
				}
				switch {
				case ev.Link != nil && scope.trunks[ev.Link.Name]:
					r.Seen(ev.Link.Name, ev.Link.Up && !ev.Link.Deleted, ev.Link.OperUp && !ev.Link.Deleted)
					stepDue = true
				case ev.TC != nil && scope.guardEvent(*ev.TC):
					guardsDue, stepDue = true, true
				}
				select {
				case ev, alive = <-events:
				default:
					more = false
				}
			}
		case <-resubAfter:
			resubAfter = nil
			if events, cancel, err = p.subscribe(ctx); err != nil {
				p.Logf("resubscribe failed, retrying in 1s: %v", err)
				events, resubAfter = nil, time.After(time.Second)
			}
			guardsDue, stepDue = true, true
		case <-due:
			stepDue = true
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// subscribe subscribes until ctx ends or the returned function is called
// (a no-op one on failure).
func (p *Propagator) subscribe(ctx context.Context) (<-chan Event, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	events, err := p.Events.Subscribe(ctx)
	if err != nil {
		cancel()
		return nil, func() {}, err
	}
	return events, cancel, nil
}

// step reads the guards if due, then propagates once, logging what it did.
func (p *Propagator) step(cfg *config.Config, pairs []config.Passthrough, open *map[string]bool, guardsDue *bool, r *carrier.Recovery) (string, error) {
	var guardErr error
	if *guardsDue {
		// A guard that could not be read counts as closed (fail closed:
		// our downs are undone, no new ones) and is read again at the
		// retry.
		*open, guardErr = p.Kernel.CarrierGuards(cfg, pairs)
		*guardsDue = guardErr != nil
	}
	plan, summary, err := p.Kernel.Propagate(pairs, *open, r)
	err = errors.Join(guardErr, err)
	for _, d := range plan.Downs {
		p.Logf("%s (ifindex %d) set down: %s lost its carrier", d.Trunk, d.Index, d.Cause)
	}
	for _, d := range plan.Ups {
		p.Logf("%s (ifindex %d) set up: %s", d.Trunk, d.Index, upReason(pairs, *open, d))
	}
	p.report(plan, err)
	return summary, err
}

func (p *Propagator) report(plan carrier.Plan, err error) {
	if p.stepped != nil {
		p.stepped(plan, err)
	}
}

// upReason says why one of our downs came back up.
func upReason(pairs []config.Passthrough, open map[string]bool, d carrier.Down) string {
	for _, pr := range pairs {
		if (pr.A == d.Trunk || pr.B == d.Trunk) && !open[pr.Group] {
			return fmt.Sprintf("the guard of group %s is not open", pr.Group)
		}
		if pr.A == d.Trunk || pr.B == d.Trunk {
			return d.Cause + " is back"
		}
	}
	return "no pair with carrier propagation has it any more"
}

// restore brings up our downs as the propagator stops.
func (p *Propagator) restore() {
	names, err := p.Kernel.RestoreCarrier()
	if len(names) > 0 {
		p.Logf("stopping: set up %s (taken down by carrier propagation)", strings.Join(names, ", "))
	}
	if err != nil {
		p.Logf("stopping: bringing up the trunks carrier propagation took down: %v", err)
	}
}
