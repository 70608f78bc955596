package bridgectl

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/internal/kerneltest"
	"github.com/qinqbridge/qinqbridge/internal/namespace"
	"github.com/qinqbridge/qinqbridge/internal/tcnl"
)

// The real Manager (observe, plan, apply, down) on the in-memory kernel.

// fakeManager is a Manager of a fresh in-memory namespace holding the NICs
// eth0 and eth1, with the real guard on the same namespace's tc.
func fakeManager(t *testing.T) (*Manager, *kerneltest.Kernel) {
	t.Helper()
	k := kerneltest.New()
	k.AddNIC("eth0", 9000)
	k.AddNIC("eth1", 1500)
	m, err := New(Options{StateDir: filepath.Join(t.TempDir(), "run")}, namespace.Current(), k.Links())
	if err != nil {
		t.Fatal(err)
	}
	m.OpenTC = func() (tcnl.TC, error) { return k.TC(), nil }
	m.Offloads = k.Offloads()
	t.Cleanup(m.Close)
	return m, k
}

const twoTranslations = `
[[translation]]
name = "vps-bm"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }

[[translation]]
name = "zone"
a = { parent = "eth0", vlan = 400 }
b = { parent = "eth1", vlan = 500 }
`

func parse(t *testing.T, text string) (*config.Config, []byte) {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, []byte(text)
}

// converged fails t unless the kernel is what cfg wants, nothing to do.
func converged(t *testing.T, m *Manager, cfg *config.Config) *View {
	t.Helper()
	v, err := m.Observe(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Plan.Empty() {
		var b strings.Builder
		v.Plan.Write(&b)
		t.Fatalf("not converged:\n%s", b.String())
	}
	return v
}

// snapshot is every link of k, rendered, by name.
func snapshot(t *testing.T, k *kerneltest.Kernel) map[string]string {
	t.Helper()
	links, err := k.Links().Dump(false)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range links {
		out[o.Name] = fmt.Sprintf("%+v", *o)
	}
	return out
}

func TestApplyConverges(t *testing.T) {
	m, k := fakeManager(t)
	cfg, raw := parse(t, twoTranslations)
	_, res, err := m.Apply(cfg, raw)
	if err != nil {
		t.Fatal(err)
	}
	if res != (plan.Result{Created: 7}) {
		t.Errorf("first apply: %v, want 7 created", res)
	}
	v := converged(t, m, cfg)
	for _, w := range v.Want {
		o := k.Link(w.Name)
		if o == nil || !o.Owned() || !o.Up || !o.AddrGenNone || o.Alias != w.Alias {
			t.Errorf("%s: %+v", w.Name, o)
			continue
		}
		if w.Master != "" && o.MasterIndex != k.Link(w.Master).Index {
			t.Errorf("%s: master #%d, want %s", w.Name, o.MasterIndex, w.Master)
		}
		if !o.OperUp {
			t.Errorf("%s: not oper-up over up NICs", w.Name)
		}
	}

	// A second apply plans nothing and sends nothing.
	log := len(k.Log)
	v, res, err = m.Apply(cfg, raw)
	if err != nil || !v.Plan.Empty() || res != (plan.Result{}) {
		t.Fatalf("second apply: %v, %v, plan empty %v", res, err, v.Plan.Empty())
	}
	if len(k.Log) != log {
		t.Errorf("second apply changed the kernel: %q", k.Log[log:])
	}
}

// An apply that fails at its n-th request, for every n, leaves a kernel a
// re-run converges, with every link in bridgectl's groups marked as ours.
func TestApplyInterruptedConverges(t *testing.T) {
	// How many requests a clean apply, then a change, send.
	m, k := fakeManager(t)
	cfg, raw := parse(t, twoTranslations)
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	total := len(k.Log)
	for n := 1; n <= total; n++ {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m, k := fakeManager(t)
			calls := 0
			k.Fail = func(op string) error {
				if op == "dump links" {
					return nil
				}
				if calls++; calls == n {
					return syscall.EINTR
				}
				return nil
			}
			if _, _, err := m.Apply(cfg, raw); !errors.Is(err, syscall.EINTR) {
				t.Fatalf("apply failing at request %d: %v", n, err)
			}
			k.Fail = nil
			for name, s := range snapshot(t, k) {
				if o := k.Link(name); o.InGroup() && !o.Marked() {
					t.Errorf("%s in our group without the mark: %s", name, s)
				}
			}
			if _, _, err := m.Apply(cfg, raw); err != nil {
				t.Fatalf("re-run: %v", err)
			}
			converged(t, m, cfg)
		})
	}
}

// Links bridgectl did not create are never changed or deleted, whatever
// group or alias they carry: not by apply, not by a change of
// configuration, not by down; down deletes every link of ours.
func TestForeignLinksUntouched(t *testing.T) {
	for _, tc := range []struct {
		name    string
		foreign plan.Observed
	}{
		{"an admin's vlan", plan.Observed{Name: "eth0.999", Kind: "vlan", ID: 999, Proto: config.Dot1Q, MTU: 1500}},
		{"in our group, no mark", plan.Observed{Name: "veth-admin", Kind: "veth", Group: defaults.OwnerGroup, Alias: "uplink", MTU: 1500}},
		{"in the doomed group", plan.Observed{Name: "dummy0", Kind: "dummy", Group: defaults.DoomedGroup, MTU: 1500}},
		{"marked, outside our groups", plan.Observed{Name: "br-old", Kind: "bridge", Alias: "qinqbridge old", MTU: 1500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, k := fakeManager(t)
			f := tc.foreign
			if f.Kind == "vlan" {
				f.ParentIndex = k.Link("eth0").Index
			}
			k.AddLink(f, false)
			before := snapshot(t, k)
			cfg, raw := parse(t, twoTranslations)
			if _, _, err := m.Apply(cfg, raw); err != nil {
				t.Fatal(err)
			}
			one, raw1 := parse(t, twoTranslations[:strings.Index(twoTranslations, "\n[[translation]]\nname = \"zone\"")])
			if _, res, err := m.Apply(one, raw1); err != nil || res.Deleted != 3 {
				t.Fatalf("apply of one translation: %v, %v", res, err)
			}
			converged(t, m, one)
			if got := snapshot(t, k)[f.Name]; got != before[f.Name] {
				t.Errorf("foreign link changed:\n%s\nwas\n%s", got, before[f.Name])
			}
			foreign, err := m.Down()
			if err != nil {
				t.Fatal(err)
			}
			if f.InGroup() && (len(foreign) != 1 || foreign[0].Link.Name != f.Name) {
				t.Errorf("down reports %v foreign, want %s", foreign, f.Name)
			}
			after := snapshot(t, k)
			names := slices.Sorted(func(yield func(string) bool) {
				for n := range after {
					if !yield(n) {
						return
					}
				}
			})
			if want := slices.Sorted(slices.Values([]string{"lo", "eth0", "eth1", f.Name})); !slices.Equal(names, want) {
				t.Errorf("after down: %q, want %q", names, want)
			}
			if after[f.Name] != before[f.Name] {
				t.Errorf("down changed the foreign link:\n%s\nwas\n%s", after[f.Name], before[f.Name])
			}
		})
	}
}
