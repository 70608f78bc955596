//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl/config/configtest"
)

// Every invalid configuration of bridgectl/config/testdata/bad (each opens
// with "# want: LINE: SUBSTRING" lines, one per expected error) makes
// apply and validate exit 2 with every error as FILE:LINE: ..., and leaves
// a namespace where a good configuration was applied exactly as it was:
// the link dump byte for byte, and the recorded applied state.
func TestBridgectlBadConfigsTouchNothing(t *testing.T) {
	files, err := filepath.Glob(repoFile(t, "bridgectl/config/testdata/bad/*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("%d bad configurations, want at least 30", len(files))
	}
	e := newBCEnv(t)
	good := e.write(t, "good.toml", driftConfig)
	e.bridgectl(t, 0, "apply", "-c", good)
	e.settleLinks(t)
	before, state := e.linkDump(t), dirSnapshot(t, e.state)

	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".toml"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The announced messages cite other lines as NAME:LINE, as
			// the config package's own tests parse the file under its
			// base name; the CLI names it by the path it was given.
			wants, err := configtest.Wants([]byte(strings.ReplaceAll(string(data), filepath.Base(path)+":", path+":")))
			if err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"apply", "validate"} {
				r := e.bridgectl(t, 2, cmd, "-c", path)
				for _, w := range wants {
					if !hasLineWith(r.stderr, path+":"+strconv.Itoa(w.Line)+": ", w.Sub) {
						t.Errorf("%s: no error line %s:%d: ...%s...; stderr:\n%s", cmd, path, w.Line, w.Sub, r.stderr)
					}
				}
				e.sameDump(t, cmd+" "+filepath.Base(path), before)
				if s := dirSnapshot(t, e.state); s != state {
					t.Fatalf("%s %s changed the state directory:\n%s", cmd, filepath.Base(path), lineDiff(state, s))
				}
			}
		})
	}
	e.bridgectl(t, 0, "check", "-c", good)
}

// hasLineWith reports whether a line of out starts with prefix and contains
// sub after it.
func hasLineWith(out, prefix, sub string) bool {
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, prefix); ok && strings.Contains(rest, sub) {
			return true
		}
	}
	return false
}
