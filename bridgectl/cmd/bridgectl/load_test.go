package main

import (
	"os"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl/config/configtest"
)

// runStderr runs bridgectl with args and returns its exit code and what it
// wrote to stderr.
func runStderr(t *testing.T, args ...string) (int, string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stderr
	os.Stderr = f
	code := run(append([]string{"bridgectl"}, args...))
	os.Stderr = saved
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return code, string(b)
}

// Every verb that reads the file refuses one over the limits, or one that
// is no regular file, with exit 2 before it reaches the namespace (which
// does not exist here, so reaching it would say so).
func TestUnusableFile(t *testing.T) {
	const nons = "qb-no-such-netns"
	us, err := configtest.WriteUnusable(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		for _, verb := range []string{"validate", "plan", "apply", "check", "status", "watch"} {
			t.Run(u.Name+"/"+verb, func(t *testing.T) {
				code, stderr := runStderr(t, verb, "-c", u.Path, "--netns", nons, "--state-dir", t.TempDir())
				if code != exitError || !strings.Contains(stderr, u.Path) || !strings.Contains(stderr, u.Sub) {
					t.Errorf("exit %d, want %d with %q; stderr:\n%s", code, exitError, u.Sub, stderr)
				}
				if strings.Contains(stderr, nons) {
					t.Errorf("%s reached the namespace with an unusable file:\n%s", verb, stderr)
				}
			})
		}
	}
}
