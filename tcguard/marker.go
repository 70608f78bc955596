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
func writeMarker(o Options) error {
	data := fmt.Appendf(nil, "guard of group %s, tc block %d, opened at %s\n", o.groupName(), o.Block, time.Now().UTC().Format(time.RFC3339))
	if err := statedir.At(o.StateDir).WriteFile(o.marker(), data); err != nil {
		return fmt.Errorf("open marker: %w", err)
	}
	return nil
}

// removeMarker deletes the marker (absent already: fine) durably.
func removeMarker(o Options) error {
	if err := statedir.At(o.StateDir).Remove(o.marker()); err != nil {
		return fmt.Errorf("open marker: %w", err)
	}
	return nil
}

func markerExists(o Options) (bool, error) {
	ok, err := statedir.At(o.StateDir).Exists(o.marker())
	if err != nil {
		return false, fmt.Errorf("open marker: %w", err)
	}
	return ok, nil
}
