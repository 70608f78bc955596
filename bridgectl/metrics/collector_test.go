package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/florianl/go-tc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/internal/kerneltest"
	"github.com/qinqbridge/qinqbridge/internal/namespace"
	"github.com/qinqbridge/qinqbridge/internal/tcnl"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// node is an in-memory namespace (internal/kerneltest) with the NICs eth0
// and eth1, a state directory and a configuration file: the real
// Collector scrapes it through the real Manager and guard.
type node struct {
	k     *kerneltest.Kernel
	state string
	path  string
}

func newNode(t *testing.T) *node {
	t.Helper()
	k := kerneltest.New()
	k.AddNIC("eth0", 9000)
	k.AddNIC("eth1", 1500)
	d := t.TempDir()
	return &node{k: k, state: filepath.Join(d, "run"), path: filepath.Join(d, "qinqbridge.toml")}
}

// open is what bridgectl.Open is to the metrics command: a Manager of the
// namespace, one per scrape.
func (n *node) open() (*bridgectl.Manager, error) {
	m, err := bridgectl.New(bridgectl.Options{StateDir: n.state}, namespace.Current(), n.k.Links())
	if err != nil {
		return nil, err
	}
	m.OpenTC = func() (tcnl.TC, error) { return n.k.TC(), nil }
	m.Offloads = n.k.Offloads()
	return m, nil
}

