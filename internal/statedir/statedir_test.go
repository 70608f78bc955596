package statedir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestCheckNetNS(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"lab", true},
		{"qb-node-1", true},
		{"a.b", true},
		{"..x", true},
		{strings.Repeat("n", 255), true},
		{"", false},
		{".", false},
		{"..", false},
		{"../x", false},
		{"a/b", false},
		{"/abs", false},
		{"x/", false},
		{"a\x00b", false},
		{"-n", false},
		{"default", false},
		{strings.Repeat("n", 256), false},
	} {
		err := CheckNetNS(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckNetNS(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadNetNS) {
			t.Errorf("CheckNetNS(%q) = %v, not ErrBadNetNS", tc.name, err)
		}
		if _, nerr := New("/run/qinqbridge", tc.name); tc.name != "" && (nerr == nil) != tc.ok {
			t.Errorf("New(%q) = %v, want ok %v", tc.name, nerr, tc.ok)
		}
	}
}

func TestNewPath(t *testing.T) {
	d, err := New("/run/qinqbridge", "")
	if err != nil || d.Path() != "/run/qinqbridge/default" {
		t.Fatalf("current namespace: %q %v", d.Path(), err)
	}
	d, err = New("/run/qinqbridge/", "lab")
	if err != nil || d.Path() != "/run/qinqbridge/lab" {
		t.Fatalf("lab: %q %v", d.Path(), err)
	}
}

// root is a fresh state root (created 0700 on first use).
func root(t *testing.T) string { return filepath.Join(t.TempDir(), "run") }

func TestReadWriteRemove(t *testing.T) {
	d, _ := New(root(t), "lab")
	if _, err := d.ReadFile("x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read before anything exists: %v", err)
	}
	if err := d.Remove("x"); err != nil {
		t.Fatalf("remove before anything exists: %v", err)
	}
	if ok, err := d.Exists("x"); ok || err != nil {
		t.Fatalf("exists before anything exists: %v %v", ok, err)
	}
	for _, s := range []string{"one", "two"} {
		if err := d.WriteFile("x", []byte(s)); err != nil {
			t.Fatal(err)
		}
		if b, err := d.ReadFile("x"); err != nil || string(b) != s {
			t.Fatalf("read %q %v, want %q", b, err, s)
		}
	}
	for _, p := range []string{filepath.Dir(d.Path()), d.Path()} {
		if fi, err := os.Lstat(p); err != nil || fi.Mode().Perm() != 0o700 || !fi.IsDir() {
			t.Errorf("%s: %v %v, want a directory 0700", p, fi.Mode(), err)
		}
	}
	if fi, _ := os.Lstat(filepath.Join(d.Path(), "x")); fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode())
	}
	if ok, err := d.Exists("x"); !ok || err != nil {
		t.Fatalf("exists: %v %v", ok, err)
	}
	if err := d.Remove("x"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadFile("x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read after remove: %v", err)
	}
	entries, _ := os.ReadDir(d.Path())
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/b"} {
		if err := d.WriteFile(bad, nil); err == nil {
			t.Errorf("WriteFile(%q) accepted", bad)
		}
	}
}

