package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStopBadNetNSTouchesNoOtherInstance: a netns parameter that is not a
// namespace name ("../victim") must not reach another instance's state
// directory: stop succeeds (nothing of ours can exist there) and removes
// nothing.
func TestStopBadNetNSTouchesNoOtherInstance(t *testing.T) {
	for _, ns := range []string{"../victim", ".."} {
		t.Run(ns, func(t *testing.T) {
			h := newHarness(t, cfgTwo)
			victim := filepath.Join(h.stateDir, ns) // where an unchecked join leads
			if err := os.MkdirAll(victim, 0o700); err != nil {
				t.Fatal(err)
			}
			var files []string
			for _, f := range []string{startedFile, scoreFile} {
				p := filepath.Join(victim, f)
				if err := os.WriteFile(p, []byte("block 29026\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				files = append(files, p)
			}
			h.want("stop", []string{"OCF_RESKEY_netns=" + ns}, 0)
			for _, p := range files {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("stop with netns %q removed %s: %v", ns, p, err)
				}
			}
		})
	}
}
