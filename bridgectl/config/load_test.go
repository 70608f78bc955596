package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// ranged returns n [[translation]]s of width ids each, from line 1, each
// on its own VLAN trunk so that they do not overlap; header lines are
// 1, 5, 9, ...
func ranged(n, width int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[[translation]]\nname = \"r%d\"\na = { parent = \"q0\", outer = %d, inner = \"1-%d\" }\nb = { parent = \"v%d\", vlan = \"1-%d\" }\n",
			i, 1+i, width, i, width)
	}
	return b.String()
}

// inline returns, in the inline array form on one line (line 1), 4 ranges
// of 4094 ids (as ranged(4, 4094)) and n single translations.
func inline(n int) string {
	var b strings.Builder
	b.WriteString("translation = [")
	for i := range 4 {
		fmt.Fprintf(&b, "{name=\"r%d\",a={parent=\"q0\",outer=%d,inner=\"1-4094\"},b={parent=\"v%d\",vlan=\"1-4094\"}},", i, 1+i, i)
	}
	for i := range n {
		fmt.Fprintf(&b, "{name=\"s%d\",a={parent=\"x0\",vlan=%d},b={parent=\"y0\",vlan=%d}},", i, 1+i, 1+i)
	}
	b.WriteString("]\n")
	return b.String()
}

// last is one more [[translation]] of n ids, on a trunk of its own.
func last(n int) string {
	return fmt.Sprintf("[[translation]]\nname = \"last\"\na = { parent = \"q9\", vlan = \"1-%d\" }\nb = { parent = \"v9\", vlan = \"1-%d\" }\n", n, n)
}

func TestMaxTranslations(t *testing.T) {
	for _, c := range []struct {
		name string
		doc  string
		line int // of the error naming the limit; 0: accepted
	}{
		{"four VLAN spaces", ranged(4, 4094), 0},
		{"exactly the limit", ranged(4, 4094) + last(8), 0},
		{"one more", ranged(4, 4094) + last(9), 17},
		{"five VLAN spaces", ranged(5, 4094), 17},
		{"a hundred VLAN spaces", ranged(100, 4094), 17},
		{"inline at the limit", inline(maxTranslations - 4*4094), 0},
		{"inline over it", inline(maxTranslations - 4*4094 + 1), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("big.toml", []byte(c.doc))
			if c.line == 0 {
				if err != nil {
					t.Fatalf("refused: %.300v", err)
				}
				if len(cfg.Translations) > maxTranslations {
					t.Fatalf("%d translations accepted", len(cfg.Translations))
				}
				return
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("want one error, got %.300v", err)
			}
			e := errs[0]
			if e.Pos.Line != c.line || !strings.Contains(e.Msg, fmt.Sprint(maxTranslations)) || !strings.Contains(e.Msg, "translation \"") {
				t.Errorf("error %v, want line %d naming the translation and the limit %d", e, c.line, maxTranslations)
			}
		})
	}
}

// A tiny file of huge ranges is refused before expansion allocates: what
// parsing it allocates does not grow with the ranges. Counting allocations
// and bytes is exact where a time bound would be flaky.
func TestMaxTranslationsRefusedWithoutAllocating(t *testing.T) {
	doc := []byte(ranged(100, 4094)) // 409,400 translations from 11 KB
	if _, err := Parse("huge.toml", doc); err == nil {
		t.Fatal("accepted")
	}
	small := []byte(ranged(100, 1)) // the same file with 1-id ranges
	allocs := func(doc []byte) (float64, uint64) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		n := testing.AllocsPerRun(3, func() { _, _ = Parse("x.toml", doc) })
		runtime.ReadMemStats(&after)
		return n, (after.TotalAlloc - before.TotalAlloc) / 4 // AllocsPerRun runs it once more to warm up
	}
	hugeN, hugeBytes := allocs(doc)
	smallN, smallBytes := allocs(small)
	// Expanding would cost at least one allocation and a few hundred bytes
	// per translation; allow twice the small file's cost for what the
	// error messages and the longer ids add.
	t.Logf("100 ranges of 4094 ids: %.0f allocations, %d bytes; of 1 id: %.0f, %d", hugeN, hugeBytes, smallN, smallBytes)
	if hugeN > 2*smallN || hugeBytes > 2*smallBytes {
		t.Errorf("parsing 100 ranges of 4094 ids: %.0f allocations, %d bytes; of 100 single ids: %.0f, %d", hugeN, hugeBytes, smallN, smallBytes)
	}
}

func TestMaxFileSize(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) string {
		p := filepath.Join(dir, name)
		line := "# " + strings.Repeat("x", 77) + "\n" // 80 bytes
		body := strings.Repeat(line, size/len(line)+1)[:size]
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A writer holds the FIFO open, so that even a blocking open or read
	// of it would not return: only refusing it does.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, c := range []struct {
		name, path string
		want       string // "" accepted; else in the error
		invalid    bool   // an Errors (the file's content), not a read error
	}{
		{"at the limit", write("max.toml", maxFileSize), "", false},
		{"one byte more", write("over.toml", maxFileSize+1), "larger than the limit of 1048576", true},
		{"endless device", "/dev/zero", "not a regular file (a character device)", false},
		{"fifo", fifo, "not a regular file (a named pipe)", false},
		{"directory", dir, "not a regular file (a directory)", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Load(c.path)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var errs Errors
			if err == nil || !strings.Contains(err.Error(), c.want) || errors.As(err, &errs) != c.invalid {
				t.Fatalf("Load: %v; want %q (file's content: %v)", err, c.want, c.invalid)
			}
			if c.invalid && !strings.HasPrefix(err.Error(), c.path+": ") {
				t.Errorf("error %q does not start with the file", err)
			}
		})
	}
	// Parse applies the limit too, whoever read the bytes.
	if _, err := Parse("x.toml", make([]byte, maxFileSize+1)); err == nil || !strings.HasPrefix(err.Error(), "x.toml: ") {
		t.Errorf("Parse of %d bytes: %v", maxFileSize+1, err)
	}
}
