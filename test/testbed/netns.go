// Package testbed gives kernel-level tests throwaway network namespaces and
// raw-frame endpoints. It runs inside the project's qemu testbed (test/vm),
// never on a developer's own network stack.
package testbed

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NS is a named network namespace that a test owns.
type NS struct {
	Name   string
	Handle netns.NsHandle
	Link   *netlink.Handle // rtnetlink inside the namespace
}

var seq atomic.Int64

// RequireKernel fails the test (it never skips) unless it runs as root on a
// kernel that can create VLAN devices: kernel tests only make sense in the
// testbed VM, and a silent skip would hide that they did not run.
func RequireKernel(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("kernel test needs root: run it with test/vm/run (make test does)")
	}
	if _, err := os.Stat("/sys/module/8021q"); err != nil {
		t.Fatal("kernel test needs the 8021q module: run it with test/vm/run (make test does)")
	}
}

// NewNS creates a fresh named namespace, deleted when the test ends. The
// calling goroutine's own namespace is left untouched.
func NewNS(t testing.TB) *NS {
	t.Helper()
	RequireKernel(t)
	name := fmt.Sprintf("qbt%d-%d", os.Getpid(), seq.Add(1))
	var h netns.NsHandle
	err := Do(netns.None(), func() error {
		var err error
		h, err = netns.NewNamed(name) // switches this locked thread; Do restores it
		return err
	})
	if err != nil {
		t.Fatalf("new netns %s: %v", name, err)
	}
	lh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", name, err)
	}
	ns := &NS{Name: name, Handle: h, Link: lh}
	t.Cleanup(func() {
		lh.Close()
		h.Close()
		netns.DeleteNamed(name)
	})
	if err := ns.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		t.Fatalf("lo up in %s: %v", name, err)
	}
	return ns
}

// Do runs f on a locked OS thread switched into ns (none: stay), then
// switches back. Sockets created inside f stay in ns.
func Do(ns netns.NsHandle, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if ns.IsOpen() {
		if err := netns.Set(ns); err != nil {
			return err
		}
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// The thread is in an unknown namespace: never let Go reuse it.
		runtime.Goexit()
	}
	return ferr
}

// Do runs f inside the namespace.
func (n *NS) Do(f func() error) error { return Do(n.Handle, f) }

// Veth creates a veth pair a<->b in the namespace, both up.
func (n *NS) Veth(t testing.TB, a, b string) (netlink.Link, netlink.Link) {
	t.Helper()
	la := netlink.NewLinkAttrs()
	la.Name = a
	if err := n.Link.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: b}); err != nil {
		t.Fatalf("veth %s/%s: %v", a, b, err)
	}
	return n.Up(t, a), n.Up(t, b)
}

// Up sets a link up and returns it.
func (n *NS) Up(t testing.TB, name string) netlink.Link {
	t.Helper()
	l, err := n.Link.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	if err := n.Link.LinkSetUp(l); err != nil {
		t.Fatalf("up %s: %v", name, err)
	}
	return l
}
