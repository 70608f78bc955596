//go:build integration

package bridgectl_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/tcguard"
	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// rebindFrames is how many frames are sent into the re-bound port: well
// below the kernel's backlog (1000), so none is lost before the guard.
const rebindFrames = 100

// TestWatchRebindsOnTCEvent: the careless admin deletes a translation
// port's clsact qdisc (its binding to the guard's block) on a blocked node.
// With a periodic check an hour away only the tc event can make watch
// notice: the port must be bound again, and frames sent into it must be
// dropped by the guard, none crossing. Then, as a positive control that
// the frames would have been seen, the guard is opened and they cross.
func TestWatchRebindsOnTCEvent(t *testing.T) {
	ns := quietNS(t)
	r := startWatchArgs(t, ns, watchConfig, []string{"--check-interval", "1h"})
	r.notify.wait(t, 0, "READY=1", prefix("READY=1"))
	r.converged(t, watchConfig)

	const victim = "v0.300" // the B port of "vps": VLAN 300 in, QinQ 100.200 out
	l, err := ns.Link.LinkByName(victim)
	if err != nil {
		t.Fatal(err)
	}
	port := l.Attrs().Index
	if s := r.guardStatus(t); s.State != tcguard.Blocked || !slices.Contains(s.Bound, port) {
		t.Fatalf("after apply: %+v, want blocked with %s (%d) bound", s, victim, port)
	}
	in := openWire(t, ns, "v0p")
	out := openWire(t, ns, "q0p")
	forwardDelayOver(t, ns, "q0.s100.200", "v0.300", "q0.s100.201", "v0.301")

	links := watchLinkEvents(t, ns)
	from := r.notify.mark()
	start := time.Now()
	if b, err := exec.Command("ip", "netns", "exec", ns.Name, "tc", "qdisc", "del", "dev", victim, "clsact").CombinedOutput(); err != nil {
		t.Fatalf("tc qdisc del dev %s clsact: %v: %s", victim, err, b)
	}
	watchWait(t, victim+" bound to the guard's block again", func() bool {
		return slices.Contains(r.guardStatus(t).Bound, port)
	})
	st, _ := r.notify.wait(t, from, "drift healed status", func(s string) bool {
		return strings.HasPrefix(s, "STATUS=") && strings.Contains(s, "drift healed")
	})
	t.Logf("re-bound after %s, watcher reported healed after %s (%s)", time.Since(start).Round(time.Millisecond),
		st.at.Sub(start).Round(time.Millisecond), strings.TrimPrefix(st.line, "STATUS="))
	r.converged(t, watchConfig)
	if ev := links(); len(ev) > 0 {
		t.Errorf("link events came meanwhile, so the test cannot tell that the tc event alone was noticed: %s", strings.Join(ev, "; "))
	}

	// Blocked: the guard drops every frame. Its counter is the proof that
	// does not depend on timing: a frame it counted cannot have crossed.
	s := r.guardStatus(t)
	if s.State != tcguard.Blocked {
		t.Fatalf("after the re-bind: %+v, want blocked", s)
	}
	base := s.DroppedPackets
	for i := range rebindFrames {
		in.send(t, "blocked", i, []testbed.Tag{{TPID: 0x8100, VID: 300}})
	}
	watchWait(t, "the guard's drop counter", func() bool { return r.guardStatus(t).DroppedPackets-base >= rebindFrames })
	if d := r.guardStatus(t).DroppedPackets - base; d != rebindFrames {
		t.Errorf("the guard dropped %d frames, %d were sent", d, rebindFrames)
	}
	if got := out.drain(t, "blocked"); got != 0 {
		t.Errorf("%d of %d frames crossed the re-bound port of a blocked node", got, rebindFrames)
	}

	// Positive control: opened, the same frames cross.
	g := r.guard(t)
	if err := g.Unblock(); err != nil {
		t.Fatal(err)
	}
	g.Close()
	for i := range rebindFrames {
		in.send(t, "open", i, []testbed.Tag{{TPID: 0x8100, VID: 300}})
	}
	for i := range rebindFrames {
		out.await(t, "open", i, []testbed.Tag{{TPID: 0x88a8, VID: 100}, {TPID: 0x8100, VID: 200}})
	}
	t.Logf("blocked: %d frames sent, %d dropped by the guard, 0 crossed; opened: %d of %d crossed",
		rebindFrames, rebindFrames, rebindFrames, rebindFrames)
}

