//go:build integration

package tcguard

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// scalePorts is the number of ports of the scale test: 2000 by default,
// QB_TCGUARD_PORTS=8188 for the project's maximum.
func scalePorts(t *testing.T) int {
	if v := os.Getenv("QB_TCGUARD_PORTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			t.Fatalf("QB_TCGUARD_PORTS=%q", v)
		}
		return n
	}
	return 2000
}

// ports creates n/2 veth pairs and returns all 2*(n/2) ends as ports.
func (e *env) ports(t *testing.T, n int) []int {
	var ports []int
	for i := range n / 2 {
		a, b := e.veth(t, fmt.Sprintf("s%d", i), fmt.Sprintf("t%d", i))
		ports = append(ports, a, b)
	}
	return ports
}

// Bind of thousands of ports, timed; then Block and Unblock, which must not
// depend on the number of ports. Times are logged, never asserted (TCG).
func TestKernelScale(t *testing.T) {
	n := scalePorts(t)
	e := newEnv(t)
	start := time.Now()
	ports := e.ports(t, n)
	t.Logf("created %d veth ends in %v", len(ports), time.Since(start))

	start = time.Now()
	if err := e.g.Bind(ports); err != nil {
		t.Fatal(err)
	}
	t.Logf("Bind %d ports (fresh block): %v", len(ports), time.Since(start))
	start = time.Now()
	if err := e.g.Bind(ports); err != nil {
		t.Fatal(err)
	}
	t.Logf("Bind %d ports again (all present, verified): %v", len(ports), time.Since(start))
	start = time.Now()
	s := e.status(t, ports)
	t.Logf("Status with %d ports: %v", len(ports), time.Since(start))
	if s.State != Blocked || len(s.Bound) != len(ports) || len(s.Unbound)+len(s.Foreign) != 0 {
		t.Fatalf("state %v, %d bound, unbound %v, foreign %v", s.State, len(s.Bound), s.Unbound, s.Foreign)
	}

	const rounds = 10
	var unblock, block []time.Duration
	for range rounds {
		t0 := time.Now()
		if err := e.g.Unblock(); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		if err := e.g.Block(); err != nil {
			t.Fatal(err)
		}
		unblock, block = append(unblock, t1.Sub(t0)), append(block, time.Since(t1))
	}
	t.Logf("Unblock with %d ports: %s", len(ports), spread(unblock))
	t.Logf("Block with %d ports: %s", len(ports), spread(block))
	if got := e.blockFilters(t); len(got) != 2 || got[0] != guardDesc || got[1] != guardDesc {
		t.Fatalf("after the rounds: %q", got)
	}
}

func spread(ds []time.Duration) string {
	lo, hi, sum := ds[0], ds[0], time.Duration(0)
	for _, d := range ds {
		lo, hi, sum = min(lo, d), max(hi, d), sum+d
	}
	return fmt.Sprintf("min %v, mean %v, max %v over %d", lo, sum/time.Duration(len(ds)), hi, len(ds))
}
