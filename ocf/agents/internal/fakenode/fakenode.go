// Package fakenode is the node the agents' unit tests run on: the real
// node.Node — the real bridgectl.Manager and tcguard.Guard — over an
// in-memory kernel (internal/kerneltest) and a real state directory. What
// it adds is test machinery only, around the real calls: failure injection
// by operation, a log of the calls, and NetNS names that name no
// namespace. Tests set up and inspect the kernel through kerneltest and the
// state directory through its files.
package fakenode

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/kerneltest"
	"github.com/qinqbridge/qinqbridge/internal/namespace"
	"github.com/qinqbridge/qinqbridge/internal/statedir"
	"github.com/qinqbridge/qinqbridge/internal/tcnl"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/node"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// Kernel is the machine's one network namespace (the current one) and its
// state directory. The embedded kerneltest.Kernel is its links and tc
// objects; its Fail field (kernel requests) is shadowed by this one (node
// operations): reach it as Kernel.Kernel.Fail.
type Kernel struct {
	*kerneltest.Kernel
	// Dir is the namespace's state directory, <state_dir>/default.
	Dir string
	// Fail makes a node operation fail before it runs: "open", "applied",
	// "observe", "apply", "down", "setdown", "guard" (or "guard N"),
	// "bind", "block", "unblock", "status".
	Fail map[string]error
	// Calls logs every node operation, in order: the names Fail takes,
	// "guard N" for Guard(N).
	Calls []string
	mu    sync.Mutex
}

// New returns a namespace holding lo whose state directory is dir, which
// must be the current namespace's: <state_dir>/default.
func New(dir string) *Kernel {
	dir = filepath.Clean(dir)
	if filepath.Base(dir) != statedir.CurrentNS {
		panic(fmt.Sprintf("fakenode: %s is not a state directory of the current namespace (…/%s)", dir, statedir.CurrentNS))
	}
	return &Kernel{Kernel: kerneltest.New(), Dir: dir, Fail: map[string]error{}}
}

// call logs op and returns the failure injected for it.
func (k *Kernel) call(op string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.Calls = append(k.Calls, op)
	return k.Fail[op]
}

// ResetCalls forgets the call log.
func (k *Kernel) ResetCalls() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.Calls = nil
}

// Open is a node.Opener: the real Node of this namespace, with the real
// guard on its tc objects. Every Node it opens sees the same kernel and
// the same state directory (an empty StateDir is Dir's parent, another one
// an error). The machine has no named namespace: a valid NetNS is one that
// does not exist (node.ErrNoNetNS), an invalid one is refused as the real
// Open refuses it.
func (k *Kernel) Open(o bridgectl.Options) (node.Node, error) {
	failed := k.call("open")
	if o.NetNS != "" {
		if err := statedir.CheckNetNS(o.NetNS); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("netns %s: %w", o.NetNS, node.ErrNoNetNS)
	}
	if failed != nil {
		return nil, failed
	}
	root := filepath.Dir(k.Dir)
	if o.StateDir == "" {
		o.StateDir = root
	} else if filepath.Clean(o.StateDir) != root {
		return nil, fmt.Errorf("fakenode: state directory %s, want %s", o.StateDir, root)
	}
	m, err := bridgectl.New(o, namespace.Current(), k.Links())
	if err != nil {
		return nil, err
	}
	m.OpenTC = func() (tcnl.TC, error) { return k.TC(), nil }
	m.Offloads = k.Offloads()
	return fakeNode{node.FromManager(m), k}, nil
}

// fakeNode is the real Node, each operation logged and failable.
type fakeNode struct {
	node.Node
	k *Kernel
}

func (n fakeNode) Applied() (*config.Config, error) {
	if err := n.k.call("applied"); err != nil {
		return nil, err
	}
	return n.Node.Applied()
}

func (n fakeNode) Observe(cfg *config.Config, guard bool) (*bridgectl.View, error) {
	if err := n.k.call("observe"); err != nil {
		return nil, err
	}
	return n.Node.Observe(cfg, guard)
}

