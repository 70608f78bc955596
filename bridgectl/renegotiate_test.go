package bridgectl

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/florianl/go-tc"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// kicks are the link requests of k.Log that set a trunk down or up.
func kicks(log []string) []string {
	var out []string
	for _, l := range log {
		if strings.HasPrefix(l, "down ") || strings.HasPrefix(l, "up ") {
			out = append(out, l)
		}
	}
	return out
}

// Opening a guard with pass-throughs takes their trunks down and up once,
// after the guard passes; opening it again, or a group without
// pass-throughs, flaps nothing.
func TestOpenKicks(t *testing.T) {
	for _, c := range []struct {
		name, file string
		kicked     []string
	}{
		{"pass-through", twoTranslations + lacpPair, []string{"eth0", "eth1"}},
		{"none", twoTranslations, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, k := fakeManager(t)
			m.KickHold = 0
			cfg, raw := parse(t, c.file)
			if _, _, err := m.Apply(cfg, raw); err != nil {
				t.Fatal(err)
			}
			g, err := m.GroupGuard(cfg, "")
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			k.Log = nil
			got, err := m.Unblock(g, "")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.kicked) {
				t.Fatalf("kicked %q, want %q", got, c.kicked)
			}
			if verdict, _, _ := k.Gact(tcguard.ActionIndex(defaults.Block)); verdict != tc.ActPipe {
				t.Fatalf("verdict %d after open", verdict)
			}
			if n := len(kicks(k.Log)); n != 2*len(c.kicked) {
				t.Fatalf("link requests %q", k.Log)
			}
			for _, trunk := range []string{"eth0", "eth1"} {
				if !k.Link(trunk).Up {
					t.Fatalf("%s left down", trunk)
				}
			}
			k.Log = nil
			if got, err := m.Unblock(g, ""); err != nil || len(got) != 0 || len(kicks(k.Log)) != 0 {
				t.Fatalf("open again: kicked %q (%v), log %q", got, err, k.Log)
			}
		})
	}
}

// A trunk an operator set down is not kicked (up would undo the operator).
func TestKickLeavesDownTrunks(t *testing.T) {
	m, k := fakeManager(t)
	m.KickHold = 0
	cfg, raw := parse(t, twoTranslations+lacpPair)
	if _, _, err := m.Apply(cfg, raw); err != nil {
		t.Fatal(err)
	}
	k.SetLink("eth1", func(o *plan.Observed) { o.Up = false })
	got, err := m.Kick([]string{"eth0", "eth1"})
	if err != nil || !slices.Equal(got, []string{"eth0"}) {
		t.Fatalf("kicked %q (%v)", got, err)
	}
	if k.Link("eth1").Up || !k.Link("eth0").Up {
		t.Fatal("eth1 brought up, or eth0 left down")
	}
}

// A kick killed between down and up (the up requests refused) leaves its
// record: the next apply (or down, or open) brings the trunks up.
func TestKickInterrupted(t *testing.T) {
	for _, next := range []string{"apply", "down", "restore"} {
		t.Run(next, func(t *testing.T) {
			m, k := fakeManager(t)
			m.KickHold = 0
			cfg, raw := parse(t, twoTranslations+lacpPair)
			if _, _, err := m.Apply(cfg, raw); err != nil {
				t.Fatal(err)
			}
			k.Fail = func(op string) error {
				if op == "up" {
					return errors.New("killed")
				}
				return nil
			}
			if _, err := m.Kick([]string{"eth0", "eth1"}); err == nil {
				t.Fatal("kick went through refused up requests")
			}
			if k.Link("eth0").Up || k.Link("eth1").Up {
				t.Fatal("want both trunks down, as a kill leaves them")
			}
			k.Fail = nil
			var err error
			switch next {
			case "apply":
				_, _, err = m.Apply(cfg, raw)
			case "down":
				_, err = m.Down()
			case "restore":
				_, err = m.RestoreKicked()
			}
			if err != nil {
				t.Fatal(err)
			}
			if !k.Link("eth0").Up || !k.Link("eth1").Up {
				t.Fatalf("after %s: trunks left down", next)
			}
			if ok, _ := m.dir.Exists(kickFile); ok {
				t.Fatal("the kick's record is left")
			}
		})
	}
}
