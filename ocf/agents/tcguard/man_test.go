package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/internal/roff/rofftest"
)

// The man page (the "man" action, as make man runs it) names every
// parameter and action of the agent's table and renders warning-free.
func TestManPage(t *testing.T) {
	a := newAgent(&guard{})
	var page, stderr bytes.Buffer
	if code := a.Exec([]string{"tcguard", "man"}, nil, &page, &stderr); code != 0 {
		t.Fatalf("tcguard man: exit %d: %s", code, stderr.String())
	}
	out := rofftest.Squeeze(rofftest.Render(t, page.Bytes()))
	want := []string{"OCF_QINQBRIDGE_TCGUARD(7)", "primitive p_tcguard ocf:qinqbridge:tcguard"}
	for _, p := range a.Params {
		want = append(want, p.Name+" - "+p.ShortDesc)
		if p.Default != "" {
			want = append(want, "default: "+p.Default)
		}
	}
	for _, act := range a.Actions {
		want = append(want, " "+act.Name+" timeout ")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("man page lacks %q:\n%s", w, out)
		}
	}
}
