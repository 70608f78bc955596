package bridgectl

import (
	"testing"

	"github.com/florianl/go-tc"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

const watchTestConfig = `
[[translation]]
name = "vps"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }
`

func mustParse(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestScopeRelevant pins down which link events make the watcher look.
func TestScopeRelevant(t *testing.T) {
	cfg := mustParse(t, watchTestConfig)
	st := plan.NewState([]*plan.Observed{
		{Index: 2, Name: "q0"},
		{Index: 3, Name: "v0"},
		{Index: 4, Name: "q0.s100", Group: defaults.OwnerGroup},
		{Index: 9, Name: "eth9"},
	})
	s := newScope(cfg, st)
	tests := []struct {
		name string
		ev   LinkEvent
		want bool
	}{
		{"our port deleted", LinkEvent{Deleted: true, Index: 7, Name: "q0.s100.200", Group: defaults.OwnerGroup}, true},
		{"our bridge changed", LinkEvent{Index: 8, Name: "br-vps", Group: defaults.OwnerGroup}, true},
		{"a link of ours renamed by hand", LinkEvent{Index: 7, Name: "renamed", Group: defaults.OwnerGroup}, true},
		{"an orphan marked for deletion", LinkEvent{Index: 20, Name: "old.5", Group: defaults.DoomedGroup}, true},
		{"a foreign link takes a wanted name", LinkEvent{Index: 21, Name: "v0.300"}, true},
		{"a parent appears", LinkEvent{Index: 22, Name: "q0"}, true},
		{"a parent changes (by index)", LinkEvent{Index: 3, Name: "v0-renamed"}, true},
		{"a foreign VLAN on a parent may hold our slot", LinkEvent{Index: 23, Name: "x", ParentIndex: 3}, true},
		{"a foreign VLAN on our S-tag link", LinkEvent{Index: 24, Name: "y", ParentIndex: 4}, true},
		{"another interface", LinkEvent{Index: 9, Name: "eth9"}, false},
		{"a VLAN on another interface", LinkEvent{Index: 25, Name: "eth9.5", ParentIndex: 9}, false},
		{"another program's group", LinkEvent{Index: 26, Name: "z", Group: 7}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.relevant(Event{Link: &tt.ev}); got != tt.want {
				t.Errorf("relevant(%+v) = %v, want %v", tt.ev, got, tt.want)
			}
		})
	}
	// Before the first observation only names and groups are known.
	if newScope(cfg, nil).relevant(Event{Link: &LinkEvent{Index: 3, Name: "v0-renamed"}}) {
		t.Error("an index is relevant before any observation")
	}
}

// TestScopeRelevantTC pins down which tc events make the watcher look: all
// that can bind or unbind a port or change the guard's block, none that
// belongs to another block.
func TestScopeRelevantTC(t *testing.T) {
	cfg := mustParse(t, watchTestConfig) // the default block, defaults.Block
	s := newScope(cfg, plan.NewState([]*plan.Observed{{Index: 7, Name: "q0.s100.200", Group: defaults.OwnerGroup}}))
	block := cfg.Guard.Block
	tests := []struct {
		name string
		ev   TCEvent
		want bool
	}{
		{"our port's clsact deleted", TCEvent{Type: unix.RTM_DELQDISC, Ifindex: 7, Parent: tc.HandleIngress}, true},
		{"our port's clsact replaced", TCEvent{Type: unix.RTM_NEWQDISC, Ifindex: 7, Parent: tc.HandleIngress}, true},
		{"a qdisc on a device not known yet (a new port)", TCEvent{Type: unix.RTM_DELQDISC, Ifindex: 99, Parent: tc.HandleIngress}, true},
		{"a root qdisc anywhere", TCEvent{Type: unix.RTM_NEWQDISC, Ifindex: 99, Parent: tc.HandleRoot}, true},
		{"the guard's filter deleted", TCEvent{Type: unix.RTM_DELTFILTER, Ifindex: tc.MagicBlock, Parent: block}, true},
		{"a filter added to our block", TCEvent{Type: unix.RTM_NEWTFILTER, Ifindex: tc.MagicBlock, Parent: block}, true},
		{"the guard's egress filter deleted", TCEvent{Type: unix.RTM_DELTFILTER, Ifindex: tc.MagicBlock, Parent: tcguard.EgressBlock(block)}, true},
		{"a translation filter deleted", TCEvent{Type: unix.RTM_DELTFILTER, Ifindex: tc.MagicBlock, Parent: tcguard.TrunkBlock(block)}, true},
		{"a chain deleted from our block", TCEvent{Type: unix.RTM_DELCHAIN, Ifindex: tc.MagicBlock, Parent: block}, true},
		{"a chain created in our block", TCEvent{Type: unix.RTM_NEWCHAIN, Ifindex: tc.MagicBlock, Parent: block}, true},
		{"a filter on a device", TCEvent{Type: unix.RTM_DELTFILTER, Ifindex: 7, Parent: tc.HandleIngress + 1}, true},
		{"a message go-tc could not parse", TCEvent{Undecoded: true}, true},
		{"a filter of another block", TCEvent{Type: unix.RTM_NEWTFILTER, Ifindex: tc.MagicBlock, Parent: block + 3}, false},
		{"a chain of another block", TCEvent{Type: unix.RTM_DELCHAIN, Ifindex: tc.MagicBlock, Parent: 1}, false},
		{"a class", TCEvent{Type: unix.RTM_NEWTCLASS, Ifindex: 7, Parent: tc.HandleRoot}, false},
		{"an action", TCEvent{Type: unix.RTM_DELACTION}, false},
		{"a link dump answer go-tc decoded", TCEvent{Type: unix.RTM_NEWLINK, Ifindex: 7}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.relevant(Event{TC: &tt.ev}); got != tt.want {
				t.Errorf("relevant(%+v) = %v, want %v", tt.ev, got, tt.want)
			}
		})
	}
	if s.relevant(Event{}) {
		t.Error("an empty event is relevant")
	}
}
