package agenttest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/internal/roff/rofftest"
	"github.com/qinqbridge/qinqbridge/ocf"
)

// CheckManPage runs the agent's "man" action (as make man does) and checks
// that the page renders warning-free and names every parameter (with its
// default) and every action of the agent's table, with a crm example for
// resource id.
func CheckManPage(t *testing.T, a *ocf.Agent, id string) {
	t.Helper()
	var page, stderr bytes.Buffer
	if code := a.Exec([]string{a.Name, "man"}, nil, &page, &stderr); code != 0 {
		t.Fatalf("%s man: exit %d: %s", a.Name, code, stderr.String())
	}
	out := rofftest.Squeeze(rofftest.Render(t, page.Bytes()))
	want := []string{"OCF_QINQBRIDGE_" + strings.ToUpper(a.Name) + "(7)", "primitive " + id + " ocf:qinqbridge:" + a.Name}
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