func TestSymlinkRefused(t *testing.T) {
	r := root(t)
	d, _ := New(r, "lab")
	if err := d.WriteFile("x", []byte("ours")); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "target")
	os.WriteFile(target, []byte("theirs"), 0o600)

	// A symlinked state file is neither read nor written through.
	os.Remove(filepath.Join(d.Path(), "x"))
	if err := os.Symlink(target, filepath.Join(d.Path(), "x")); err != nil {
		t.Fatal(err)
	}
	if b, err := d.ReadFile("x"); err == nil {
		t.Errorf("read through a symlink: %q", b)
	}
	if err := d.WriteFile("x", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "theirs" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if err := os.Symlink(target, filepath.Join(d.Path(), lockName)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lock(time.Second); err == nil {
		t.Error("lock through a symlink")
	}

	// A symlinked namespace directory is refused, for every operation.
	other := filepath.Join(t.TempDir(), "other")
	os.Mkdir(other, 0o700)
	if err := os.Symlink(other, filepath.Join(r, "evil")); err != nil {
		t.Fatal(err)
	}
	e, _ := New(r, "evil")
	checkRefused(t, e, e.Path(), "symbolic link")
	if entries, _ := os.ReadDir(other); len(entries) != 0 {
		t.Errorf("written through the symlinked directory: %v", entries)
	}

	// So is a symlinked root.
	lr := filepath.Join(t.TempDir(), "lroot")
	os.Symlink(r, lr)
	l, _ := New(lr, "lab")
	checkRefused(t, l, lr, "symbolic link")
}

func TestOwnerAndModeRefused(t *testing.T) {
	for _, mode := range []fs.FileMode{0o755, 0o750, 0o711, 0o777, 0o770, 0o702, 0o700 | fs.ModeSticky} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			r := root(t)
			d, _ := New(r, "lab")
			if err := d.Ensure(); err != nil {
				t.Fatal(err)
			}
			os.Chmod(d.Path(), mode)
			checkRefused(t, d, d.Path(), fmt.Sprintf("mode %04o", unixPerm(mode)))
			os.Chmod(d.Path(), 0o700)
			os.Chmod(r, mode)
			if mode.Perm()&0o022 != 0 { // a root others can write
				checkRefused(t, d, r, fmt.Sprintf("mode %04o", unixPerm(mode)))
			} else if err := d.WriteFile("x", nil); err != nil {
				t.Errorf("root of mode %04o: %v", unixPerm(mode), err)
			}
		})
	}
	t.Run("owner", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give a directory away")
		}
		d, _ := New(root(t), "lab")
		d.Ensure()
		os.Chown(d.Path(), 65534, 65534)
		checkRefused(t, d, d.Path(), "owner uid 65534")
	})
	t.Run("not a directory", func(t *testing.T) {
		r := root(t)
		os.Mkdir(r, 0o700)
		os.WriteFile(filepath.Join(r, "lab"), nil, 0o600)
		d, _ := New(r, "lab")
		checkRefused(t, d, d.Path(), "not a directory")
	})
}

// checkRefused checks that every operation on d fails with an error naming
// path and why.
func checkRefused(t *testing.T, d Dir, path, why string) {
	t.Helper()
	_, lerr := d.Lock(time.Second)
	_, rerr := d.ReadFile("x")
	_, xerr := d.Exists("x")
	for op, err := range map[string]error{
		"Ensure": d.Ensure(), "WriteFile": d.WriteFile("x", []byte("y")), "Remove": d.Remove("x"),
		"Lock": lerr, "ReadFile": rerr, "Exists": xerr,
	} {
		var bad *BadDirError
		if !errors.As(err, &bad) || bad.Path != path || !strings.Contains(err.Error(), why) {
			t.Errorf("%s: %v, want refused: %s: %s", op, err, path, why)
		}
	}
}

// TestConcurrentWriters: many goroutines of several processes replace the
// same file; a reader never sees anything but one whole version, and no
// temporary is left behind.
func TestConcurrentWriters(t *testing.T) {
	r := root(t)
	d, _ := New(r, "lab")
	if err := d.WriteFile("x", version("init")); err != nil {
		t.Fatal(err)
	}
	const procs, rounds = 3, 200
	var cmds []*exec.Cmd
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
		cmd.Env = append(os.Environ(), "STATEDIR_HELPER=writer", "STATEDIR_ROOT="+r, fmt.Sprintf("STATEDIR_ID=p%d", i))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() { writeRounds(d, fmt.Sprintf("g%d", g), rounds) })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		for _, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Errorf("writer process: %v", err)
			}
		}
		close(done)
	}()
	reads := 0
	for running := true; running; reads++ {
		select {
		case <-done:
			running = false
		default:
		}
		b, err := d.ReadFile("x")
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		if !whole(b) {
			t.Fatalf("read %d: torn content %q", reads, b)
		}
	}
	entries, _ := os.ReadDir(d.Path())
	if len(entries) != 1 {
		t.Errorf("entries left: %v", entries)
	}
}

