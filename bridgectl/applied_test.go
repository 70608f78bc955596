package bridgectl

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/internal/statedir"
)

// openState opens the current namespace with a fresh state directory
// (netlink works unprivileged; nothing here touches the kernel).
func openState(t *testing.T, o Options) *Manager {
	t.Helper()
	if o.StateDir == "" {
		o.StateDir = filepath.Join(t.TempDir(), "run")
	}
	m, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func cfgNamed(t *testing.T, name string) (*config.Config, []byte) {
	t.Helper()
	raw := fmt.Appendf(nil, "[[translation]]\nname = %q\na = { parent = \"eth0\", outer = 100, inner = 200 }\nb = { parent = \"eth1\", vlan = 300 }\n", name)
	cfg, err := config.Parse("/etc/qinqbridge/"+name+".toml", raw)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, raw
}

// TestRecordConcurrent: applies recording at once (two processes: the
// agent and an operator) never fail on each other's temporary nor leave a
// torn record.
func TestRecordConcurrent(t *testing.T) {
	m := openState(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := range 8 {
		cfg, raw := cfgNamed(t, fmt.Sprintf("t%d", g))
		wg.Go(func() {
			for range 50 {
				if err := m.Record(cfg, raw); err != nil {
					errs <- err
					return
				}
				if _, err := m.Applied(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	entries, _ := os.ReadDir(m.Dir())
	for _, e := range entries {
		if e.Name() != appliedFile {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestAppliedNoSymlink: the applied record is never read or written
// through a symlink, and a state directory others may write is refused.
func TestAppliedNoSymlink(t *testing.T) {
	m := openState(t, Options{})
	cfg, raw := cfgNamed(t, "ours")
	if err := m.Record(cfg, raw); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(t.TempDir(), "planted.toml")
	_, theirs := cfgNamed(t, "theirs")
	os.WriteFile(planted, theirs, 0o600)
	p := filepath.Join(m.Dir(), appliedFile)
	os.Remove(p)
	if err := os.Symlink(planted, p); err != nil {
		t.Fatal(err)
	}
	if c, err := m.Applied(); err == nil {
		t.Fatalf("applied record read through a symlink: %s", c.Translations[0].Name)
	}
	if err := m.Record(cfg, raw); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(planted); string(b) != string(theirs) {
		t.Fatalf("the symlink's target was written: %q", b)
	}

	os.Chmod(m.Dir(), 0o777)
	_, aerr := m.Applied()
	for op, err := range map[string]error{"Record": m.Record(cfg, raw), "Applied": aerr} {
		var bad *statedir.BadDirError
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), m.Dir()) || !strings.Contains(err.Error(), "mode 0777") {
			t.Errorf("%s in a 0777 state directory: %v", op, err)
		}
	}
}

// TestOpenBadNetNS: bridgectl refuses a namespace name that is not one
// before it becomes a path (/run/netns/../x, /run/qinqbridge/../x).
func TestOpenBadNetNS(t *testing.T) {
	for _, ns := range []string{"../x", "a/b", ".", "..", "-x", "default"} {
		_, err := Open(Options{NetNS: ns, StateDir: t.TempDir()})
		if !errors.Is(err, statedir.ErrBadNetNS) {
			t.Errorf("Open(netns %q): %v, want ErrBadNetNS", ns, err)
		}
	}
}

// AppliedGroups answers only for the very bytes that were applied, and only
// from a record that carries the blocks.
func TestAppliedGroups(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	m := openState(t, Options{StateDir: dir})
	cfg, raw := cfgNamed(t, "vps")
	other := append([]byte("# edited\n"), raw...)
	if _, ok := AppliedGroups(Options{StateDir: dir}, raw); ok {
		t.Fatal("groups although nothing was applied")
	}
	if err := m.Record(cfg, raw); err != nil {
		t.Fatal(err)
	}
	rewrite := func(header string) func() {
		return func() {
			if err := m.dir.WriteFile(appliedFile, append([]byte(header), raw...)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name   string
		record func() // rewrites the record, if set
		raw    []byte
		want   string
		ok     bool
	}{
		{"the applied file", nil, raw, fmt.Sprintf("[{default %d}]", cfg.Guard.Block), true},
		{"another file", nil, other, "[]", false},
		{"a prefix of it", nil, raw[:len(raw)-1], "[]", false},
		{"a record of before groups", rewrite("# applied from x\n# guard block 7\n"), raw, "[]", false},
		{"block 0", rewrite("# applied from x\n# guard block 7\n# groups default=0\n"), raw, "[]", false},
		{"two groups", rewrite("# applied from x\n# guard block 7\n# groups default=7 east=5000\n"), raw, "[{default 7} {east 5000}]", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.record != nil {
				c.record()
			}
			got, ok := AppliedGroups(Options{StateDir: dir}, c.raw)
			var names []string
			for _, g := range got {
				names = append(names, fmt.Sprintf("{%s %d}", g.Name, g.Block))
			}
			if s := "[" + strings.Join(names, " ") + "]"; s != c.want || ok != c.ok {
				t.Fatalf("AppliedGroups = %s, %v; want %s, %v", s, ok, c.want, c.ok)
			}
		})
	}
	// The record still loads as the configuration it holds.
	if err := m.Record(cfg, raw); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Applied(); err != nil || got.Guard.Block != cfg.Guard.Block || len(got.Translations) != len(cfg.Translations) {
		t.Fatalf("Applied: %v, %v", got, err)
	}
}

// stateFiles is every file of the state directory with its content.
func stateFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// An apply records its outcome once it planned: success, or a failure on
// the way (LastApply); one refused before anything changed leaves the state
// directory as it was, byte for byte.
func TestLastApply(t *testing.T) {
	m, k := fakeManager(t)
	cfg, raw := parse(t, twoTranslations)
	if a, err := m.LastApply(); err != nil || a != nil {
		t.Fatalf("before any apply: %+v, %v", a, err)
	}
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	if a, err := m.LastApply(); err != nil || a == nil || !a.OK || a.Digest != cfg.Digest() || a.Error != "" {
		t.Fatalf("after an apply: %+v, %v", a, err)
	}

	before := stateFiles(t, m.Dir())
	missing, rawMissing := parse(t, strings.Replace(twoTranslations, `"eth1", vlan = 500`, `"eth2", vlan = 500`, 1))
	if v, _, err := m.Apply(missing, rawMissing); err == nil || v != nil {
		t.Fatalf("apply with a missing parent: view %v, error %v", v, err)
	}
	if after := stateFiles(t, m.Dir()); !maps.Equal(after, before) {
		t.Fatalf("a refused apply changed the state directory:\n%v\n%v", before, after)
	}

	edited, rawEdited := parse(t, strings.Replace(twoTranslations, "vlan = 500", "vlan = 501", 1))
	k.Fail = func(op string) error {
		if op == "create" {
			return syscall.ENOBUFS
		}
		return nil
	}
	if v, _, err := m.Apply(edited, rawEdited); err == nil || v == nil {
		t.Fatalf("apply failing on the way: view %v, error %v", v, err)
	}
	a, err := m.LastApply()
	if err != nil || a == nil || a.OK || a.Digest != edited.Digest() || !strings.Contains(a.Error, "no buffer space") {
		t.Fatalf("after a failed apply: %+v, %v", a, err)
	}
	if applied, err := m.Applied(); err != nil || applied.Digest() != cfg.Digest() {
		t.Fatalf("the earlier configuration is no longer the applied one: %v", err)
	}
}
