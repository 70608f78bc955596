package tcguard

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/qinqbridge/qinqbridge/internal/statedir"
)

// The open marker records the intent "opened". Only its presence counts; its
// content is for the humans reading /run. It lives in the namespace's state
// directory and goes through package statedir: never through a symlink,
// only in a directory nobody else can write.

func markerPath(dir string) string { return filepath.Join(dir, MarkerName) }

// writeMarker creates the marker durably: file and directory are fsynced
// before the filter may go, so that "filter gone" implies "marker present"
// after a crash even on a disk-backed state directory.
func writeMarker(dir string, block uint32) error {
	data := fmt.Appendf(nil, "guard of tc block %d opened at %s\n", block, time.Now().UTC().Format(time.RFC3339))
	if err := statedir.At(dir).WriteFile(MarkerName, data); err != nil {
		return fmt.Errorf("open marker: %w", err)
	}
	return nil
}

// removeMarker deletes the marker (absent already: fine) durably.
func removeMarker(dir string) error {
	if err := statedir.At(dir).Remove(MarkerName); err != nil {
		return fmt.Errorf("open marker: %w", err)
	}
	return nil
}

func markerExists(dir string) (bool, error) {
	ok, err := statedir.At(dir).Exists(MarkerName)
	if err != nil {
		return false, fmt.Errorf("open marker: %w", err)
	}
	return ok, nil
}
