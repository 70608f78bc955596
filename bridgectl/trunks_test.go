package bridgectl

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/kerneltest"
)

// trunkState is what a trunk's settings are, as a test compares them.
type trunkState struct {
	promisc  bool
	features map[string]plan.Feature
}

func trunkOf(k *kerneltest.Kernel, name string) trunkState {
	return trunkState{k.Link(name).Promisc, k.Features(name)}
}

func (s trunkState) equal(o trunkState) bool {
	return s.promisc == o.promisc && maps.Equal(s.features, o.features)
}

func planText(t *testing.T, m *Manager, text string) string {
	t.Helper()
	cfg, _ := parse(t, text)
	v, err := m.Observe(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	v.Plan.Write(&b)
	return b.String()
}

// The tc datapath makes its trunks promiscuous and turns their VLAN
// filtering offload off, named in the plan; a fixed feature is a warning;
// what an operator set stays; check sees a setting undone by hand; down and
// a switch to the bridge datapath put back only what bridgectl changed.
func TestTCDatapathTrunkSettings(t *testing.T) {
	on, off, fixedOn := plan.Feature{On: true}, plan.Feature{}, plan.Feature{On: true, Fixed: true}
	m, k := fakeManager(t)
	k.SetFeatures("eth0", map[string]plan.Feature{"rx-vlan-filter": on, "rx-vlan-stag-filter": fixedOn})
	k.SetFeatures("eth1", map[string]plan.Feature{"rx-vlan-filter": off})
	k.SetLink("eth1", func(o *plan.Observed) { o.Promisc = true }) // the operator's
	before := map[string]trunkState{"eth0": trunkOf(k, "eth0"), "eth1": trunkOf(k, "eth1")}

	p := planText(t, m, tcTranslations)
	for _, line := range []string{
		"~ trunk eth0: promisc off -> on\n",
		"~ trunk eth0: rx-vlan-filter on -> off\n",
		"! trunk eth0: rx-vlan-stag-filter is on and the device cannot change it",
		"trunk settings: 2 to change",
	} {
		if !strings.Contains(p, line) {
			t.Errorf("plan lacks %q:\n%s", line, p)
		}
	}
	if strings.Contains(p, "trunk eth1: promisc") {
		t.Errorf("plan changes eth1's promisc, which the operator set:\n%s", p)
	}
	cfg, raw := parse(t, tcTranslations)
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	want0 := trunkState{true, map[string]plan.Feature{"rx-vlan-filter": off, "rx-vlan-stag-filter": fixedOn}}
	if got := trunkOf(k, "eth0"); !got.equal(want0) {
		t.Fatalf("eth0 after apply %+v, want %+v", got, want0)
	}
	if got := trunkOf(k, "eth1"); !got.equal(before["eth1"]) {
		t.Fatalf("eth1 after apply %+v, want as it was", got)
	}
	converged(t, m, cfg)

	// Undone by hand: drift, and apply sets it again.
	k.SetLink("eth0", func(o *plan.Observed) { o.Promisc = false })
	v, err := m.Observe(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	var d strings.Builder
	v.Plan.WriteDrift(&d)
	if !strings.Contains(d.String(), "trunk eth0: promisc: have off, want on\n") {
		t.Fatalf("drift:\n%s", d.String())
	}
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	converged(t, m, cfg)

	// To the bridge datapath: the trunks are bridge parents, no longer
	// the tc datapath's; what bridgectl changed goes back.
	bcfg, braw := parse(t, twoTranslations)
	if p := planText(t, m, twoTranslations); !strings.Contains(p, "~ trunk eth0: promisc on -> off (restored") {
		t.Errorf("switch plan:\n%s", p)
	}
	if _, _, err := m.Apply(bcfg, braw); err != nil {
		t.Fatal(err)
	}
	for name, want := range before {
		if got := trunkOf(k, name); !got.equal(want) {
			t.Errorf("%s after the switch %+v, want %+v", name, got, want)
		}
	}
	converged(t, m, bcfg)

	// Back to tc, then down.
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Down(); err != nil {
		t.Fatal(err)
	}
	for name, want := range before {
		if got := trunkOf(k, name); !got.equal(want) {
			t.Errorf("%s after down %+v, want %+v", name, got, want)
		}
	}
	if ok, _ := m.dir.Exists(changedFile); ok {
		t.Error("the record outlives down")
	}
}

// An apply cut short after a setting changed (the next one refused, as a
// kill would leave it) leaves the record of it: down puts it back, and
// apply again converges.
func TestTCDatapathTrunkSettingsInterrupted(t *testing.T) {
	m, k := fakeManager(t)
	k.SetFeatures("eth0", map[string]plan.Feature{"rx-vlan-filter": {On: true}})
	cfg, raw := parse(t, tcTranslations)
	k.Fail = func(op string) error {
		if op == "ethtool set" {
			return errors.New("killed")
		}
		return nil
	}
	if _, _, err := m.Apply(cfg, raw); err == nil {
		t.Fatal("apply went through a refused ethtool request")
	}
	if !k.Link("eth0").Promisc || !k.Features("eth0")["rx-vlan-filter"].On {
		t.Fatalf("want promisc set and the offload still on: %+v", trunkOf(k, "eth0"))
	}
	k.Fail = nil
	if _, err := m.Down(); err != nil {
		t.Fatal(err)
	}
	if k.Link("eth0").Promisc || k.Link("eth1").Promisc {
		t.Fatal("down left promisc on")
	}
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	converged(t, m, cfg)
	if !k.Link("eth0").Promisc || k.Features("eth0")["rx-vlan-filter"].On {
		t.Fatalf("after apply: %+v", trunkOf(k, "eth0"))
	}
}
