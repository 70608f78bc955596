package tcguard

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The open marker records the intent "opened". Only its presence counts; its
// content is for the humans reading /run.

func markerPath(dir string) string { return filepath.Join(dir, MarkerName) }

// writeMarker creates the marker durably: file and directory are fsynced
// before the filter may go, so that "filter gone" implies "marker present"
// after a crash even on a disk-backed state directory.
func writeMarker(dir string, block uint32) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("open marker: %w", err)
	}
	p := markerPath(dir)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("open marker: %w", err)
	}
	_, werr := fmt.Fprintf(f, "guard of tc block %d opened at %s\n", block, time.Now().UTC().Format(time.RFC3339))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("open marker %s: %w", p, err)
	}
	return syncDir(dir)
}

// removeMarker deletes the marker (absent already: fine) durably.
func removeMarker(dir string) error {
	p := markerPath(dir)
	err := os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open marker: %w", err)
	}
	return syncDir(dir)
}

func markerExists(dir string) (bool, error) {
	_, err := os.Lstat(markerPath(dir))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("open marker: %w", err)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open marker directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("open marker directory %s: %w", dir, err)
	}
	return nil
}
