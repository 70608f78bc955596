//go:build integration

package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Crash safety: tcguard block and unblock are SIGKILLed at random points
// until QB_GUARD_KILLS (default 24) kills have hit a running process, each
// time from the other state so the run has work to do. Whatever the point, the node is never left
// unguarded, and re-running the last requested command (sometimes the other
// one: the operator changed their mind) gives exactly that state, which real
// frames confirm. QB_GUARD_SEED replays a sequence.
func TestGuardKillNine(t *testing.T) {
	n := guardEnvInt(t, "QB_GUARD_KILL_TRANSLATIONS", 4)
	kills := guardEnvInt(t, "QB_GUARD_KILLS", 24)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("QB_GUARD_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("QB_GUARD_SEED=%q", v)
		}
		seed = s
	}
	t.Logf("QB_GUARD_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	e := newGuardEnv(t)
	cfg := e.config(t, n)
	e.apply(t, cfg)
	e.wantStatus(t, cfg, "blocked", 2*n)
	e.waitOperUp(t, guardPorts(n))
	p := e.openPeers(t)

	// How long a run takes in this boot, so that kill points spread from
	// before exec to about its exit. The median, not the longest: one slow
	// run (a cold cache, the VM's host busy) would put most kill points
	// after a typical run has exited, and too few kills would hit.
	var runs []time.Duration
	for range 4 {
		for _, op := range []string{"unblock", "block"} {
			runs = append(runs, e.guard(t, op, cfg).took)
		}
	}
	slices.Sort(runs)
	window := runs[len(runs)/2]
	t.Logf("runs took %v; kills land in 0..%v (the median) after the start", runs, window)

	stateOf := map[string]string{"block": "blocked", "unblock": "open"}
	other := map[string]string{"block": "unblock", "unblock": "block"}
	state := "blocked"
	killed, finished := 0, 0
	seen := map[string]int{}
	round := 0
	for ; killed < kills && round < 4*kills; round++ {
		op := "unblock"
		if state == "open" {
			op = "block"
		}
		delay := time.Duration(rng.Int64N(int64(window) + 1))
		if e.killAt(t, op, cfg, delay) {
			killed++
		} else {
			finished++
		}
		s := e.status(t, cfg)
		seen[s.State]++
		switch s.State {
		case "blocked", "open", "interrupted":
		default:
			t.Fatalf("round %d: %s killed after %v left the node %s: %+v", round, op, delay, s.State, s)
		}
		if s.PortsBound != 2*n {
			t.Fatalf("round %d: %s killed after %v: %d of %d ports bound", round, op, delay, s.PortsBound, 2*n)
		}
		again := op
		if rng.IntN(4) == 0 {
			again = other[op]
		}
		e.guard(t, again, cfg)
		state = stateOf[again]
		e.wantStatus(t, cfg, state, 2*n)
		e.confirm(t, p, cfg, fmt.Sprintf("round %d", round), n, state)
		t.Logf("round %d: %s killed after %v: %s; re-ran %s: %s, frames agree", round, op, delay, s.State, again, state)
	}
	t.Logf("%d rounds: %d runs killed, %d finished before the kill; states right after: %v", round, killed, finished, seen)
	if killed < kills {
		t.Errorf("only %d of %d kills hit a running process in %d rounds", killed, kills, round)
	}
}

// killAt starts tcguard op and SIGKILLs it after delay unless it finished
// first (then it must have succeeded). It reports whether the kill hit.
func (e *guardEnv) killAt(t *testing.T, op, cfg string, delay time.Duration) bool {
	t.Helper()
	c := e.cmd("tcguard", op, "-c", cfg)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tcguard %s: %v", op, err)
		}
		return false
	case <-timer.C:
	}
	_ = c.Process.Signal(syscall.SIGKILL)
	err := <-done
	if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return true
	}
	if err != nil {
		t.Fatalf("tcguard %s: %v", op, err)
	}
	return false
}

// confirm sends a few frames each way and checks that they all cross (open)
// or that the guard drops every one (blocked).
func (e *guardEnv) confirm(t *testing.T, p *guardPeers, cfg, phase string, n int, state string) {
	t.Helper()
	const k = 20 // per side
	var base uint64
	if state == "blocked" {
		base = e.status(t, cfg).DroppedPackets
	}
	for seq := range k {
		for side := range 2 {
			p.send(t, guardFrame(phase, side, seq, 1+seq%n), side)
		}
	}
	if state == "open" {
		guardWait(t, phase+": frames across", func() bool { return p.rx.total(phase) >= 2*k })
		if q, v, problems := p.rx.count(phase); q != k || v != k || len(problems) != 0 {
			t.Fatalf("%s: open, but %d and %d of %d frames crossed %v", phase, q, v, k, problems)
		}
		return
	}
	guardWait(t, phase+": frames dropped", func() bool { return e.status(t, cfg).DroppedPackets >= base+2*k })
	if d := e.status(t, cfg).DroppedPackets - base; d != 2*k {
		t.Fatalf("%s: blocked, the guard dropped %d frames, %d were sent", phase, d, 2*k)
	}
	if q, v, problems := p.rx.count(phase); q+v != 0 || len(problems) != 0 {
		t.Fatalf("%s: blocked, but %d frames crossed %v", phase, q+v, problems)
	}
}
