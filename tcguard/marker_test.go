package tcguard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMarker(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "default") // created on demand
	if ok, err := markerExists(Options{StateDir: dir}); ok || err != nil {
		t.Fatalf("fresh: %v %v", ok, err)
	}
	if err := removeMarker(Options{StateDir: dir}); err != nil {
		t.Fatalf("removing an absent marker: %v", err)
	}
	for range 2 {
		if err := writeMarker(Options{StateDir: dir, Block: 29026}); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := markerExists(Options{StateDir: dir}); !ok || err != nil {
		t.Fatalf("after write: %v %v", ok, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, MarkerName))
	if !strings.HasPrefix(string(b), "guard of group default, tc block 29026, opened at ") {
		t.Fatalf("content %q", b)
	}
	// Another group's guard has a marker of its own.
	east := Options{StateDir: dir, Block: 5000, Group: "east"}
	if ok, _ := markerExists(east); ok {
		t.Fatal("group east sees the default group's marker")
	}
	if err := writeMarker(east); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, MarkerName+".east")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := removeMarker(Options{StateDir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := markerExists(Options{StateDir: dir}); ok {
		t.Fatal("marker survived removal")
	}
}

func TestOpenValidates(t *testing.T) {
	if _, err := Open(Options{StateDir: t.TempDir()}); err == nil {
		t.Error("block 0 accepted")
	}
	if _, err := Open(Options{Block: 1}); err == nil {
		t.Error("empty state directory accepted")
	}
}
