//go:build integration

package integration

import (
	"strings"
	"testing"

	tc "github.com/florianl/go-tc"
	"github.com/florianl/go-tc/core"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// Holes of issue 12, each shown with counted frames beside a positive
// control that shows the frames would have crossed.

// A port whose ingress holds a foreign qdisc cannot be bound: apply fails
// naming it and the foreign object, and leaves that port down, while the
// other translations come up. Opened, translation 2 crosses (the control)
// and translation 1 does not: its port is down.
func TestApplyLeavesUnbindablePortDown(t *testing.T) {
	e := newGuardEnv(t)
	cfg := e.config(t, 2)
	e.apply(t, cfg)
	e.wantStatus(t, cfg, "blocked", 4)
	port := guardQPort(1)
	e.deleteClsact(t, []string{port})
	e.addClsact(t, port, 0)
	r := e.exec(t, "bridgectl", "apply", "-c", cfg)
	if r.code == 0 || !strings.Contains(r.stderr, port) || !strings.Contains(r.stderr, "foreign") {
		t.Fatalf("apply over a foreign qdisc: exit %d, want a failure naming %s and the foreign qdisc\n%s%s", r.code, port, r.stdout, r.stderr)
	}
	if e.link(t, port).Attrs().Flags&unix.IFF_UP != 0 {
		t.Fatalf("%s is up with a foreign qdisc: it forwards unguarded", port)
	}
	e.waitOperUp(t, []string{guardVPort(1), guardQPort(2), guardVPort(2)})
	e.guard(t, "unblock", cfg)
	p := e.openPeers(t)
	const frames = 50
	for seq := range frames {
		for side := range 2 {
			p.send(t, guardFrame("t1", side, seq, 1), side)
		}
	}
	for seq := range frames {
		for side := range 2 {
			p.send(t, guardFrame("t2", side, seq, 2), side)
		}
	}
	guardWait(t, "translation 2 crosses both ways (control)", func() bool { return p.rx.total("t2") >= 2*frames })
	if q, v, _ := p.rx.count("t1"); q+v != 0 {
		t.Errorf("translation 1 (port %s left down) forwarded %d frames q->v and %d v->q", port, q, v)
	}
}

// A block that somebody else uses (a device of theirs bound to it, a filter
// of theirs in it) is refused by apply, plan and tcguard, by name, and
// nothing is created, bound or changed.
func TestForeignBlockRefused(t *testing.T) {
	e := newGuardEnv(t)
	cfg := e.config(t, 1)
	e.ns.Veth(t, "xa", "xb")
	e.addClsact(t, "xa", defaults.Block)
	e.addBlockFilter(t, defaults.Block, 5, tc.ActOk)
	before := e.blockFilterCount(t, defaults.Block)
	for _, args := range [][]string{{"bridgectl", "plan"}, {"bridgectl", "apply"}, {"tcguard", "block"}, {"tcguard", "unblock"}} {
		r := e.exec(t, args[0], append(args[1:], "-c", cfg)...)
		if r.code == 0 || !strings.Contains(r.stderr+r.stdout, "block") {
			t.Errorf("%v on a foreign block: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if args[1] == "apply" && !strings.Contains(r.stderr, "xa") {
			t.Errorf("apply: the error does not name the foreign device xa:\n%s", r.stderr)
		}
	}
	if _, err := e.ns.Link.LinkByName(guardQPort(1)); err == nil {
		t.Fatal("apply created links over a foreign block")
	}
	if after := e.blockFilterCount(t, defaults.Block); after != before {
		t.Fatalf("the foreign block's filters changed: %d -> %d", before, after)
	}
}

// A foreign interface enslaved to a translation bridge sends into it: on a
// blocked node none of its frames reach a trunk (the guard drops them as
// they leave the bridge ports); opened, they do (the control).
func TestForeignBridgePortBlocked(t *testing.T) {
	e := newGuardEnv(t)
	cfg := e.config(t, 1)
	e.apply(t, cfg)
	e.wantStatus(t, cfg, "blocked", 2)
	e.ns.Veth(t, "fx", "fxp")
	if err := e.ns.Link.LinkSetMaster(e.link(t, "fx"), e.link(t, "br-g.1")); err != nil {
		t.Fatal(err)
	}
	e.waitOperUp(t, append(guardPorts(1), "fx", "fxp"))
	p := e.openPeers(t)
	fx, err := testbed.OpenPort(e.ns, "fxp")
	if err != nil {
		t.Fatal(err)
	}
	defer fx.Close()
	const frames = 50
	send := func(phase string) {
		for seq := range frames {
			f := guardFrame(phase, sideQ, seq, 1)
			f.Tags = nil // untagged into the bridge: it leaves tagged on both trunks
			if err := fx.Send(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	base := e.status(t, cfg).DroppedPackets
	send("foreign-blocked")
	// Each frame is flooded to both ports and dropped as it leaves each.
	guardWait(t, "the guard drops the foreign port's frames", func() bool {
		return e.status(t, cfg).DroppedPackets-base >= 2*frames
	})
	if n := p.rx.total("foreign-blocked"); n != 0 {
		t.Errorf("blocked node: %d frames of a foreign bridge port reached a trunk", n)
	}
	e.guard(t, "unblock", cfg)
	send("foreign-open")
	guardWait(t, "opened: the foreign port's frames reach the trunks (control)", func() bool {
		return p.rx.total("foreign-open") >= frames
	})
}

// addClsact adds a clsact qdisc to a link as another tool would: with its
// ingress bound to block (0: none).
func (e *guardEnv) addClsact(t *testing.T, name string, block uint32) {
	t.Helper()
	tcnl := e.tcConn(t)
	attr := tc.Attribute{Kind: "clsact"}
	if block != 0 {
		attr.IngressBlock = &block
	}
	err := tcnl.Qdisc().Add(&tc.Object{
		Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: uint32(e.link(t, name).Attrs().Index), Handle: core.BuildHandle(tc.HandleRoot, 0), Parent: tc.HandleIngress},
		Attribute: attr,
	})
	if err != nil {
		t.Fatalf("clsact on %s: %v", name, err)
	}
}

// addBlockFilter adds somebody else's matchall filter to a block.
func (e *guardEnv) addBlockFilter(t *testing.T, block uint32, prio uint16, verdict uint32) {
	t.Helper()
	err := e.tcConn(t).Filter().Add(&tc.Object{
		Msg: tc.Msg{Family: unix.AF_UNSPEC, Ifindex: tc.MagicBlock, Parent: block, Handle: 1, Info: uint32(prio)<<16 | uint32(htons(unix.ETH_P_ALL))},
		Attribute: tc.Attribute{Kind: "matchall", Matchall: &tc.Matchall{Actions: &[]*tc.Action{
			{Kind: "gact", Gact: &tc.Gact{Parms: &tc.GactParms{Action: verdict}}},
		}}},
	})
	if err != nil {
		t.Fatalf("filter in block %d: %v", block, err)
	}
}

func (e *guardEnv) blockFilterCount(t *testing.T, block uint32) int {
	t.Helper()
	fs, err := e.tcConn(t).Filter().Get(&tc.Msg{Family: unix.AF_UNSPEC, Ifindex: tc.MagicBlock, Parent: block})
	if err != nil {
		t.Fatal(err)
	}
	return len(fs)
}

func (e *guardEnv) tcConn(t *testing.T) *tc.Tc {
	t.Helper()
	tcnl, err := tc.Open(&tc.Config{NetNS: int(e.ns.Handle)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcnl.Close() })
	return tcnl
}

// htons converts a host-order 16-bit value to network order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }
