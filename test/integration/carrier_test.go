//go:build integration

package integration

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// Carrier propagation on real links: the translator's trunks q0 and v0
// lead to two "switch" namespaces (q0p in swA, v0p in swB); a pass-through
// pair q0 <-> v0 with carrier = true; `bridgectl carrier` runs in the
// background and says what it sees through the notify protocol (STATUS=),
// which is how the test knows it has handled an event that changes
// nothing. The far end of a veth going down takes the near end's carrier.
func TestCarrierPropagation(t *testing.T) {
	e := newBCEnv(t)
	swA, swB := testbed.NewNS(t), testbed.NewNS(t)
	for _, s := range []struct {
		peer string
		sw   *testbed.NS
	}{{"q0p", swA}, {"v0p", swB}} {
		if err := e.ns.Link.LinkSetNsFd(e.link(t, s.peer), int(s.sw.Handle)); err != nil {
			t.Fatal(err)
		}
		s.sw.Up(t, s.peer)
	}
	cfg := e.write(t, "carrier.toml", `[[translation]]
name = "t"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }

[[passthrough]]
a = "q0"
b = "v0"
protocols = ["lacp"]
carrier = true
`)
	e.downAtCleanup(t)
	e.bridgectl(t, 0, "apply", "-c", cfg)

	links := subscribeLinks(t, e.ns)
	status := e.startDaemon(t, "carrier", cfg)
	status.wait(t, "READY=1", "q0<->v0 (guard blocked): q0 up, v0 up")

	farEnd := func(up bool) {
		t.Helper()
		l := swA.Link
		q0p, err := l.LinkByName("q0p")
		if err != nil {
			t.Fatal(err)
		}
		if up {
			err = l.LinkSetUp(q0p)
		} else {
			err = l.LinkSetDown(q0p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	// Blocked (as apply leaves the node): q0's loss leaves v0 up. The
	// status proves the propagator saw it.
	farEnd(false)
	status.wait(t, "(guard blocked): q0 no carrier, v0 up")
	if !e.adminUp(t, "v0") {
		t.Fatal("blocked node: v0 taken down")
	}
	farEnd(true)
	status.wait(t, "(guard blocked): q0 up, v0 up")

	// Open: the same step takes v0 down (the positive control of the
	// above), and q0's return brings it back. Opening kicks the trunks
	// (down, then up): a trunk that just came up has a grace before its
	// missing carrier counts as a loss, so the first loss right after the
	// kick may wait for it; the second is the reaction time.
	e.guard(t, "unblock", cfg)
	status.wait(t, "(guard open): q0 up, v0 up")
	for _, round := range []string{"just after the renegotiation kick", "settled"} {
		links.drain()
		start := time.Now()
		farEnd(false)
		downAt := links.waitFor(t, "v0 set down", func(u netlink.LinkUpdate) bool {
			return u.Attrs().Name == "v0" && u.Attrs().RawFlags&unix.IFF_UP == 0
		})
		t.Logf("reaction, %s: far end of q0 set down -> v0 down: %v", round, downAt.Sub(start))
		status.wait(t, "(guard open): q0 no carrier, v0 down by carrier propagation")
		farEnd(true)
		links.waitFor(t, "v0 set up", func(u netlink.LinkUpdate) bool {
			return u.Attrs().Name == "v0" && u.Attrs().RawFlags&unix.IFF_UP != 0
		})
		status.wait(t, "(guard open): q0 up, v0 up")
	}

	// An operator sets v0 down: q0 follows (v0 is down, not by us); q0's
	// far end flaps (q0 is down, so the kernel tells nobody); v0 stays
	// down until the operator brings it up, and then q0 comes back.
	e.setAdmin(t, "v0", false)
	status.wait(t, "(guard open): q0 down by carrier propagation, v0 down")
	farEnd(false)
	farEnd(true)
	if e.adminUp(t, "v0") {
		t.Fatal("the operator's down of v0 undone")
	}
	e.setAdmin(t, "v0", true)
	status.wait(t, "(guard open): q0 up, v0 up")

	// Blocked again: q0's loss leaves v0 up.
	e.guard(t, "block", cfg)
	status.wait(t, "(guard blocked): q0 up, v0 up")
	farEnd(false)
	status.wait(t, "(guard blocked): q0 no carrier, v0 up")
	if !e.adminUp(t, "v0") {
		t.Fatal("blocked node: v0 taken down")
	}
	farEnd(true)
	status.wait(t, "(guard blocked): q0 up, v0 up")
}

func (e *guardEnv) adminUp(t *testing.T, name string) bool {
	t.Helper()
	return e.link(t, name).Attrs().RawFlags&unix.IFF_UP != 0
}

func (e *guardEnv) setAdmin(t *testing.T, name string, up bool) {
	t.Helper()
	var err error
	if up {
		err = e.ns.Link.LinkSetUp(e.link(t, name))
	} else {
		err = e.ns.Link.LinkSetDown(e.link(t, name))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// bridgectl watch runs carrier propagation beside its converge loop: the
// same loss takes the other trunk down on an open node, and its return
// brings it back.
func TestWatchCarrierPropagation(t *testing.T) {
	e := newBCEnv(t)
	cfg := e.write(t, "carrier.toml", `[[translation]]
name = "t"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }

[[passthrough]]
a = "q0"
b = "v0"
protocols = ["lacp"]
carrier = true
`)
	e.downAtCleanup(t)
	status := e.startDaemon(t, "watch", cfg)
	status.wait(t, "READY=1")
	e.guard(t, "unblock", cfg)
	links := subscribeLinks(t, e.ns)
	start := time.Now()
	e.setAdmin(t, "q0p", false)
	downAt := links.waitFor(t, "v0 set down", func(u netlink.LinkUpdate) bool {
		return u.Attrs().Name == "v0" && u.Attrs().RawFlags&unix.IFF_UP == 0
	})
	t.Logf("reaction (watch): far end of q0 set down -> v0 down: %v", downAt.Sub(start))
	e.setAdmin(t, "q0p", true)
	links.waitFor(t, "v0 set up", func(u netlink.LinkUpdate) bool {
		return u.Attrs().Name == "v0" && u.Attrs().RawFlags&unix.IFF_UP != 0
	})
}

// notifyStatus collects the notify-protocol messages of a process.
type notifyStatus struct {
	mu     sync.Mutex
	msgs   []string
	update chan struct{}
}

// wait waits until one message contains every part.
func (s *notifyStatus) wait(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.After(guardPatience)
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if containsEvery(m, parts) {
				s.msgs = nil // later waits look at later messages
				s.mu.Unlock()
				return
			}
		}
		last := ""
		if n := len(s.msgs); n > 0 {
			last = s.msgs[n-1]
		}
		s.mu.Unlock()
		select {
		case <-s.update:
		case <-deadline:
			t.Fatalf("no status with %q; the last: %q", parts, last)
		}
	}
}

func containsEvery(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// startDaemon runs `bridgectl COMMAND -c cfg` (carrier or watch) until
// the test ends (then SIGTERM, which must exit 0), with NOTIFY_SOCKET set
// to a socket the test reads.
func (e *bcEnv) startDaemon(t *testing.T, command, cfg string) *notifyStatus {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &notifyStatus{update: make(chan struct{}, 1)}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, string(buf[:n]))
			s.mu.Unlock()
			select {
			case s.update <- struct{}{}:
			default:
			}
		}
	}()
	c := e.cmd("bridgectl", command, "-c", cfg)
	c.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	var out syncBuffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Process.Signal(syscall.SIGTERM)
		err := c.Wait()
		conn.Close()
		t.Logf("bridgectl %s:\n%s", command, out.String())
		if err != nil {
			t.Errorf("bridgectl %s after SIGTERM: %v", command, err)
		}
	})
	return s
}

// syncBuffer is a strings.Builder safe for a process's two streams.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// linkUpdates is a subscription to a namespace's link notifications, each
// stamped with its arrival.
type linkUpdates struct {
	ch <-chan stampedUpdate
}

type stampedUpdate struct {
	netlink.LinkUpdate
	at time.Time
}

func subscribeLinks(t *testing.T, ns *testbed.NS) *linkUpdates {
	t.Helper()
	raw := make(chan netlink.LinkUpdate, 4096)
	done := make(chan struct{})
	if err := netlink.LinkSubscribeAt(ns.Handle, raw, done); err != nil {
		t.Fatal(err)
	}
	out := make(chan stampedUpdate, 4096)
	go func() {
		defer close(out)
		for u := range raw {
			out <- stampedUpdate{u, time.Now()}
		}
	}()
	t.Cleanup(func() {
		close(done)
		for range out {
		}
	})
	return &linkUpdates{ch: out}
}

// drain forgets the updates received so far.
func (l *linkUpdates) drain() {
	for {
		select {
		case <-l.ch:
		default:
			return
		}
	}
}

// waitFor waits for an update that matches and returns when it arrived.
func (l *linkUpdates) waitFor(t *testing.T, what string, match func(netlink.LinkUpdate) bool) time.Time {
	t.Helper()
	deadline := time.After(guardPatience)
	for {
		select {
		case u, ok := <-l.ch:
			if !ok {
				t.Fatalf("waiting for %s: link subscription ended", what)
			}
			if match(u.LinkUpdate) {
				return u.at
			}
		case <-deadline:
			t.Fatalf("waiting for %s: timed out", what)
		}
	}
}
