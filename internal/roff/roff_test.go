package roff

import (
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/internal/roff/rofftest"
)

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"--config", `\-\-config`},
		{`a\b`, `a\eb`},
		{".TH injected", `\&.TH injected`},
		{"'+' create\n'-' delete", `\&'+' create` + "\n" + `\&'\-' delete`},
		{"mid.line 'quote'", "mid.line 'quote'"},
		{"QinQ ↔ VLAN ±", `QinQ \[u2194] VLAN \[u00B1]`},
		{"tab\there", "tab        here"},
		{"bell\a", "bell"},
	} {
		if got := Escape(c.in); got != c.want {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// Help text as written for a terminal renders warning-free, with its
// examples kept line by line and its prose filled.
func TestTextRenders(t *testing.T) {
	var p Page
	p.Title("demo", 8, "qinqbridge", "System Administration")
	p.Section("NAME")
	p.Line(Escape("demo - a test page"))
	p.Section("DESCRIPTION")
	p.Text("First paragraph, written\nover two lines.\n\n" +
		"Lines: '+' create, '±' recreate,\n'-' delete.\n\n" +
		"Examples:\n   demo run --fast     # quickly\n   demo run \\\n      --slow\n.dot at the start")
	p.Section("OPTIONS")
	p.Tagged(Bold("--config")+", "+Bold("-c")+" "+Italic("FILE"), "configuration file")
	p.Tagged(Bold("param"), "")
	p.IndentedText("One.\n\nTwo, with an example:\n  x=1")
	out := rofftest.Render(t, p.Bytes())
	for _, want := range []string{
		"First paragraph, written over two lines.",
		"Lines: '+' create, '±' recreate, '-' delete.",
		"demo run --fast     # quickly",
		"   --slow", // relative indentation kept
		".dot at the start",
		"--config, -c FILE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered page lacks %q:\n%s", want, out)
		}
	}
	// A literal block inside a tagged paragraph is indented beyond its text.
	indent := func(prefix string) int {
		for _, l := range strings.Split(out, "\n") {
			if t := strings.TrimLeft(l, " "); strings.HasPrefix(t, prefix) {
				return len(l) - len(t)
			}
		}
		t.Fatalf("no line starts with %q:\n%s", prefix, out)
		return 0
	}
	if indent("x=1") <= indent("Two, with") {
		t.Errorf("the tagged paragraph's example is not indented under its text:\n%s", out)
	}
}
