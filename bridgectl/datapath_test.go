package bridgectl

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/florianl/go-tc"

	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/internal/kerneltest"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

const tcTranslations = "datapath = \"tc\"\n" + twoTranslations

// trunkBlock is the tc datapath's block of the default guard.
var trunkBlock = tcguard.TrunkBlock(defaults.Block)

// filters are the kernel's filters of the trunk block, rendered, with the
// guard's action verdict.
func filters(t *testing.T, k *kerneltest.Kernel) []string {
	t.Helper()
	objs, err := k.TC().Filters(tc.Msg{Ifindex: tc.MagicBlock, Parent: trunkBlock})
	if err != nil {
		t.Fatal(err)
	}
	links, _ := k.Links().Dump(false)
	var out []string
	for _, f := range kernel.ObservedFilters(objs, plan.NewState(links), kernel.Gates{defaults.Block: tcguard.ActionIndex(defaults.Block)}) {
		out = append(out, f.String())
	}
	slices.Sort(out)
	return out
}

// The tc datapath: no link, one filter per direction, trunks bound, the
// guard's action dropping; converged after one apply; status counts per
// direction; down leaves nothing.
func TestTCDatapathApply(t *testing.T) {
	m, k := fakeManager(t)
	cfg, raw := parse(t, tcTranslations)
	links := snapshot(t, k)
	_, res, err := m.Apply(cfg, raw)
	if err != nil {
		t.Fatal(err)
	}
	if res != (plan.Result{Created: 4}) {
		t.Errorf("apply: %v, want 4 created", res)
	}
	if got := snapshot(t, k); len(got) != len(links) {
		t.Fatalf("the tc datapath created links: %v", got)
	}
	want := []string{
		"eth0 802.1Q:400 -> eth1 802.1Q:500",
		"eth0 802.1ad:100 802.1Q:200 -> eth1 802.1Q:300",
		"eth1 802.1Q:300 -> eth0 802.1ad:100 802.1Q:200",
		"eth1 802.1Q:500 -> eth0 802.1Q:400",
	}
	if got := filters(t, k); !slices.Equal(got, want) {
		t.Fatalf("filters %q, want %q", got, want)
	}
	for _, trunk := range []string{"eth0", "eth1"} {
		if q, _ := k.Ingress(k.Link(trunk).Index); q.IngressBlock == nil || *q.IngressBlock != trunkBlock || q.EgressBlock != nil {
			t.Fatalf("%s: ingress qdisc %+v", trunk, q)
		}
	}
	if v, binds, ok := k.Gact(tcguard.ActionIndex(defaults.Block)); !ok || v != tc.ActShot || binds != 4 {
		t.Fatalf("guard action: verdict %d, %d binds (%v)", v, binds, ok)
	}
	converged(t, m, cfg)

	// Frames through the QinQ side's filter while blocked: counted, dropped.
	v := converged(t, m, cfg)
	for _, f := range v.Filters {
		if f.In.String() == "eth0 802.1ad:100 802.1Q:200" {
			k.FilterFrames(trunkBlock, f.Prio, f.Handle, 10, 640)
		}
	}
	r, err := m.Status(cfg, raw)
	if err != nil {
		t.Fatal(err)
	}
	if r.Guard.State != "blocked" || r.Guard.PortsBound != 2 || r.Guard.PortsExpected != 2 || r.Guard.DroppedPackets != 10 {
		t.Fatalf("guard status %+v", r.Guard)
	}
	fs := r.Translations[0].Filters
	if len(fs) != 2 || !fs[0].Present || fs[0].Matched != 10 || fs[0].Forwarded != 0 || fs[0].GuardDropped != 10 || !fs[1].Present || fs[1].Matched != 0 {
		t.Fatalf("vps-bm filters %+v", fs)
	}

	if _, err := m.Down(); err != nil {
		t.Fatal(err)
	}
	if got := filters(t, k); len(got) != 0 {
		t.Fatalf("after down: filters %q", got)
	}
	for _, trunk := range []string{"eth0", "eth1"} {
		if q, ok := k.Ingress(k.Link(trunk).Index); ok {
			t.Fatalf("after down: %s keeps %+v", trunk, q)
		}
	}
	if _, _, ok := k.Gact(tcguard.ActionIndex(defaults.Block)); ok {
		t.Fatal("after down: the guard's action is left")
	}
}

// Editing a file in the tc datapath touches only the filters that change;
// switching datapaths is a plan like any other, both ways.
func TestTCDatapathEditAndSwitch(t *testing.T) {
	m, k := fakeManager(t)
	cfg, raw := parse(t, tcTranslations)
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(tcTranslations, "vlan = 500", "vlan = 501", 1)
	cfg2, raw2 := parse(t, edited)
	k.Log = nil
	_, res, err := m.Apply(cfg2, raw2)
	if err != nil {
		t.Fatal(err)
	}
	// zone: b>a is a new match (eth1 501): delete + create; a>b changes
	// its out stack in place.
	if res != (plan.Result{Created: 1, Modified: 1, Deleted: 1}) {
		t.Fatalf("edit: %v (%q)", res, k.Log)
	}
	converged(t, m, cfg2)

	// To the bridge datapath: links built, filters and trunk bindings gone.
	bcfg, braw := parse(t, twoTranslations)
	if _, _, err := m.Apply(bcfg, braw); err != nil {
		t.Fatal(err)
	}
	converged(t, m, bcfg)
	if got := filters(t, k); len(got) != 0 {
		t.Fatalf("filters left: %q", got)
	}
	if q, ok := k.Ingress(k.Link("eth0").Index); ok {
		t.Fatalf("eth0 still bound: %+v", q)
	}
	// And back.
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	converged(t, m, cfg)
	for _, name := range []string{"br-vps-bm", "eth0.s100"} {
		if k.Link(name) != nil {
			t.Fatalf("%s left after the switch to tc", name)
		}
	}
}

// A trunk with somebody else's ingress qdisc: apply refuses it by name and
// changes nothing.
func TestTCDatapathForeignTrunk(t *testing.T) {
	m, k := fakeManager(t)
	k.PlantQdisc(kerneltest.IngressQdisc(k.Link("eth1").Index, "ingress", 0))
	cfg, raw := parse(t, tcTranslations)
	k.Log = nil
	_, _, err := m.Apply(cfg, raw)
	if !errors.Is(err, tcguard.ErrForeign) || !strings.Contains(err.Error(), "trunk eth1") {
		t.Fatalf("apply: %v", err)
	}
	if len(k.Log) != 0 {
		t.Fatalf("changed %q", k.Log)
	}
}

// mirred does not check MTUs: a QinQ trunk that cannot carry what the VLAN
// side sends is refused by name.
func TestTCDatapathMTU(t *testing.T) {
	m, k := fakeManager(t) // eth0 9000, eth1 1500
	cfg, raw := parse(t, "datapath = \"tc\"\n[[translation]]\nname = \"x\"\na = { parent = \"eth1\", outer = 100, inner = 200 }\nb = { parent = \"eth0\", vlan = 300 }\n")
	k.Log = nil
	_, _, err := m.Apply(cfg, raw)
	if err == nil || !strings.Contains(err.Error(), "trunk eth1 (mtu 1500) carries 1496 bytes under 2 tags, less than eth0 sends (9000)") {
		t.Fatalf("apply: %v", err)
	}
	if len(k.Log) != 0 {
		t.Fatalf("changed %q", k.Log)
	}
}
