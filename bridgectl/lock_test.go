package bridgectl

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/qinqbridge/qinqbridge/internal/statedir"
)

// TestManagerLock: a Manager opened with Lock holds the namespace's lock
// until Close, and its own Lock (Apply's, Down's) does not wait for it;
// another Manager of the namespace waits, bounded, and gets it after Close.
func TestManagerLock(t *testing.T) {
	root := filepath.Join(t.TempDir(), "run")
	holder := openState(t, Options{StateDir: root, Lock: true})
	unlock, err := holder.Lock()
	if err != nil {
		t.Fatalf("re-entering the held lock: %v", err)
	}
	unlock() // a no-op: the holder keeps it

	other := openState(t, Options{StateDir: root, LockWait: 20 * time.Millisecond})
	var te *statedir.LockTimeoutError
	if _, err := other.Lock(); !errors.As(err, &te) {
		t.Fatalf("lock held by another Manager: %v, want a timeout", err)
	}
	if _, err := other.Down(); !errors.As(err, &te) {
		t.Fatalf("Down while another holds the lock: %v, want a timeout", err)
	}
	if _, _, err := other.Apply(nil, nil); !errors.As(err, &te) {
		t.Fatalf("Apply while another holds the lock: %v, want a timeout", err)
	}
	if _, err := Open(Options{StateDir: root, Lock: true, LockWait: 20 * time.Millisecond}); !errors.As(err, &te) {
		t.Fatalf("Open with Lock while another holds it: %v, want a timeout", err)
	}
	holder.Close()
	unlock, err = other.Lock()
	if err != nil {
		t.Fatalf("after the holder closed: %v", err)
	}
	unlock()
}
