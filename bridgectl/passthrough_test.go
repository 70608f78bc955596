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

const lacpPair = `
[[passthrough]]
a = "eth0"
b = "eth1"
protocols = ["lacp"]
`

var passFilters = []string{"eth0 -> eth1 (lacp)", "eth1 -> eth0 (lacp)"}

// passOnly is filters without the translation filters.
func passOnly(fs []string) []string {
	return slices.DeleteFunc(slices.Clone(fs), func(f string) bool { return !strings.HasSuffix(f, "(lacp)") })
}

// In both datapaths a pass-through is two flower filters in the trunk
// block, gated by the guard's action, the trunks bound to that block and
// promiscuous; a re-apply does nothing; dropping the pair from the file
// removes them and puts the trunks back; down leaves nothing.
func TestPassthroughApply(t *testing.T) {
	for _, c := range []struct {
		datapath  string
		filters   int // translation filters
		gateBinds int // the guard's action: guard filters or translation filters, and the two pass-throughs
	}{
		{"bridge", 0, 2 + 2},
		{"tc", 4, 4 + 2},
	} {
		t.Run(c.datapath, func(t *testing.T) {
			m, k := fakeManager(t)
			k.SetFeatures("eth0", map[string]plan.Feature{"rx-vlan-filter": {On: true}})
			base := "datapath = \"" + c.datapath + "\"\n" + twoTranslations
			cfg, raw := parse(t, base+lacpPair)
			v, err := m.Observe(cfg, true)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			v.Plan.Write(&b)
			for _, line := range []string{"+ passthrough eth0 -> eth1 (lacp)\n", "+ passthrough eth1 -> eth0 (lacp)\n", "~ trunk eth0: promisc off -> on\n"} {
				if !strings.Contains(b.String(), line) {
					t.Errorf("plan lacks %q:\n%s", line, b.String())
				}
			}
			if _, _, err := m.Apply(cfg, raw); err != nil {
				t.Fatal(err)
			}
			got := filters(t, k)
			if len(got) != c.filters+2 || !slices.Equal(passOnly(got), passFilters) {
				t.Fatalf("filters %q", got)
			}
			for _, trunk := range []string{"eth0", "eth1"} {
				if q, _ := k.Ingress(k.Link(trunk).Index); q.IngressBlock == nil || *q.IngressBlock != trunkBlock || q.EgressBlock != nil {
					t.Fatalf("%s: ingress qdisc %+v", trunk, q)
				}
				if !k.Link(trunk).Promisc {
					t.Errorf("%s: not promiscuous", trunk)
				}
			}
			// The bridge datapath leaves the VLAN filter offload alone:
			// its VLAN devices register their VIDs.
			if off := !k.Features("eth0")["rx-vlan-filter"].On; off != (c.datapath == "tc") {
				t.Errorf("rx-vlan-filter off: %v", off)
			}
			if verdict, binds, ok := k.Gact(tcguard.ActionIndex(defaults.Block)); !ok || verdict != tc.ActShot || binds != c.gateBinds {
				t.Fatalf("guard action: verdict %d, %d binds (%v), want dropping, %d", verdict, binds, ok, c.gateBinds)
			}
			v = converged(t, m, cfg)

			// Blocked: the guard's action drops what the pass-throughs take.
			for _, f := range v.Filters {
				if f.Pass != "" {
					k.FilterFrames(trunkBlock, f.Prio, f.Handle, 3, 372)
				}
			}
			r, err := m.Status(cfg, raw)
			if err != nil {
				t.Fatal(err)
			}
			if r.Guard.State != "blocked" || r.Guard.DroppedPackets != 6 {
				t.Fatalf("guard status %+v", r.Guard)
			}

			// The pair leaves the file: its filters go, the trunks are
			// put back (and unbound, unless the tc datapath uses them).
			cfg2, raw2 := parse(t, base)
			if _, _, err := m.Apply(cfg2, raw2); err != nil {
				t.Fatal(err)
			}
			converged(t, m, cfg2)
			if got := filters(t, k); len(got) != c.filters || len(passOnly(got)) != 0 {
				t.Fatalf("after dropping the pair: filters %q", got)
			}
			if c.datapath == "bridge" {
				for _, trunk := range []string{"eth0", "eth1"} {
					if q, ok := k.Ingress(k.Link(trunk).Index); ok {
						t.Fatalf("%s keeps %+v", trunk, q)
					}
					if k.Link(trunk).Promisc {
						t.Errorf("%s: promisc left on", trunk)
					}
				}
			}

			if _, _, err := m.Apply(cfg, raw); err != nil {
				t.Fatal(err)
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
				if k.Link(trunk).Promisc {
					t.Errorf("after down: %s promiscuous", trunk)
				}
			}
			if _, _, ok := k.Gact(tcguard.ActionIndex(defaults.Block)); ok {
				t.Fatal("after down: the guard's action is left")
			}
		})
	}
}

