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

// lockName is the lock file in each namespace's state directory.
const lockName = "lock"

// LockTimeoutError is a lock not obtained in time.
type LockTimeoutError struct {
	Dir    string
	Holder int // the holder's pid (/proc/locks), 0 if not known
	Waited time.Duration
}

func (e *LockTimeoutError) Error() string {
	holder := ""
	if e.Holder > 0 {
		holder = fmt.Sprintf(" (pid %d)", e.Holder)
	}
	return fmt.Sprintf("another qinqbridge command holds the lock of %s%s: waited %s (%s/%s)",
		namespace(e.Dir), holder, e.Waited.Round(time.Millisecond), e.Dir, lockName)
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
	p, err := d.file(lockName)
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
			pid := holder(f)
			f.Close()
			return nil, &LockTimeoutError{Dir: d.path, Holder: pid, Waited: waited}
		}
		time.Sleep(min(poll, wait-waited))
		poll = min(2*poll, lockPollMax)
	}
	return func() { f.Close() }, nil // closing the last descriptor releases the flock
}

// holder is the pid holding the flock on f, from /proc/locks; 0 if not
// found. Nothing is written into the lock file: a command refused before
// it changed anything leaves the state directory as it was.
func holder(f *os.File) int {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0
	}
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return 0
	}
	return flockHolder(string(locks), unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
}

// flockHolder finds, in the text of /proc/locks, the pid of the granted
// flock on the file dev major:minor, inode ino. Lines look like
// "1: FLOCK  ADVISORY  WRITE 2330 00:1f:12345 0 EOF"; a waiter's has
// "->" after the number.
func flockHolder(locks string, major, minor uint32, ino uint64) int {
	want := fmt.Sprintf("%02x:%02x:%d", major, minor, ino)
	for _, line := range strings.Split(locks, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[1] != "FLOCK" || f[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil {
			return pid
		}
	}
	return 0
}
