//go:build integration

package tcguard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/florianl/go-tc"
	nl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Binding ports creates the blocks with the guard filters, dropping; Block and Unblock
// are idempotent; Bind again changes nothing.
func TestKernelBindBlockUnblock(t *testing.T) {
	e := newEnv(t)
	var ports []int
	for i := range 4 {
		p, _ := e.veth(t, fmt.Sprintf("p%d", i), fmt.Sprintf("q%d", i))
		ports = append(ports, p)
	}
	if err := e.g.Bind(ports); err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if kind, block := e.ingressOf(t, p); kind != "clsact" || block != testBlock {
			t.Fatalf("port %d: ingress %q block %d", p, kind, block)
		}
	}
	if got := e.blockFilters(t); !slices.Equal(got, []string{guardDesc, guardDesc}) {
		t.Fatalf("blocks' filters %q, want %s twice", got, guardDesc)
	}
	s := e.wantState(t, Blocked)
	if !slices.Equal(s.Bound, ports) || !s.Armed || len(s.Foreign)+len(s.Unbound) != 0 {
		t.Fatalf("status %+v", s)
	}
	if err := e.g.Bind(ports); err != nil {
		t.Fatalf("second Bind: %v", err)
	}
	for i, step := range []struct {
		op   func() error
		want State
	}{{e.g.Block, Blocked}, {e.g.Block, Blocked}, {e.g.Unblock, Opened}, {e.g.Unblock, Opened}, {e.g.Block, Blocked}, {e.g.Unblock, Opened}} {
		start := time.Now()
		if err := step.op(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		took := time.Since(start)
		s := e.wantState(t, step.want)
		if s.Dropping != (step.want == Blocked) || s.Marker != (step.want == Opened) {
			t.Fatalf("step %d: %+v", i, s)
		}
		t.Logf("step %d -> %v: %v", i, step.want, took)
	}
	if got := e.blockFilters(t); !slices.Equal(got, []string{guardOpenDesc, guardOpenDesc}) {
		t.Fatalf("opened blocks' filters %q, want %s twice", got, guardOpenDesc)
	}
	// A port bound to opened blocks joins them open.
	p, _ := e.veth(t, "late", "late-peer")
	if err := e.g.Bind([]int{p}); err != nil {
		t.Fatal(err)
	}
	e.wantState(t, Opened)
	if got := e.blockFilters(t); !slices.Equal(got, []string{guardOpenDesc, guardOpenDesc}) {
		t.Fatalf("blocks' filters after a late Bind %q", got)
	}
}

// A clsact that is not ours is reported, named, and left alone; the other
// ports are bound.
func TestKernelForeignQdisc(t *testing.T) {
	e := newEnv(t)
	a, _ := e.veth(t, "a0", "a1")
	f, _ := e.veth(t, "f0", "f1")
	b, _ := e.veth(t, "b0", "b1")
	e.addForeignClsact(t, f)
	err := e.g.Bind([]int{a, f, b})
	var pe *PortError
	if !errors.As(err, &pe) || pe.Ifindex != f || !errors.Is(err, ErrForeign) {
		t.Fatalf("Bind: %v, want a foreign-qdisc error naming ifindex %d", err, f)
	}
	t.Logf("Bind error: %v", err)
	if kind, block := e.ingressOf(t, f); kind != "clsact" || block != 0 {
		t.Fatalf("foreign qdisc changed: %q block %d", kind, block)
	}
	s := e.status(t, []int{a, f, b})
	// f forwards whatever the filter: the node is not blocked.
	if !slices.Equal(s.Bound, []int{a, b}) || !slices.Equal(s.Foreign, []int{f}) || s.State != Unguarded {
		t.Fatalf("status %+v", s)
	}
	// Bound to other blocks is foreign too.
	other, err := Open(Options{Block: testBlock + 2, NetNS: openNS(t, e.ns.Name), StateDir: filepath.Join(t.TempDir(), "other")})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Bind([]int{a}); !errors.Is(err, ErrForeign) {
		t.Fatalf("binding a port of block %d to block %d: %v", testBlock, testBlock+2, err)
	}
}

