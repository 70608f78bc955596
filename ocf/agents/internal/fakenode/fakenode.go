// Package fakenode is an in-memory kernel behind node.Node for the agents'
// unit tests: links as the planner sees them (plan.Observed), tc blocks
// with the guard's filter, and tcguard's open marker, with the semantics of
// bridgectl and tcguard (Apply converges and binds new ports blocked, Down
// deletes our links and with them the block, Block/Unblock/Status as in
// tcguard's doc). Planning itself is the real package plan, so a fake
// kernel state yields the real plan, drift and errors.
package fakenode

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/internal/statedir"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/node"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// Block is one tc shared block. It exists while a port is bound to it.
type Block struct {
	Filter    bool     // the guard's drop filter
	Armed     bool     // tcguard's armed chain
	Intruders []string // somebody else's filters or chains in it
}

// Kernel is one fake namespace with its state directory's markers.
type Kernel struct {
	mu sync.Mutex

	Dir     string
	Links   map[string]*plan.Observed
	BoundTo map[int]uint32 // port ifindex -> block its clsact is bound to
	Foreign map[int]bool   // ifindexes with a foreign ingress qdisc
	Blocks  map[uint32]*Block
	Marker  bool // tcguard's open marker (guard-open)

	applied []byte // bridgectl's applied record; nil: none
	next    int

	// Fail makes an operation fail: "open", "applied", "observe", "apply",
	// "down", "guard", "block", "unblock", "status".
	Fail map[string]error
	// Calls logs every operation, in order.
	Calls []string
}

// New returns an empty namespace (with lo) whose state directory is dir.
func New(dir string) *Kernel {
	k := &Kernel{
		Dir: dir, Links: map[string]*plan.Observed{}, BoundTo: map[int]uint32{},
		Foreign: map[int]bool{}, Blocks: map[uint32]*Block{}, Fail: map[string]error{}, next: 1,
	}
	k.AddNIC("lo", 65536)
	return k
}

// AddNIC adds a physical interface (not ours), up with carrier.
func (k *Kernel) AddNIC(name string, mtu int) *plan.Observed {
	return k.Add(&plan.Observed{Name: name, MTU: mtu, Up: true, OperUp: true})
}

// Add adds a link as given, with a fresh index.
func (k *Kernel) Add(o *plan.Observed) *plan.Observed {
	k.mu.Lock()
	defer k.mu.Unlock()
	o.Index = k.next
	k.next++
	k.Links[o.Name] = o
	return o
}

// Link returns a link by name (nil if none), for tests to inspect or edit.
func (k *Kernel) Link(name string) *plan.Observed { return k.Links[name] }

// Delete removes a link as `ip link del` would, with the VLANs stacked on
// it and its clsact.
func (k *Kernel) Delete(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.delete(name)
}

func (k *Kernel) delete(name string) {
	o := k.Links[name]
	if o == nil {
		return
	}
	delete(k.Links, name)
	k.unbind(o.Index)
	for _, c := range k.sorted() {
		if c.Kind == string(plan.VLAN) && c.ParentIndex == o.Index {
			k.delete(c.Name)
		}
		if c.MasterIndex == o.Index {
			c.MasterIndex = 0
		}
	}
}

func (k *Kernel) unbind(ifindex int) {
	b, ok := k.BoundTo[ifindex]
	delete(k.BoundTo, ifindex)
	delete(k.Foreign, ifindex)
	if ok && !slices.Contains(k.boundValues(), b) {
		delete(k.Blocks, b) // the last port's block goes with it
	}
}

func (k *Kernel) boundValues() []uint32 {
	var v []uint32
	for _, b := range k.BoundTo {
		v = append(v, b)
	}
	return v
}

func (k *Kernel) sorted() []*plan.Observed {
	l := make([]*plan.Observed, 0, len(k.Links))
	for _, o := range k.Links {
		l = append(l, o)
	}
	sort.Slice(l, func(i, j int) bool { return l[i].Index < l[j].Index })
	return l
}

// Owned counts our links.
func (k *Kernel) Owned() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, o := range k.Links {
		if o.Owned() {
			n++
		}
	}
	return n
}

// SetApplied sets or (nil) removes bridgectl's applied record.
func (k *Kernel) SetApplied(raw []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.applied = raw
}

// Applied returns the raw applied record.
func (k *Kernel) AppliedRaw() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.applied
}

// Open is a node.Opener over this kernel: every Node it opens sees the
// same state. A NetNS of "missing" is a namespace that does not exist; bad
// names are the real ones (statedir.CheckNetNS).
func (k *Kernel) Open(o bridgectl.Options) (node.Node, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.Calls = append(k.Calls, "open")
	if o.NetNS == "missing" {
		return nil, fmt.Errorf("netns missing: %w", node.ErrNoNetNS)
	}
	if o.NetNS != "" {
		if err := statedir.CheckNetNS(o.NetNS); err != nil {
			return nil, err
		}
	}
	if err := k.Fail["open"]; err != nil {
		return nil, err
	}
	return &fakeNode{k}, nil
}