// version is a recognisable, self-checking content bigger than a page.
func version(id string) []byte {
	line := id + strings.Repeat(".", 63-len(id)) + "\n"
	return []byte(strings.Repeat(line, 128))
}

func whole(b []byte) bool {
	id, _, ok := bytes.Cut(b, []byte("."))
	return ok && len(id) > 0 && bytes.Equal(b, version(string(id)))
}

func writeRounds(d Dir, id string, n int) {
	for i := range n {
		if err := d.WriteFile("x", version(fmt.Sprintf("%s-%d", id, i))); err != nil {
			panic(err)
		}
	}
}

// TestHelperWriter is a writer process of TestConcurrentWriters and a lock
// holder of TestLockAcrossProcesses.
func TestHelperWriter(t *testing.T) {
	d, _ := New(os.Getenv("STATEDIR_ROOT"), "lab")
	switch os.Getenv("STATEDIR_HELPER") {
	case "writer":
		writeRounds(d, os.Getenv("STATEDIR_ID"), 200)
	case "holder":
		if _, err := d.Lock(time.Minute); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Hour) // until killed
	default:
		t.Skip("helper process only")
	}
}

func TestLockTimeout(t *testing.T) {
	d, _ := New(root(t), "lab")
	unlock, err := d.Lock(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Even within one process, a second Lock waits: flock locks belong to
	// open files.
	_, err = d.Lock(20 * time.Millisecond)
	var te *LockTimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("second lock: %v, want a timeout", err)
	}
	want := fmt.Sprintf("another qinqbridge command holds the lock of namespace lab (pid %d): waited ", os.Getpid())
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), filepath.Join(d.Path(), lockName)) {
		t.Errorf("message %q, want it to start with %q and name the lock file", err, want)
	}
	unlock()
	unlock2, err := d.Lock(time.Second)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()

	cur, _ := New(root(t), "")
	u, _ := cur.Lock(time.Second)
	defer u()
	if _, err := cur.Lock(0); err == nil || !strings.Contains(err.Error(), "lock of the current namespace") {
		t.Errorf("current namespace: %v", err)
	}
}

// TestLockAcrossProcesses: another process's lock makes Lock wait and time
// out naming it; once the holder is killed (-9) the kernel releases it.
func TestLockAcrossProcesses(t *testing.T) {
	r := root(t)
	d, _ := New(r, "lab")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
	cmd.Env = append(os.Environ(), "STATEDIR_HELPER=holder", "STATEDIR_ROOT="+r)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("holder: %q %v", buf, err)
	}
	_, err := d.Lock(50 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("(pid %d)", cmd.Process.Pid)) {
		t.Fatalf("lock held by %d: %v", cmd.Process.Pid, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	unlock, err := d.Lock(time.Minute)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	unlock()
}

func TestFlockHolder(t *testing.T) {
	const locks = `1: FLOCK  ADVISORY  WRITE 23207 fe:00:5310483 0 EOF
1: -> FLOCK  ADVISORY  WRITE 24040 fe:00:5310483 0 EOF
2: POSIX  ADVISORY  WRITE 900 00:1f:77 0 EOF
3: FLOCK  ADVISORY  WRITE 4242 103:02:77 0 EOF
`
	for _, tc := range []struct {
		major, minor uint32
		ino          uint64
		want         int
	}{
		{0xfe, 0, 5310483, 23207},
		{0x103, 2, 77, 4242},
		{0, 0x1f, 77, 0}, // a POSIX lock is not ours
		{0xfe, 0, 1, 0},
	} {
		if got := flockHolder(locks, tc.major, tc.minor, tc.ino); got != tc.want {
			t.Errorf("%x:%x:%d: pid %d, want %d", tc.major, tc.minor, tc.ino, got, tc.want)
		}
	}
}
