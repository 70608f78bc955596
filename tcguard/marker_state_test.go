package tcguard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMarkerNoSymlink: the open marker is never written through a symlink
// (a planted one would truncate any file root can write), and a state
// directory others may write is refused, named with its mode.
func TestMarkerNoSymlink(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "default")
	if err := writeMarker(Options{StateDir: dir, Block: 29026}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(target, []byte("precious\n"), 0o600)
	os.Remove(markerPath(dir))
	if err := os.Symlink(target, markerPath(dir)); err != nil {
		t.Fatal(err)
	}
	if err := writeMarker(Options{StateDir: dir, Block: 29026}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Fatalf("written through the symlink: %q", b)
	}
	if fi, err := os.Lstat(markerPath(dir)); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("marker %v %v, want a regular file", fi, err)
	}

	os.Chmod(dir, 0o757)
	if err := writeMarker(Options{StateDir: dir, Block: 29026}); err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "mode 0757") {
		t.Errorf("marker in a 0757 directory: %v", err)
	}
	if _, err := markerExists(Options{StateDir: dir}); err == nil {
		t.Errorf("marker looked up in a 0757 directory")
	}
}
