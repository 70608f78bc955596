package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input panics Parse, and that whatever it accepts
// has valid, unique names and ids, within the limits.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.toml")
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.toml", data)
		if err != nil {
			errs, ok := err.(Errors)
			if !ok || len(errs) == 0 {
				t.Fatalf("Parse error %T %v is not a non-empty Errors", err, err)
			}
			// Lines must exist in the file and come sorted. (A file
			// without a final newline still has its last line.)
			lines := bytes.Count(data, []byte("\n")) + 1
			for i, e := range errs {
				if e.Pos.Line < 1 || e.Pos.Line > lines || i > 0 && e.Pos.Line < errs[i-1].Pos.Line {
					t.Fatalf("error at line %d of %d, after %d: %v", e.Pos.Line, lines, errs[max(0, i-1)].Pos.Line, e)
				}
			}
			return
		}
		if len(cfg.Translations) > maxTranslations {
			t.Fatalf("accepted %d translations, more than maxTranslations", len(cfg.Translations))
		}
		checkInvariants(t, cfg)
		_ = cfg.Digest()
	})
}