// Unblocking the guard opens the pass-throughs with the translations: one
// action, no filter touched.
func TestPassthroughFollowsGuard(t *testing.T) {
	for _, datapath := range []string{"bridge", "tc"} {
		t.Run(datapath, func(t *testing.T) {
			m, k := fakeManager(t)
			cfg, raw := parse(t, "datapath = \""+datapath+"\"\n"+twoTranslations+lacpPair)
			if _, _, err := m.Apply(cfg, raw); err != nil {
				t.Fatal(err)
			}
			g, err := m.GroupGuard(cfg, "")
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			k.Log = nil
			if err := g.Unblock(); err != nil {
				t.Fatal(err)
			}
			if slices.ContainsFunc(k.Log, func(l string) bool { return strings.HasPrefix(l, "filter") }) {
				t.Errorf("unblock touched filters: %q", k.Log)
			}
			if verdict, _, _ := k.Gact(tcguard.ActionIndex(defaults.Block)); verdict != tc.ActPipe {
				t.Fatalf("verdict %d after unblock", verdict)
			}
			v := converged(t, m, cfg)
			for _, f := range v.Filters {
				if f.Pass != "" {
					k.FilterFrames(trunkBlock, f.Prio, f.Handle, 2, 248)
				}
			}
			for _, f := range converged(t, m, cfg).Filters {
				if f.Pass != "" && f.Forwarded != 2 {
					t.Errorf("%s: forwarded %d of 2", f, f.Forwarded)
				}
			}
			r, err := m.Status(cfg, raw)
			if err != nil {
				t.Fatal(err)
			}
			want := []PassthroughStatus{
				{In: "eth0", Out: "eth1", Protocol: "lacp", Group: "default", Present: true, Forwarded: 2, Bytes: 248},
				{In: "eth1", Out: "eth0", Protocol: "lacp", Group: "default", Present: true, Forwarded: 2, Bytes: 248},
			}
			if !slices.Equal(r.Passthroughs, want) {
				t.Fatalf("status: passthroughs %+v, want %+v", r.Passthroughs, want)
			}
		})
	}
}

// A pass-through filter changed or removed behind bridgectl's back is
// drift: check reports it, apply puts it back.
func TestPassthroughDrift(t *testing.T) {
	m, k := fakeManager(t)
	cfg, raw := parse(t, twoTranslations+lacpPair)
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	v := converged(t, m, cfg)
	var gone plan.Filter
	for _, f := range v.Filters {
		if f.Pass != "" {
			gone = f
		}
	}
	if !k.RemoveFilter(trunkBlock, gone.Prio, gone.Handle) {
		t.Fatal("no pass-through filter to remove")
	}
	v, err := m.Observe(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	v.Plan.WriteDrift(&b)
	if want := "passthrough " + gone.Key() + ": exists: have absent, want -> " + gone.Out.Parent + "\n"; b.String() != want {
		t.Fatalf("drift %q, want %q", b.String(), want)
	}
	// Somebody else's match at our priority: replaced by ours.
	bad := kernel.FilterObject(gone, trunkBlock, tcguard.ActionIndex(defaults.Block), k.Link(gone.Out.Parent).Index)
	*bad.Flower.KeyEthDst = append((*bad.Flower.KeyEthDst)[:5:5], 0x0e) // LLDP's address
	k.PlantFilter(trunkBlock, *bad)
	v, err = m.Observe(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Plan.Filters) != 1 || v.Plan.Filters[0].Op != plan.Modify {
		t.Fatalf("plan %+v", v.Plan.Filters)
	}
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	converged(t, m, cfg)
	if got := passOnly(filters(t, k)); !slices.Equal(got, passFilters) {
		t.Fatalf("filters %q", got)
	}
}

// A pass-through of a group is gated by that group's guard: the default
// guard opening does not pass it.
func TestPassthroughGroup(t *testing.T) {
	m, k := fakeManager(t)
	grouped := "[[group]]\nname = \"east\"\nblock = 5000\n" +
		strings.ReplaceAll(twoTranslations, "[[translation]]\n", "[[translation]]\ngroup = \"east\"\n") +
		lacpPair + "group = \"east\"\n"
	cfg, raw := parse(t, grouped)
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	v := converged(t, m, cfg)
	n := 0
	for _, f := range v.Filters {
		if f.Pass != "" {
			n++
			if f.Guard != 5000 {
				t.Errorf("%s: gated by block %d, want 5000", f, f.Guard)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d pass-through filters", n)
	}
	if _, binds, ok := k.Gact(tcguard.ActionIndex(5000)); !ok || binds != 4 {
		t.Fatalf("east's action: %d binds (%v)", binds, ok)
	}
}

// The bridge datapath binds a pass-through's trunks as the tc datapath
// does: a trunk with somebody else's ingress qdisc is refused by name,
// before anything changes.
func TestPassthroughForeignTrunk(t *testing.T) {
	m, k := fakeManager(t)
	k.PlantQdisc(kerneltest.IngressQdisc(k.Link("eth1").Index, "ingress", 0))
	cfg, raw := parse(t, twoTranslations+lacpPair)
	k.Log = nil
	_, _, err := m.Apply(cfg, raw)
	if !errors.Is(err, tcguard.ErrForeign) || !strings.Contains(err.Error(), "trunk eth1") {
		t.Fatalf("apply: %v", err)
	}
	if len(k.Log) != 0 {
		t.Fatalf("changed %q", k.Log)
	}
}

// An apply killed after the trunks are bound and before the filters (a
// refused filter request stands for the kill) leaves nothing that passes
// a frame; the next apply converges.
func TestPassthroughInterrupted(t *testing.T) {
	m, k := fakeManager(t)
	cfg, raw := parse(t, twoTranslations)
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	cfg, raw = parse(t, twoTranslations+lacpPair)
	k.Fail = func(op string) error {
		if op == "add filter" {
			return errors.New("killed")
		}
		return nil
	}
	if _, _, err := m.Apply(cfg, raw); err == nil {
		t.Fatal("apply went through a refused filter request")
	}
	if got := passOnly(filters(t, k)); len(got) != 0 {
		t.Fatalf("filters %q", got)
	}
	k.Fail = nil
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	converged(t, m, cfg)
}