func (n *node) manager(t *testing.T) *bridgectl.Manager {
	t.Helper()
	m, err := n.open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// write stores text as the configuration file and returns its digest.
func (n *node) write(t *testing.T, text string) string {
	t.Helper()
	if err := os.WriteFile(n.path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(n.path, []byte(text))
	if err != nil {
		return "" // a broken file: no digest
	}
	return cfg.Digest()
}

// apply writes text as the file and applies it, as bridgectl apply does;
// wantErr says whether the apply must fail.
func (n *node) apply(t *testing.T, text string, wantErr bool) string {
	t.Helper()
	digest := n.write(t, text)
	cfg, raw, err := config.Load(n.path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.manager(t).Apply(cfg, raw); (err != nil) != wantErr {
		t.Fatalf("apply: %v, want an error: %v", err, wantErr)
	}
	return digest
}

// guard opens (unblock) or closes the guard, as tcguard does.
func (n *node) guard(t *testing.T, open bool) {
	t.Helper()
	g, err := n.manager(t).Guard(defaults.Block, "")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	op := g.Block
	if open {
		op = g.Unblock
	}
	if err := op(); err != nil {
		t.Fatal(err)
	}
}

// count sets a link's counters as the kernel would have counted frames.
func (n *node) count(name string, rx, rxBytes, tx, txBytes, rxDropped, txDropped uint64) {
	n.k.SetLink(name, func(o *plan.Observed) {
		o.RxPackets, o.RxBytes, o.TxPackets, o.TxBytes, o.RxDropped, o.TxDropped = rx, rxBytes, tx, txBytes, rxDropped, txDropped
	})
}

// filterFrames passes frames through the tc datapath's filter that takes
// stack in.
func (n *node) filterFrames(t *testing.T, in string, frames, bytes uint64) {
	t.Helper()
	block := tcguard.TrunkBlock(defaults.Block)
	objs, err := n.k.TC().Filters(tc.Msg{Ifindex: tc.MagicBlock, Parent: block})
	if err != nil {
		t.Fatal(err)
	}
	links, _ := n.k.Links().Dump(false)
	for _, f := range kernel.ObservedFilters(objs, plan.NewState(links), kernel.Gates{defaults.Block: tcguard.ActionIndex(defaults.Block)}) {
		if f.In.String() == in {
			n.k.FilterFrames(block, f.Prio, f.Handle, frames, bytes)
			return
		}
	}
	t.Fatalf("no filter takes %s", in)
}

// lacpPair passes LACP between twoTranslations' trunks.
const lacpPair = `
[[passthrough]]
a = "eth0"
b = "eth1"
protocols = ["lacp"]
`

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

// The metrics of one scrape, per state of the node. Each case lists the
// samples of the metrics it names; a metric named and not listed must be
// absent. Digests are written {file} and {applied}.
func TestCollector(t *testing.T) {
	translationMetrics := []string{"qinqbridge_translation_received_frames_total", "qinqbridge_translation_received_bytes_total",
		"qinqbridge_translation_frames_total", "qinqbridge_translation_bytes_total", "qinqbridge_translation_dropped_frames_total"}
	guardMetrics := []string{"qinqbridge_guard_info", "qinqbridge_guard_state", "qinqbridge_guard_dropped_frames_total",
		"qinqbridge_guard_ports_bound", "qinqbridge_guard_ports_expected", "qinqbridge_promotion_score"}
	configMetrics := []string{"qinqbridge_config_file_valid", "qinqbridge_config_drift", "qinqbridge_config_info",
		"qinqbridge_config_translations", "qinqbridge_last_apply_success"}
	cases := []struct {
		name string
		// setup brings the node into the state; it returns the digests
		// of the file and of the applied configuration.
		setup   func(t *testing.T, n *node) (file, applied string)
		metrics []string
		want    string
	}{
		{
			name: "bridge datapath open, frames counted on the ports",
			setup: func(t *testing.T, n *node) (string, string) {
				d := n.apply(t, twoTranslations, false)
				n.guard(t, true)
				// vps-bm a>b: 10 in on eth0.s100.200, 1 dropped there, 9
				// out on eth1.300, 2 more dropped sending; b>a: 4 and 4.
				n.count("eth0.s100.200", 10, 1000, 4, 440, 1, 0)
				n.count("eth1.300", 4, 400, 9, 900, 0, 2)
				return d, d
			},
			metrics: append(append(slices.Clone(translationMetrics), guardMetrics...), configMetrics...),
			want: `
qinqbridge_translation_received_frames_total{direction="a>b",translation="vps-bm"} 10
qinqbridge_translation_received_frames_total{direction="b>a",translation="vps-bm"} 4
qinqbridge_translation_received_frames_total{direction="a>b",translation="zone"} 0
qinqbridge_translation_received_frames_total{direction="b>a",translation="zone"} 0
qinqbridge_translation_received_bytes_total{direction="a>b",translation="vps-bm"} 1000
qinqbridge_translation_received_bytes_total{direction="b>a",translation="vps-bm"} 400
qinqbridge_translation_received_bytes_total{direction="a>b",translation="zone"} 0
qinqbridge_translation_received_bytes_total{direction="b>a",translation="zone"} 0
qinqbridge_translation_frames_total{direction="a>b",translation="vps-bm"} 9
qinqbridge_translation_frames_total{direction="b>a",translation="vps-bm"} 4
qinqbridge_translation_frames_total{direction="a>b",translation="zone"} 0
qinqbridge_translation_frames_total{direction="b>a",translation="zone"} 0
qinqbridge_translation_bytes_total{direction="a>b",translation="vps-bm"} 900
qinqbridge_translation_bytes_total{direction="b>a",translation="vps-bm"} 440
qinqbridge_translation_bytes_total{direction="a>b",translation="zone"} 0
qinqbridge_translation_bytes_total{direction="b>a",translation="zone"} 0
qinqbridge_translation_dropped_frames_total{direction="a>b",translation="vps-bm"} 3
qinqbridge_translation_dropped_frames_total{direction="b>a",translation="vps-bm"} 0
qinqbridge_translation_dropped_frames_total{direction="a>b",translation="zone"} 0
qinqbridge_translation_dropped_frames_total{direction="b>a",translation="zone"} 0
qinqbridge_guard_info{block="29026",group="default"} 1
qinqbridge_guard_state{group="default",state="blocked"} 0
qinqbridge_guard_state{group="default",state="open"} 1
qinqbridge_guard_state{group="default",state="interrupted"} 0
qinqbridge_guard_state{group="default",state="unguarded"} 0
qinqbridge_guard_dropped_frames_total{group="default"} 0
qinqbridge_guard_ports_bound{group="default"} 4
qinqbridge_guard_ports_expected{group="default"} 4
qinqbridge_promotion_score{group="default"} 100
qinqbridge_config_file_valid 1
qinqbridge_config_drift 0
qinqbridge_config_info{applied_digest="{applied}",file_digest="{file}"} 1
qinqbridge_config_translations 2
qinqbridge_last_apply_success 1
`,
		},
		{
			name: "bridge datapath blocked: the guard counts what it drops",
			setup: func(t *testing.T, n *node) (string, string) {
				d := n.apply(t, twoTranslations, false)
				n.k.Frames(defaults.Block, 7, 448)
				return d, d
			},
			metrics: []string{"qinqbridge_guard_state", "qinqbridge_guard_dropped_frames_total", "qinqbridge_config_drift"},
			want: `
qinqbridge_guard_state{group="default",state="blocked"} 1
qinqbridge_guard_state{group="default",state="open"} 0
qinqbridge_guard_state{group="default",state="interrupted"} 0
qinqbridge_guard_state{group="default",state="unguarded"} 0
qinqbridge_guard_dropped_frames_total{group="default"} 7
qinqbridge_config_drift 0
`,
		},
		{
			name: "nothing applied: drift, the lowest score, no apply recorded",
			setup: func(t *testing.T, n *node) (string, string) {
				return n.write(t, twoTranslations), ""
			},
			metrics: append([]string{"qinqbridge_guard_ports_expected", "qinqbridge_promotion_score", "qinqbridge_last_apply_timestamp_seconds"}, configMetrics...),
			want: `
qinqbridge_guard_ports_expected{group="default"} 0
qinqbridge_promotion_score{group="default"} 1
qinqbridge_config_file_valid 1
qinqbridge_config_drift 1
qinqbridge_config_info{applied_digest="",file_digest="{file}"} 1
qinqbridge_config_translations 2
`,
		},
		{
			name: "file edited, not applied: drift, two digests",
			setup: func(t *testing.T, n *node) (string, string) {
				applied := n.apply(t, twoTranslations, false)
				return n.write(t, strings.Replace(twoTranslations, "vlan = 500", "vlan = 501", 1)), applied
			},
			metrics: []string{"qinqbridge_config_drift", "qinqbridge_config_info", "qinqbridge_last_apply_success"},
			want: `
qinqbridge_config_drift 1
qinqbridge_config_info{applied_digest="{applied}",file_digest="{file}"} 1
qinqbridge_last_apply_success 1
`,
		},
		{
			name: "pass-through open: its slow-protocol frames per direction",
			setup: func(t *testing.T, n *node) (string, string) {
				d := n.apply(t, twoTranslations+lacpPair, false)
				n.guard(t, true)
				n.filterFrames(t, "eth0", 3, 372)
				return d, d
			},
			metrics: []string{"qinqbridge_passthrough_frames_total", "qinqbridge_passthrough_bytes_total", "qinqbridge_config_drift"},
			want: `
qinqbridge_passthrough_frames_total{group="default",in="eth0",out="eth1",protocol="lacp"} 3
qinqbridge_passthrough_frames_total{group="default",in="eth1",out="eth0",protocol="lacp"} 0
qinqbridge_passthrough_bytes_total{group="default",in="eth0",out="eth1",protocol="lacp"} 372
qinqbridge_passthrough_bytes_total{group="default",in="eth1",out="eth0",protocol="lacp"} 0
qinqbridge_config_drift 0
`,
		},
		{
			name: "no pass-through: no pass-through metrics",
			setup: func(t *testing.T, n *node) (string, string) {
				d := n.apply(t, twoTranslations, false)
				return d, d
			},
			metrics: []string{"qinqbridge_passthrough_frames_total", "qinqbridge_passthrough_bytes_total", "qinqbridge_config_drift"},
			want: `
qinqbridge_config_drift 0
`,
		},
		{
			name: "a bridge port deleted by hand: kernel drift, half the translations forward",
			setup: func(t *testing.T, n *node) (string, string) {
				d := n.apply(t, twoTranslations, false)
				n.k.DeleteLink("eth1.500")
				return d, d
			},
			metrics: []string{"qinqbridge_config_drift", "qinqbridge_guard_ports_bound", "qinqbridge_guard_ports_expected", "qinqbridge_promotion_score"},
			want: `
qinqbridge_config_drift 1
qinqbridge_guard_ports_bound{group="default"} 3
qinqbridge_guard_ports_expected{group="default"} 3
qinqbridge_promotion_score{group="default"} 50
`,
		},
		{
			name: "a port unbound from the guard: unguarded, drift",
			setup: func(t *testing.T, n *node) (string, string) {
				d := n.apply(t, twoTranslations, false)
				n.k.RemoveQdisc(n.k.Link("eth1.500").Index)
				return d, d
			},
			metrics: []string{"qinqbridge_config_drift", "qinqbridge_guard_state", "qinqbridge_guard_ports_bound", "qinqbridge_guard_ports_expected"},
			want: `
qinqbridge_config_drift 1
qinqbridge_guard_state{group="default",state="blocked"} 0
qinqbridge_guard_state{group="default",state="open"} 0
qinqbridge_guard_state{group="default",state="interrupted"} 0
qinqbridge_guard_state{group="default",state="unguarded"} 1
qinqbridge_guard_ports_bound{group="default"} 3
qinqbridge_guard_ports_expected{group="default"} 4
`,
		},
		{
			name: "the last apply failed on the way: the earlier one is recorded applied",
			setup: func(t *testing.T, n *node) (string, string) {
				applied := n.apply(t, twoTranslations, false)
				n.k.Fail = func(op string) error {
					if op == "create" {
						return syscall.ENOBUFS
					}
					return nil
				}
				return n.apply(t, strings.Replace(twoTranslations, "vlan = 500", "vlan = 501", 1), true), applied
			},
			metrics: []string{"qinqbridge_config_drift", "qinqbridge_config_info", "qinqbridge_last_apply_success"},
			want: `
qinqbridge_config_drift 1
qinqbridge_config_info{applied_digest="{applied}",file_digest="{file}"} 1
qinqbridge_last_apply_success 0
`,
		},
		{
			name: "an apply refused (a parent missing) is not an apply: nothing recorded",
			setup: func(t *testing.T, n *node) (string, string) {
				applied := n.apply(t, twoTranslations, false)
				return n.apply(t, strings.Replace(twoTranslations, `"eth1", vlan = 500`, `"eth2", vlan = 500`, 1), true), applied
			},
			metrics: []string{"qinqbridge_config_drift", "qinqbridge_config_info", "qinqbridge_last_apply_success"},
			want: `
qinqbridge_config_drift 1
qinqbridge_config_info{applied_digest="{applied}",file_digest="{file}"} 1
qinqbridge_last_apply_success 1
`,
		},
		{
			name: "file broken: the counters follow the applied configuration",
			setup: func(t *testing.T, n *node) (string, string) {
				applied := n.apply(t, twoTranslations, false)
				n.count("eth1.500", 3, 300, 0, 0, 0, 0)
				return n.write(t, twoTranslations+"[[translation]\n"), applied
			},
			metrics: []string{"qinqbridge_config_file_valid", "qinqbridge_config_drift", "qinqbridge_config_info", "qinqbridge_config_translations",
				"qinqbridge_translation_received_frames_total"},
			want: `
qinqbridge_config_file_valid 0
qinqbridge_config_drift 1
qinqbridge_config_info{applied_digest="{applied}",file_digest=""} 1
qinqbridge_config_translations 2
qinqbridge_translation_received_frames_total{direction="a>b",translation="vps-bm"} 0
qinqbridge_translation_received_frames_total{direction="b>a",translation="vps-bm"} 0
qinqbridge_translation_received_frames_total{direction="a>b",translation="zone"} 0
qinqbridge_translation_received_frames_total{direction="b>a",translation="zone"} 3
`,
		},
		{
			name: "tc datapath: the filters count, the guard drops while blocked",
			setup: func(t *testing.T, n *node) (string, string) {
				d := n.apply(t, "datapath = \"tc\"\n"+twoTranslations, false)
				n.filterFrames(t, "eth0 802.1ad:100 802.1Q:200", 10, 600) // blocked: dropped
				n.guard(t, true)
				n.filterFrames(t, "eth0 802.1ad:100 802.1Q:200", 5, 300)
				n.filterFrames(t, "eth1 802.1Q:500", 2, 100)
				return d, d
			},
			metrics: append(append(slices.Clone(translationMetrics), "qinqbridge_guard_state", "qinqbridge_guard_dropped_frames_total",
				"qinqbridge_guard_ports_bound", "qinqbridge_guard_ports_expected", "qinqbridge_promotion_score"), "qinqbridge_config_drift"),
			want: `
qinqbridge_translation_received_frames_total{direction="a>b",translation="vps-bm"} 15
qinqbridge_translation_received_frames_total{direction="b>a",translation="vps-bm"} 0
qinqbridge_translation_received_frames_total{direction="a>b",translation="zone"} 0
qinqbridge_translation_received_frames_total{direction="b>a",translation="zone"} 2
qinqbridge_translation_received_bytes_total{direction="a>b",translation="vps-bm"} 900
qinqbridge_translation_received_bytes_total{direction="b>a",translation="vps-bm"} 0
qinqbridge_translation_received_bytes_total{direction="a>b",translation="zone"} 0
qinqbridge_translation_received_bytes_total{direction="b>a",translation="zone"} 100
qinqbridge_translation_frames_total{direction="a>b",translation="vps-bm"} 5
qinqbridge_translation_frames_total{direction="b>a",translation="vps-bm"} 0
qinqbridge_translation_frames_total{direction="a>b",translation="zone"} 0
qinqbridge_translation_frames_total{direction="b>a",translation="zone"} 2
qinqbridge_translation_bytes_total{direction="a>b",translation="vps-bm"} 300
qinqbridge_translation_bytes_total{direction="b>a",translation="vps-bm"} 0
qinqbridge_translation_bytes_total{direction="a>b",translation="zone"} 0
qinqbridge_translation_bytes_total{direction="b>a",translation="zone"} 100
qinqbridge_translation_dropped_frames_total{direction="a>b",translation="vps-bm"} 10
qinqbridge_translation_dropped_frames_total{direction="b>a",translation="vps-bm"} 0
qinqbridge_translation_dropped_frames_total{direction="a>b",translation="zone"} 0
qinqbridge_translation_dropped_frames_total{direction="b>a",translation="zone"} 0
qinqbridge_guard_state{group="default",state="blocked"} 0
qinqbridge_guard_state{group="default",state="open"} 1
qinqbridge_guard_state{group="default",state="interrupted"} 0
qinqbridge_guard_state{group="default",state="unguarded"} 0
qinqbridge_guard_dropped_frames_total{group="default"} 10
qinqbridge_guard_ports_bound{group="default"} 2
qinqbridge_guard_ports_expected{group="default"} 2
qinqbridge_promotion_score{group="default"} 100
qinqbridge_config_drift 0
`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := newNode(t)
			file, applied := c.setup(t, n)
			want := strings.NewReplacer("{file}", file, "{applied}", applied).Replace(c.want)
			compare(t, NewCollector(n.path, n.open), want, c.metrics)
		})
	}
}

// compare checks the samples of the named metrics with
// testutil.CollectAndCompare. want holds sample lines only; the TYPE lines
// follow the naming convention (a _total is a counter, the rest gauges),
// the HELP lines are the collector's own.
func compare(t *testing.T, c prometheus.Collector, want string, names []string) {
	t.Helper()
	help := map[string]string{}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		help[mf.GetName()] = mf.GetHelp()
	}
	samples := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(want), "\n") {
		name, _, _ := strings.Cut(l, "{")
		name, _, _ = strings.Cut(name, " ")
		samples[name] = append(samples[name], l)
	}
	var b strings.Builder
	for _, name := range names {
		if len(samples[name]) == 0 {
			continue // must be absent
		}
		typ := "gauge"
		if strings.HasSuffix(name, "_total") {
			typ = "counter"
		}
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s\n", name, help[name], name, typ, strings.Join(samples[name], "\n"))
	}
	for name := range samples {
		if !slices.Contains(names, name) {
			t.Fatalf("the case lists %s but does not name it", name)
		}
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(b.String()), names...); err != nil {
		t.Error(err)
	}
}

