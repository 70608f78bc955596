package ocf

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// binDir holds binaries built by the tests. It is world-readable because
// ocf-tester runs the agent's meta-data as nobody.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	// Tests must not depend on whether the machine runs journald.
	journalEnabled = func() bool { return false }

	dir, err := os.MkdirTemp("", "ocf-test-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// exampleAgent builds ocf/internal/exampleagent once and returns its path.
func exampleAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "exampleagent")
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("go tool not in PATH: %w", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./internal/exampleagent")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build ./internal/exampleagent: %v\n%s", err, out.String())
			return
		}
		buildErr = os.Chmod(bin, 0o755)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// requireFile fails (never skips) when a file the tests need is missing:
// `make test` installs these packages, and a skipped check is a check that
// silently stopped running.
func requireFile(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing (%v): install the Debian package %s (apt-get install %s, or make deps)", path, err, pkg, pkg)
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
