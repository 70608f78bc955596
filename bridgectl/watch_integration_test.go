//go:build integration

package bridgectl_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// Kernel tests of `bridgectl watch` (the binary from $QB_BIN) in a
// throwaway namespace, with a NOTIFY_SOCKET the test reads the way systemd
// does. The VM is TCG-slow: waits are on conditions; watchPatience only
// catches a hang. Restore times are logged, not asserted.

const watchPatience = 30 * time.Second

// Two translations; the reload removes "old" and adds "new".
const (
	watchConfig = `
[[translation]]
name = "vps"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }

[[translation]]
name = "old"
a = { parent = "q0", outer = 100, inner = 201 }
b = { parent = "v0", vlan = 301 }
`
	watchConfigEdited = `
[[translation]]
name = "vps"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }

[[translation]]
name = "new"
a = { parent = "q0", vlan = 402 }
b = { parent = "v0", vlan = 302 }
`
	watchConfigBroken = `
[[translation]]
name = "vps"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300, colour = "blue" }
`
)

// notification is one line of a notify datagram, and when it came.
type notification struct {
	line string
	at   time.Time
}

// notifySocket is a systemd-style NOTIFY_SOCKET: a unixgram socket whose
// datagrams are newline-separated VAR=VALUE lines.
type notifySocket struct {
	path string
	mu   sync.Mutex
	got  []notification
	more chan struct{} // closed and replaced on every new line
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	n := &notifySocket{path: filepath.Join(t.TempDir(), "notify.sock"), more: make(chan struct{})}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, _, err := c.ReadFromUnix(buf)
			if err != nil {
				return
			}
			now := time.Now()
			n.mu.Lock()
			for _, l := range strings.Split(strings.TrimRight(string(buf[:k]), "\n"), "\n") {
				n.got = append(n.got, notification{l, now})
			}
			close(n.more)
			n.more = make(chan struct{})
			n.mu.Unlock()
		}
	}()
	return n
}

// mark is a position in the notifications: wait from there.
func (n *notifySocket) mark() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.got)
}

// wait returns the first notification at or after from for which match
// holds, and its index.
func (n *notifySocket) wait(t *testing.T, from int, what string, match func(string) bool) (notification, int) {
	t.Helper()
	deadline := time.After(watchPatience)
	for {
		n.mu.Lock()
		for i := from; i < len(n.got); i++ {
			if match(n.got[i].line) {
				got := n.got[i]
				n.mu.Unlock()
				return got, i
			}
		}
		more := n.more
		n.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no notification %s within %s; got %q", what, watchPatience, n.lines())
		}
	}
}

func (n *notifySocket) lines() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, len(n.got))
	for i, g := range n.got {
		out[i] = g.line
	}
	return out
}

func (n *notifySocket) count(line string) int {
	c := 0
	for _, l := range n.lines() {
		if l == line {
			c++
		}
	}
	return c
}

func prefix(p string) func(string) bool {
	return func(s string) bool { return strings.HasPrefix(s, p) }
}

// watchRun is one `bridgectl watch` process.
type watchRun struct {
	ns     *testbed.NS
	cfg    string // configuration file
	state  string // --state-dir
	notify *notifySocket
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's result, once exited
	stderr syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startWatch writes cfg and starts bridgectl watch on it in ns.
func startWatch(t *testing.T, ns *testbed.NS, cfg string, env ...string) *watchRun {
	t.Helper()
	return startWatchArgs(t, ns, cfg, nil, env...)
}

// startWatchArgs is startWatch with more command-line arguments.
func startWatchArgs(t *testing.T, ns *testbed.NS, cfg string, args []string, env ...string) *watchRun {
	t.Helper()
	bin := os.Getenv("QB_BIN")
	if bin == "" {
		t.Fatal("QB_BIN is not set: it names the directory with bridgectl (make ktest sets it)")
	}
	dir := t.TempDir()
	r := &watchRun{ns: ns, cfg: filepath.Join(dir, "qinqbridge.toml"), state: filepath.Join(dir, "state"),
		notify: newNotifySocket(t), exited: make(chan struct{})}
	r.write(t, cfg)
	argv := append([]string{"watch", "-c", r.cfg, "--netns", ns.Name, "--state-dir", r.state}, args...)
	r.cmd = exec.Command(filepath.Join(bin, "bridgectl"), argv...)
	r.cmd.Env = append(os.Environ(), append(env, "NOTIFY_SOCKET="+r.notify.path)...)
	r.cmd.Stderr = &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		if !r.done() {
			r.cmd.Process.Kill()
			<-r.exited
		}
		t.Logf("bridgectl watch stderr:\n%s", r.stderr.String())
	})
	return r
}

