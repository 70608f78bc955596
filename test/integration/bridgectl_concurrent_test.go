//go:build integration

package integration

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Concurrent runs (the agent and an operator, the watch daemon and a CLI,
// two operators): bridgectl apply, apply of another file, down and tcguard
// unblock started at the same moment on one namespace. Every run exits 0
// or, at worst, reports the namespace's lock (never a kernel error from
// another run's half-done work: duplicate link indexes or names), and the
// namespace ends converged to the file of whichever apply ran last.
// Before the lock, the two applies of the first round both created the
// same links: one failed with "file exists" (exit 2).
func TestBridgectlConcurrentRunsConverge(t *testing.T) {
	n := guardEnvInt(t, "QB_BC_CONCURRENT_TRANSLATIONS", 60)
	e := newBCEnv(t)
	e.downAtCleanup(t)
	cfgs := map[string]string{
		"a": e.write(t, "conc-a.toml", fmt.Sprintf(`
[[translation]]
name = "k"
a = { parent = "q0", outer = 100, inner = "1-%d" }
b = { parent = "v0", vlan = "1-%d" }
`, n, n)),
		"b": e.write(t, "conc-b.toml", fmt.Sprintf(`
[bridge]
ageing = 120

[[translation]]
name = "k"
a = { parent = "q0", outer = 100, inner = "1-%d" }
b = { parent = "v0", vlan = "1-%d" }

[[translation]]
name = "t"
a = { parent = "q0", outer = 101, inner = "1-%d" }
b = { parent = "v0", vlan = "1001-%d" }
`, n, n, n/2, 1000+n/2)),
	}

	type run struct {
		name string
		args []string
	}
	apply := func(c string) run { return run{"bridgectl", []string{"apply", "-c", cfgs[c]}} }
	rounds := []struct {
		what string
		runs []run
	}{
		{"two applies of one file on an empty namespace", []run{apply("a"), apply("a")}},
		{"applies of two files", []run{apply("b"), apply("a"), apply("b")}},
		{"apply, down and apply", []run{apply("a"), {"bridgectl", []string{"down"}}, apply("b")}},
		{"applies and unblock", []run{apply("a"), {"tcguard", []string{"unblock", "-c", cfgs["a"]}}, apply("a")}},
	}
	for i, rd := range rounds {
		results := make([]cliResult, len(rd.runs))
		var start, wg sync.WaitGroup
		start.Add(1)
		for j, r := range rd.runs {
			wg.Go(func() {
				start.Wait()
				results[j] = e.exec(t, r.name, r.args...)
			})
		}
		start.Done()
		wg.Wait()
		for j, r := range results {
			t.Logf("round %d (%s): %s %s: exit %d in %v: %s", i, rd.what, rd.runs[j].name, strings.Join(rd.runs[j].args, " "), r.code, r.took, firstLine(r.stdout+r.stderr))
			if r.code != 0 && !strings.Contains(r.stderr, "holds the lock") {
				t.Errorf("round %d (%s): %s %s: exit %d\nstdout:\n%s\nstderr:\n%s", i, rd.what, rd.runs[j].name, strings.Join(rd.runs[j].args, " "), r.code, r.stdout, r.stderr)
			}
		}
		// Converged to one of the files (the last apply's): check of it is
		// clean, and a further apply of it changes nothing.
		var clean []string
		for _, c := range []string{"a", "b"} {
			if r := e.exec(t, "bridgectl", "check", "-c", cfgs[c]); r.code == 0 {
				clean = append(clean, c)
			} else if r.code != 1 {
				t.Fatalf("round %d: check %s: exit %d\n%s%s", i, c, r.code, r.stdout, r.stderr)
			}
		}
		downLast := len(clean) == 0 && strings.Contains(rd.what, "down")
		if len(clean) != 1 && !downLast {
			t.Fatalf("round %d (%s): check clean for %v, want exactly one file", i, rd.what, clean)
		}
		if downLast { // down ran last: the next apply builds everything
			e.bridgectl(t, 0, "apply", "-c", cfgs["a"])
			clean = []string{"a"}
		}
		if r := e.bridgectl(t, 0, "apply", "-c", cfgs[clean[0]]); r.stdout != "in sync: no changes\n" {
			t.Errorf("round %d: apply of %s after the race: %q, want no changes", i, clean[0], r.stdout)
		}
	}
}
