// Package bridgectl converges the kernel to a qinqbridge configuration: it
// reads the kernel (links and guard), computes a plan, executes it, and
// records what it applied. The CLI, the OCF agent and the tests all use it.
package bridgectl

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/florianl/go-tc"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/internal/namespace"
	"github.com/qinqbridge/qinqbridge/internal/statedir"
	"github.com/qinqbridge/qinqbridge/internal/tcnl"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// Options select the namespace and the state directory, and how the
// namespace's lock is taken.
type Options struct {
	NetNS    string // a name under /run/netns; "" for the current namespace
	StateDir string // defaults.StateDir if ""
	// Lock makes Open take the namespace's lock and hold it until Close:
	// for a caller whose every step must not interleave with another
	// command's (an OCF agent's mutating action). Without it, Apply and
	// Down take the lock for their own duration.
	Lock bool
	// LockWait bounds the wait for the lock; defaults.LockWait if 0.
	LockWait time.Duration
}

// Manager is an open connection to one namespace's kernel state. It is not
// safe for concurrent use.
type Manager struct {
	opts  Options
	dir   statedir.Dir
	ns    *namespace.NetNS
	links kernel.Links
	// OpenTC opens the namespace's tc objects (the guard's, the tc
	// datapath's): tcnl.Open in the namespace, unless New's caller sets
	// another (tests: internal/kerneltest's tc).
	OpenTC func() (tcnl.TC, error)
	// Offloads are the namespace's device features: kernel.Ethtool in the
	// namespace, unless New's caller sets others (tests).
	Offloads kernel.Offloads
	// KickHold is how long a renegotiation kick holds the pass-through
	// trunks down (see Unblock): the package's KickHold unless set.
	KickHold time.Duration
	unlock   func() // set while the namespace's lock is held
}

// binder is the groups' guards as kernel.Apply binds ports with them.
type binder struct{ m *Manager }

func (b binder) Bind(block uint32, ifindexes []int) ([]int, error) {
	g, err := b.m.Guard(block, "") // binding does not touch the group's marker
	if err != nil {
		return nil, err
	}
	defer g.Close()
	err = g.Bind(ifindexes)
	if err == nil {
		return nil, nil
	}
	if ports, whole := tcguard.FailedPorts(err); !whole {
		return ports, err
	}
	return nil, err
}

// Open connects to the namespace. A name that cannot be a namespace is
// statedir.ErrBadNetNS.
func Open(o Options) (*Manager, error) {
	ns, err := namespace.Open(o.NetNS)
	if err != nil {
		return nil, err
	}
	links, err := kernel.Dial(ns)
	if err != nil {
		ns.Close()
		return nil, err
	}
	return New(o, ns, links)
}