type fakeNode struct{ k *Kernel }

func (n *fakeNode) Dir() string { return n.k.Dir }
func (n *fakeNode) Close()      {}

func (n *fakeNode) call(op string) error {
	n.k.Calls = append(n.k.Calls, op)
	return n.k.Fail[op]
}

func (n *fakeNode) Applied() (*config.Config, error) {
	k := n.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := n.call("applied"); err != nil {
		return nil, err
	}
	if k.applied == nil {
		return nil, bridgectl.ErrNotApplied
	}
	return config.Parse(k.Dir+"/applied.toml", k.applied)
}

// Observe plans against a copy of the state, as the real Manager plans
// against a fresh dump.
func (n *fakeNode) Observe(cfg *config.Config, guard bool) (*bridgectl.View, error) {
	k := n.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := n.call("observe"); err != nil {
		return nil, err
	}
	return k.observe(cfg, guard)
}

func (k *Kernel) observe(cfg *config.Config, guard bool) (*bridgectl.View, error) {
	var links []*plan.Observed
	for _, o := range k.sorted() {
		c := *o
		c.Bound = !guard || k.BoundTo[o.Index] == cfg.Guard.Block && cfg.Guard.Block != 0
		links = append(links, &c)
	}
	st := plan.NewState(links)
	want, err := plan.Desired(cfg, st)
	if err != nil {
		return nil, err
	}
	p, err := plan.Compute(want, st)
	if err != nil {
		return nil, err
	}
	return &bridgectl.View{State: st, Want: want, Plan: p}, nil
}

// Apply converges the fake kernel to cfg: the links become exactly the
// wanted ones (kept indexes where the plan keeps the link), new and unbound
// ports are bound to the guard's block (arming it blocked if it is fresh),
// and raw is recorded.
func (n *fakeNode) Apply(cfg *config.Config, raw []byte) (*bridgectl.View, plan.Result, error) {
	k := n.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := n.call("apply"); err != nil {
		return nil, plan.Result{}, err
	}
	v, err := k.observe(cfg, true)
	if err != nil {
		return nil, plan.Result{}, err
	}
	var res plan.Result
	for _, s := range v.Plan.Steps {
		switch s.Op {
		case plan.Delete, plan.Recreate:
			k.delete(s.Name())
		}
	}
	var bind []int
	for _, s := range v.Plan.Steps {
		if s.Op == plan.Delete {
			res.Deleted++
			continue
		}
		w := s.Link
		o := k.Links[w.Name]
		if o == nil {
			o = &plan.Observed{Index: k.next, Name: w.Name}
			k.next++
			k.Links[w.Name] = o
		}
		o.Kind, o.Group, o.MTU, o.Alias, o.AddrGenNone, o.Up = string(w.Kind), defaults.OwnerGroup, w.MTU, w.Alias, true, true
		if w.Kind == plan.VLAN {
			o.ParentIndex, o.Proto, o.ID = k.Links[w.Parent].Index, w.Proto, w.ID
		} else {
			o.Ageing, o.GroupFwdMask, o.STP, o.McastSnoop = w.Ageing, plan.GroupFwdMask, false, false
		}
		o.MasterIndex = 0
		if w.Master != "" {
			o.MasterIndex = k.Links[w.Master].Index
		}
		if w.Port && k.BoundTo[o.Index] != cfg.Guard.Block {
			bind = append(bind, o.Index)
		}
		switch s.Op {
		case plan.Create:
			res.Created++
		case plan.Recreate:
			res.Recreated++
		default:
			res.Modified++
		}
	}
	if err := k.bind(cfg.Guard.Block, bind); err != nil {
		return v, res, &kernel.PhaseError{Phase: "guard", Err: err}
	}
	k.applied = append([]byte{}, raw...)
	return v, res, nil
}

func (k *Kernel) bind(block uint32, ports []int) error {
	if err := k.foreignBlock(block); err != nil {
		return err
	}
	var errs []error
	for _, p := range ports {
		if k.Foreign[p] {
			errs = append(errs, &tcguard.PortError{Ifindex: p, Err: tcguard.ErrForeign})
			continue
		}
		if b, ok := k.BoundTo[p]; ok && b != block {
			errs = append(errs, &tcguard.PortError{Ifindex: p, Err: fmt.Errorf("%w: clsact bound to block %d", tcguard.ErrForeign, b)})
			continue
		}
		k.BoundTo[p] = block
		if b := k.Blocks[block]; b == nil || !b.Armed {
			k.Blocks[block] = &Block{Filter: true, Armed: true} // a fresh block is blocked
		}
	}
	return errors.Join(errs...)
}

