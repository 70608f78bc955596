package tcguard

import (
	"errors"
	"fmt"
	"slices"

	"github.com/florianl/go-tc"
	"github.com/florianl/go-tc/core"
	"golang.org/x/sys/unix"
)

// ErrForeign marks a port whose ingress slot already holds a qdisc that is
// not a clsact bound to our block. tcguard never touches such a qdisc.
var ErrForeign = errors.New("foreign ingress qdisc, left untouched")

// PortError is a failure concerning one port. Bind returns one per failing
// port, joined (errors.As finds the first; each names its ifindex).
type PortError struct {
	Ifindex int
	Err     error
}

func (e *PortError) Error() string {
	return fmt.Sprintf("tcguard: port ifindex %d: %v", e.Ifindex, e.Err)
}

func (e *PortError) Unwrap() error { return e.Err }

// FailedPorts sorts an error of Bind into the ports that failed one by one
// (a *PortError each), sorted, and whether something also failed for all of
// them (a socket error, a missing module, a foreign block): then no port is
// known to be bound.
func FailedPorts(err error) (ports []int, whole bool) {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		if pe, ok := errors.AsType[*PortError](e); ok {
			ports = append(ports, pe.Ifindex)
		} else {
			whole = true
		}
	}
	slices.Sort(ports)
	return ports, whole
}

// Bind makes sure each port has a clsact qdisc whose ingress is bound to the
// guard's block and its egress to EgressBlock of it. Blocks holding anything
// but the guard's own objects are refused (ErrForeignBlock) before any port
// is bound. It is idempotent, and never touches a qdisc that is not ours:
// such a port gets a *PortError wrapping ErrForeign, the other ports are
// still bound.
//
// If the blocks are not armed (they do not exist: no port bound yet), Bind
// binds one port, installs the guard filters, dropping, and only then binds
// the others, so no port can come up open. Call it before setting the
// ports up.
func (g *Guard) Bind(ifindexes []int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, err := g.lookOwn()
	if err != nil {
		return err
	}
	var errs []error
	rest := ifindexes
	for !v.armed() && len(rest) > 0 {
		perrs, err := g.bind(rest[:1], clsactObject)
		rest = rest[1:]
		errs = append(errs, perrs...)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		if len(perrs) > 0 {
			continue // not bound: try arming after the next port
		}
		if v, err = g.arm(v); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if !v.armed() {
			return errors.Join(append(errs, fmt.Errorf("tcguard: blocks %d and %d vanished while binding their first port", g.o.Block, EgressBlock(g.o.Block)))...)
		}
	}
	perrs, err := g.bind(rest, clsactObject)
	errs = append(errs, perrs...)
	return errors.Join(append(errs, err)...)
}

// BindTrunks makes sure each trunk of the tc datapath has a clsact qdisc
// whose ingress is bound to TrunkBlock, its egress unbound; ports are
// refused as Bind refuses them. The translation filters there each end in
// the guard's action: the first one creates it, dropping. A leftover
// action made on its own (by nothing tcguard does but a Block or Unblock
// racing the last port's deletion) cannot be bound by them (the kernel
// refuses a skip_hw filter an action made without that flag): apply then
// fails, closed, until Release (bridgectl down) deletes it.
func (g *Guard) BindTrunks(ifindexes []int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, err := g.lookOwn(); err != nil {
		return err
	}
	perrs, err := g.bind(ifindexes, trunkClsactObject)
	return errors.Join(append(perrs, err)...)
}

