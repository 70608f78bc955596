//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bridgectl's kernel tests reuse the guard's environment (a throwaway
// namespace with trunks q0 and v0 whose peers q0p and v0p stand for the
// switches, the binaries from $QB_BIN, a throwaway --state-dir) and add
// what checking bridgectl needs: configurations written on the fly, a
// canonical dump of every link to prove "nothing changed"
// (bridgectl_linkdump_test.go), and raw frames checked tag by tag
// (bridgectl_wire_test.go).

// bcEnv is a guard environment seen from bridgectl's side.
type bcEnv struct {
	*guardEnv
}

func newBCEnv(t *testing.T) *bcEnv {
	t.Helper()
	return &bcEnv{newGuardEnv(t)}
}

// write stores a configuration under the environment's directory.
func (e *bcEnv) write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// bridgectl runs bridgectl with the namespace and state directory options
// and checks its exit code.
func (e *bcEnv) bridgectl(t *testing.T, wantCode int, args ...string) cliResult {
	t.Helper()
	r := e.exec(t, "bridgectl", args...)
	if r.code != wantCode {
		t.Fatalf("bridgectl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, wantCode, r.stdout, r.stderr)
	}
	return r
}

// downAtCleanup deletes bridgectl's links when the test ends, before the
// namespace goes: the kernel takes a while per bridge port, and doing it in
// the namespace's asynchronous cleanup would hold rtnl while later tests run.
func (e *bcEnv) downAtCleanup(t *testing.T) {
	t.Cleanup(func() {
		r := e.exec(t, "bridgectl", "down")
		if r.code != 0 {
			t.Errorf("bridgectl down at cleanup: exit %d\n%s", r.code, r.stderr)
		}
		t.Logf("bridgectl down at cleanup: %v", r.took)
	})
}

// repoFile finds a file of the repository from the working directory (the
// package directory under `go test`, the repository under test/vm/run).
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, rel)
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatalf("no go.mod above the working directory: cannot find %s", rel)
		}
		dir = up
	}
}