// Every port deleted: the block disappears with filter and armed chain. The
// next Bind re-creates it blocked, even on an opened node.
func TestKernelRecreatedBlockIsBlocked(t *testing.T) {
	e := newEnv(t)
	a, _ := e.veth(t, "a0", "a1")
	b, _ := e.veth(t, "b0", "b1")
	if err := e.g.Bind([]int{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := e.g.Unblock(); err != nil {
		t.Fatal(err)
	}
	e.deleteLink(t, "a0")
	e.deleteLink(t, "b0")
	s := e.wantState(t, Opened)
	if s.Armed || s.Dropping || len(s.Bound) != 0 {
		t.Fatalf("block survived its ports: %+v", s)
	}
	// Block and Unblock without any port: nothing to do, no error.
	for _, op := range []func() error{e.g.Unblock, e.g.Block, e.g.Unblock} {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := e.veth(t, "c0", "c1")
	if err := e.g.Bind([]int{c}); err != nil {
		t.Fatal(err)
	}
	s = e.wantState(t, Interrupted)
	if !s.Armed || !s.Dropping {
		t.Fatalf("re-created block not blocked: %+v", s)
	}
	if err := e.g.Unblock(); err != nil {
		t.Fatal(err)
	}
	e.wantState(t, Opened)
	if err := e.g.Block(); err != nil {
		t.Fatal(err)
	}
	e.wantState(t, Blocked)
}

// The pairs a SIGKILL can leave behind are reported, and re-running the
// interrupted operation converges.
func TestKernelInterrupted(t *testing.T) {
	e := newEnv(t)
	a, _ := e.veth(t, "a0", "a1")
	if err := e.g.Bind([]int{a}); err != nil {
		t.Fatal(err)
	}
	// Unblock killed between writing the marker and opening the action.
	if err := writeMarker(e.g.o); err != nil {
		t.Fatal(err)
	}
	e.wantState(t, Interrupted)
	if err := e.g.Unblock(); err != nil {
		t.Fatal(err)
	}
	e.wantState(t, Opened)
	// Block killed between making the action drop and removing the marker.
	if err := e.g.setVerdict(tc.ActShot); err != nil {
		t.Fatal(err)
	}
	e.wantState(t, Interrupted)
	if err := e.g.Block(); err != nil {
		t.Fatal(err)
	}
	e.wantState(t, Blocked)
	// A filter deleted behind our back, in either block: unguarded.
	for _, b := range e.g.portBlocks() {
		e.deleteGuardBehindOurBack(t, b)
		e.wantState(t, Unguarded)
		if err := e.g.Block(); err != nil {
			t.Fatal(err)
		}
		e.wantState(t, Blocked)
	}
}

// Kernel answers the guard relies on, pinned down.
func TestKernelAnswers(t *testing.T) {
	e := newEnv(t)
	// No block yet: a filter request says so (EINVAL + text), dumps are empty.
	err := e.g.tc.AddFilter(guardFilterObject(testBlock, testBlock))
	if !noBlock(err) {
		t.Fatalf("filter on a missing block: %v", err)
	}
	if v, err := e.g.look(); v.any() || len(v.intruders) != 0 || err != nil {
		t.Fatalf("view of missing blocks: %+v %v", v, err)
	}
	if _, found, err := e.g.guardFilter(testBlock); found || err != nil {
		t.Fatalf("filter dump of a missing block: %v %v", found, err)
	}
	a, a1 := e.veth(t, "a0", "a1")
	// A device whose ingress slot was never used: none in the qdisc dump.
	if q, ok := e.ingress(t, a1); ok {
		t.Fatalf("ingress qdisc of a fresh port: %+v", q)
	}
	// Unknown kinds: ENOENT, told apart by the kernel's text (go-tc refuses
	// kinds it does not know: sent by hand here).
	if err := e.sendUnknownKind(t, unix.RTM_NEWQDISC, tc.Msg{Ifindex: uint32(a), Handle: 0xFFFF0000, Parent: tc.HandleIngress}, "clsactx", nil); !qdiscKindMissing(err) {
		t.Fatalf("unknown qdisc kind: %v", err)
	}
	// The failed creation left the slot with the builtin noop qdisc, which
	// the dump leaves out.
	if q, ok := e.ingress(t, a); ok {
		t.Fatalf("ingress qdisc of a bare port: %+v", q)
	}
	// So does a deleted qdisc.
	e.addForeignClsact(t, a1)
	if err := e.tc.Qdisc().Delete(&tc.Object{Msg: tc.Msg{Ifindex: uint32(a1), Handle: 0xFFFF0000, Parent: tc.HandleIngress},
		Attribute: tc.Attribute{Kind: "clsact"}}); err != nil {
		t.Fatal(err)
	}
	if q, ok := e.ingress(t, a1); ok {
		t.Fatalf("ingress qdisc of a port whose clsact was deleted: %+v", q)
	}
	if err := e.g.Bind([]int{a}); err != nil {
		t.Fatal(err)
	}
	if q, ok := e.ingress(t, a); !ok || !q.ours(Options{Block: testBlock}) {
		t.Fatalf("ingress qdisc after Bind: %+v %v", q, ok)
	}
	// Both filters bind the one action the first filter created, dropping,
	// with its index, and its drop counter.
	e.wantGuardFilters(t, tc.ActShot)
	if err := e.g.Unblock(); err != nil {
		t.Fatal(err)
	}
	// Replacing the action changes it for both filters.
	e.wantGuardFilters(t, tc.ActPipe)
	// A filter created with "gact drop index A" next to the open action
	// binds it as it is: open.
	if err := e.tc.Filter().Delete(&tc.Object{Msg: guardMsg(EgressBlock(testBlock)), Attribute: tc.Attribute{Kind: kindMatchall}}); err != nil {
		t.Fatal(err)
	}
	if exists, err := e.g.ensureFilter(EgressBlock(testBlock)); !exists || err != nil {
		t.Fatalf("re-adding the egress filter: %v %v", exists, err)
	}
	e.wantGuardFilters(t, tc.ActPipe)
	for _, k := range []struct{ cls, act, module string }{
		{"matchallx", kindGact, "cls_matchall"},
		{kindMatchall, "gactx", "act_gact"},
	} {
		m := guardMsg(testBlock) // at priority 2: 1 holds the guard
		m.Info = 2<<16 | m.Info&0xFFFF
		err := e.sendUnknownKind(t, unix.RTM_NEWTFILTER, m, k.cls, func(ae *nl.AttributeEncoder) {
			ae.Nested(unix.TCA_OPTIONS, func(ae *nl.AttributeEncoder) error {
				ae.Nested(2, func(ae *nl.AttributeEncoder) error { // TCA_MATCHALL_ACT
					ae.Nested(1, func(ae *nl.AttributeEncoder) error { // the first action
						ae.String(1, k.act)                                // TCA_ACT_KIND
						ae.Nested(2, func(ae *nl.AttributeEncoder) error { // TCA_ACT_OPTIONS
							ae.Bytes(2, []byte{8: tc.ActShot, 19: 0}) // TCA_GACT_PARMS: tc_gen.action
							return nil
						})
						return nil
					})
					return nil
				})
				return nil
			})
		})
		if !kindMissing(err) {
			t.Fatalf("%s/%s: %v", k.cls, k.act, err)
		}
		if got := filterModuleError(err).Error(); !strings.Contains(got, "modprobe "+k.module) {
			t.Fatalf("%s/%s: %q does not name %s", k.cls, k.act, got, k.module)
		}
		t.Logf("%s/%s: %v", k.cls, k.act, filterModuleError(err))
	}
	// A second clsact: EEXIST.
	if err := e.g.tc.AddQdisc(clsactObject(a, Options{Block: testBlock})); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("second clsact: %v", err)
	}
	// The guard's blocks hold no chain but chain 0.
	for _, b := range e.g.portBlocks() {
		chains, err := e.g.tc.Chains(blockMsg(b))
		if err != nil || slices.ContainsFunc(chains, func(o tc.Object) bool { return deref(o.Chain) != 0 }) {
			t.Fatalf("chains of block %d: %+v %v", b, chains, err)
		}
	}
}

// wantGuardFilters checks, from the kernel's dumps, that both blocks carry
// the guard filter bound to the shared action with the verdict.
func (e *env) wantGuardFilters(t *testing.T, verdict uint32) {
	t.Helper()
	for _, b := range e.g.portBlocks() {
		f, found, err := e.g.guardFilter(b)
		if err != nil || !found || !f.isGuard(testBlock) || f.actions[0].verdict != int32(verdict) {
			t.Fatalf("block %d: guard filter %+v found %v (%v), want action %d with verdict %d", b, f, found, err, ActionIndex(testBlock), verdict)
		}
	}
}

// ingress is the qdisc in the device's ingress slot, from the guard's qdisc
// dump.
func (e *env) ingress(t *testing.T, ifindex int) (qdisc, bool) {
	t.Helper()
	qs, err := e.g.ingressQdiscs()
	if err != nil {
		t.Fatal(err)
	}
	q, ok := qs[ifindex]
	return q, ok
}

// sendUnknownKind sends a create request with a kind go-tc would refuse to
// encode, over a socket of the test's own, and returns the kernel's answer.
func (e *env) sendUnknownKind(t *testing.T, typ uint16, m tc.Msg, kind string, opts func(*nl.AttributeEncoder)) error {
	t.Helper()
	ae := nl.NewAttributeEncoder()
	ae.String(unix.TCA_KIND, kind)
	if opts != nil {
		opts(ae)
	}
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c, err := nl.Dial(unix.NETLINK_ROUTE, &nl.Config{NetNS: int(e.ns.Handle)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetOption(nl.ExtendedAcknowledge, true) // the kernel's text, as the guard's socket has it
	_, err = c.Execute(nl.Message{Header: nl.Header{Type: nl.HeaderType(typ), Flags: nl.Request | nl.Acknowledge | nl.Create | nl.Excl},
		Data: append(tcmsg(m), attrs...)})
	return err
}

// tcmsg is struct tcmsg (family AF_UNSPEC, padding zero).
func tcmsg(m tc.Msg) []byte {
	b := make([]byte, 20)
	binary.NativeEndian.PutUint32(b[4:], m.Ifindex)
	binary.NativeEndian.PutUint32(b[8:], m.Handle)
	binary.NativeEndian.PutUint32(b[12:], m.Parent)
	binary.NativeEndian.PutUint32(b[16:], m.Info)
	return b
}

// A qdisc of a kind go-tc does not know, with options and statistics, does
// not fail the guard's qdisc dump (third_party/go-tc patch 4): Status and
// Bind read every qdisc of the namespace.
func TestKernelQdiscDumpWithUnknownKind(t *testing.T) {
	e := newEnv(t)
	a, _ := e.veth(t, "a0", "a1")
	// skbprio: a qdisc go-tc has no type for; its dump has TCA_OPTIONS.
	err := e.sendUnknownKind(t, unix.RTM_NEWQDISC, tc.Msg{Ifindex: uint32(a), Handle: 0x10000, Parent: tc.HandleRoot}, "skbprio", nil)
	if qdiscKindMissing(err) {
		t.Skipf("no sch_skbprio in this kernel: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := e.g.Bind([]int{a}); err != nil {
		t.Fatal(err)
	}
	if q, ok := e.ingress(t, a); !ok || !q.ours(Options{Block: testBlock}) {
		t.Fatalf("ingress qdisc after Bind: %+v %v", q, ok)
	}
	e.wantState(t, Blocked)
}