// UnbindTrunks deletes the trunks' clsact qdiscs that BindTrunks created:
// those bound, as it binds them, to TrunkBlock only, with no filter on
// their egress hook (somebody else's: such a qdisc is left, and named in
// the error). A trunk without one is fine. Call it once no translation
// filter is left for the trunk: the block's filters go with its last
// binding.
func (g *Guard) UnbindTrunks(ifindexes []int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(ifindexes) == 0 {
		return nil
	}
	ingress, err := g.ingressQdiscs()
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range ifindexes {
		if q, ok := ingress[p]; !ok || !q.is(trunkQdisc(g.o)) {
			continue // not ours (or gone)
		}
		egress, err := g.tc.Filters(tc.Msg{Ifindex: uint32(p), Parent: core.BuildHandle(tc.HandleRoot, tc.HandleMinEgress)})
		if err != nil {
			return fmt.Errorf("tcguard: listing the egress filters of ifindex %d: %w", p, err)
		}
		if len(egress) > 0 {
			errs = append(errs, &PortError{p, fmt.Errorf("%w: its clsact holds %d egress filter(s) tcguard did not create: left in place", ErrForeign, len(egress))})
			continue
		}
		err = g.tc.DeleteQdisc(&tc.Object{Msg: tc.Msg{Family: unix.AF_UNSPEC, Ifindex: uint32(p), Handle: core.BuildHandle(tc.HandleRoot, 0), Parent: tc.HandleIngress},
			Attribute: tc.Attribute{Kind: kindClsact}})
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("tcguard: deleting the clsact of trunk ifindex %d: %w", p, err)
		}
	}
	return errors.Join(errs...)
}

// bind creates the ports' clsact qdiscs and checks the ones that were
// already there. It returns the failures of single ports and, separately, a
// failure that concerns them all (socket, missing module). One request per
// round trip, as `tc -batch` does.
func (g *Guard) bind(ports []int, qdisc func(int, Options) *tc.Object) ([]error, error) {
	var perrs []error
	var existing []int
	for _, p := range ports {
		want := qdisc(p, g.o)
		err := g.tc.AddQdisc(want)
		switch {
		case err == nil:
		case !kernelRefused(err):
			return perrs, fmt.Errorf("tcguard: binding ports to block %d: %w", g.o.Block, err)
		case errors.Is(err, unix.EEXIST):
			existing = append(existing, p)
		case errors.Is(err, unix.ENODEV):
			perrs = append(perrs, &PortError{p, fmt.Errorf("no such device: %w", err)})
		case qdiscKindMissing(err):
			return perrs, moduleError("sch_ingress", "sch_ingress (clsact qdisc)", err)
		default:
			perrs = append(perrs, &PortError{p, fmt.Errorf("creating clsact bound to block %d: %w", g.o.Block, err)})
		}
	}
	verrs, err := g.verify(existing, qdiscOf(*qdisc(0, g.o)))
	return append(perrs, verrs...), err
}

// verify checks that the ports' existing ingress qdiscs are as want binds
// them, from one dump of all qdiscs (go-tc has no single-qdisc get; the
// kernel does not filter qdisc dumps by device).
func (g *Guard) verify(ports []int, want qdisc) ([]error, error) {
	if len(ports) == 0 {
		return nil, nil
	}
	ingress, err := g.ingressQdiscs()
	if err != nil {
		return nil, err
	}
	var perrs []error
	for _, p := range ports {
		q, ok := ingress[p]
		switch {
		case !ok: // it vanished since it answered EEXIST
			perrs = append(perrs, &PortError{p, errors.New("its ingress qdisc vanished while binding")})
		case !q.is(want):
			perrs = append(perrs, &PortError{p, foreign(q)})
		}
	}
	return perrs, nil
}

func foreign(q qdisc) error {
	switch {
	case q.ingressBlock == 0 && q.egressBlock == 0:
		return fmt.Errorf("%w: %s qdisc not bound to a shared block", ErrForeign, q.kind)
	case q.ingressBlock == q.egressBlock:
		return fmt.Errorf("%w: %s qdisc bound to block %d (both directions)", ErrForeign, q.kind, q.ingressBlock)
	}
	return fmt.Errorf("%w: %s qdisc bound to block %d (ingress) and %d (egress)", ErrForeign, q.kind, q.ingressBlock, q.egressBlock)
}
