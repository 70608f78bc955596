package statedir

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// LockName is the lock file in each namespace's state directory.
const LockName = "lock"

// LockTimeoutError is a lock not obtained in time.
type LockTimeoutError struct {
	Dir    string
	Holder int // the pid the lock file names (the last holder: maybe gone), 0 if none
	Waited time.Duration
}

func (e *LockTimeoutError) Error() string {
	holder := ""
	if e.Holder > 0 {
		holder = fmt.Sprintf(" (pid %d?)", e.Holder)
	}
	return fmt.Sprintf("another qinqbridge command holds the lock of %s%s: waited %s (%s/%s)",
		namespace(e.Dir), holder, e.Waited.Round(time.Millisecond), e.Dir, LockName)
}

// namespace names a state directory's namespace for messages.
func namespace(dir string) string {
	name := dir[strings.LastIndexByte(dir, '/')+1:]
	if name == CurrentNS {
		return "the current namespace"
	}
	return "namespace " + name
}

// Poll intervals of Lock: short first (a CLI waits for a short holder),
// growing so that a long wait costs little.
const (
	lockPollMin = time.Millisecond
	lockPollMax = 100 * time.Millisecond
)

// Lock takes the namespace's exclusive lock, waiting at most wait, and
// returns the function that releases it. It is flock(2) on the lock file:
// the kernel releases it when the holder exits, also by kill -9, so a
// crashed holder never blocks the next command. Locks of separate Lock
// calls exclude each other also within one process.
func (d Dir) Lock(wait time.Duration) (unlock func(), err error) {
	p, err := d.file(LockName)
	if err != nil {
		return nil, err
	}
	if err := d.Ensure(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	start := time.Now()
	poll := lockPollMin
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
		waited := time.Since(start)
		if waited >= wait {
			f.Close()
			return nil, &LockTimeoutError{Dir: d.path, Holder: holder(p), Waited: waited}
		}
		time.Sleep(min(poll, wait-waited))
		poll = min(2*poll, lockPollMax)
	}
	// Who holds it, for the message of whoever waits next. Truncating
	// under the lock is safe: only a holder writes.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil // closing the last descriptor releases the flock
}

// holder is the pid a lock file names, 0 if unreadable.
func holder(path string) int {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return 0
	}
	defer f.Close()
	b := make([]byte, 32)
	n, _ := f.Read(b)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}
