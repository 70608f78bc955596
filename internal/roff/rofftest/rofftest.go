// Package rofftest checks generated man pages in tests: they must render
// with groff's man macros without a single warning.
package rofftest

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// Render formats page with `groff -man -Tutf8 -ww` and returns the text. It
// fails the test on any warning or error, or when groff is missing: it is
// in the Makefile's TEST_DEBS (groff-base), so `make deps` installs it.
func Render(t testing.TB, page []byte) string {
	t.Helper()
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Fatal("groff not found: install groff-base (make deps does)")
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww")
	cmd.Stdin = bytes.NewReader(page)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	// Fixed page width, so that line breaks do not depend on the terminal.
	cmd.Env = []string{"MANWIDTH=80", "LC_ALL=C.UTF-8"}
	if err := cmd.Run(); err != nil {
		t.Fatalf("groff: %v\n%s", err, errs.String())
	}
	if errs.Len() > 0 {
		t.Fatalf("groff warnings:\n%s", errs.String())
	}
	return string(plain(out.Bytes()))
}

// Squeeze collapses every run of white space in s into one space, so that
// tests find phrases whatever the line breaks.
func Squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

// plain removes the overstrikes groff's tty output uses for bold and
// underline ("X\bX", "_\bX"), leaving the text.
func plain(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if i+1 < len(b) && b[i+1] == '\b' {
			i++ // drop the character before the backspace and the backspace
			continue
		}
		out = append(out, b[i])
	}
	return out
}
