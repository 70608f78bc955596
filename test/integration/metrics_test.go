//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// bridgectl metrics against the kernel, in both datapaths: scraped while
// counted frames cross translations (everyKind's), the counters of each
// translation and direction grow by exactly the frames sent — blocked, the
// guard's drop counter by the frames it dropped —; bridgectl status --json
// and tcguard status --json carry the same values; and promtool check
// metrics accepts the scrape.
func TestMetricsFrames(t *testing.T) {
	for _, dp := range []string{"bridge", "tc"} {
		t.Run(dp, func(t *testing.T) { metricsFrames(t, dp) })
	}
}

func metricsFrames(t *testing.T, datapath string) {
	e := newBCEnv(t)
	e.ns.Veth(t, "w0", "w0p")
	text := everyKind + fmt.Sprintf(bulkRange, 10, 2010)
	if datapath == "tc" {
		text = "datapath = \"tc\"\n" + text
		// The QinQ trunk carries what the 802.1Q ones send, with its S-tag.
		for _, l := range []string{"q0", "q0p"} {
			if err := e.ns.Link.LinkSetMTU(e.link(t, l), 1504); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := e.write(t, datapath+".toml", text)
	e.downAtCleanup(t)
	e.bridgectl(t, 0, "apply", "-c", cfg)
	if datapath == "bridge" {
		e.waitOperUp(t, []string{"q0.s100.200", "v0.300", "v0.100", "w0.200"})
	}
	m := e.startMetrics(t, cfg)
	q, v, w := e.wire(t, "q0p"), e.wire(t, "v0p"), e.wire(t, "w0p")

	// Blocked: frames into vps-bm are received and dropped by the guard.
	s0 := m.scrape(t)
	if s0.get(t, "qinqbridge_guard_state", "state", "blocked") != 1 || s0.get(t, "qinqbridge_config_drift") != 0 {
		t.Fatalf("after apply: not blocked, or drift:\n%s", s0.text)
	}
	for range 4 {
		q.send(t, qinq(100, 200))
	}
	var s1 *scraped
	guardWait(t, "the guard drops the 4 frames", func() bool {
		s1 = m.scrape(t)
		return s1.get(t, "qinqbridge_guard_dropped_frames_total")-s0.get(t, "qinqbridge_guard_dropped_frames_total") >= 4
	})
	dropped := 0.0
	if datapath == "tc" {
		dropped = 4 // the filter counts what the guard's action dropped
	}
	growth(t, s0, s1, map[string]float64{
		"qinqbridge_guard_dropped_frames_total":                   4,
		"qinqbridge_translation_received_frames_total vps-bm a>b": 4,
		"qinqbridge_translation_frames_total vps-bm a>b":          0,
		"qinqbridge_translation_dropped_frames_total vps-bm a>b":  dropped,
	})

	// Open: counted frames cross vps-bm both ways and zones one way.
	e.guard(t, "unblock", cfg)
	s2 := m.scrape(t)
	bytesBefore := e.portBytes(t, datapath)
	for range 5 {
		cross(t, q, qinq(100, 200), v, dot1q(300))
	}
	for range 3 {
		cross(t, v, dot1q(300), q, qinq(100, 200))
	}
	for range 2 {
		cross(t, v, dot1q(100), w, dot1q(200))
	}
	s3 := m.scrape(t)
	bytesAfter := e.portBytes(t, datapath)
	growth(t, s2, s3, map[string]float64{
		"qinqbridge_guard_dropped_frames_total":                        0,
		"qinqbridge_translation_received_frames_total vps-bm a>b":      5,
		"qinqbridge_translation_frames_total vps-bm a>b":               5,
		"qinqbridge_translation_dropped_frames_total vps-bm a>b":       0,
		"qinqbridge_translation_received_frames_total vps-bm b>a":      3,
		"qinqbridge_translation_frames_total vps-bm b>a":               3,
		"qinqbridge_translation_dropped_frames_total vps-bm b>a":       0,
		"qinqbridge_translation_received_frames_total zones a>b":       2,
		"qinqbridge_translation_frames_total zones a>b":                2,
		"qinqbridge_translation_received_frames_total zones b>a":       0,
		"qinqbridge_translation_frames_total zones b>a":                0,
		"qinqbridge_translation_received_frames_total dot1q-outer a>b": 0,
		"qinqbridge_translation_frames_total qinq-qinq b>a":            0,
		"qinqbridge_translation_frames_total bulk.10 a>b":              0,
	})
	// Bytes: in the bridge datapath the ports' own counters, read by the
	// test; in the tc datapath tc counts a frame's length as ingress saw
	// it, the same before and after the rewrite.
	for _, d := range []struct{ dir, in, out string }{{"a>b", "q0.s100.200", "v0.300"}, {"b>a", "v0.300", "q0.s100.200"}} {
		rx := s3.get(t, "qinqbridge_translation_received_bytes_total", "translation", "vps-bm", "direction", d.dir) -
			s2.get(t, "qinqbridge_translation_received_bytes_total", "translation", "vps-bm", "direction", d.dir)
		tx := s3.get(t, "qinqbridge_translation_bytes_total", "translation", "vps-bm", "direction", d.dir) -
			s2.get(t, "qinqbridge_translation_bytes_total", "translation", "vps-bm", "direction", d.dir)
		want := [2]float64{float64(bytesAfter[d.in][0] - bytesBefore[d.in][0]), float64(bytesAfter[d.out][1] - bytesBefore[d.out][1])}
		if datapath == "tc" {
			want = [2]float64{tx, tx}
		}
		if rx <= 0 || [2]float64{rx, tx} != want {
			t.Errorf("vps-bm %s bytes: received %v, sent %v; want %v", d.dir, rx, tx, want)
		}
	}

	// The CLIs' JSON carries the same values (nothing crossed since).
	var st struct {
		Config struct {
			Drift bool `json:"drift"`
		} `json:"config"`
		Guard struct {
			Group          string `json:"group"`
			State          string `json:"state"`
			PortsBound     int    `json:"ports_bound"`
			PortsExpected  int    `json:"ports_expected"`
			DroppedPackets uint64 `json:"dropped_packets"`
			PromotionScore int    `json:"promotion_score"`
		} `json:"guard"`
		Translations []struct {
			Name       string `json:"name"`
			Directions []struct {
				Direction      string `json:"direction"`
				ReceivedFrames uint64 `json:"received_frames"`
				ReceivedBytes  uint64 `json:"received_bytes"`
				Frames         uint64 `json:"frames"`
				Bytes          uint64 `json:"bytes"`
				DroppedFrames  uint64 `json:"dropped_frames"`
			} `json:"directions"`
		} `json:"translations"`
	}
	if err := json.Unmarshal([]byte(e.bridgectl(t, 0, "status", "--json", "-c", cfg).stdout), &st); err != nil {
		t.Fatal(err)
	}
	g := st.Guard
	same := func(what string, got, want float64) {
		if got != want {
			t.Errorf("%s: JSON %v, metrics %v", what, got, want)
		}
	}
	same("bridgectl status drift", b2f(st.Config.Drift), s3.get(t, "qinqbridge_config_drift"))
	same("bridgectl status guard open", b2f(g.State == "open"), s3.get(t, "qinqbridge_guard_state", "state", "open"))
	same("bridgectl status ports bound", float64(g.PortsBound), s3.get(t, "qinqbridge_guard_ports_bound"))
	same("bridgectl status ports expected", float64(g.PortsExpected), s3.get(t, "qinqbridge_guard_ports_expected"))
	same("bridgectl status guard dropped", float64(g.DroppedPackets), s3.get(t, "qinqbridge_guard_dropped_frames_total"))
	same("bridgectl status promotion score", float64(g.PromotionScore), s3.get(t, "qinqbridge_promotion_score"))
	for _, tr := range st.Translations {
		for _, d := range tr.Directions {
			for name, got := range map[string]uint64{
				"received_frames_total": d.ReceivedFrames, "received_bytes_total": d.ReceivedBytes,
				"frames_total": d.Frames, "bytes_total": d.Bytes, "dropped_frames_total": d.DroppedFrames,
			} {
				same(tr.Name+" "+d.Direction+" "+name, float64(got), s3.get(t, "qinqbridge_translation_"+name, "translation", tr.Name, "direction", d.Direction))
			}
		}
	}
	if len(st.Translations) != 14 {
		t.Errorf("bridgectl status: %d translations, want 14", len(st.Translations))
	}
	gs := e.status(t, cfg)
	var score struct {
		Group          string `json:"group"`
		PromotionScore int    `json:"promotion_score"`
	}
	if err := json.Unmarshal([]byte(e.exec(t, "tcguard", "status", "--json", "-c", cfg).stdout), &score); err != nil {
		t.Fatal(err)
	}
	same("tcguard status open", b2f(gs.State == "open"), s3.get(t, "qinqbridge_guard_state", "state", "open"))
	same("tcguard status ports bound", float64(gs.PortsBound), s3.get(t, "qinqbridge_guard_ports_bound"))
	same("tcguard status ports expected", float64(gs.PortsExpected), s3.get(t, "qinqbridge_guard_ports_expected"))
	same("tcguard status dropped", float64(gs.DroppedPackets), s3.get(t, "qinqbridge_guard_dropped_frames_total"))
	same("tcguard status promotion score", float64(score.PromotionScore), s3.get(t, "qinqbridge_promotion_score"))
	if score.Group != "default" || g.Group != "default" {
		t.Errorf("groups: tcguard %q, bridgectl %q", score.Group, g.Group)
	}

	// Prometheus' own checker on the scrape as served.
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install prometheus (make deps does)")
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(s3.text)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// `bridgectl watch --metrics ADDR` serves the same metrics while it keeps
// the file applied, and stops serving when it stops (SIGTERM, exit 0).
func TestMetricsWatch(t *testing.T) {
	e := newBCEnv(t)
	cfg := e.write(t, "watch.toml", `
[[translation]]
name = "vps-bm"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }
`)
	e.downAtCleanup(t)
	m := e.serve(t, "watch", "-c", cfg, "--metrics", "127.0.0.1:0")
	guardWait(t, "watch applied the file", func() bool {
		s := m.scrape(t)
		return s.get(t, "qinqbridge_config_drift") == 0 && s.get(t, "qinqbridge_last_apply_success") == 1
	})
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Wait(); err != nil {
		t.Fatalf("watch after SIGTERM: %v", err)
	}
	if _, err := http.Get(m.url); err == nil {
		t.Fatal("still serving after watch stopped")
	}
}

// metricsServer is a running `bridgectl metrics`, or `watch --metrics`.
type metricsServer struct {
	url string
	cmd *exec.Cmd
}

// startMetrics runs `bridgectl metrics --listen 127.0.0.1:0`.
func (e *bcEnv) startMetrics(t *testing.T, cfg string) *metricsServer {
	t.Helper()
	return e.serve(t, "metrics", "--listen", "127.0.0.1:0", "-c", cfg)
}

// serve runs bridgectl with args, a command that serves metrics, and
// learns the port from its log; it is killed when the test ends.
func (e *bcEnv) serve(t *testing.T, args ...string) *metricsServer {
	t.Helper()
	cmd := e.cmd("bridgectl", args...)
	log := &serveLog{addr: make(chan string, 1)}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		t.Logf("bridgectl %s:\n%s", args[0], log.String())
	})
	var a string
	select {
	case a = <-log.addr:
	case <-time.After(guardPatience):
		t.Fatalf("bridgectl %s: not serving after %v", args[0], guardPatience)
	}
	return &metricsServer{url: "http://" + a + "/metrics", cmd: cmd}
}

// serveLog keeps a serving command's stderr and hands over the address of
// its first "serving http://ADDR/metrics" line.
type serveLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string
	sent bool
}

