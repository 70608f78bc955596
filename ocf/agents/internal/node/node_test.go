package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/ocf"
)

// DirFor must name the directory bridgectl uses, or stop of a guard whose
// namespace is gone would leave its started marker behind.
func TestDirForMatchesManager(t *testing.T) {
	dir := t.TempDir()
	m, err := bridgectl.Open(bridgectl.Options{StateDir: dir})
	if err != nil {
		t.Skipf("no rtnetlink here: %v", err)
	}
	defer m.Close()
	if got, want := DirFor(bridgectl.Options{StateDir: dir}), m.Dir(); got != want {
		t.Fatalf("DirFor %q, Manager.Dir %q", got, want)
	}
	if got := DirFor(bridgectl.Options{NetNS: "lab"}); got != filepath.Join(defaults.StateDir, "lab") {
		t.Fatalf("DirFor with netns: %q", got)
	}
}

func TestCheckNetNS(t *testing.T) {
	for _, name := range []string{"a/b", ".", "..", "x\x00"} {
		if err := CheckNetNS(name); !errors.Is(err, ErrBadNetNS) || !Absent(err) {
			t.Errorf("%q: %v", name, err)
		}
	}
	if err := CheckNetNS("qb-surely-not-a-namespace"); !errors.Is(err, ErrNoNetNS) || !Absent(err) {
		t.Errorf("missing namespace: %v", err)
	}
	if err := CheckNetNS(""); err != nil {
		t.Errorf("own namespace: %v", err)
	}
	if _, err := Open(bridgectl.Options{NetNS: "qb-surely-not-a-namespace"}); !errors.Is(err, ErrNoNetNS) {
		t.Errorf("Open of a missing namespace: %v", err)
	}
}

func TestLoadConfigStatuses(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("[[translation]]\nname = \"x\"\na = { parent = \"e0\", vlan = 1 }\nb = { parent = \"e1\", vlan = 2 }\n"), 0o644)
	os.WriteFile(bad, []byte("[[translation]]\nname = 7\n"), 0o644)
	for _, tc := range []struct {
		path string
		want ocf.Status
	}{
		{good, ocf.Success},
		{bad, ocf.ErrConfigured},
		{"relative.toml", ocf.ErrConfigured},
		{filepath.Join(dir, "none.toml"), ocf.ErrInstalled},
		{dir, ocf.ErrGeneric}, // a directory
	} {
		_, _, err := LoadConfig(tc.path)
		if got := ocf.StatusOf(err); got != tc.want {
			t.Errorf("%s: %v (%v), want %v", tc.path, got, err, tc.want)
		}
	}
	_, _, err := LoadConfig(bad)
	if !strings.Contains(err.Error(), bad+":2:") {
		t.Errorf("reason lacks FILE:LINE: %v", err)
	}
}

func TestSummarize(t *testing.T) {
	err := errors.Join(errors.New("a"), errors.New("b\n"), errors.New("c"), errors.New("d"))
	if got := Summarize(err, 3); got != "a; b; c (and 1 more)" {
		t.Errorf("%q", got)
	}
	if got := Summarize(errors.New("one"), 3); got != "one" {
		t.Errorf("%q", got)
	}
}

func TestWriteRemoveFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "f")
	for _, content := range []string{"one\n", "two\n"} {
		if err := WriteFile(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Fatalf("content %q", b)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	for range 2 {
		if err := RemoveFile(p); err != nil {
			t.Fatal(err)
		}
	}
}
