package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl/config/configtest"
)

// TestBad checks that each file in testdata/bad gives exactly the errors its
// header announces, at those lines, in that order.
func TestBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 35 {
		t.Fatalf("only %d bad files", len(files))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".toml"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ws, err := configtest.Wants(data)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Parse(name, data)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse = %v, %v; want Errors", cfg, err)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config along with errors")
			}
			ok := len(errs) == len(ws)
			for i := 0; ok && i < len(ws); i++ {
				e := errs[i]
				ok = e.Pos.File == name && e.Pos.Line == ws[i].Line && strings.Contains(e.Msg, ws[i].Sub)
			}
			if !ok {
				var b strings.Builder
				for _, w := range ws {
					b.WriteString("\n  " + strconv.Itoa(w.Line) + ": " + w.Sub)
				}
				t.Errorf("got errors:\n%v\nwant:%s", errs, b.String())
			}
		})
	}
}

// TestGood checks that each file in testdata/good parses.
func TestGood(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no good files")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".toml"), func(t *testing.T) {
			cfg, _, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, cfg)
		})
	}
}

// checkInvariants checks what every valid config must satisfy: names fit
// and are unique (a shared S-tag link is one link under one name), ids are
// valid, parents are not generated names.
func checkInvariants(t *testing.T, cfg *Config) {
	t.Helper()
	owner := map[string]string{} // name → identity
	claim := func(name, id string) {
		if len(name) > maxIfname || name == "" {
			t.Errorf("name %q is not 1..%d bytes", name, maxIfname)
		}
		if prev, ok := owner[name]; ok && prev != id {
			t.Errorf("name %q used by %s and %s", name, prev, id)
		}
		owner[name] = id
	}
	parents := map[string]bool{}
	for _, tr := range cfg.Translations {
		claim(tr.Bridge, "bridge "+tr.Name)
		for _, e := range []End{tr.A, tr.B} {
			parents[e.Parent] = true
			if n := len(e.Tags); n < 1 || n > 2 {
				t.Errorf("%s: %d tags", tr.Name, n)
			}
			links := e.Links()
			for i, tag := range e.Tags {
				if tag.ID < 1 || tag.ID > 4094 {
					t.Errorf("%s: id %d", tr.Name, tag.ID)
				}
				claim(links[i], Stack{e.Parent, e.Tags[:i+1]}.String())
			}
		}
	}
	for p := range parents {
		if id, ok := owner[p]; ok {
			t.Errorf("parent %q is also the name of %s", p, id)
		}
	}
	// A pass-through pairs the two sides of a translation, every
	// translation on its trunks is in its group, and no trunk is in two.
	inPair := map[string]bool{}
	for _, pt := range cfg.Passthroughs {
		sides := false
		for _, tr := range cfg.Translations {
			sides = sides || tr.A.Parent == pt.A && tr.B.Parent == pt.B || tr.A.Parent == pt.B && tr.B.Parent == pt.A
			if (tr.A.Parent == pt.A || tr.A.Parent == pt.B || tr.B.Parent == pt.A || tr.B.Parent == pt.B) && tr.Group != pt.Group {
				t.Errorf("passthrough %s: translation %s is in group %q, the pair in %q", pt, tr.Name, tr.Group, pt.Group)
			}
		}
		if !sides {
			t.Errorf("passthrough %s: no translation between its trunks", pt)
		}
		for _, trunk := range []string{pt.A, pt.B} {
			if inPair[trunk] {
				t.Errorf("trunk %s in two pairs", trunk)
			}
			inPair[trunk] = true
		}
		if len(pt.Protocols) == 0 || pt.Protocols[0] != ProtoLACP {
			t.Errorf("passthrough %s: protocols %q", pt, pt.Protocols)
		}
	}
}
