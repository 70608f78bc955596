// Package bridgectl converges the kernel to a qinqbridge configuration: it
// reads the kernel (links and guard), computes a plan, executes it, and
// records what it applied. The CLI, the OCF agent and the tests all use it.
package bridgectl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netns"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// DefaultStateDir holds what was applied and the guard's marker. It is on
// tmpfs: after a reboot nothing is applied and the guard is closed.
const DefaultStateDir = "/run/qinqbridge"

// Options select the namespace and the state directory.
type Options struct {
	NetNS    string // a name under /run/netns; "" for the current namespace
	StateDir string // DefaultStateDir if ""
}

// Manager is an open connection to one namespace's kernel state.
type Manager struct {
	opts Options
	ns   netns.NsHandle
	conn *kernel.Conn
}

// Open connects to the namespace.
func Open(o Options) (*Manager, error) {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	m := &Manager{opts: o, ns: netns.None()}
	if o.NetNS != "" {
		h, err := netns.GetFromName(o.NetNS)
		if err != nil {
			return nil, fmt.Errorf("netns %s: %w", o.NetNS, err)
		}
		m.ns = h
	}
	c, err := kernel.Dial(m.ns)
	if err != nil {
		m.Close()
		return nil, err
	}
	m.conn = c
	return m, nil
}

// Close releases the connection.
func (m *Manager) Close() {
	if m.conn != nil {
		m.conn.Close()
	}
	if m.ns.IsOpen() {
		m.ns.Close()
	}
}

// Dir is this namespace's state directory.
func (m *Manager) Dir() string {
	name := m.opts.NetNS
	if name == "" {
		name = "default"
	}
	return filepath.Join(m.opts.StateDir, name)
}

// Guard opens the standby guard of this namespace for block.
func (m *Manager) Guard(block uint32) (*tcguard.Guard, error) {
	fd := -1
	if m.ns.IsOpen() {
		fd = int(m.ns)
	}
	return tcguard.Open(tcguard.Options{Block: block, NetNS: fd, StateDir: m.Dir()})
}

// View is the kernel as seen against a configuration.
type View struct {
	State *plan.State
	Want  []plan.Link
	Plan  *plan.Plan
}

// Observe reads the links (and, with guard, which ports are bound to the
// guard's block) and plans the way to cfg. The two kernel reads run
// concurrently, on two sockets: each is one dump of every device in the
// namespace, and one's parsing overlaps the other's kernel work.
func (m *Manager) Observe(cfg *config.Config, guard bool) (*View, error) {
	var bound <-chan boundPorts
	if guard {
		bound = m.boundPorts(cfg.Guard.Block)
	}
	links, err := m.conn.Links(false)
	if err != nil {
		if bound != nil {
			<-bound
		}
		return nil, err
	}
	st := plan.NewState(links)
	want, err := plan.Desired(cfg, st)
	if bound != nil {
		b := <-bound
		if err == nil {
			err = b.err
		}
		for _, i := range b.ifindexes {
			if o := st.ByIndex[i]; o != nil {
				o.Bound = true
			}
		}
	} else {
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

// boundPorts is the ifindexes bound to the guard's block, or why they are
// not known.
type boundPorts struct {
	ifindexes []int
	err       error
}

// boundPorts reads, in the background, which devices are bound to block.
func (m *Manager) boundPorts(block uint32) <-chan boundPorts {
	ch := make(chan boundPorts, 1)
	go func() {
		g, err := m.Guard(block)
		if err != nil {
			ch <- boundPorts{err: err}
			return
		}
		defer g.Close()
		gs, err := g.Status(nil)
		ch <- boundPorts{ifindexes: gs.Bound, err: err}
	}()
	return ch
}

// Apply converges the kernel to cfg and records it as applied. On error the
// phases done are kept; running Apply again converges.
func (m *Manager) Apply(cfg *config.Config, raw []byte) (*View, kernel.Result, error) {
	v, err := m.Observe(cfg, true)
	if err != nil {
		return nil, kernel.Result{}, err
	}
	var res kernel.Result
	if !v.Plan.Empty() {
		g, err := m.Guard(cfg.Guard.Block)
		if err != nil {
			return v, res, err
		}
		defer g.Close()
		res, err = m.conn.Apply(v.Plan, v.State, g)
		if err != nil {
			return v, res, err
		}
	}
	if err := m.Record(cfg, raw); err != nil {
		return v, res, fmt.Errorf("applied, but cannot record it: %w", err)
	}
	return v, res, nil
}

// Down deletes every link bridgectl owns in the namespace and forgets what
// was applied. Foreign links in bridgectl's device groups are left alone
// and returned, for the caller to report: they never make Down fail, so
// an admin's link in the group cannot make a stop fail (and fence the
// node). A link moved into a group between the read and the delete can
// make the fast group delete fail: one more round, on a fresh read, then
// deletes around it.
func (m *Manager) Down() ([]plan.Foreign, error) {
	var st *plan.State
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var links []*plan.Observed
		if links, err = m.conn.Links(false); err != nil {
			return nil, err
		}
		st = plan.NewState(links)
		if err = m.conn.Down(st); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	err = os.Remove(filepath.Join(m.Dir(), appliedFile))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return plan.ForeignInGroups(st), err
}