// Every metric follows Prometheus' naming conventions (promlint).
func TestCollectorLint(t *testing.T) {
	n := newNode(t)
	n.apply(t, twoTranslations, false)
	problems, err := testutil.CollectAndLint(NewCollector(n.path, n.open))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// The last apply's time is when it ended.
func TestCollectorLastApplyTime(t *testing.T) {
	n := newNode(t)
	before := time.Now()
	n.apply(t, twoTranslations, false)
	after := time.Now()
	got := value(t, NewCollector(n.path, n.open), "qinqbridge_last_apply_timestamp_seconds")
	if at := time.Unix(0, int64(got*1e9)); at.Before(before.Add(-time.Millisecond)) || at.After(after.Add(time.Millisecond)) {
		t.Fatalf("last apply at %v, applied between %v and %v", at, before, after)
	}
}

// value is the value of the one sample of a metric.
func value(t *testing.T, c prometheus.Collector, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single sample of %s", name)
	return 0
}

// A namespace that cannot be read, or a file that cannot be used with
// nothing applied to fall back on, fails the scrape.
func TestCollectorFails(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, n *node)
	}{
		{"file missing, nothing applied", func(t *testing.T, n *node) {}},
		{"links unreadable", func(t *testing.T, n *node) {
			n.write(t, twoTranslations)
			n.k.Fail = func(op string) error {
				if op == "dump links" {
					return fmt.Errorf("injected")
				}
				return nil
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := newNode(t)
			c.setup(t, n)
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(NewCollector(n.path, n.open))
			if _, err := reg.Gather(); err == nil {
				t.Fatal("the scrape succeeded")
			}
		})
	}
}

// A scrape takes no lock: it succeeds while an apply (or an agent's
// action) holds the namespace's lock, instead of waiting for it.
func TestCollectorWhileLocked(t *testing.T) {
	n := newNode(t)
	n.apply(t, twoTranslations, false)
	unlock, err := n.manager(t).Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(n.path, n.open))
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("scrape while locked: %v", err)
	}
}