func (l *serveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.sent {
		if _, a, ok := strings.Cut(l.buf.String(), "serving http://"); ok {
			if addr, _, ok := strings.Cut(a, "/metrics"); ok {
				l.addr <- addr
				l.sent = true
			}
		}
	}
	return len(p), nil
}

func (l *serveLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// scraped is one scrape: its text, parsed.
type scraped struct {
	text     string
	families map[string]*dto.MetricFamily
}

// scrape fetches the metrics as Prometheus would and parses them.
func (m *metricsServer) scrape(t *testing.T) *scraped {
	t.Helper()
	r, err := http.Get(m.url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v\n%s", r.StatusCode, err, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return &scraped{text: string(b), families: fams}
}

// get is the value of the one sample of name whose labels have the given
// values (label, value, label, value, ...).
func (s *scraped) get(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	var found []float64
	for _, m := range s.families[name].GetMetric() {
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			has := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					has = true
				}
			}
			match = match && has
		}
		if match {
			found = append(found, m.GetCounter().GetValue()+m.GetGauge().GetValue())
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d samples in the scrape, want 1", name, labels, len(found))
	}
	return found[0]
}

// growth checks how much samples grew from a to b: keys are a metric's
// name, or its name, translation and direction separated by spaces.
func growth(t *testing.T, a, b *scraped, want map[string]float64) {
	t.Helper()
	for key, w := range want {
		f := strings.Fields(key)
		var labels []string
		if len(f) == 3 {
			labels = []string{"translation", f[1], "direction", f[2]}
		}
		if got := b.get(t, f[0], labels...) - a.get(t, f[0], labels...); got != w {
			t.Errorf("%s grew by %v, want %v", key, got, w)
		}
	}
}

// portBytes reads the rx and tx byte counters of vps-bm's bridge ports
// from the kernel (bridge datapath; none in the tc datapath).
func (e *bcEnv) portBytes(t *testing.T, datapath string) map[string][2]uint64 {
	t.Helper()
	out := map[string][2]uint64{}
	if datapath != "bridge" {
		return out
	}
	for _, name := range []string{"q0.s100.200", "v0.300"} {
		s := e.link(t, name).Attrs().Statistics
		out[name] = [2]uint64{s.RxBytes, s.TxBytes}
	}
	return out
}
