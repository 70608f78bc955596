package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzKeyLines checks the key scanner against the TOML library: every key
// the library found in a document it accepts, the scanner found too (the
// library does not index array entries, so the comparison ignores them).
// A missed key would not break Parse, only make its line coarser.
func FuzzKeyLines(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.toml")
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("a = [ { b = 1 }, { c = \"\"\"x\ny\"\"\" } ]\n[[t]]\n[t.u]\nv = 1\n[[t.w]]\nx.y = 2\n")
	f.Add("\"q.k\" . 'l' = { m = 1 }\n['n']\no = 1979-05-27 07:32:00\n")
	f.Add("\xfe\xff0=2") // a UTF-16 byte order mark on UTF-8 text
	index := regexp.MustCompile(sepIndex + "[0-9]+")
	f.Fuzz(func(t *testing.T, src string) {
		var doc map[string]any
		md, err := toml.Decode(src, &doc)
		if err != nil {
			return
		}
		found := map[string]bool{}
		for p := range scanKeyLines(src) {
			found[index.ReplaceAllString(p, "")] = true
		}
		for _, k := range md.Keys() {
			p := sepKey + strings.Join(k, sepKey)
			if !found[p] {
				t.Errorf("scanner missed key %q", k)
			}
		}
	})
}
