package main

import (
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// Two groups, one trunk each plus a shared one (eth1): acme in east
// (block 5000), globex in the default group.
const cfgGroups = `
[[group]]
name = "east"
block = 5000

[[translation]]
name = "acme"
group = "east"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }

[[translation]]
name = "globex"
a = { parent = "eth2", outer = 100, inner = 201 }
b = { parent = "eth1", vlan = 301 }
`

// groupState is the state of the guard of group at block.
func (h *harness) groupState(block uint32, group string) tcguard.State {
	h.t.Helper()
	n, _ := h.k.Open(bridgectl.Options{})
	g, err := n.Guard(block, group)
	if err != nil {
		h.t.Fatal(err)
	}
	defer g.Close()
	s, err := g.Status(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return s.State
}

// One instance per group on a node: each starts, promotes and monitors its
// own group's guard only; its score counts its group's translations.
func TestGroupInstances(t *testing.T) {
	h := newHarness(t, cfgGroups)
	h.bridge(cfgGroups)
	east := []string{"OCF_RESKEY_group=east"}
	h.want("start", east, int(ocf.Success))
	h.want("start", nil, int(ocf.Success))
	h.want("promote", east, int(ocf.Success))
	if s := h.groupState(5000, "east"); s != tcguard.Opened {
		t.Fatalf("east after its promote: %v", s)
	}
	if s := h.groupState(block, "default"); s != tcguard.Blocked {
		t.Fatalf("default after east's promote: %v", s)
	}
	h.want("monitor", append(east, promoted...), int(ocf.RunningPromoted))
	h.want("monitor", unpromoted, int(ocf.Success))

	// A pulled cable on eth0 (east's only own trunk): east cannot forward
	// here, the default group (eth2, eth1) still can.
	h.k.SetCarrier("eth0", false)
	h.score.set = nil
	h.want("monitor", east, int(ocf.RunningPromoted))
	if got := h.score.last(); got != bridgectl.PromotionScoreNoneOK {
		t.Errorf("east's score with eth0 down: %d, want %d", got, bridgectl.PromotionScoreNoneOK)
	}
	h.want("monitor", nil, int(ocf.Success))
	if got := h.score.last(); got != bridgectl.PromotionScoreMax {
		t.Errorf("default's score with eth0 down: %d, want %d", got, bridgectl.PromotionScoreMax)
	}

	h.want("demote", east, int(ocf.Success))
	if s := h.groupState(5000, "east"); s != tcguard.Blocked {
		t.Fatalf("east after its demote: %v", s)
	}
	h.want("stop", east, int(ocf.Success))
	h.want("stop", nil, int(ocf.Success))
}

// validate-all and start refuse a group the file lacks, and a switch flush
// for a group whose trunks carry another group (eth1 here).
func TestGroupConfigured(t *testing.T) {
	h := newHarness(t, cfgGroups)
	h.bridge(cfgGroups)
	h.want("validate-all", []string{"OCF_RESKEY_group=west"}, int(ocf.ErrConfigured), `no translation group "west"`)
	h.want("start", []string{"OCF_RESKEY_group=west"}, int(ocf.ErrConfigured), `no translation group "west"`)
	flush := []string{"OCF_RESKEY_group=east", "OCF_RESKEY_switch_flush_ms=300"}
	h.want("validate-all", flush, int(ocf.ErrConfigured), "trunks eth1 carry other groups' translations too")
	h.want("start", flush, int(ocf.ErrConfigured), "trunks eth1 carry other groups' translations too")
	h.want("validate-all", []string{"OCF_RESKEY_group=east"}, int(ocf.Success))
}
