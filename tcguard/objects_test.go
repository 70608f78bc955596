package tcguard

import (
	"testing"

	"github.com/florianl/go-tc"
)

// A guard filter as go-tc decodes it from a dump: ours only with the shared
// action, dropping or passing, and the verdict read.
func TestFilterOfGuard(t *testing.T) {
	act := func(index, verdict uint32) *tc.Action {
		return &tc.Action{Kind: kindGact, Index: index, Gact: &tc.Gact{Parms: &tc.GactParms{Index: index, Action: verdict}},
			Stats: &tc.GenStats{Basic: &tc.GenBasic{Packets: 50}, Queue: &tc.GenQueue{Drops: 9}}}
	}
	a := ActionIndex(testBlock)
	for _, c := range []struct {
		name           string
		chain          uint32
		acts           []*tc.Action
		guard, dropped bool
	}{
		{"dropping", 0, []*tc.Action{act(a, tc.ActShot)}, true, true},
		{"open", 0, []*tc.Action{act(a, tc.ActPipe)}, true, false},
		{"another action index", 0, []*tc.Action{act(a+7, tc.ActShot)}, false, false},
		{"another verdict", 0, []*tc.Action{act(a, tc.ActOk)}, false, false},
		{"two actions", 0, []*tc.Action{act(a, tc.ActShot), act(a, tc.ActShot)}, false, false},
		{"another chain", 4, []*tc.Action{act(a, tc.ActShot)}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := *guardFilterObject(testBlock, EgressBlock(testBlock))
			o.Chain = new(c.chain)
			o.Matchall.Actions = &c.acts
			f := filterOf(o)
			if f.isGuard(testBlock) != c.guard {
				t.Fatalf("%+v: guard %v, want %v", f, !c.guard, c.guard)
			}
			if dropping := f.actions[0].verdict == tc.ActShot; c.guard && dropping != c.dropped {
				t.Fatalf("dropping %v, want %v", dropping, c.dropped)
			}
		})
	}
}

// The qdiscs Bind and BindTrunks create are the shapes ours and
// UnbindTrunks recognise.
func TestQdiscShapes(t *testing.T) {
	if q := qdiscOf(*clsactObject(7, Options{Block: testBlock})); !q.is(portQdisc(testBlock)) || !q.ours(Options{Block: testBlock}) {
		t.Fatalf("bridge port's clsact %+v", q)
	}
	if q := qdiscOf(*trunkClsactObject(7, Options{Block: testBlock})); !q.is(trunkQdisc(Options{Block: testBlock})) || !q.ours(Options{Block: testBlock}) {
		t.Fatalf("trunk's clsact %+v", q)
	}
}