func (n fakeNode) Apply(cfg *config.Config, raw []byte) (*bridgectl.View, plan.Result, error) {
	if err := n.k.call("apply"); err != nil {
		return nil, plan.Result{}, err
	}
	return n.Node.Apply(cfg, raw)
}

func (n fakeNode) Down() ([]plan.Foreign, error) {
	if err := n.k.call("down"); err != nil {
		return nil, err
	}
	return n.Node.Down()
}

func (n fakeNode) SetDown(ifindexes []int) error {
	if err := n.k.call("setdown"); err != nil {
		return err
	}
	return n.Node.SetDown(ifindexes)
}

func (n fakeNode) Guard(block uint32, group string) (node.Guard, error) {
	return n.guard(block, func() (node.Guard, error) { return n.Node.Guard(block, group) })
}

func (n fakeNode) GroupGuard(cfg *config.Config, group string) (node.Guard, error) {
	return n.guard(cfg.BlockOf(group), func() (node.Guard, error) { return n.Node.GroupGuard(cfg, group) })
}

// guard logs opening the guard of block (as "guard BLOCK"), fails it if
// asked to, and wraps what open opens.
func (n fakeNode) guard(block uint32, open func() (node.Guard, error)) (node.Guard, error) {
	if err := n.k.call(fmt.Sprintf("guard %d", block)); err != nil {
		return nil, err
	}
	if err := n.k.Fail["guard"]; err != nil {
		return nil, err
	}
	g, err := open()
	if err != nil {
		return nil, err
	}
	return fakeGuard{g, n.k}, nil
}

// fakeGuard is the real guard, each operation logged and failable.
type fakeGuard struct {
	node.Guard
	k *Kernel
}

func (g fakeGuard) Bind(ifindexes []int) error {
	if err := g.k.call("bind"); err != nil {
		return err
	}
	return g.Guard.Bind(ifindexes)
}

func (g fakeGuard) Block() error {
	if err := g.k.call("block"); err != nil {
		return err
	}
	return g.Guard.Block()
}

func (g fakeGuard) Unblock() error {
	if err := g.k.call("unblock"); err != nil {
		return err
	}
	return g.Guard.Unblock()
}

func (g fakeGuard) Status(ports []int) (tcguard.Status, error) {
	if err := g.k.call("status"); err != nil {
		return tcguard.Status{}, err
	}
	return g.Guard.Status(ports)
}

// What the tests set up and inspect, behind the node's back: kernel
// requests and state files, never a node operation (nothing is logged).

// Owned counts bridgectl's links in the kernel.
func (k *Kernel) Owned() int {
	links, err := k.Links().Dump(false)
	if err != nil {
		panic(err)
	}
	n := 0
	for _, o := range links {
		if o.Owned() {
			n++
		}
	}
	return n
}

// Unbind deletes a link's ingress qdisc (`tc qdisc del dev NAME clsact`);
// the block goes with its last port.
func (k *Kernel) Unbind(name string) { k.RemoveQdisc(k.Link(name).Index) }

// RemoveGuardFilter deletes the guard's filter from its ingress block
// (`tc filter del block B prio 1 handle 1 matchall`).
func (k *Kernel) RemoveGuardFilter(block uint32) {
	if !k.RemoveFilter(block, tcguard.FilterPriority, tcguard.FilterHandle) {
		panic(fmt.Sprintf("fakenode: block %d: no guard filter", block))
	}
}

// Dropping reports whether the guard of block drops, as tcguard reads it.
func (k *Kernel) Dropping(block uint32) bool {
	s, err := tcguard.New(tcguard.Options{Block: block, StateDir: k.Dir}, k.TC()).Status(nil)
	if err != nil {
		panic(fmt.Sprintf("fakenode: block %d: %v", block, err))
	}
	return s.Dropping
}

// WriteMarker writes tcguard's open marker (tcguard.MarkerName), the
// intent "open" an Unblock records before it opens the guard.
func (k *Kernel) WriteMarker() {
	if err := statedir.At(k.Dir).WriteFile(tcguard.MarkerName, []byte("written by a test\n")); err != nil {
		panic(err)
	}
}
