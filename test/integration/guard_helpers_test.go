//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// The guard's kernel tests drive the real binaries (bin/bridgectl,
// bin/tcguard from $QB_BIN, set by make ktest) against a throwaway namespace
// with two trunks, q0 (QinQ, outer tag 100) and v0 (VLAN), whose peers q0p
// and v0p stand for the switches: translation i joins QinQ 100.i on q0 and
// VLAN i on v0. Test frames go in at one peer and are counted at the other.
// The VM is TCG-slow: tests wait on conditions, never on times.

// guardPatience bounds every wait on a condition; it only fires when
// something is broken.
const guardPatience = 3 * time.Minute

// guardEnvInt reads a scale knob from the environment.
func guardEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// guardEnv is one namespace with the two trunks, a state directory and the
// binaries.
type guardEnv struct {
	ns    *testbed.NS
	bin   string // directory of bridgectl and tcguard
	state string // --state-dir
	dir   string // configurations
}

func newGuardEnv(t *testing.T) *guardEnv {
	t.Helper()
	bin := os.Getenv("QB_BIN")
	if bin == "" {
		t.Fatal("QB_BIN is not set: it names the directory with bridgectl and tcguard (make ktest sets it)")
	}
	for _, b := range []string{"bridgectl", "tcguard"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Fatalf("QB_BIN=%s: %v (run make build)", bin, err)
		}
	}
	ns := testbed.NewNS(t)
	e := &guardEnv{ns: ns, bin: bin, state: t.TempDir(), dir: t.TempDir()}
	// No IPv6 chatter: the guard's drop counter then counts exactly the
	// test's frames.
	for _, k := range []string{"all", "default"} {
		p := "/proc/sys/net/ipv6/conf/" + k + "/disable_ipv6"
		if err := ns.Do(func() error { return os.WriteFile(p, []byte("1"), 0) }); err != nil {
			t.Fatal(err)
		}
	}
	ns.Veth(t, "q0", "q0p")
	ns.Veth(t, "v0", "v0p")
	return e
}

