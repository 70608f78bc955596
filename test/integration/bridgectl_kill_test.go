//go:build integration

package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Crash safety of apply: bridgectl apply is SIGKILLed at random points
// until QB_BC_KILLS (default 20) kills have hit a running process. Each
// round switches between two configurations of QB_BC_KILL_TRANSLATIONS
// (default 200) translations that differ in every bridge (ageing), in the
// MTU of the last 20 translations (bridge and ports), and in
// QB_BC_KILL_TOGGLED (default 16) translations and an S-tag link that only
// one has, so every run has creations, deletions and modifications to be
// cut in the middle of. The kill lands after a random delay or after a
// random number of the kernel's link notifications. Whatever the point,
// check can read the result (exit 0 or 1, never 2), and the next apply —
// usually of the same file, sometimes of the other — succeeds, after which
// check exits 0. QB_BC_SEED replays a sequence.
func TestBridgectlKillNineConverges(t *testing.T) {
	n := guardEnvInt(t, "QB_BC_KILL_TRANSLATIONS", 200)
	toggled := guardEnvInt(t, "QB_BC_KILL_TOGGLED", 16)
	kills := guardEnvInt(t, "QB_BC_KILLS", 20)
	resized := min(20, n-1)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("QB_BC_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("QB_BC_SEED=%q", v)
		}
		seed = s
	}
	t.Logf("QB_BC_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	e := newBCEnv(t)
	e.downAtCleanup(t)
	// Translations 1..n of "k" and "m" join QinQ 100.i and VLAN i.
	common := fmt.Sprintf(`
[[translation]]
name = "k"
a = { parent = "q0", outer = 100, inner = "1-%d" }
b = { parent = "v0", vlan = "1-%d" }
`, n-resized, n-resized)
	mRange := fmt.Sprintf("%d-%d", n-resized+1, n)
	cfgs := [2]string{
		e.write(t, "kill-a.toml", fmt.Sprintf(`
[bridge]
ageing = 300
%s
[[translation]]
name = "m"
a = { parent = "q0", outer = 100, inner = "%s" }
b = { parent = "v0", vlan = "%s" }
`, common, mRange, mRange)),
		e.write(t, "kill-b.toml", fmt.Sprintf(`
[bridge]
ageing = 120
%s
[[translation]]
name = "m"
a = { parent = "q0", outer = 100, inner = "%s", mtu = 1400 }
b = { parent = "v0", vlan = "%s", mtu = 1400 }

[[translation]]
name = "t"
a = { parent = "q0", outer = 101, inner = "1-%d" }
b = { parent = "v0", vlan = "%d-%d" }
`, common, mRange, mRange, toggled, 1001, 1000+toggled)),
	}
	ev := e.linkEvents(t)

	// Calibration: how long a switch to each configuration takes in this
	// boot and how many link notifications it makes, so that kill points
	// spread over the run. Both vary from run to run (linkwatch adds
	// notifications of its own, later): kills aim at the first 80% of the
	// time and 60% of the notifications, where the work is.
	e.bridgectl(t, 0, "apply", "-c", cfgs[0])
	var took [2]time.Duration
	var events [2]int64
	for _, i := range []int{1, 0} {
		from := ev.count.Load()
		r := e.bridgectl(t, 0, "apply", "-c", cfgs[i])
		took[i], events[i] = r.took, ev.count.Load()-from
		t.Logf("calibration: apply %s: %v, %d link notifications: %s", filepath.Base(cfgs[i]), took[i], events[i], firstLine(r.stdout))
	}
	at := 0 // the configuration the kernel is converged to

	killed, finished, drifted := 0, 0, 0
	round := 0
	for ; killed < kills && round < 4*kills; round++ {
		target := 1 - at
		var trigger string
		var wait func(done <-chan struct{})
		if rng.IntN(2) == 0 {
			delay := time.Duration(rng.Int64N(int64(took[target])*4/5 + 1))
			trigger = fmt.Sprintf("after %v", delay)
			wait = func(done <-chan struct{}) {
				select {
				case <-done:
				case <-time.After(delay):
				}
			}
		} else {
			k := 1 + rng.Int64N(max(events[target]*3/5, 1))
			trigger = fmt.Sprintf("after %d link notifications", k)
			wait = func(done <-chan struct{}) { ev.waitFor(ev.count.Load()+k, done) }
		}
		hit := e.killApply(t, cfgs[target], wait)
		if hit {
			killed++
		} else {
			finished++
		}
		r := e.exec(t, "bridgectl", "check", "-c", cfgs[target])
		if r.code != 0 && r.code != 1 {
			t.Fatalf("round %d: apply killed %s: check exit %d\n%s%s", round, trigger, r.code, r.stdout, r.stderr)
		}
		lines := 0
		if r.code == 1 {
			drifted++
			lines = strings.Count(r.stdout, "\n")
		}
		again := target
		if rng.IntN(4) == 0 {
			again = 1 - target // the operator changed their mind
		}
		ra := e.bridgectl(t, 0, "apply", "-c", cfgs[again])
		e.bridgectl(t, 0, "check", "-c", cfgs[again])
		at = again
		t.Logf("round %d: apply %s killed %s (hit: %v): check exit %d, %d drift lines; apply %s: %s",
			round, filepath.Base(cfgs[target]), trigger, hit, r.code, lines, filepath.Base(cfgs[again]), firstLine(ra.stdout))
	}
	t.Logf("%d rounds: %d runs killed, %d finished first; %d left drift behind", round, killed, finished, drifted)
	if killed < kills {
		t.Errorf("only %d of %d kills hit a running apply in %d rounds", killed, kills, round)
	}
	if r := e.bridgectl(t, 0, "apply", "-c", cfgs[at]); r.stdout != "in sync: no changes\n" {
		t.Errorf("apply after convergence: %q, want no changes", r.stdout)
	}

	// Converged means forwarding, too: the first and last translation.
	// The last is one of "m", whose MTU changes.
	e.guard(t, "unblock", cfgs[at])
	q, v := e.wire(t, "q0p"), e.wire(t, "v0p")
	for _, i := range []uint16{1, uint16(n)} {
		e.waitOperUp(t, []string{fmt.Sprintf("q0.s100.%d", i), fmt.Sprintf("v0.%d", i)})
		cross(t, q, qinq(100, i), v, dot1q(i))
		cross(t, v, dot1q(i), q, qinq(100, i))
	}
}

