// Package statedir is THE state directory of qinqbridge: one directory per
// network namespace under a root (/run/qinqbridge), holding bridgectl's
// applied record, tcguard's open marker, the agents' markers and the
// namespace's lock. Every state file is read and written through it, so
// that every one gets the same guarantees:
//
//   - the namespace name is checked (CheckNetNS) before it becomes a path;
//   - the namespace's directory is a directory (never a followed symlink),
//     owned by the effective uid, mode 0700, and the root one that nobody
//     else can write (created 0700) — anything else is refused with an
//     error naming the directory, its owner and mode: whoever else can
//     write there can plant a symlink, or a marker that opens the guard;
//   - no state file is opened through a symlink (O_NOFOLLOW);
//   - a file is replaced atomically and durably: a unique temporary,
//     fsync of the file, rename, fsync of the directory — after a crash it
//     holds the old content or the new one, never a mix, also with
//     several writers at once;
//   - Lock serialises the mutating commands and agent actions of one
//     namespace (flock: the kernel releases it when its holder dies).
package statedir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxFileSize bounds what ReadFile reads: state files are small (the
// largest, the applied record, is a copy of the configuration), so a huge
// one is not ours.
const maxFileSize = 64 << 20

// Dir is one namespace's state directory. It does no I/O until used:
// read-only callers (status, monitors) never create it.
type Dir struct {
	root string // its parent, checked too; "" for At
	path string
}

// New returns the state directory of namespace netns ("" for the caller's
// own, named CurrentNS) under root.
func New(root, netns string) (Dir, error) {
	name := netns
	if name == "" {
		name = CurrentNS
	} else if err := CheckNetNS(netns); err != nil {
		return Dir{}, err
	}
	return Dir{root: filepath.Clean(root), path: filepath.Join(root, name)}, nil
}

// At returns path as a state directory, for callers given the namespace's
// directory itself (tcguard.Options): only it is checked, its parent is
// the caller's business.
func At(path string) Dir {
	if path == "" {
		return Dir{}
	}
	return Dir{path: filepath.Clean(path)}
}

// Path is the directory's path.
func (d Dir) Path() string { return d.path }

// Ensure creates the root and the directory (0700) if missing, and checks
// both.
func (d Dir) Ensure() error {
	if d.path == "" {
		return errors.New("state directory: no path")
	}
	parent := d.root
	if parent == "" {
		parent = filepath.Dir(d.path)
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if d.root != "" {
		if err := checkDir(d.root, false); err != nil {
			return err
		}
	}
	if err := os.Mkdir(d.path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("state directory: %w", err)
	}
	if err := checkDir(d.path, true); err != nil {
		return err
	}
	return nil
}

// check checks the root and the directory that exist; a missing one is
// fs.ErrNotExist.
func (d Dir) check() error {
	if d.path == "" {
		return errors.New("state directory: no path")
	}
	if d.root != "" {
		if err := checkDir(d.root, false); err != nil {
			return err
		}
	}
	return checkDir(d.path, true)
}

// BadDirError is a state directory refused: not a directory, or someone
// else than this process's euid owns it or may write in it.
type BadDirError struct {
	Path string
	Why  string
}

func (e *BadDirError) Error() string {
	return fmt.Sprintf("state directory %s refused: %s", e.Path, e.Why)
}

// checkDir checks one directory without following a symlink: owned by the
// euid and, if strict, mode 0700, else writable by the owner only.
func checkDir(p string, strict bool) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return &BadDirError{p, "no owner information"}
	}
	owner, mode, euid := st.Uid, fi.Mode(), uint32(os.Geteuid())
	switch {
	case mode&fs.ModeSymlink != 0:
		return &BadDirError{p, "a symbolic link; want a directory owned by uid " + fmt.Sprint(euid) + ", mode 0700"}
	case !mode.IsDir():
		return &BadDirError{p, fmt.Sprintf("not a directory (%s)", mode.Type())}
	case strict && (owner != euid || unixPerm(mode) != 0o700):
		return &BadDirError{p, fmt.Sprintf("owner uid %d, mode %04o; want owner uid %d, mode 0700", owner, unixPerm(mode), euid)}
	case !strict && (owner != euid || mode.Perm()&0o022 != 0):
		return &BadDirError{p, fmt.Sprintf("owner uid %d, mode %04o; want owner uid %d, writable by it only", owner, unixPerm(mode), euid)}
	}
	return nil
}

// unixPerm is mode's permission bits as chmod(1) writes them.
func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

func (d Dir) file(name string) (string, error) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return "", fmt.Errorf("state file %q: not a file name", name)
	}
	return filepath.Join(d.path, name), nil
}

// ReadFile returns a state file's content; a missing file (or directory)
// is fs.ErrNotExist. A symlink is refused (ELOOP), and so is a file over
// maxFileSize.
func (d Dir) ReadFile(name string) ([]byte, error) {
	p, err := d.file(name)
	if err != nil {
		return nil, err
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("state file %s: not a regular file (%s)", p, fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("state file %s: larger than %d bytes", p, maxFileSize)
	}
	return b, nil
}

// Exists reports whether a state file is there (a symlink counts: it is
// not followed, and a marker's presence is what counts).
func (d Dir) Exists(name string) (bool, error) {
	p, err := d.file(name)
	if err != nil {
		return false, err
	}
	if err := d.check(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	_, err = os.Lstat(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// WriteFile replaces a state file with data (mode 0600) atomically and
// durably. The temporary has a unique name (O_EXCL, never through a
// symlink), so concurrent writers never write into one file; the last
// rename wins whole.
func (d Dir) WriteFile(name string, data []byte) error {
	p, err := d.file(name)
	if err != nil {
		return err
	}
	if err := d.Ensure(); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.path, "."+name+".*") // O_RDWR|O_CREATE|O_EXCL, mode 0600
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p) // replaces a symlink itself, never its target
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("state file %s: %w", p, err)
	}
	return d.sync()
}

// Remove deletes a state file durably; a missing one is fine. A symlink is
// removed, not followed.
func (d Dir) Remove(name string) error {
	p, err := d.file(name)
	if err != nil {
		return err
	}
	if err := d.check(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("state file: %w", err)
	}
	return d.sync()
}

// sync makes the directory's entries (a rename, a removal) durable.
func (d Dir) sync() error {
	f, err := os.OpenFile(d.path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("state directory %s: %w", d.path, err)
	}
	return nil
}