// config writes a configuration with translations 1..n (one range, so the
// bridge of translation i is always br-g.i) and returns its path.
func (e *guardEnv) config(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(e.dir, fmt.Sprintf("guard-%d.toml", n))
	cfg := fmt.Sprintf(`[bridge]
ageing = 300

[[translation]]
name = "g"
a = { parent = "q0", outer = 100, inner = "1-%d" }
b = { parent = "v0", vlan = "1-%d" }
`, n, n)
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Port names of translation i.
func guardQPort(i int) string { return fmt.Sprintf("q0.s100.%d", i) }
func guardVPort(i int) string { return fmt.Sprintf("v0.%d", i) }

// cliResult is one run of a binary.
type cliResult struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// cmd builds a command of binary name with the namespace and state
// directory options.
func (e *guardEnv) cmd(name string, args ...string) *exec.Cmd {
	args = append(args, "--netns", e.ns.Name, "--state-dir", e.state)
	return exec.Command(filepath.Join(e.bin, name), args...)
}

// exec runs a binary and returns its exit code and output.
func (e *guardEnv) exec(t *testing.T, name string, args ...string) cliResult {
	t.Helper()
	c := e.cmd(name, args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	start := time.Now()
	err := c.Run()
	r := cliResult{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, r.stderr)
	}
	return r
}

// must runs a binary that has to exit 0.
func (e *guardEnv) must(t *testing.T, name string, args ...string) cliResult {
	t.Helper()
	r := e.exec(t, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\n%s%s", name, strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func (e *guardEnv) apply(t *testing.T, cfg string) cliResult {
	t.Helper()
	return e.must(t, "bridgectl", "apply", "-c", cfg)
}

// guard runs tcguard block or unblock to completion.
func (e *guardEnv) guard(t *testing.T, op, cfg string) cliResult {
	t.Helper()
	return e.must(t, "tcguard", op, "-c", cfg)
}

// guardStatus is `tcguard status --json`.
type guardStatus struct {
	State           string   `json:"state"`
	OK              bool     `json:"ok"`
	Block           uint32   `json:"block"`
	Dropping        bool     `json:"dropping"`
	OpenMarker      bool     `json:"open_marker"`
	Armed           bool     `json:"armed"`
	PortsConfigured int      `json:"ports_configured"`
	PortsExpected   int      `json:"ports_expected"`
	PortsBound      int      `json:"ports_bound"`
	BoundTotal      int      `json:"bound_total"`
	DroppedPackets  uint64   `json:"dropped_packets"`
	Unbound         []string `json:"unbound"`
	Foreign         []string `json:"foreign"`
	Problems        []string `json:"problems"`
	code            int
}

// status runs tcguard status --json; exit 0 and 1 are answers, 2 fails the
// test.
func (e *guardEnv) status(t *testing.T, cfg string) guardStatus {
	t.Helper()
	r := e.exec(t, "tcguard", "status", "--json", "-c", cfg)
	if r.code != 0 && r.code != 1 {
		t.Fatalf("tcguard status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var s guardStatus
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("tcguard status --json: %v\n%s", err, r.stdout)
	}
	s.code = r.code
	if (r.code == 0) != s.OK {
		t.Fatalf("tcguard status: exit %d but ok=%v: %+v", r.code, s.OK, s)
	}
	return s
}

// wantStatus checks the state and that every expected port is bound.
func (e *guardEnv) wantStatus(t *testing.T, cfg, state string, ports int) guardStatus {
	t.Helper()
	s := e.status(t, cfg)
	if s.State != state || s.PortsExpected != ports || s.PortsBound != ports || len(s.Unbound)+len(s.Foreign) != 0 {
		t.Fatalf("tcguard status: %+v; want %s with %d ports bound", s, state, ports)
	}
	wantOK := state == "blocked" || state == "open"
	if s.OK != wantOK {
		t.Fatalf("tcguard status: ok=%v (exit %d) in state %s: %+v", s.OK, s.code, state, s)
	}
	return s
}

func guardWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guardPatience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %v", what, guardPatience)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Frames.

const guardMagic = "qbguard"

// The two sides: frames sent at the q side's peer carry QinQ 100.i and must
// leave v0p with VLAN i, and the other way round.
const (
	sideQ = 0
	sideV = 1
)

var (
	guardSrc = [2]net.HardwareAddr{{0x02, 0, 0, 0x47, 0x0a, 0x01}, {0x02, 0, 0, 0x47, 0x0b, 0x01}}
	guardDst = net.HardwareAddr{0x02, 0, 0, 0x47, 0x0c, 0x01} // never a source: always flooded
)

func guardTags(side, i int) []testbed.Tag {
	if side == sideQ {
		return []testbed.Tag{{TPID: 0x88a8, VID: 100}, {TPID: 0x8100, VID: uint16(i)}}
	}
	return []testbed.Tag{{TPID: 0x8100, VID: uint16(i)}}
}

// guardFrame is frame seq of a phase, sent from side into translation i.
func guardFrame(phase string, side, seq, i int) testbed.Frame {
	return testbed.Frame{Dst: guardDst, Src: guardSrc[side], Tags: guardTags(side, i), EtherType: testbed.EtherTypeTest,
		Payload: fmt.Appendf(nil, "%s|%s|%d|%d|%d|", guardMagic, phase, side, seq, i)}
}

// guardPeers are the two switch-side ports, each sending and receiving.
type guardPeers struct {
	port [2]*testbed.Port
	rx   *guardCounter
}

// openPeers binds both peers and starts counting before anything is sent.
func (e *guardEnv) openPeers(t *testing.T) *guardPeers {
	t.Helper()
	p := &guardPeers{rx: &guardCounter{seen: map[string]*guardPhase{}, quit: make(chan struct{})}}
	for side, name := range []string{"q0p", "v0p"} {
		port, err := testbed.OpenPort(e.ns, name)
		if err != nil {
			t.Fatal(err)
		}
		p.port[side] = port
	}
	for side := range p.port {
		p.rx.wg.Add(1)
		go p.rx.run(p.port[side], side)
	}
	t.Cleanup(p.close)
	return p
}

func (p *guardPeers) close() {
	select {
	case <-p.rx.quit:
		return
	default:
	}
	close(p.rx.quit)
	p.rx.wg.Wait()
	for _, port := range p.port {
		port.Close()
	}
}

func (p *guardPeers) send(t *testing.T, f testbed.Frame, side int) {
	t.Helper()
	if err := p.port[side].Send(f); err != nil {
		t.Fatalf("send on side %d: %v", side, err)
	}
}

// guardPhase counts the frames of one phase that came out of the bridge.
type guardPhase struct {
	arrived   [2]map[int]bool // by the side the frame was sent from: distinct seqs
	dups      int
	wrongTags []string
}

// guardCounter records every test frame arriving at a peer.
type guardCounter struct {
	mu   sync.Mutex
	seen map[string]*guardPhase
	quit chan struct{}
	wg   sync.WaitGroup
}

func (c *guardCounter) run(p *testbed.Port, at int) {
	defer c.wg.Done()
	p.Receive(c.quit, testbed.EtherTypeTest, func(f testbed.Frame) {
		parts := strings.Split(string(f.Payload), "|")
		if len(parts) < 6 || parts[0] != guardMagic {
			return
		}
		from, _ := strconv.Atoi(parts[2])
		seq, _ := strconv.Atoi(parts[3])
		i, _ := strconv.Atoi(parts[4])
		c.mu.Lock()
		ph := c.phase(parts[1])
		switch want := guardTags(at, i); {
		case from == at:
			ph.wrongTags = append(ph.wrongTags, fmt.Sprintf("frame %d came back to the side it was sent from", seq))
		case !testbed.SameTags(f.Tags, want):
			ph.wrongTags = append(ph.wrongTags, fmt.Sprintf("frame %d of translation %d: tags %v, want %v", seq, i, f.Tags, want))
		}
		if ph.arrived[from][seq] {
			ph.dups++
		}
		ph.arrived[from][seq] = true
		c.mu.Unlock()
	})
}

func (c *guardCounter) phase(name string) *guardPhase {
	ph := c.seen[name]
	if ph == nil {
		ph = &guardPhase{arrived: [2]map[int]bool{{}, {}}}
		c.seen[name] = ph
	}
	return ph
}

// count returns how many distinct frames of the phase sent from each side
// came out, and the problems seen (wrong tags, duplicates).
func (c *guardCounter) count(phase string) (fromQ, fromV int, problems []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ph := c.phase(phase)
	problems = append(problems, ph.wrongTags...)
	if ph.dups > 0 {
		problems = append(problems, fmt.Sprintf("%d duplicate frames", ph.dups))
	}
	return len(ph.arrived[sideQ]), len(ph.arrived[sideV]), problems
}

func (c *guardCounter) total(phase string) int {
	q, v, _ := c.count(phase)
	return q + v
}

// Continuous load: one goroutine per side sends frames on a range of
// translations, round robin, paced by a ticker (a generator's rate, not a
// wait), each frame labelled with the current phase.
type guardLoad struct {
	what atomic.Pointer[guardLoadSpec]
	sent [2]atomic.Int64
	quit chan struct{}
	wg   sync.WaitGroup
	errs chan error
}

// guardLoadSpec is what the load sends: translations lo..hi (none if lo >
// hi), labelled phase.
type guardLoadSpec struct {
	phase  string
	lo, hi int
}

func (p *guardPeers) startLoad(phase string, lo, hi int) *guardLoad {
	l := &guardLoad{quit: make(chan struct{}), errs: make(chan error, 2)}
	l.set(phase, lo, hi)
	for side := range p.port {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			next, seq := 0, 0
			for {
				select {
				case <-l.quit:
					return
				case <-tick.C:
				}
				w := l.what.Load()
				if w.lo > w.hi {
					continue
				}
				for range 4 { // at most 8000 frames/s in all: the backlog stays far from full
					i := w.lo + next%(w.hi-w.lo+1)
					next++
					if err := p.port[side].Send(guardFrame(w.phase, side, seq, i)); err != nil {
						l.errs <- err
						return
					}
					seq++
					l.sent[side].Add(1)
				}
			}
		}()
	}
	return l
}

// set switches phase label and translations at once: every frame carrying
// the new label is sent after set was called.
func (l *guardLoad) set(phase string, lo, hi int) {
	l.what.Store(&guardLoadSpec{phase: phase, lo: lo, hi: hi})
}

func (l *guardLoad) total() int64 { return l.sent[0].Load() + l.sent[1].Load() }

func (l *guardLoad) stop(t *testing.T) {
	t.Helper()
	close(l.quit)
	l.wg.Wait()
	select {
	case err := <-l.errs:
		t.Fatalf("load: %v", err)
	default:
	}
}

// Kernel access independent of the binaries.

// ports returns the bridge ports of translations 1..n.
func guardPorts(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, guardQPort(i), guardVPort(i))
	}
	return out
}

func (e *guardEnv) link(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := e.ns.Link.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l
}