func (r *watchRun) write(t *testing.T, cfg string) {
	t.Helper()
	// Write and rename: the watcher never reads a half-written file.
	tmp := r.cfg + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, r.cfg); err != nil {
		t.Fatal(err)
	}
}

func (r *watchRun) done() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

func (r *watchRun) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(s); err != nil {
		t.Fatalf("signal %v: %v", s, err)
	}
}

func (r *watchRun) mustRun(t *testing.T) {
	t.Helper()
	if r.done() {
		t.Fatalf("bridgectl watch exited: %v\n%s", r.err, r.stderr.String())
	}
}

// names are every link cfg wants.
func names(t *testing.T, src string) []string {
	t.Helper()
	cfg, err := config.Parse("x.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tr := range cfg.Translations {
		out = append(out, tr.Bridge)
		out = append(out, tr.A.Links()...)
		out = append(out, tr.B.Links()...)
	}
	return out
}

// converged checks with the package's own observation (links, attributes,
// guard binding) that the kernel matches src: an empty plan.
func (r *watchRun) converged(t *testing.T, src string) {
	t.Helper()
	cfg, err := config.Parse(r.cfg, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m, err := bridgectl.Open(bridgectl.Options{NetNS: r.ns.Name, StateDir: r.state})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	v, err := m.Observe(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Plan.Empty() {
		var b strings.Builder
		v.Plan.WriteDrift(&b)
		t.Fatalf("kernel does not match the configuration:\n%s", b.String())
	}
}

// present fails unless every name exists (want true) or none does.
func present(t *testing.T, ns *testbed.NS, want bool, names ...string) {
	t.Helper()
	for _, n := range names {
		_, err := ns.Link.LinkByName(n)
		var nf netlink.LinkNotFoundError
		switch {
		case err == nil && !want:
			t.Errorf("%s exists, want it gone", n)
		case err != nil && want:
			t.Errorf("%s: %v, want it present", n, err)
		case err != nil && !errors.As(err, &nf):
			t.Errorf("%s: %v", n, err)
		}
	}
}

func watchNS(t *testing.T) *testbed.NS {
	ns := testbed.NewNS(t)
	ns.Veth(t, "q0", "q0p")
	ns.Veth(t, "v0", "v0p")
	return ns
}

// TestWatch runs one watcher through its life: ready, restoring deleted
// links, reloading an edited and a broken file, watchdog, SIGTERM.
func TestWatch(t *testing.T) {
	ns := watchNS(t)
	r := startWatch(t, ns, watchConfig, "WATCHDOG_USEC=1000000") // a ping every 0.5 s

	t.Run("ready after the first apply", func(t *testing.T) {
		_, i := r.notify.wait(t, 0, "READY=1", prefix("READY=1"))
		// Nothing removes links, so they exist now if they did at READY.
		present(t, ns, true, names(t, watchConfig)...)
		r.converged(t, watchConfig)
		if _, j := r.notify.wait(t, 0, "converged status", prefix("STATUS=converged: 2 translations")); j > i {
			t.Errorf("READY=1 before the converged status: %q", r.notify.lines())
		}
	})

	t.Run("deleted links are restored", func(t *testing.T) {
		for _, victim := range []string{"q0.s100.200", "v0.300", "br-vps", "q0.s100", "v0.301"} {
			restore(t, r, victim)
		}
		r.converged(t, watchConfig)
	})

	t.Run("SIGHUP with an edited file converges", func(t *testing.T) {
		from := r.notify.mark()
		r.write(t, watchConfigEdited)
		r.signal(t, syscall.SIGHUP)
		_, i := r.notify.wait(t, from, "applying status", prefix("STATUS=applying "))
		r.notify.wait(t, i, "converged status", prefix("STATUS=converged: 2 translations"))
		present(t, ns, true, names(t, watchConfigEdited)...)
		present(t, ns, false, "br-old", "q0.s100.201", "v0.301")
		r.converged(t, watchConfigEdited)
	})

	t.Run("SIGHUP with a broken file keeps the last good configuration", func(t *testing.T) {
		from := r.notify.mark()
		r.write(t, watchConfigBroken)
		r.signal(t, syscall.SIGHUP)
		st, _ := r.notify.wait(t, from, "config error status", prefix("STATUS=config error: "))
		if !strings.Contains(st.line, r.cfg+":5:") {
			t.Errorf("status %q does not name %s:5", st.line, r.cfg)
		}
		r.mustRun(t)
		// Still watching, with the last good (edited) configuration.
		restore(t, r, "q0.402")
		r.converged(t, watchConfigEdited)
		if !strings.Contains(r.stderr.String(), r.cfg+":5:") {
			t.Errorf("the log does not name %s:5", r.cfg)
		}
	})

	t.Run("watchdog pings", func(t *testing.T) {
		from := r.notify.mark()
		for k := 0; k < 3; k++ {
			_, from = r.notify.wait(t, from, "WATCHDOG=1", func(s string) bool { return s == "WATCHDOG=1" })
			from++
		}
	})

	t.Run("SIGTERM exits 0 and leaves the links", func(t *testing.T) {
		r.signal(t, syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(watchPatience):
			t.Fatal("bridgectl watch did not exit on SIGTERM")
		}
		if r.err != nil {
			t.Fatalf("exit: %v", r.err)
		}
		present(t, ns, true, names(t, watchConfigEdited)...)
		if n := r.notify.count("READY=1"); n != 1 {
			t.Errorf("READY=1 sent %d times, want once", n)
		}
	})
}

// restore deletes link victim by hand and waits until the watcher has put
// it back and says so; it logs how long that took.
func restore(t *testing.T, r *watchRun, victim string) {
	t.Helper()
	updates := make(chan netlink.LinkUpdate, 4096)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribeAt(r.ns.Handle, updates, done); err != nil {
		t.Fatal(err)
	}
	l, err := r.ns.Link.LinkByName(victim)
	if err != nil {
		t.Fatal(err)
	}
	from := r.notify.mark()
	start := time.Now()
	if err := r.ns.Link.LinkDel(l); err != nil {
		t.Fatalf("delete %s: %v", victim, err)
	}
	// Back: the link exists again and is up.
	deadline := time.After(watchPatience)
	var back time.Duration
	for back == 0 {
		select {
		case u := <-updates:
			if u.Header.Type == syscall.RTM_NEWLINK && u.Attrs().Name == victim && u.Attrs().Flags&net.FlagUp != 0 {
				back = time.Since(start)
			}
		case <-deadline:
			t.Fatalf("%s not restored within %s", victim, watchPatience)
		}
	}
	st, _ := r.notify.wait(t, from, "drift healed status", func(s string) bool {
		return strings.HasPrefix(s, "STATUS=") && strings.Contains(s, "drift healed")
	})
	t.Logf("restore time %s: link up again after %s, watcher reported healed after %s (%s)",
		victim, back.Round(time.Millisecond), st.at.Sub(start).Round(time.Millisecond), strings.TrimPrefix(st.line, "STATUS="))
}

// TestWatchMissingParent: with a parent interface missing the first apply
// fails; the watcher keeps running and retrying, sends no READY=1 and says
// why in STATUS; once the parent appears it converges and only then is
// ready. (Chosen over exiting: on a standalone box a NIC, bond or VLAN
// trunk may come up after the service; systemd's TimeoutStartSec bounds
// the wait.)
func TestWatchMissingParent(t *testing.T) {
	ns := watchNS(t)
	src := strings.ReplaceAll(watchConfig, `"v0"`, `"late0"`)
	r := startWatch(t, ns, src)
	st, _ := r.notify.wait(t, 0, "not-ready status", prefix("STATUS=not ready, apply failed: "))
	if !strings.Contains(st.line, "parent interface late0 does not exist") {
		t.Errorf("status %q does not name the missing parent", st.line)
	}
	r.mustRun(t)
	if n := r.notify.count("READY=1"); n != 0 {
		t.Fatalf("READY=1 while the parent is missing: %q", r.notify.lines())
	}

	from := r.notify.mark()
	ns.Veth(t, "late0", "late0p")
	appeared := time.Now()
	ready, _ := r.notify.wait(t, from, "READY=1", prefix("READY=1"))
	t.Logf("ready %s after the parent appeared", ready.at.Sub(appeared).Round(time.Millisecond))
	present(t, ns, true, names(t, src)...)
	r.converged(t, src)
}
