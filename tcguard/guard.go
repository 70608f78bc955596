package tcguard

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/internal/namespace"
)

// The guard filter's fixed identity in the block. Priority 1 is evaluated
// first, before anything else anyone might add to the block.
const (
	FilterPriority uint16 = 1
	FilterHandle   uint32 = 1
)

// ArmedChain is the index of the empty chain that marks the block as armed
// (see the package documentation). Nothing ever jumps to it.
const ArmedChain uint32 = 0x7162

// MarkerName is the intent marker's file name under Options.StateDir.
const MarkerName = "guard-open"

// Options say where the guard lives.
type Options struct {
	// Block is the shared tc block index (non-zero), e.g. defaults.Block.
	Block uint32
	// NetNS is the network namespace to work in; nil means the current one.
	// Open opens its sockets there; the namespace may be closed afterwards.
	NetNS *namespace.NetNS
	// StateDir holds the intent marker, one directory per namespace, e.g.
	// /run/qinqbridge/default. It is created when needed.
	StateDir string
}

// Guard manages the guard of one block in one network namespace. Its methods
// may be called from several goroutines; they run one at a time.
type Guard struct {
	mu sync.Mutex
	o  Options
	tc TC
}

// Open connects to rtnetlink in the namespace. It changes nothing.
func Open(o Options) (*Guard, error) {
	if o.Block == 0 {
		return nil, errors.New("tcguard: block index 0 is not a shared block")
	}
	if o.StateDir == "" {
		return nil, errors.New("tcguard: no state directory for the open marker")
	}
	fd := 0 // go-tc and mdlayher/netlink: the current namespace
	if o.NetNS != nil {
		fd = o.NetNS.Fd()
	}
	t, err := openTC(fd)
	if err != nil {
		return nil, err
	}
	return New(o, t), nil
}

// New returns a Guard over t (tests: an in-memory kernel). o is not checked.
func New(o Options, t TC) *Guard { return &Guard{o: o, tc: t} }

// Close closes the sockets. The kernel state stays as it is.
func (g *Guard) Close() error { return g.tc.Close() }

// Block installs the drop filter, then removes the open marker. Idempotent.
// With no port bound (no block) there is nothing to filter: the next Bind
// arms the block anyway. O(1): no port is enumerated.
func (g *Guard) Block() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.refuseForeign(); err != nil {
		return err
	}
	exists, err := g.ensureFilter()
	if err != nil {
		return err
	}
	if exists {
		if err := g.ensureArmed(); err != nil {
			return err
		}
	}
	if err := removeMarker(g.o.StateDir); err != nil {
		return fmt.Errorf("tcguard: block: filter in place, but: %w", err)
	}
	return nil
}

// Unblock records the intent "open" (fsynced), then deletes the drop filter.
// Idempotent. O(1): no port is enumerated.
func (g *Guard) Unblock() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.refuseForeign(); err != nil {
		return err
	}
	// Arm first: an unarmed block left open would be taken for a fresh one
	// and blocked again by the next Bind.
	if err := g.ensureArmed(); err != nil {
		return err
	}
	if err := writeMarker(g.o.StateDir, g.o.Block); err != nil {
		return fmt.Errorf("tcguard: unblock: %w", err)
	}
	f, found, err := g.guardFilter()
	if err != nil {
		return err
	}
	if !found {
		return nil
	}
	if !f.isGuard() {
		return g.notOurs(f)
	}
	err = g.tc.DeleteFilter(guardDeleteObject(g.o.Block))
	switch {
	case err == nil, errors.Is(err, unix.ENOENT), noBlock(err):
		return nil // deleted, or gone meanwhile
	default:
		return fmt.Errorf("tcguard: unblock: deleting the drop filter from block %d: %w", g.o.Block, err)
	}
}

// ensureFilter adds the drop filter unless it is there. It reports whether
// the block exists.
func (g *Guard) ensureFilter() (bool, error) {
	err := g.tc.AddFilter(guardFilterObject(g.o.Block))
	switch {
	case err == nil:
		return true, nil
	case noBlock(err):
		return false, nil
	case errors.Is(err, unix.EEXIST), errors.Is(err, unix.EINVAL):
		// EEXIST: a filter with our handle (or a matchall, which holds one
		// filter) is at our priority. EINVAL: another kind or protocol is
		// there. Either way: ours, or somebody else's that we leave alone.
		f, found, ferr := g.guardFilter()
		if ferr != nil {
			return true, ferr
		}
		if found && f.isGuard() {
			return true, nil
		}
		if found {
			return true, g.notOurs(f)
		}
		return true, fmt.Errorf("tcguard: adding the drop filter to block %d: %w", g.o.Block, err)
	case kindMissing(err):
		return true, filterModuleError(err)
	default:
		return true, fmt.Errorf("tcguard: adding the drop filter to block %d: %w", g.o.Block, err)
	}
}

// guardFilter finds the filter at our priority and handle, if any.
func (g *Guard) guardFilter() (filter, bool, error) {
	// A dump (unlike a get) answers "nothing" rather than an error when the
	// block does not exist, so absence is never confused with a bad request.
	// It holds every chain (go-tc sends no TCA_CHAIN): chain 0 is picked here.
	q := blockMsg(g.o.Block)
	q.Info = filterInfo()
	objs, err := g.tc.Filters(q)
	if err != nil {
		return filter{}, false, fmt.Errorf("tcguard: listing filters of block %d: %w", g.o.Block, err)
	}
	var other *filter
	for _, o := range objs {
		f := filterOf(o)
		if f.prio != FilterPriority || f.chain != 0 {
			continue
		}
		if f.handle == FilterHandle {
			return f, true, nil
		}
		if f.handle != 0 && other == nil { // handle 0: the classifier's own header
			other = &f
		}
	}
	if other != nil {
		return *other, true, nil // something else holds our priority
	}
	return filter{}, false, nil
}

func (g *Guard) notOurs(f filter) error {
	return fmt.Errorf("tcguard: block %d priority %d holds a %q filter (handle %#x) that is not the guard: left untouched",
		g.o.Block, FilterPriority, f.kind, f.handle)
}

// armed reports whether the block exists and carries ArmedChain.
func (g *Guard) armed() (bool, error) {
	chains, err := g.tc.Chains(blockMsg(g.o.Block))
	if err != nil {
		return false, fmt.Errorf("tcguard: listing chains of block %d: %w", g.o.Block, err)
	}
	for _, c := range chains {
		if deref(c.Chain) == ArmedChain {
			return true, nil
		}
	}
	return false, nil
}

// ensureArmed creates ArmedChain unless it exists. No block: nothing to arm.
func (g *Guard) ensureArmed() error {
	err := g.tc.AddChain(chainObject(g.o.Block, ArmedChain))
	switch {
	case err == nil, errors.Is(err, unix.EEXIST):
		return nil
	case noBlock(err):
		return nil
	default:
		return fmt.Errorf("tcguard: creating chain %d in block %d: %w", ArmedChain, g.o.Block, err)
	}
}

// arm blocks a fresh block: the drop filter, then the armed mark.
func (g *Guard) arm() error {
	exists, err := g.ensureFilter()
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("tcguard: block %d vanished while binding its first port", g.o.Block)
	}
	return g.ensureArmed()
}
