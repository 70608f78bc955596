package tcguard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMarker(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "default") // created on demand
	if ok, err := markerExists(dir); ok || err != nil {
		t.Fatalf("fresh: %v %v", ok, err)
	}
	if err := removeMarker(dir); err != nil {
		t.Fatalf("removing an absent marker: %v", err)
	}
	for range 2 {
		if err := writeMarker(dir, 29026); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := markerExists(dir); !ok || err != nil {
		t.Fatalf("after write: %v %v", ok, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, MarkerName))
	if !strings.HasPrefix(string(b), "guard of tc block 29026 opened at ") {
		t.Fatalf("content %q", b)
	}
	for range 2 {
		if err := removeMarker(dir); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := markerExists(dir); ok {
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
