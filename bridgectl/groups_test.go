package bridgectl

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/florianl/go-tc"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/internal/kerneltest"
)

const eastBlock = 5000

const twoGroups = `
[[group]]
name = "east"
block = 5000

[[translation]]
name = "vps-bm"
group = "east"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }

[[translation]]
name = "zone"
a = { parent = "eth0", vlan = 400 }
b = { parent = "eth1", vlan = 500 }
`

// portBlock is the guard block the port called name is bound to (0: none).
func portBlock(t *testing.T, k *kerneltest.Kernel, name string) uint32 {
	t.Helper()
	q, ok := k.Ingress(k.Link(name).Index)
	if !ok || q.IngressBlock == nil {
		return 0
	}
	return *q.IngressBlock
}

// openEast checks that both groups' actions drop, each bound twice (two
// guard filters, or two translation filters), then opens east's guard
// and checks that only its action passes.
func openEast(t *testing.T, m *Manager, k *kerneltest.Kernel, cfg *config.Config) {
	t.Helper()
	for _, b := range []uint32{eastBlock, defaults.Block} {
		if v, binds, ok := k.Gact(b); !ok || v != tc.ActShot || binds != 2 {
			t.Fatalf("action %d: verdict %d, %d binds, %v; want dropping, bound twice", b, v, binds, ok)
		}
	}
	g, err := m.GroupGuard(cfg, "east")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if v, _, _ := k.Gact(eastBlock); v != tc.ActPipe {
		t.Fatalf("east's action after its unblock: %d", v)
	}
	if v, _, _ := k.Gact(defaults.Block); v != tc.ActShot {
		t.Fatalf("the default group's action after east's unblock: %d, want still dropping", v)
	}
}

// Each group's ports are bound to its own guard, whose action is its own:
// opening one group opens none of the other's ports. A translation that
// changes group has its ports recreated, bound to the new group's guard;
// the old group's guard goes with its last port.
func TestGroupsBridgeDatapath(t *testing.T) {
	m, k := fakeManager(t)
	cfg, raw := parse(t, twoGroups)
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	converged(t, m, cfg)
	for port, want := range map[string]uint32{"eth0.s100.200": eastBlock, "eth1.300": eastBlock, "eth0.400": defaults.Block, "eth1.500": defaults.Block} {
		if got := portBlock(t, k, port); got != want {
			t.Errorf("%s bound to block %d, want %d", port, got, want)
		}
	}
	openEast(t, m, k, cfg)

	// vps-bm moves to the default group.
	moved := strings.Replace(twoGroups, "group = \"east\"\n", "", 1)
	moved = strings.Replace(moved, "[[group]]\nname = \"east\"\nblock = 5000\n", "", 1)
	mcfg, mraw := parse(t, moved)
	v, err := m.Observe(mcfg, true)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	v.Plan.Write(&b)
	for _, want := range []string{"± eth0.s100.200: recreate, its translation changed group", "± eth1.300: recreate, its translation changed group", "0 to create, 2 to recreate, 0 to modify"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
	if _, _, err := m.Apply(mcfg, mraw); err != nil {
		t.Fatal(err)
	}
	converged(t, m, mcfg)
	for _, port := range []string{"eth0.s100.200", "eth1.300", "eth0.400", "eth1.500"} {
		if got := portBlock(t, k, port); got != defaults.Block {
			t.Errorf("%s bound to block %d after the move, want %d", port, got, defaults.Block)
		}
	}
	if _, _, ok := k.Gact(eastBlock); ok {
		t.Error("east's guard action outlives its last port")
	}
	if v, binds, _ := k.Gact(defaults.Block); v != tc.ActShot || binds != 2 {
		t.Errorf("default action: verdict %d, %d binds", v, binds)
	}
}

// In the tc datapath every group's filters share the one trunk block, each
// gated by its own group's action: opening a group opens its filters only.
// Moving a translation to another group replaces its two filters in place.
func TestGroupsTCDatapath(t *testing.T) {
	m, k := fakeManager(t)
	cfg, raw := parse(t, "datapath = \"tc\"\n"+twoGroups)
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	v := converged(t, m, cfg)
	gates := map[string]uint32{}
	for _, f := range v.Filters {
		gates[f.In.String()] = f.Guard
	}
	want := map[string]uint32{
		"eth0 802.1ad:100 802.1Q:200": eastBlock, "eth1 802.1Q:300": eastBlock,
		"eth0 802.1Q:400": defaults.Block, "eth1 802.1Q:500": defaults.Block,
	}
	if !maps.Equal(gates, want) {
		t.Fatalf("filters gated by %v, want %v", gates, want)
	}
	openEast(t, m, k, cfg)
	r, err := m.Status(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, gs := range r.Groups {
		states[gs.Group] = fmt.Sprintf("%s %d/%d", gs.State, gs.PortsBound, gs.PortsExpected)
	}
	if want := map[string]string{"default": "blocked 2/2", "east": "open 2/2"}; !maps.Equal(states, want) {
		t.Fatalf("status of the groups %v, want %v (no peer's filter an intruder)", states, want)
	}

	// vps-bm moves to the default group: its filters are replaced in
	// place, now behind the default (blocked) guard.
	moved := strings.Replace(twoGroups, "group = \"east\"\n", "", 1)
	moved = "datapath = \"tc\"\n" + strings.Replace(moved, "[[group]]\nname = \"east\"\nblock = 5000\n", "", 1)
	mcfg, mraw := parse(t, moved)
	var b strings.Builder
	mv, err := m.Observe(mcfg, true)
	if err != nil {
		t.Fatal(err)
	}
	mv.Plan.Write(&b)
	if !strings.Contains(b.String(), "~ filter eth0 802.1ad:100 802.1Q:200: guard block 5000 -> block 29026") {
		t.Errorf("plan:\n%s", b.String())
	}
	if _, res, err := m.Apply(mcfg, mraw); err != nil || res.Modified != 2 || res.Created != 0 || res.Deleted != 0 {
		t.Fatalf("apply: %+v, %v; want 2 filters modified", res, err)
	}
	converged(t, m, mcfg)
	if v, binds, _ := k.Gact(defaults.Block); v != tc.ActShot || binds != 4 {
		t.Fatalf("default action: verdict %d, %d binds; want dropping, 4", v, binds)
	}
	if _, _, ok := k.Gact(eastBlock); ok {
		t.Error("east's action outlives its filters")
	}
}
