// Package kerneltest is an in-memory network namespace for unit tests: the
// link table behind bridgectl/kernel's Links seam (links.go) and the tc
// qdiscs, blocks, filters and chains behind the tc seam (tcnl.TC) (tc.go), with
// the semantics the kernel has (verified in the testbed VM), so that tests
// run the real bridgectl.Manager and the real tcguard.Guard above it. It is
// the lowest seam: it models kernel objects and their rules, never
// bridgectl's or tcguard's logic.
package kerneltest

import (
	"fmt"
	"sync"
)

// Kernel is one fake network namespace. Its methods are safe for
// concurrent use (bridgectl reads links and tc concurrently).
type Kernel struct {
	mu        sync.Mutex
	linkTable // links.go
	tcTable   // tc.go

	// Fail, if set, is asked before every request with the request's
	// name ("create", "set", "delete", "dump links", "add qdisc", "add
	// filter", ...): a non-nil error fails that request as the kernel
	// would, and changes nothing.
	Fail func(op string) error
	// Log records every state-changing request, in order.
	Log []string
}

// New returns an empty namespace holding lo (ifindex 1).
func New() *Kernel {
	k := &Kernel{}
	k.linkTable.init()
	k.tcTable.init()
	return k
}

// fail asks Fail about op; callers hold k.mu.
func (k *Kernel) fail(op string) error {
	if k.Fail == nil {
		return nil
	}
	if err := k.Fail(op); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// logf records a state-changing request; callers hold k.mu.
func (k *Kernel) logf(format string, args ...any) {
	k.Log = append(k.Log, fmt.Sprintf(format, args...))
}

// unregister is what the kernel does when a device goes away: its tc
// objects go with it (tc.go). Callers hold k.mu.
func (k *Kernel) unregister(ifindex int) {
	k.tcTable.deviceGone(ifindex)
}