// quietNS is watchNS without IPv6: its autoconfiguration (DAD, router
// solicitations) sends link notifications about our links for seconds after
// an apply, and any of those makes the watcher look. A test that must show
// that a tc event alone is noticed cannot have them.
func quietNS(t *testing.T) *testbed.NS {
	t.Helper()
	ns := testbed.NewNS(t)
	err := ns.Do(func() error {
		for _, c := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+c+"/disable_ipv6", []byte("1"), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("disable IPv6 in %s: %v", ns.Name, err)
	}
	ns.Veth(t, "q0", "q0p")
	ns.Veth(t, "v0", "v0p")
	return ns
}

// forwardDelayOver waits until the bridge ports' forward-delay timers have
// expired. Even without STP the kernel arms that timer when a port starts
// forwarding, and its expiry sends one link notification per port
// (br_forward_delay_timer_expired), forward_delay (15 s) after the apply:
// any of those would make the watcher look.
func forwardDelayOver(t *testing.T, ns *testbed.NS, ports ...string) {
	t.Helper()
	deadline := time.Now().Add(2 * watchPatience)
	for _, p := range ports {
		for {
			b, err := exec.Command("ip", "netns", "exec", ns.Name, "cat", "/sys/class/net/"+p+"/brport/forward_delay_timer").CombinedOutput()
			if err != nil {
				t.Fatalf("%s: forward_delay_timer: %v: %s", p, err, b)
			}
			if strings.TrimSpace(string(b)) == "0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: forward-delay timer still running after %s", p, 2*watchPatience)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// watchLinkEvents records the namespace's link notifications from now on;
// the function it returns stops and says what came.
func watchLinkEvents(t *testing.T, ns *testbed.NS) func() []string {
	t.Helper()
	updates := make(chan netlink.LinkUpdate, 4096)
	done := make(chan struct{})
	if err := netlink.LinkSubscribeAt(ns.Handle, updates, done); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { close(done) }) }
	t.Cleanup(stop)
	return func() []string {
		var out []string
		for {
			select {
			case u := <-updates:
				out = append(out, fmt.Sprintf("%d %s", u.Header.Type, u.Attrs().Name))
			default:
				stop()
				return out
			}
		}
	}
}

// guard opens the watched namespace's guard.
func (r *watchRun) guard(t *testing.T) *tcguard.Guard {
	t.Helper()
	m, err := bridgectl.Open(bridgectl.Options{NetNS: r.ns.Name, StateDir: r.state})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g, err := m.Guard(defaults.Block, "")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (r *watchRun) guardStatus(t *testing.T) tcguard.Status {
	t.Helper()
	g := r.guard(t)
	defer g.Close()
	s, err := g.Status(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// watchWait polls cond; watchPatience only catches a hang.
func watchWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(watchPatience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s", what, watchPatience)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wire is a switch's end of a trunk: a raw socket on a trunk's peer.
type wire struct {
	name string
	port *testbed.Port
}

var (
	wireSrc = net.HardwareAddr{0x02, 0, 0, 0x57, 0, 1}
	wireDst = net.HardwareAddr{0x02, 0, 0, 0x57, 0, 2} // never a source: always flooded
)

func openWire(t *testing.T, ns *testbed.NS, peer string) *wire {
	t.Helper()
	p, err := testbed.OpenPort(ns, peer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &wire{name: peer, port: p}
}

func wirePayload(phase string, seq int) string { return fmt.Sprintf("qbwatch|%s|%d|", phase, seq) }

func (w *wire) send(t *testing.T, phase string, seq int, tags []testbed.Tag) {
	t.Helper()
	f := testbed.Frame{Dst: wireDst, Src: wireSrc, Tags: tags, EtherType: testbed.EtherTypeTest, Payload: []byte(wirePayload(phase, seq))}
	if err := w.port.Send(f); err != nil {
		t.Fatalf("send on %s: %v", w.name, err)
	}
}

// await receives until frame seq of phase arrives, tagged tags.
func (w *wire) await(t *testing.T, phase string, seq int, tags []testbed.Tag) {
	t.Helper()
	want := wirePayload(phase, seq)
	deadline := time.Now().Add(watchPatience)
	for {
		f, err := w.port.Recv(testbed.EtherTypeTest, deadline)
		if err != nil {
			t.Fatalf("%s: frame %q never arrived: %v", w.name, want, err)
		}
		if strings.HasPrefix(string(f.Payload), want) {
			if !testbed.SameTags(f.Tags, tags) {
				t.Fatalf("%s: frame %q tagged %v, want %v", w.name, want, f.Tags, tags)
			}
			return
		}
	}
}

// drain counts the frames of phase already received. It is a look at what
// is queued, not a wait: callers prove by other means (the guard's counter)
// that nothing more can come.
func (w *wire) drain(t *testing.T, phase string) int {
	t.Helper()
	n := 0
	for {
		f, err := w.port.Recv(testbed.EtherTypeTest, time.Now().Add(10*time.Millisecond))
		if err != nil {
			return n
		}
		if strings.HasPrefix(string(f.Payload), "qbwatch|"+phase+"|") {
			n++
		}
	}
}
