package bridgectl

import (
	"fmt"
	"strings"
	"testing"

	"github.com/florianl/go-tc"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/kerneltest"
	"github.com/qinqbridge/qinqbridge/internal/tcnl"
)

// Status's drift is check's verdict plus the applied record: in sync only
// when the file is what is applied and the kernel what the file wants; the
// reason names the first difference.
func TestStatusDrift(t *testing.T) {
	edited := strings.Replace(twoTranslations, "vlan = 500", "vlan = 501", 1)
	missing := strings.Replace(twoTranslations, `"eth1", vlan = 500`, `"eth2", vlan = 500`, 1)
	for _, c := range []struct {
		name    string
		applied string // "" nothing applied
		file    string
		change  func(m *Manager, k *kerneltest.Kernel)
		reason  string // "" in sync; else the reason's start
	}{
		{"in sync", twoTranslations, twoTranslations, nil, ""},
		{"nothing applied", "", twoTranslations, nil, "nothing applied"},
		{"file edited", twoTranslations, edited, nil, "the file is not the applied configuration"},
		{"link deleted", twoTranslations, twoTranslations, func(m *Manager, k *kerneltest.Kernel) { k.DeleteLink("eth1.500") }, "the kernel differs from the file: 1 links"},
		{"link changed", twoTranslations, twoTranslations, func(m *Manager, k *kerneltest.Kernel) {
			k.SetLink("eth1.500", func(o *plan.Observed) { o.MTU = 1400 })
		}, "the kernel differs from the file: 1 links"},
		{"filter of the tc datapath left", "datapath = \"tc\"\n" + twoTranslations, twoTranslations, func(m *Manager, k *kerneltest.Kernel) {
			// Records the bridge file as applied with the filters left:
			// only the kernel differs.
			cfg, raw := parse(t, twoTranslations)
			if err := m.Record(cfg, raw); err != nil {
				t.Fatal(err)
			}
		}, "the kernel differs from the file: "},
		{"parent missing", twoTranslations, missing, func(m *Manager, k *kerneltest.Kernel) {
			cfg, raw := parse(t, missing)
			if err := m.Record(cfg, raw); err != nil {
				t.Fatal(err)
			}
		}, "check: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, k := fakeManager(t)
			if c.applied != "" {
				cfg, raw := parse(t, c.applied)
				if _, _, err := m.Apply(cfg, raw); err != nil {
					t.Fatal(err)
				}
			}
			if c.change != nil {
				c.change(m, k)
			}
			cfg, raw := parse(t, c.file)
			r, err := m.Status(cfg, raw)
			if err != nil {
				t.Fatal(err)
			}
			got := r.Config
			if got.Drift != (c.reason != "") || !strings.HasPrefix(got.DriftReason, c.reason) || (c.reason == "") != (got.DriftReason == "") {
				t.Fatalf("drift %v %q, want reason %q", got.Drift, got.DriftReason, c.reason)
			}
			if got.Digest != cfg.Digest() || got.Translations != 2 {
				t.Fatalf("config status %+v", got)
			}
		})
	}
}

// countingTC counts the filter dumps of each block.
type countingTC struct {
	tcnl.TC
	dumps map[uint32]int
}

func (c countingTC) Filters(m tc.Msg) ([]tc.Object, error) {
	c.dumps[m.Parent]++
	return c.TC.Filters(m)
}

// Status dumps the tc datapath's block once, although the guard and the
// translations' counters both read it: at 4094 translations that dump is
// most of a status.
func TestStatusDumpsFiltersOnce(t *testing.T) {
	m, k := fakeManager(t)
	cfg, raw := parse(t, tcTranslations)
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	c := countingTC{TC: k.TC(), dumps: map[uint32]int{}}
	m.OpenTC = func() (tcnl.TC, error) { return c, nil }
	r, err := m.Status(cfg, raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.dumps[trunkBlock] != 1 || r.Config.Drift || len(r.Translations[0].Filters) != 2 || !r.Translations[0].Filters[0].Present {
		t.Fatalf("%d dumps of the trunk block; report %+v", c.dumps[trunkBlock], r)
	}
}

// Status dumps the qdiscs once, whatever the number of groups whose guards
// it reads (each guard reads its ports' bindings from them).
func TestStatusDumpsQdiscsOnce(t *testing.T) {
	for _, datapath := range []string{"bridge", "tc"} {
		t.Run(datapath, func(t *testing.T) {
			m, k := fakeManager(t)
			cfg, raw := parse(t, fmt.Sprintf("datapath = %q\n", datapath)+twoGroups)
			if _, _, err := m.Apply(cfg, raw); err != nil {
				t.Fatal(err)
			}
			dumps := 0
			k.Fail = func(op string) error {
				if op == "dump qdiscs" {
					dumps++
				}
				return nil
			}
			r, err := m.Status(cfg, raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Groups) != 2 || dumps != 1 {
				t.Fatalf("%d groups read with %d qdisc dumps, want 2 with 1", len(r.Groups), dumps)
			}
		})
	}
}