// Down deletes our links (both marks, plan.Observed.Owned) and leaves
// foreign links in our groups alone, returning them, as bridgectl does.
func (n *fakeNode) Down() ([]plan.Foreign, error) {
	k := n.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := n.call("down"); err != nil {
		return nil, err
	}
	for _, o := range k.sorted() {
		if o.Owned() {
			k.delete(o.Name)
		}
	}
	k.applied = nil
	return plan.ForeignInGroups(plan.NewState(k.sorted())), nil
}

// SetDown sets links down by ifindex.
func (n *fakeNode) SetDown(ifindexes []int) error {
	k := n.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := n.call("setdown"); err != nil {
		return err
	}
	for _, o := range k.Links {
		if slices.Contains(ifindexes, o.Index) {
			o.Up, o.OperUp = false, false
		}
	}
	return nil
}

func (n *fakeNode) Guard(block uint32) (node.Guard, error) {
	k := n.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := n.call(fmt.Sprintf("guard %d", block)); err != nil {
		return nil, err
	}
	if err := k.Fail["guard"]; err != nil {
		return nil, err
	}
	return &fakeGuard{k: k, block: block}, nil
}

type fakeGuard struct {
	k     *Kernel
	block uint32
}

func (g *fakeGuard) call(op string) error {
	g.k.Calls = append(g.k.Calls, op)
	return g.k.Fail[op]
}

func (g *fakeGuard) Close() error { return nil }

// foreignBlock refuses a block with somebody else's objects, as tcguard does.
func (k *Kernel) foreignBlock(block uint32) error {
	if b := k.Blocks[block]; b != nil && len(b.Intruders) > 0 {
		return fmt.Errorf("block %d: %w (%s)", block, tcguard.ErrForeignBlock, strings.Join(b.Intruders, ", "))
	}
	return nil
}

// Block: filter in (if the block exists), then the marker out.
func (g *fakeGuard) Block() error {
	k := g.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := g.call("block"); err != nil {
		return err
	}
	if err := k.foreignBlock(g.block); err != nil {
		return err
	}
	if b := k.Blocks[g.block]; b != nil {
		b.Filter, b.Armed = true, true
	}
	k.Marker = false
	return nil
}

// Bind binds ports as tcguard does: a fresh block is blocked.
func (g *fakeGuard) Bind(ports []int) error {
	k := g.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := g.call("bind"); err != nil {
		return err
	}
	return k.bind(g.block, ports)
}

// Unblock: armed, marker in, then the filter out.
func (g *fakeGuard) Unblock() error {
	k := g.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := g.call("unblock"); err != nil {
		return err
	}
	if err := k.foreignBlock(g.block); err != nil {
		return err
	}
	b := k.Blocks[g.block]
	if b != nil {
		b.Armed = true
	}
	k.Marker = true
	if b != nil {
		b.Filter = false
	}
	return nil
}

func (g *fakeGuard) Status(ports []int) (tcguard.Status, error) {
	k := g.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := g.call("status"); err != nil {
		return tcguard.Status{}, err
	}
	s := tcguard.Status{Marker: k.Marker}
	if b := k.Blocks[g.block]; b != nil {
		s.FilterPresent, s.Armed, s.Intruders = b.Filter, b.Armed, b.Intruders
	}
	for p, b := range k.BoundTo {
		if b == g.block {
			s.Bound = append(s.Bound, p)
			if ports != nil && !slices.Contains(ports, p) {
				s.Strangers = append(s.Strangers, p)
			}
		}
	}
	slices.Sort(s.Bound)
	slices.Sort(s.Strangers)
	s.Users = s.Bound
	for _, p := range ports {
		switch {
		case slices.Contains(s.Bound, p):
		case k.Foreign[p]:
			s.Foreign = append(s.Foreign, p)
		default:
			s.Unbound = append(s.Unbound, p)
		}
	}
	s.State = tcguard.StateOf(s.Marker, s.FilterPresent, len(s.Bound) > 0, len(s.Foreign)+len(s.Unbound) > 0)
	return s, nil
}

// Unbind deletes a port's clsact behind tcguard's back; the block goes
// with its last port.
func (k *Kernel) Unbind(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.unbind(k.Links[name].Index)
}

// RemoveFilter deletes the guard's filter behind tcguard's back.
func (k *Kernel) RemoveFilter(block uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if b := k.Blocks[block]; b != nil {
		b.Filter = false
	}
}

// Filter reports whether block exists and has the drop filter.
func (k *Kernel) Filter(block uint32) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.Blocks[block]
	return b != nil && b.Filter
}

// ResetCalls forgets the call log.
func (k *Kernel) ResetCalls() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.Calls = nil
}
