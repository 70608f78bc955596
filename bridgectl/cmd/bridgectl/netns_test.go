package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestBadNetNS: --netns takes only a namespace name (the check the agents
// use); anything else exits 2 before a path is built from it.
func TestBadNetNS(t *testing.T) {
	state := filepath.Join(t.TempDir(), "run")
	for _, ns := range []string{"../x", "a/b", ".", "..", "-x", "default"} {
		for _, verb := range []string{"down", "check"} {
			if got := run([]string{"bridgectl", verb, "--netns", ns, "--state-dir", state}); got != exitError {
				t.Errorf("bridgectl %s --netns %q: exit %d, want %d", verb, ns, got, exitError)
			}
		}
	}
	if _, err := os.Lstat(state); !os.IsNotExist(err) {
		t.Errorf("state directory touched: %v", err)
	}
}
