// Package namespace is qinqbridge's one network namespace type: a command
// opens the namespace it works in once (a name under /run/netns, or the
// caller's own) and hands the open NetNS down to everything that talks to
// the kernel there — bridgectl's links, tcguard's tc requests, the event
// watchers, the agents. It has the shape of containernetworking's ns.NetNS.
package namespace

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"

	"github.com/qinqbridge/qinqbridge/internal/statedir"
)

// NetNS is an open network namespace. The zero value is not usable; Current
// and Open return one.
type NetNS struct {
	name string
	h    netns.NsHandle // netns.None() for the caller's own namespace
}

// Current is the caller's own namespace. Closing it does nothing.
func Current() *NetNS { return &NetNS{h: netns.None()} }

// Open opens the namespace called name (ip netns), or returns Current for
// "". A name that cannot be a namespace is statedir.ErrBadNetNS; one that
// does not exist is an error wrapping fs.ErrNotExist.
func Open(name string) (*NetNS, error) {
	if name == "" {
		return Current(), nil
	}
	if err := statedir.CheckNetNS(name); err != nil {
		return nil, err
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	return &NetNS{name: name, h: h}, nil
}

// Name is the namespace's name; "" for the caller's own.
func (n *NetNS) Name() string { return n.name }

// Handle is the namespace for vishvananda/netlink (NewHandleAt,
// GetNetlinkSocketAt, subscriptions): netns.None() means the current one.
func (n *NetNS) Handle() netns.NsHandle { return n.h }

// Fd is the namespace's file descriptor for florianl/go-tc and
// mdlayher/netlink (Config.NetNS), where 0 means the current namespace.
func (n *NetNS) Fd() int {
	if !n.h.IsOpen() {
		return 0
	}
	return int(n.h)
}

// Do runs f on an OS thread switched into the namespace; a socket f opens
// stays in it. For the current namespace it just runs f.
func (n *NetNS) Do(f func() error) error {
	if !n.h.IsOpen() {
		return f()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(n.h); err != nil {
		return fmt.Errorf("enter netns %s: %w", n.name, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// Never hand a thread in the wrong namespace back to the runtime:
		// exiting the goroutine with the thread locked kills the thread.
		runtime.Goexit()
	}
	return ferr
}

// Close releases the namespace. Safe to call more than once.
func (n *NetNS) Close() error {
	if !n.h.IsOpen() {
		return nil
	}
	err := n.h.Close()
	n.h = netns.None()
	return err
}

// String names the namespace for messages.
func (n *NetNS) String() string {
	if n.name == "" {
		return "the current network namespace"
	}
	return "netns " + n.name
}
