package main

import (
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/internal/kerneltest"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// A port that lost its binding (its clsact deleted; all of them: the block
// goes too) is bound again by the next monitor, which then answers as
// before; the guard is blocked again.
func TestMonitorRebindsLostPorts(t *testing.T) {
	for _, lost := range [][]string{{"eth0.s100.200"}, {"eth0.s100.200", "eth1.300", "eth2.s100.201", "eth1.301"}} {
		h := newHarness(t, cfgTwo)
		h.bridge(cfgTwo)
		h.want("start", nil, 0)
		for _, name := range lost {
			h.k.Unbind(name)
		}
		// Without the expected ports the guard looked blocked (every
		// qdisc gone: no block, no filter).
		if len(lost) == 4 && h.state() != tcguard.Blocked {
			t.Fatalf("setup: state %v", h.state())
		}
		res := h.want("monitor", unpromoted, 0)
		if !strings.Contains(res.log, "lost their binding") {
			t.Fatalf("monitor did not say what it re-bound:\n%s", res.log)
		}
		for _, name := range lost {
			if b, ok := h.k.BoundBlock(h.k.Link(name).Index); !ok || b != block {
				t.Fatalf("%s not bound again", name)
			}
		}
		h.wantState(tcguard.Blocked)
	}
}

// A port whose ingress carries somebody else's qdisc cannot be bound: the
// monitor sets it down (it forwards nothing) and says so.
func TestMonitorSetsUnbindablePortDown(t *testing.T) {
	h := newHarness(t, cfgTwo)
	h.bridge(cfgTwo)
	h.want("start", nil, 0)
	h.k.Unbind("eth1.300")
	h.k.PlantQdisc(kerneltest.IngressQdisc(h.k.Link("eth1.300").Index, "ingress", 0))
	res := h.want("monitor", unpromoted, 0)
	if up := h.k.Link("eth1.300").Up; up || !strings.Contains(res.log, "set down") {
		t.Fatalf("port up=%v; log:\n%s", up, res.log)
	}
	h.want("stop", nil, 0)
}

// Somebody else's filter in the block: monitor fails naming it, stop does
// not touch the block, sets our ports down instead and succeeds.
func TestForeignBlockStopIsolates(t *testing.T) {
	h := newHarness(t, cfgTwo)
	h.bridge(cfgTwo)
	h.want("start", nil, 0)
	h.k.PlantFilter(block, kerneltest.BlockFilter(block, 0, 7, 3, "flower"))
	h.want("monitor", unpromoted, 1, "flower filter")
	h.want("stop", nil, 0)
	for _, name := range []string{"eth0.s100.200", "eth1.300", "eth2.s100.201", "eth1.301"} {
		if h.k.Link(name).Up {
			t.Fatalf("%s still up after stop on a foreign block", name)
		}
	}
	h.want("start", nil, 1, "flower filter")
}

// A device that is not ours bound to the guard's block fails the monitor.
func TestMonitorStrangerOnBlock(t *testing.T) {
	h := newHarness(t, cfgTwo)
	h.bridge(cfgTwo)
	h.want("start", nil, 0)
	x := h.k.AddNIC("xa", 1500)
	h.k.PlantQdisc(kerneltest.IngressQdisc(x, "clsact", block))
	h.want("monitor", unpromoted, 1, "xa")
}
