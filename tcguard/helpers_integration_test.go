//go:build integration

package tcguard

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	tc "github.com/florianl/go-tc"
	"github.com/florianl/go-tc/core"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/internal/namespace"
	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// Kernel tests: run in the testbed VM (test/vm/run), each in a throwaway
// namespace. They read the kernel back with go-tc, an implementation
// independent of ours.

// env is one test namespace with a guard on the default block.
type env struct {
	ns *testbed.NS
	g  *Guard
	tc *tc.Tc
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ns := testbed.NewNS(t)
	g, err := Open(Options{Block: testBlock, NetNS: openNS(t, ns.Name), StateDir: filepath.Join(t.TempDir(), ns.Name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	tcnl, err := tc.Open(&tc.Config{NetNS: int(ns.Handle)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcnl.Close() })
	return &env{ns: ns, g: g, tc: tcnl}
}

// veth creates a pair and returns both ifindexes. The links stay down: the
// guard's caller binds ports before setting them up.
func (e *env) veth(t testing.TB, a, b string) (int, int) {
	t.Helper()
	la := netlink.NewLinkAttrs()
	la.Name = a
	if err := e.ns.Link.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: b}); err != nil {
		t.Fatalf("veth %s/%s: %v", a, b, err)
	}
	return e.ifindex(t, a), e.ifindex(t, b)
}

func (e *env) ifindex(t testing.TB, name string) int {
	t.Helper()
	l, err := e.ns.Link.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Index
}

func (e *env) deleteLink(t testing.TB, name string) {
	t.Helper()
	l, err := e.ns.Link.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ns.Link.LinkDel(l); err != nil {
		t.Fatal(err)
	}
}

func (e *env) status(t testing.TB, ports []int) Status {
	t.Helper()
	s, err := e.g.Status(ports)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return s
}

func (e *env) wantState(t testing.TB, want State) Status {
	t.Helper()
	s := e.status(t, nil)
	if s.State != want {
		t.Fatalf("state %v (filter %v marker %v armed %v bound %v), want %v", s.State, s.Dropping, s.Marker, s.Armed, s.Bound, want)
	}
	return s
}

// Independent readers (go-tc).

// ingressOf returns kind and ingress block of a device's ingress qdisc.
func (e *env) ingressOf(t testing.TB, ifindex int) (kind string, block uint32) {
	t.Helper()
	qs, err := e.tc.Qdisc().Get()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if int(q.Ifindex) == ifindex && q.Parent == tc.HandleIngress {
			if q.IngressBlock != nil {
				block = *q.IngressBlock
			}
			return q.Kind, block
		}
	}
	return "", 0
}

// blockFilters describes the filters of our blocks (ingress, then egress)
// as go-tc reads them.
func (e *env) blockFilters(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, b := range []uint32{testBlock, EgressBlock(testBlock)} {
		out = append(out, e.filtersOf(t, b)...)
	}
	return out
}

func (e *env) filtersOf(t testing.TB, block uint32) []string {
	t.Helper()
	fs, err := e.tc.Filter().Get(&tc.Msg{Family: unix.AF_UNSPEC, Ifindex: tc.MagicBlock, Parent: block})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		if f.Handle == 0 {
			continue // the classifier's own header
		}
		d := fmt.Sprintf("%s prio %d handle %d", f.Kind, f.Info>>16, f.Handle)
		if f.Matchall != nil && f.Matchall.Actions != nil {
			for _, a := range *f.Matchall.Actions {
				d += " " + a.Kind
				if a.Gact != nil && a.Gact.Parms != nil {
					d += fmt.Sprintf(" index %d action %d", a.Gact.Parms.Index, a.Gact.Parms.Action)
				}
			}
		}
		out = append(out, d)
	}
	return out
}

// The guard filter as the kernel dumps it, dropping (TC_ACT_SHOT) and open
// (TC_ACT_PIPE): the shared action's index is the block's.
const (
	guardDesc     = "matchall prio 1 handle 1 gact index 29026 action 2"
	guardOpenDesc = "matchall prio 1 handle 1 gact index 29026 action 3"
)

// addForeignClsact puts a clsact qdisc without shared block on a device, as
// another tool would.
func (e *env) addForeignClsact(t testing.TB, ifindex int) {
	t.Helper()
	err := e.tc.Qdisc().Add(&tc.Object{
		Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: uint32(ifindex), Handle: core.BuildHandle(tc.HandleRoot, 0), Parent: tc.HandleIngress},
		Attribute: tc.Attribute{Kind: "clsact"},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// deleteGuardBehindOurBack removes the guard filter of one block with go-tc,
// as an admin would.
func (e *env) deleteGuardBehindOurBack(t testing.TB, block uint32) {
	t.Helper()
	err := e.tc.Filter().Delete(&tc.Object{
		Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: tc.MagicBlock, Parent: block, Handle: FilterHandle, Info: filterInfo},
		Attribute: tc.Attribute{Kind: "matchall"},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sysctl writes a namespaced sysctl of the test namespace.
func (e *env) sysctl(t testing.TB, path, value string) {
	t.Helper()
	if err := e.ns.Do(func() error { return os.WriteFile(filepath.Join("/proc/sys", path), []byte(value), 0) }); err != nil {
		t.Fatal(err)
	}
}

// openNS opens the testbed namespace as a *namespace.NetNS, closed with the test.
func openNS(t *testing.T, name string) *namespace.NetNS {
	t.Helper()
	n, err := namespace.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}
