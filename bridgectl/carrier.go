package bridgectl

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/qinqbridge/qinqbridge/bridgectl/carrier"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// Carrier propagation's kernel side: what the decision (package carrier)
// reads — the pairs' guards, their trunks, the record of our downs, the
// trunks a renegotiation kick holds — and the carrying out of its plan.

// CarrierPairs are cfg's pass-throughs with carrier = true.
func CarrierPairs(cfg *config.Config) []config.Passthrough {
	var out []config.Passthrough
	for _, p := range cfg.Passthroughs {
		if p.Carrier {
			out = append(out, p)
		}
	}
	return out
}

// CarrierGuards reads whether the guard of each group of pairs is open
// (tcguard.Opened; anything else, an error included, is not: fail
// closed), by group.
func (m *Manager) CarrierGuards(cfg *config.Config, pairs []config.Passthrough) (map[string]bool, error) {
	open := map[string]bool{}
	var errs []error
	for _, p := range pairs {
		if _, done := open[p.Group]; done {
			continue
		}
		open[p.Group] = false
		g, err := m.GroupGuard(cfg, p.Group)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s, err := g.Status(nil)
		g.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("guard of group %s: %w", p.Group, err))
			continue
		}
		open[p.Group] = s.State == tcguard.Opened
	}
	return open, errors.Join(errs...)
}

// carrierRecord reads the record of our downs; none is an empty one.
func (m *Manager) carrierRecord() ([]carrier.Down, error) {
	b, err := m.dir.ReadFile(carrier.RecordFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return carrier.ParseRecord(b), nil
}

func (m *Manager) writeCarrierRecord(ds []carrier.Down) error {
	if len(ds) == 0 {
		return m.dir.Remove(carrier.RecordFile)
	}
	return m.dir.WriteFile(carrier.RecordFile, carrier.FormatRecord(ds))
}

// kickHeld are the trunks a renegotiation kick's record names: a kick
// killed while it held them down (a running kick holds the namespace's
// lock, which Propagate takes).
func (m *Manager) kickHeld() (map[string]bool, error) {
	ks, err := m.kickRecord()
	if err != nil || ks == nil {
		return nil, err
	}
	held := map[string]bool{}
	for _, k := range ks {
		held[k.name] = true
	}
	return held, nil
}

// Propagate decides and carries out carrier propagation once, under the
// namespace's lock: pairs (CarrierPairs) with their groups' guards open
// as given, the trunks as they are now, r's memory of trunks that came up.
// It returns the plan carried out and a summary of the pairs after it
// (carrier.Summary).
func (m *Manager) Propagate(pairs []config.Passthrough, open map[string]bool, r *carrier.Recovery) (carrier.Plan, string, error) {
	unlock, err := m.Lock()
	if err != nil {
		return carrier.Plan{}, "", err
	}
	defer unlock()
	record, err := m.carrierRecord()
	if err != nil {
		return carrier.Plan{}, "", err
	}
	held, err := m.kickHeld()
	if err != nil {
		return carrier.Plan{}, "", err
	}
	dump, err := m.links.Dump(false)
	if err != nil {
		return carrier.Plan{}, "", err
	}
	links := map[string]carrier.Link{}
	var ps []carrier.Pair
	for _, p := range pairs {
		ps = append(ps, carrier.Pair{A: p.A, B: p.B, Open: open[p.Group]})
		links[p.A], links[p.B] = carrier.Link{}, carrier.Link{}
	}
	for _, d := range record {
		links[d.Trunk] = carrier.Link{}
	}
	for _, o := range dump {
		if _, want := links[o.Name]; want {
			links[o.Name] = carrier.Link{Exists: true, Index: o.Index, Up: o.Up, OperUp: o.OperUp, Held: held[o.Name]}
		}
	}
	now := time.Now()
	if r != nil {
		r.Observe(links, now)
	}
	plan := carrier.Decide(ps, links, record)
	return plan, carrier.Summary(ps, links, plan), m.carryOut(plan, r)
}

// carryOut writes the record, sets the downs down and the ups up, and
// writes the record after: see carrier.Plan for why in this order.
func (m *Manager) carryOut(p carrier.Plan, r *carrier.Recovery) error {
	if p.RecordChanged {
		if err := m.writeCarrierRecord(p.Record); err != nil {
			return err
		}
	}
	var errs []error
	set := func(d carrier.Down, op kernel.Op) bool {
		what := fmt.Sprintf("%s: carrier propagation (%s lost its carrier)", d.Trunk, d.Cause)
		if op == kernel.OpUp {
			what = fmt.Sprintf("%s: carrier propagation (%s is back)", d.Trunk, d.Cause)
		}
		if _, err := m.links.Exec([]kernel.Request{{Op: op, Index: d.Index, What: what}}); err != nil {
			errs = append(errs, fmt.Errorf("trunk %s: %w", d.Trunk, err))
			return false
		}
		return true
	}
	for _, d := range p.Downs {
		set(d, kernel.OpDown)
	}
	after := p.After
	for _, d := range p.Ups {
		if !set(d, kernel.OpUp) {
			after = append(after, d) // still down: still ours
			continue
		}
		if r != nil {
			r.Up(d.Trunk, time.Now())
		}
	}
	if p.AfterChanged || len(after) != len(p.After) {
		slices.SortFunc(after, func(a, b carrier.Down) int { return strings.Compare(a.Trunk, b.Trunk) })
		if err := m.writeCarrierRecord(after); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RestoreCarrier brings up every trunk carrier propagation has down and
// forgets them: what a propagator does when it stops (nothing would bring
// them up after it), and the bridge agent's stop after a propagator was
// killed. It returns the trunks brought up.
func (m *Manager) RestoreCarrier() ([]string, error) {
	plan, _, err := m.Propagate(nil, nil, nil)
	var names []string
	for _, d := range plan.Ups {
		names = append(names, d.Trunk)
	}
	return names, err
}
