package tcguard

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/florianl/go-tc"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/internal/tcnl"
)

// translationFilter is a tc datapath filter as bridgectl makes it: flower
// on TrunkBlock, its actions a vlan rewrite, the guard's action (created
// dropping if new), a redirect.
func translationFilter(handle uint32) *tc.Object {
	m := blockMsg(TrunkBlock(testBlock))
	m.Handle, m.Info = handle, tcnl.Info(10, unix.ETH_P_8021Q)
	vid := uint16(100 + handle)
	return &tc.Object{Msg: m, Attribute: tc.Attribute{Kind: kindFlower, Flower: &tc.Flower{KeyVlanID: &vid, Flags: new(uint32(1)), Actions: &[]*tc.Action{
		{Kind: "vlan", VLan: &tc.VLan{}},
		gateAction(testBlock, tc.ActShot),
		{Kind: "mirred", Mirred: &tc.Mirred{}},
	}}}}
}

// Trunks bound, translation filters added: the guard is their shared
// action; Block and Unblock flip it, one request, no filter touched.
func TestTrunksGuardTranslationFilters(t *testing.T) {
	k := newKernel(t, 1, 2)
	g := guardOn(t, k, testBlock)
	// A leftover action that passes, made on its own (say, an Unblock that
	// raced a down).
	if err := k.TC().ReplaceAction(gateAction(testBlock, tc.ActPipe)); err != nil {
		t.Fatal(err)
	}
	if err := g.BindTrunks([]int{1, 2}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []int{1, 2} {
		if q, _ := k.Ingress(d); deref(q.IngressBlock) != TrunkBlock(testBlock) || q.EgressBlock != nil {
			t.Fatalf("trunk %d: %+v", d, q)
		}
	}
	// No filter yet: nothing forwards.
	s := wantState(t, g, Blocked)
	if s.Gated != 0 || len(s.Bound) != 2 {
		t.Fatalf("status %+v", s)
	}
	// The leftover cannot be bound by a translation filter (skip_hw): no
	// filter forwards through it. Release deletes it.
	if err := k.TC().AddFilter(translationFilter(1)); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("binding the leftover action: %v", err)
	}
	if err := g.Release(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := k.Gact(ActionIndex(testBlock)); ok {
		t.Fatal("Release left the unbound action")
	}
	for h := uint32(1); h <= 3; h++ {
		if err := k.TC().AddFilter(translationFilter(h)); err != nil {
			t.Fatal(err)
		}
	}
	if s := wantState(t, g, Blocked); s.Gated != 3 || !s.Dropping {
		t.Fatalf("status %+v", s)
	}
	k.Log = nil
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Opened)
	if err := g.Block(); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Blocked)
	for _, op := range k.Log {
		if op != "action 29026 verdict 3" && op != "action 29026 verdict 2" {
			t.Fatalf("promotion and demotion did %q, want only the action changed", k.Log)
		}
	}
	// Frames through one filter: dropped by the guard, counted.
	k.FilterFrames(TrunkBlock(testBlock), 10, 2, 5, 320)
	if s := wantState(t, g, Blocked); s.DroppedPackets != 5 {
		t.Fatalf("dropped %d", s.DroppedPackets)
	}
	// The action set to pass by hand: unguarded.
	k.SetGact(ActionIndex(testBlock), tc.ActPipe)
	wantState(t, g, Unguarded)
	// Binding again changes nothing.
	k.Log = nil
	if err := g.BindTrunks([]int{1, 2}); err != nil || len(k.Log) != 0 {
		t.Fatalf("re-bind: %v, did %q", err, k.Log)
	}
}

// A trunk with somebody else's clsact is refused by name and left alone; a
// filter in the trunks' block without the guard's action is foreign.
func TestTrunksForeign(t *testing.T) {
	k := newKernel(t, 1, 2)
	k.PlantQdisc(ingressQdisc(2, kindClsact, 0, 0))
	g := guardOn(t, k, testBlock)
	err := g.BindTrunks([]int{1, 2})
	var pe *PortError
	if !errors.As(err, &pe) || pe.Ifindex != 2 || !errors.Is(err, ErrForeign) {
		t.Fatalf("BindTrunks: %v", err)
	}
	ungated := translationFilter(7)
	(*ungated.Flower.Actions)[1] = &tc.Action{Kind: "gact", Gact: &tc.Gact{Parms: &tc.GactParms{Action: tc.ActOk}}}
	if err := k.TC().AddFilter(ungated); err != nil {
		t.Fatal(err)
	}
	// Promotion does not read the trunk block (its filters are thousands);
	// Status does, and names the intruder: apply and the monitors refuse
	// the block on it (bridgectl.SharedBlock).
	s := mustStatus(t, g, nil)
	if len(s.Intruders) != 1 || !strings.Contains(s.Intruders[0], fmt.Sprintf("in block %d", TrunkBlock(testBlock))) {
		t.Fatalf("intruders %q", s.Intruders)
	}
}

// Bridge ports and, beside them, trunks bound by BindTrunks (a
// pass-through's, in the bridge datapath): the trunks are the guard's own,
// not strangers; a device bound some other way still is.
func TestTrunksBesidePortsAreNotStrangers(t *testing.T) {
	k := newKernel(t, 1, 2, 3, 4, 5)
	g := guardOn(t, k, testBlock)
	if err := g.Bind([]int{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := g.BindTrunks([]int{3, 4}); err != nil {
		t.Fatal(err)
	}
	s, err := g.Status([]int{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Strangers) != 0 || s.State != Blocked {
		t.Fatalf("status %+v: want blocked, no strangers", s)
	}
	// Device 5's ingress on the guard's own block: somebody else's use.
	k.PlantQdisc(tc.Object{Msg: tc.Msg{Ifindex: 5, Parent: tc.HandleIngress}, Attribute: tc.Attribute{Kind: kindClsact, IngressBlock: new(uint32(testBlock))}})
	if s, err = g.Status([]int{1, 2}); err != nil || fmt.Sprint(s.Strangers) != "[5]" {
		t.Fatalf("strangers %v (%v), want [5]", s.Strangers, err)
	}
}
