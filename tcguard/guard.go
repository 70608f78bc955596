package tcguard

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/florianl/go-tc"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/internal/namespace"
	"github.com/qinqbridge/qinqbridge/internal/tcnl"
)

// The guard filter's fixed identity in each of its blocks. Priority 1 is
// evaluated first, before anything else anyone might add to the block.
const (
	FilterPriority uint16 = 1
	FilterHandle   uint32 = 1
)

// MarkerName is the intent marker's file name under Options.StateDir, for
// the default group's guard; another group's is MarkerName + "." + group.
const MarkerName = "guard-open"

// DefaultGroup is the group of a file's translations that name none.
const DefaultGroup = "default"

// Options say where the guard lives.
type Options struct {
	// Block is the shared tc block index of the bridge ports' ingress
	// (non-zero; the guard also uses EgressBlock and TrunkBlock, the next
	// two), e.g. defaults.Block.
	Block uint32
	// NetNS is the network namespace to work in; nil means the current one.
	// Open opens its sockets there; the namespace may be closed afterwards.
	NetNS *namespace.NetNS
	// StateDir holds the intent marker, one directory per namespace, e.g.
	// /run/qinqbridge/default. It is created when needed.
	StateDir string
	// Group names the translations the guard holds ("" or DefaultGroup:
	// the file's default group); each group has its own marker.
	Group string
	// TrunkBlock is the tc datapath's block, shared by every group's
	// translation filters (a trunk's ingress binds one block); 0:
	// TrunkBlock(Block), the default group's.
	TrunkBlock uint32
	// Peers are the blocks of the other groups' guards, whose translation
	// filters share the trunk block: theirs, not intruders.
	Peers []uint32
}

// trunkBlock is the tc datapath's block.
func (o Options) trunkBlock() uint32 {
	if o.TrunkBlock != 0 {
		return o.TrunkBlock
	}
	return TrunkBlock(o.Block)
}

func (o Options) groupName() string {
	if o.Group == "" {
		return DefaultGroup
	}
	return o.Group
}

// marker is the file name of the guard's open marker.
func (o Options) marker() string {
	if o.Group == "" || o.Group == DefaultGroup {
		return MarkerName
	}
	return MarkerName + "." + o.Group
}

// Guard manages the guard of one block in one network namespace. Its methods
// may be called from several goroutines; they run one at a time.
type Guard struct {
	mu sync.Mutex
	o  Options
	tc tcnl.TC
}

// Open connects to rtnetlink in the namespace. It changes nothing.
func Open(o Options) (*Guard, error) {
	if o.Block == 0 || o.Block > math.MaxUint32-2 {
		return nil, fmt.Errorf("tcguard: block index %d: not 0 (no shared block), at most %d (the guard uses the next two too)", o.Block, uint32(math.MaxUint32-2))
	}
	if o.StateDir == "" {
		return nil, errors.New("tcguard: no state directory for the open marker")
	}
	fd := 0 // go-tc and mdlayher/netlink: the current namespace
	if o.NetNS != nil {
		fd = o.NetNS.Fd()
	}
	t, err := tcnl.Open(fd)
	if err != nil {
		return nil, err
	}
	return New(o, t), nil
}

// New returns a Guard over t (tests: an in-memory kernel). o is not checked.
func New(o Options, t tcnl.TC) *Guard { return &Guard{o: o, tc: t} }

// Close closes the sockets. The kernel state stays as it is.
func (g *Guard) Close() error { return g.tc.Close() }

// Block makes the guard's action drop, then removes the open marker.
// Idempotent. With no port bound (no block) there is nothing to drop: the
// next Bind arms the blocks, dropping. O(1): no port is enumerated, and the
// kernel changes one action in place.
func (g *Guard) Block() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, err := g.armedView()
	if err != nil {
		return err
	}
	if v.any() {
		if err := g.setVerdict(tc.ActShot); err != nil {
			return err
		}
	}
	if err := removeMarker(g.o); err != nil {
		return fmt.Errorf("tcguard: block: dropping, but: %w", err)
	}
	return nil
}

// Unblock records the intent "open" (fsynced), then makes the guard's
// action let frames pass. Idempotent. O(1), as Block.
func (g *Guard) Unblock() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	// Arm first: a block without its filter passes frames whatever the
	// action says, and one with neither filter would be taken for a fresh
	// one and blocked again by the next Bind.
	v, err := g.armedView()
	if err != nil {
		return err
	}
	if err := writeMarker(g.o); err != nil {
		return fmt.Errorf("tcguard: unblock: %w", err)
	}
	if !v.any() {
		return nil // no port bound: nothing to open
	}
	return g.setVerdict(tc.ActPipe)
}

// Release deletes the guard's action if nothing binds it any more (one made
// on its own: see BindTrunks). A bound action is left (the kernel
// refuses), and so is a missing one.
func (g *Guard) Release() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	err := g.tc.DeleteAction(&tc.Action{Kind: kindGact, Index: ActionIndex(g.o.Block)})
	switch {
	case err == nil, errors.Is(err, unix.ENOENT), errors.Is(err, unix.EPERM), errors.Is(err, unix.EINVAL):
		return nil
	}
	return fmt.Errorf("tcguard: deleting gact action %d: %w", ActionIndex(g.o.Block), err)
}

// armedView refuses blocks holding foreign objects, then arms the blocks
// that exist, and returns the view after.
func (g *Guard) armedView() (view, error) {
	v, err := g.lookOwn()
	if err != nil {
		return view{}, err
	}
	return g.arm(v)
}

// lookOwn is look, refusing blocks that hold somebody else's objects.
func (g *Guard) lookOwn() (view, error) {
	v, err := g.look()
	if err != nil {
		return view{}, err
	}
	return v, g.refuseForeign(v)
}

// arm adds the guard filter to each of the guard's blocks that exists and
// lacks it. A filter added next to the other binds the shared action as it
// is; where neither block had one (fresh blocks) the action is then made to
// drop, whatever a leftover of it said: a fresh block is blocked.
func (g *Guard) arm(v view) (view, error) {
	if v.armed() {
		return v, nil
	}
	fresh := !v.any()
	for i, b := range g.portBlocks() {
		if v.present[i] {
			continue
		}
		exists, err := g.ensureFilter(b)
		if err != nil {
			return v, err
		}
		v.present[i] = exists
	}
	if fresh && v.any() {
		if err := g.setVerdict(tc.ActShot); err != nil {
			return v, err
		}
		v.dropping = true
	}
	return v, nil
}

// setVerdict replaces the shared action's verdict: one request, whatever
// the number of ports bound.
func (g *Guard) setVerdict(verdict uint32) error {
	err := g.tc.ReplaceAction(gateAction(g.o.Block, verdict))
	switch {
	case err == nil:
		return nil
	case kindMissing(err):
		return moduleError("act_gact", "act_gact (gact action)", err)
	}
	what := "drop"
	if verdict == tc.ActPipe {
		what = "pass"
	}
	return fmt.Errorf("tcguard: setting gact action %d to %s: %w", ActionIndex(g.o.Block), what, err)
}

// ensureFilter adds the guard filter to block unless it is there. It
// reports whether the block exists.
func (g *Guard) ensureFilter(block uint32) (bool, error) {
	err := g.tc.AddFilter(guardFilterObject(g.o.Block, block))
	switch {
	case err == nil:
		return true, nil
	case noBlock(err):
		return false, nil
	case errors.Is(err, unix.EEXIST), errors.Is(err, unix.EINVAL):
		// EEXIST: a filter with our handle (or a matchall, which holds one
		// filter) is at our priority. EINVAL: another kind or protocol is
		// there. Either way: ours, or somebody else's that we leave alone.
		f, found, ferr := g.guardFilter(block)
		if ferr != nil {
			return true, ferr
		}
		if found && f.isGuard(g.o.Block) {
			return true, nil
		}
		if found {
			return true, g.notOurs(block, f)
		}
		return true, fmt.Errorf("tcguard: adding the guard filter to block %d: %w", block, err)
	case kindMissing(err):
		return true, filterModuleError(err)
	default:
		return true, fmt.Errorf("tcguard: adding the guard filter to block %d: %w", block, err)
	}
}

// guardFilter finds the filter at our priority and handle in block, if any.
func (g *Guard) guardFilter(block uint32) (filter, bool, error) {
	q := blockMsg(block)
	q.Info = filterInfo
	objs, err := g.tc.Filters(q)
	if err != nil {
		return filter{}, false, fmt.Errorf("tcguard: listing filters of block %d: %w", block, err)
	}
	return pickGuard(objs)
}

// pickGuard finds, among the filters of a block's dump, the one at our
// priority in chain 0: ours by handle, or whatever else holds that priority.
func pickGuard(objs []tc.Object) (filter, bool, error) {
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

func (g *Guard) notOurs(block uint32, f filter) error {
	return fmt.Errorf("tcguard: block %d priority %d holds a %q filter (handle %#x) that is not the guard: left untouched",
		block, FilterPriority, f.kind, f.handle)
}

// blocks are the guard's blocks: the bridge ports' ingress and egress
// blocks, and the trunks' block of the tc datapath.
func (g *Guard) blocks() []uint32 {
	return []uint32{g.o.Block, EgressBlock(g.o.Block), g.o.trunkBlock()}
}

// portBlocks are the blocks of the guard filters: the bridge ports'.
func (g *Guard) portBlocks() []uint32 { return g.blocks()[:2] }
