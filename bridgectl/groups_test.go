package bridgectl

import (
	"strings"
	"testing"

	"github.com/florianl/go-tc"

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
	for _, b := range []uint32{eastBlock, defaults.Block} {
		if v, binds, ok := k.Gact(b); !ok || v != tc.ActShot || binds != 2 {
			t.Fatalf("guard action %d: verdict %d, %d binds, %v; want dropping, bound by its 2 guard filters", b, v, binds, ok)
		}
	}
	g, err := m.Guard(eastBlock, "east")
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
