package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStopBadNetNSTouchesNoOtherInstance: a netns parameter that is not a
// namespace name ("../victim") must not reach another instance's state
// directory: stop succeeds and removes nothing.
func TestStopBadNetNSTouchesNoOtherInstance(t *testing.T) {
	h := newHarness(t, cfgAcme)
	victim := filepath.Join(h.stateDir, "../victim")
	if err := os.MkdirAll(victim, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(victim, reloadFailedFile)
	if err := os.WriteFile(p, []byte("digest\nreason\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.want("stop", []string{"OCF_RESKEY_netns=../victim"}, 0)
	if _, err := os.Stat(p); err != nil {
		t.Errorf("stop with netns ../victim removed %s: %v", p, err)
	}
}
