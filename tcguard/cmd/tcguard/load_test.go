package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runStderr runs tcguard with args and returns its exit code and what it
// wrote to stderr.
func runStderr(t *testing.T, args ...string) (int, string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stderr
	os.Stderr = f
	code := run(append([]string{"tcguard"}, args...))
	os.Stderr = saved
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return code, string(b)
}

// invalidFiles are configurations whose [guard] table is fine but whose
// translations are not; line is where the first problem is reported.
func invalidFiles() []struct {
	name, doc string
	line      int
} {
	huge := "[guard]\nblock = 7\n"
	for i := range 5 { // 5 × 4094 translations: more than config.MaxTranslations
		huge += fmt.Sprintf("[[translation]]\nname = \"r%d\"\na = { parent = \"eth0\", outer = %d, inner = \"1-4094\" }\nb = { parent = \"eth%d\", vlan = \"1-4094\" }\n", i, 100+i, i+1)
	}
	return []struct {
		name, doc string
		line      int
	}{
		{"no ends", "[guard]\nblock = 7\n[[translation]]\nname = \"t\"\n", 3},
		{"duplicate stack", "[guard]\nblock = 7\n" + oneTranslation + strings.Replace(oneTranslation, `"t"`, `"u"`, 1), 11},
		{"too many translations", huge, 19},
	}
}

// No verb acts on a file that status calls invalid: unblock and status
// stop at the file (exit 2, FILE:LINE) before reaching the namespace.
// The namespace does not exist, so reaching it would say so.
func TestInvalidFileOpensNothing(t *testing.T) {
	const nons = "qb-no-such-netns"
	for _, f := range invalidFiles() {
		path := filepath.Join(t.TempDir(), "bad.toml")
		if err := os.WriteFile(path, []byte(f.doc), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, verb := range []string{"unblock", "status"} {
			t.Run(f.name+"/"+verb, func(t *testing.T) {
				code, stderr := runStderr(t, verb, "-c", path, "--netns", nons, "--state-dir", t.TempDir())
				if code != exitError {
					t.Errorf("exit %d, want %d", code, exitError)
				}
				if want := fmt.Sprintf("%s:%d: ", path, f.line); !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
				if strings.Contains(stderr, nons) {
					t.Errorf("%s reached the namespace with an invalid file:\n%s", verb, stderr)
				}
			})
		}
	}
}

// block with an invalid file still closes (fail closed): it reports the
// file's problems, exits 2, and goes on to the block recorded as applied
// in the namespace — here the namespace does not exist, which it says.
func TestBlockInvalidFileStillCloses(t *testing.T) {
	const nons = "qb-no-such-netns"
	for _, f := range invalidFiles() {
		t.Run(f.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.toml")
			if err := os.WriteFile(path, []byte(f.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stderr := runStderr(t, "block", "-c", path, "--netns", nons, "--state-dir", t.TempDir())
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			if want := fmt.Sprintf("%s:%d: ", path, f.line); !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
			if !strings.Contains(stderr, nons) {
				t.Errorf("block did not try to close the applied block:\n%s", stderr)
			}
		})
	}
}