// New is a Manager of namespace ns whose link table is links; Open is New
// over the kernel's. Tests hand it an in-memory link table
// (internal/kerneltest) and set OpenGuard. The Manager owns ns and links
// from then on, also when New fails: Close closes them.
func New(o Options, ns *namespace.NetNS, links kernel.Links) (*Manager, error) {
	if o.StateDir == "" {
		o.StateDir = defaults.StateDir
	}
	if o.LockWait <= 0 {
		o.LockWait = defaults.LockWait
	}
	m := &Manager{opts: o, ns: ns, links: links, KickHold: KickHold}
	m.OpenTC = func() (tcnl.TC, error) { return tcnl.Open(ns.Fd()) }
	m.Offloads = kernel.Ethtool{NS: ns}
	dir, err := statedir.New(o.StateDir, o.NetNS)
	if err != nil {
		m.Close()
		return nil, err
	}
	m.dir = dir
	if o.Lock {
		if _, err := m.Lock(); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// Close releases the connection, and the lock if held.
func (m *Manager) Close() {
	if m.unlock != nil {
		m.unlock()
		m.unlock = nil
	}
	if m.links != nil {
		m.links.Close()
	}
	m.ns.Close()
}

// Dir is this namespace's state directory.
func (m *Manager) Dir() string { return m.dir.Path() }

// Lock takes the namespace's lock (waiting at most Options.LockWait) unless
// this Manager holds it already, and returns what releases it: a no-op if
// it was held already, so that Apply within a locked agent action does
// not wait for its own caller. Every command that changes the namespace
// holds it — apply, down, watch while it applies, tcguard block and
// unblock, the agents' start, stop, promote, demote and reload — so link
// indexes picked as max+1 and the state files' contents never interleave.
func (m *Manager) Lock() (unlock func(), err error) {
	if m.unlock != nil {
		return func() {}, nil
	}
	u, err := m.dir.Lock(m.opts.LockWait)
	if err != nil {
		return nil, err
	}
	m.unlock = u
	return func() {
		if m.unlock != nil {
			m.unlock()
			m.unlock = nil
		}
	}, nil
}

// Guard opens the standby guard of this namespace for block, the guard of
// the translations of group ("" for the default group).
func (m *Manager) Guard(block uint32, group string) (*tcguard.Guard, error) {
	t, err := m.OpenTC()
	if err != nil {
		return nil, err
	}
	return tcguard.New(tcguard.Options{Block: block, NetNS: m.ns, StateDir: m.Dir(), Group: group}, t), nil
}

// View is the kernel as seen against a configuration.
type View struct {
	State *plan.State
	Want  []plan.Link
	Plan  *plan.Plan
	// The tc datapath: the filters the configuration wants, the kernel's
	// (with their counters), and the trunks the wanted ones need.
	WantFilters, Filters []plan.Filter
	Trunks               []string
	// PassTrunks are those of Trunks that only a pass-through needs (the
	// tc datapath does not translate on them): promiscuous, offloads kept.
	PassTrunks []string
	// The trunk settings bridgectl changed, as recorded, and the record
	// once the plan's setting steps are done.
	Changed, settingsAfter []plan.Changed
}

// Observe reads the links (and, with guard, which ports are bound to the
// guard's block, and the tc datapath's filters) and plans the way to cfg.
// The links and the guard are read concurrently, on two sockets: each is
// one dump of every device in the namespace, and one's parsing overlaps
// the other's kernel work.
func (m *Manager) Observe(cfg *config.Config, guard bool) (*View, error) {
	// Every group's guard, and the applied file's groups' too: a port
	// still bound to the guard of a group this file no longer has is
	// bound (it moves by a recreate), not a port with a foreign qdisc.
	var bound []<-chan boundPorts
	all := m.guardsOf(cfg)
	if guard {
		for _, b := range all.blocks {
			bound = append(bound, m.boundPorts(all, b))
		}
	}
	links, err := m.links.Dump(false)
	if err != nil {
		for _, ch := range bound {
			<-ch
		}
		return nil, err
	}
	st := plan.NewState(links)
	if !guard {
		return linkView(cfg, st, nil)
	}
	reads := make([]boundPorts, len(bound))
	for i, ch := range bound {
		reads[i] = <-ch
	}
	v, err := linkView(cfg, st, reads)
	if err != nil {
		return nil, err
	}
	fs, err := m.filters(all, st)
	if err != nil {
		return nil, err
	}
	if err := datapathView(cfg, v, reads[0].status, fs, m.trunkStatus(all, cfg.Guard.Block)); err != nil {
		return nil, err
	}
	return v, m.observeSettings(v)
}

// linkView plans the links to cfg from the kernel's (st) and the guards'
// reads (nil: the guards not read, every port counts as bound). It reads
// nothing: Observe and Status each read the kernel their way, and plan
// alike.
func linkView(cfg *config.Config, st *plan.State, reads []boundPorts) (*View, error) {
	want, err := plan.Desired(cfg, st)
	for _, b := range reads {
		if err == nil {
			err = b.err
		}
		for _, i := range b.status.Bound {
			if o := st.ByIndex[i]; o != nil {
				o.Bound, o.BoundBlock = true, b.block
			}
		}
		if err == nil {
			err = SharedBlock(b.block, b.status, st)
		}
	}
	if reads == nil {
		for _, o := range st.ByName {
			o.Bound = true // not checked: no drift reported for it
		}
	}
	if err != nil {
		return nil, err
	}
	p, err := plan.Compute(want, st)
	if err != nil {
		return nil, err
	}
	return &View{State: st, Want: want, Plan: p}, nil
}

// trunkStatus reads the guard of block against the trunks given, for
// datapathView.
func (m *Manager) trunkStatus(all guards, block uint32) func(trunks []int) (tcguard.Status, error) {
	return func(trunks []int) (tcguard.Status, error) {
		g, err := m.openGuard(all, block)
		if err != nil {
			return tcguard.Status{}, err
		}
		defer g.Close()
		return g.Status(trunks)
	}
}

// datapathView adds the tc datapath to v's plan: the filters to create,
// modify and delete (those of an earlier configuration too, whatever the
// datapath now) given the kernel's (fs), the trunks to bind and to
// unbind, given the default group's guard status gs. A wanted trunk whose
// ingress holds somebody else's qdisc is refused by name, before anything
// changes: trunks reads the guard against the wanted trunks (Status has
// that read already).
func datapathView(cfg *config.Config, v *View, gs tcguard.Status, fs []plan.Filter, trunks func([]int) (tcguard.Status, error)) error {
	var err error
	if cfg.Datapath == config.TCDatapath {
		if v.WantFilters, v.Trunks, err = plan.DesiredFilters(cfg, v.State); err != nil {
			return err
		}
	}
	// Pass-throughs, in either datapath: their trunks are bound to the
	// trunk block like the tc datapath's, and need only promiscuous mode
	// when that datapath does not use them.
	pass, passTrunks := plan.DesiredPassthroughs(cfg, v.State)
	v.WantFilters = append(v.WantFilters, pass...)
	for _, t := range passTrunks {
		if _, found := slices.BinarySearch(v.Trunks, t); !found {
			v.PassTrunks = append(v.PassTrunks, t)
		}
	}
	v.Trunks = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(v.Trunks), passTrunks...))))
	v.Filters = fs
	v.Plan.Filters = plan.ComputeFilters(v.WantFilters, v.Filters)
	wanted := map[int]bool{}
	for _, i := range indexes(v.State, v.Trunks) {
		wanted[i] = true
	}
	if len(v.Trunks) > 0 {
		ts, err := trunks(indexes(v.State, v.Trunks))
		if err != nil {
			return err
		}
		var errs []error
		for _, i := range ts.Foreign {
			if wanted[i] {
				errs = append(errs, fmt.Errorf("trunk %s: %w: its ingress qdisc is somebody else's; the tc datapath or a pass-through needs to bind it to block %d",
					v.State.Name(i), tcguard.ErrForeign, tcguard.TrunkBlock(cfg.Guard.Block)))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		gs = ts
	}
	for _, i := range indexes(v.State, v.Trunks) {
		if _, bound := slices.BinarySearch(gs.Trunks, i); !bound {
			v.Plan.Bind = append(v.Plan.Bind, v.State.Name(i))
		}
	}
	for _, i := range gs.Trunks {
		if !wanted[i] {
			v.Plan.Unbind = append(v.Plan.Unbind, v.State.Name(i))
		}
	}
	return nil
}

// filters reads the tc datapath's filters: those in the trunk block, each
// gated by its group's guard.
func (m *Manager) filters(all guards, st *plan.State) ([]plan.Filter, error) {
	t, err := m.OpenTC()
	if err != nil {
		return nil, err
	}
	defer t.Close()
	return filtersOn(t, all, st)
}

// filtersOn is filters over t.
func filtersOn(t tcnl.TC, all guards, st *plan.State) ([]plan.Filter, error) {
	objs, err := t.Filters(tc.Msg{Ifindex: tc.MagicBlock, Parent: all.trunk})
	if err != nil {
		return nil, fmt.Errorf("listing the filters of block %d: %w", all.trunk, err)
	}
	return kernel.ObservedFilters(objs, st, all.gates()), nil
}

// indexes are the ifindexes of the named links that exist.
func indexes(st *plan.State, names []string) []int {
	var out []int
	for _, n := range names {
		if o := st.ByName[n]; o != nil {
			out = append(out, o.Index)
		}
	}
	return out
}

// boundPorts is the guard's status (which devices are bound to its block),
// or why it is not known.
type boundPorts struct {
	block  uint32
	status tcguard.Status
	err    error
}

// SharedBlock refuses a guard block that somebody else uses too: a device
// bridgectl did not create bound to it (other than as a trunk of the tc
// datapath), or a filter or chain tcguard did not
// put in it. Binding our ports to it, or dropping in it, would cut that
// software's traffic, and its filters could open our ports. bridgectl's
// planner and the tcguard agent's monitor both ask it.
func SharedBlock(block uint32, s tcguard.Status, st *plan.State) error {
	var strangers []string
	for _, i := range s.Users {
		if _, trunk := slices.BinarySearch(s.Trunks, i); trunk {
			continue // bound as the tc datapath's trunks are: by us
		}
		if o := st.ByIndex[i]; o == nil {
			strangers = append(strangers, fmt.Sprintf("ifindex %d", i))
		} else if !o.Owned() {
			strangers = append(strangers, o.Name)
		}
	}
	var errs []error
	if len(strangers) > 0 {
		errs = append(errs, fmt.Errorf("[guard] block %d: %w: devices %s are bound to it; give [guard] block another index",
			block, tcguard.ErrForeignBlock, strings.Join(strangers, ", ")))
	}
	if len(s.Intruders) > 0 {
		errs = append(errs, fmt.Errorf("[guard] block %d: %w: %s; give [guard] block another index",
			block, tcguard.ErrForeignBlock, strings.Join(s.Intruders, ", ")))
	}
	return errors.Join(errs...)
}

// boundPorts reads, in the background, which devices are bound to block.
func (m *Manager) boundPorts(gs guards, block uint32) <-chan boundPorts {
	ch := make(chan boundPorts, 1)
	go func() {
		g, err := m.openGuard(gs, block)
		if err != nil {
			ch <- boundPorts{block: block, err: err}
			return
		}
		defer g.Close()
		gs, err := g.Status(nil)
		ch <- boundPorts{block: block, status: gs, err: err}
	}()
	return ch
}

// Apply converges the kernel to cfg and records it as applied. On error the
// phases done are kept; running Apply again converges. Once it planned, it
// records its outcome, success or failure (LastApply); one refused before
// anything changed (nil View: a parent missing, a foreign link in the way)
// leaves the state directory as it was.
func (m *Manager) Apply(cfg *config.Config, raw []byte) (*View, plan.Result, error) {
	unlock, err := m.Lock()
	if err != nil {
		return nil, plan.Result{}, err
	}
	defer unlock()
	v, res, err := m.converge(cfg, raw)
	if v == nil {
		return v, res, err
	}
	if rerr := m.recordOutcome(cfg, err); rerr != nil && err == nil {
		// A failed apply's own error matters more than its record's.
		err = fmt.Errorf("applied, but cannot record it: %w", rerr)
	}
	return v, res, err
}

// converge is Apply under the lock.
func (m *Manager) converge(cfg *config.Config, raw []byte) (*View, plan.Result, error) {
	if _, err := m.RestoreKicked(); err != nil {
		return nil, plan.Result{}, err
	}
	v, err := m.Observe(cfg, true)
	if err != nil {
		return nil, plan.Result{}, err
	}
	var res plan.Result
	if !v.Plan.Empty() {
		if res, err = m.apply(cfg, v); err != nil {
			return v, res, err
		}
	}
	if err := m.Record(cfg, raw); err != nil {
		return v, res, fmt.Errorf("applied, but cannot record it: %w", err)
	}
	return v, res, nil
}

// apply executes v's plan. The datapath the configuration has is built
// before the other one's leftovers go, so that switching datapaths keeps
// the guard's action bound (an opened node stays open) and the frames
// flowing: the tc datapath takes a trunk's frames before any VLAN device
// sees them. The tc datapath's trunks are bound (and a fresh action set
// to drop) before its first filter; a trunk is unbound only after its
// filters are gone.
func (m *Manager) apply(cfg *config.Config, v *View) (plan.Result, error) {
	all := m.guardsOf(cfg)
	g, err := m.openGuard(all, cfg.Guard.Block)
	if err != nil {
		return plan.Result{}, err
	}
	defer g.Close()
	links := func() (plan.Result, error) { return kernel.Apply(m.links, v.Plan, v.State, binder{m}) }
	filters := func() (plan.Result, error) {
		if err := m.setTrunks(v); err != nil {
			return plan.Result{}, &kernel.PhaseError{Phase: "trunk settings", Err: err}
		}
		// Trunks are bound before any filter; bound again also when only
		// their binding was lost (filters intact).
		if len(v.Trunks) > 0 && (len(v.Plan.Bind) > 0 || len(v.Plan.Filters) > 0) {
			if err := g.BindTrunks(indexes(v.State, v.Trunks)); err != nil {
				return plan.Result{}, &kernel.PhaseError{Phase: "bind trunks", Err: err}
			}
		}
		res, err := m.applyFilters(all, v.Plan.Filters, v.State)
		if err != nil {
			return res, &kernel.PhaseError{Phase: "filters", Err: err}
		}
		return res, nil
	}
	first, second := links, filters
	if cfg.Datapath == config.TCDatapath {
		first, second = filters, links
	}
	var res plan.Result
	for _, phase := range []func() (plan.Result, error){first, second} {
		r, err := phase()
		res = res.Add(r)
		if err != nil {
			return res, err
		}
	}
	if err := g.UnbindTrunks(indexes(v.State, v.Plan.Unbind)); err != nil {
		return res, &kernel.PhaseError{Phase: "unbind trunks", Err: err}
	}
	if err := m.restoreTrunks(v); err != nil {
		return res, &kernel.PhaseError{Phase: "trunk settings", Err: err}
	}
	return res, m.release(all, cfg, len(v.Trunks) == 0)
}

// release deletes the actions of the guards that no translation filter
// binds any more and that were made on their own (see tcguard.Release):
// every guard's when the tc datapath is gone (none), else those of the
// groups cfg no longer has. A bound action is left.
func (m *Manager) release(all guards, cfg *config.Config, none bool) error {
	for _, b := range all.blocks {
		if !none && (b == cfg.Guard.Block || slices.ContainsFunc(cfg.Groups, func(g config.Group) bool { return g.Block == b })) {
			continue
		}
		g, err := m.openGuard(all, b)
		if err != nil {
			return err
		}
		err = g.Release()
		g.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// applyFilters runs the tc datapath's filter steps in the trunk block.
func (m *Manager) applyFilters(all guards, steps []plan.FilterStep, st *plan.State) (plan.Result, error) {
	if len(steps) == 0 {
		return plan.Result{}, nil
	}
	t, err := m.OpenTC()
	if err != nil {
		return plan.Result{}, err
	}
	defer t.Close()
	return kernel.ApplyFilters(t, steps, st, all.trunk, all.gates())
}

// SetDown sets the links with these ifindexes down (bridge ports that cannot
// be bound to the guard: down, they forward nothing).
func (m *Manager) SetDown(ifindexes []int) error { return kernel.SetDown(m.links, ifindexes) }

// Down deletes every link bridgectl owns in the namespace and forgets what
// was applied. Foreign links in bridgectl's device groups are left alone
// and returned, for the caller to report: they never make Down fail, so
// an admin's link in the group cannot make a stop fail (and fence the
// node). A link moved into a group between the read and the delete can
// make the fast group delete fail: one more round, on a fresh read, then
// deletes around it.
func (m *Manager) Down() ([]plan.Foreign, error) {
	unlock, err := m.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := m.RestoreKicked(); err != nil {
		return nil, err
	}
	var st *plan.State
	for attempt := 0; attempt < 2; attempt++ {
		var links []*plan.Observed
		if links, err = m.links.Dump(false); err != nil {
			return nil, err
		}
		st = plan.NewState(links)
		if err = kernel.Down(m.links, st); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if err := m.downDatapath(st); err != nil {
		return nil, err
	}
	if err := m.dir.Remove(passTrunksFile); err != nil {
		return nil, err
	}
	return plan.ForeignInGroups(st), m.dir.Remove(appliedFile)
}

// RemoveFilters deletes the tc datapath's translation filters and unbinds
// its trunks: nothing of the tc datapath forwards after it. It is the tc
// datapath's way to fail closed when the guard's action cannot be set
// (somebody else's objects in its blocks): setting the trunks down instead
// would touch interfaces that are not ours.
func (m *Manager) RemoveFilters() error {
	unlock, err := m.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	links, err := m.links.Dump(false)
	if err != nil {
		return err
	}
	return m.downDatapath(plan.NewState(links))
}

// downDatapath deletes the tc datapath's filters, unbinds its trunks and
// releases the guards' actions if they were created for them, in the
// blocks of the configuration applied (the default block if none is
// recorded).
func (m *Manager) downDatapath(st *plan.State) error {
	cfg := &config.Config{Datapath: config.BridgeDatapath} // no filter wanted
	cfg.Guard.Block = defaults.Block
	if applied, err := m.Applied(); err == nil {
		cfg.Guard.Block = applied.Guard.Block
	}
	all := m.guardsOf(cfg)
	g, err := m.openGuard(all, cfg.Guard.Block)
	if err != nil {
		return err
	}
	defer g.Close()
	gs, err := g.Status(nil)
	if err != nil {
		return err
	}
	fs, err := m.filters(all, st)
	if err != nil {
		return err
	}
	v := &View{State: st, Plan: &plan.Plan{}}
	if err := datapathView(cfg, v, gs, fs, m.trunkStatus(all, cfg.Guard.Block)); err != nil {
		return err
	}
	if err := m.observeSettings(v); err != nil {
		return err
	}
	if _, err := m.applyFilters(all, v.Plan.Filters, st); err != nil {
		return err
	}
	if err := g.UnbindTrunks(gs.Trunks); err != nil {
		return err
	}
	if err := m.restoreTrunks(v); err != nil {
		return err
	}
	return m.release(all, cfg, true)
}