// killApply starts bridgectl apply, waits with wait (which returns early
// if the process ends), then SIGKILLs it. It reports whether the kill hit a
// running process; a run that finished first must have succeeded.
func (e *bcEnv) killApply(t *testing.T, cfg string, wait func(done <-chan struct{})) bool {
	t.Helper()
	c := e.cmd("bridgectl", "apply", "-c", cfg)
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var err error
	go func() { err = c.Wait(); close(done) }()
	wait(done)
	_ = c.Process.Signal(syscall.SIGKILL)
	<-done
	if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return true
	}
	if err != nil {
		t.Fatalf("bridgectl apply -c %s: %v\n%s", cfg, err, out.String())
	}
	return false
}

// linkEvents counts the kernel's link notifications (RTNLGRP_LINK) in the
// namespace: every link created, changed or deleted makes at least one.
type linkEvents struct {
	count atomic.Int64
	tick  chan struct{} // pulsed (without blocking) on every batch
}

func (e *bcEnv) linkEvents(t *testing.T) *linkEvents {
	t.Helper()
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: int(e.ns.Handle), Groups: 1 << (unix.RTNLGRP_LINK - 1)})
	if err != nil {
		t.Fatalf("link notifications in %s: %v", e.ns.Name, err)
	}
	// Lost notifications (a full socket buffer) only make a wait end
	// later; they must not end the count.
	if err := c.SetOption(netlink.NoENOBUFS, true); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	ev := &linkEvents{tick: make(chan struct{}, 1)}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			msgs, err := c.Receive()
			if err != nil {
				return // closed at cleanup
			}
			ev.count.Add(int64(len(msgs)))
			select {
			case ev.tick <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-stopped })
	return ev
}

// waitFor returns once count reaches n or done is closed.
func (ev *linkEvents) waitFor(n int64, done <-chan struct{}) {
	for ev.count.Load() < n {
		select {
		case <-done:
			return
		case <-ev.tick:
		}
	}
}
