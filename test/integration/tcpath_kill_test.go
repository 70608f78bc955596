//go:build integration

package integration

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

// Crash safety of apply in the tc datapath: apply is SIGKILLed after a
// random delay while switching between two configurations that differ in
// created, deleted and modified filters (QB_TC_KILLS kills that hit a
// running process, default 15). Whatever the point, check reads the
// result (exit 0 or 1), the guard is still blocked (nobody opened it: no
// filter may forward), and the next apply converges (check exits 0).
func TestTCDatapathKillNineConverges(t *testing.T) {
	kills := guardEnvInt(t, "QB_TC_KILLS", 15)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	e := newBCEnv(t)
	for _, l := range []string{"q0", "q0p"} {
		if err := e.ns.Link.LinkSetMTU(e.link(t, l), 1504); err != nil {
			t.Fatal(err)
		}
	}
	e.downAtCleanup(t)
	cfgs := [2]string{
		e.write(t, "tc-kill-a.toml", `datapath = "tc"
[[translation]]
name = "k"
a = { parent = "q0", outer = 100, inner = "1-300" }
b = { parent = "v0", vlan = "1-300" }
`),
		e.write(t, "tc-kill-b.toml", `datapath = "tc"
[[translation]]
name = "k"
a = { parent = "q0", outer = 100, inner = "1-200" }
b = { parent = "v0", vlan = "1-200" }

[[translation]]
name = "moved"
a = { parent = "q0", outer = 100, inner = "201-300" }
b = { parent = "v0", vlan = "1201-1300" }

[[translation]]
name = "new"
a = { parent = "q0", outer = 101, inner = "1-100" }
b = { parent = "v0", vlan = "2001-2100" }
`),
	}
	e.bridgectl(t, 0, "apply", "-c", cfgs[0])
	var took [2]time.Duration
	for _, i := range []int{1, 0} {
		took[i] = e.bridgectl(t, 0, "apply", "-c", cfgs[i]).took
	}
	t.Logf("calibration: %v, %v", took[1], took[0])
	at, killed, round := 0, 0, 0
	for ; killed < kills && round < 4*kills; round++ {
		target := 1 - at
		delay := time.Duration(rng.Int64N(int64(took[target])*4/5 + 1))
		hit := e.killApply(t, cfgs[target], func(done <-chan struct{}) {
			select {
			case <-done:
			case <-time.After(delay):
			}
		})
		if hit {
			killed++
		}
		if r := e.exec(t, "bridgectl", "check", "-c", cfgs[target]); r.code != 0 && r.code != 1 {
			t.Fatalf("round %d: killed after %v: check exit %d\n%s%s", round, delay, r.code, r.stdout, r.stderr)
		}
		if s := e.status(t, cfgs[target]); s.State != "blocked" {
			t.Fatalf("round %d: killed after %v: guard %s, want blocked: %+v", round, delay, s.State, s)
		}
		e.bridgectl(t, 0, "apply", "-c", cfgs[target])
		e.bridgectl(t, 0, "check", "-c", cfgs[target])
		at = target
		t.Logf("round %d: apply %s killed after %v (hit %v)", round, filepath.Base(cfgs[target]), delay, hit)
	}
	if killed < kills {
		t.Errorf("only %d of %d kills hit a running apply in %d rounds", killed, kills, round)
	}
	// Converged means forwarding, too.
	e.guard(t, "unblock", cfgs[at])
	q, v := e.wire(t, "q0p"), e.wire(t, "v0p")
	for _, i := range []uint16{1, 200} {
		cross(t, q, qinq(100, i), v, dot1q(i))
		cross(t, v, dot1q(i), q, qinq(100, i))
	}
}
