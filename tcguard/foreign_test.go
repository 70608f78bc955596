package tcguard

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/internal/kerneltest"
)

// A block with somebody else's filter or chain is never bound to, filtered
// or opened: every mutating call refuses it by name and changes nothing.
func TestForeignBlockRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  func(k *kerneltest.Kernel)
		want string
	}{
		{"filter at another priority", func(k *kerneltest.Kernel) {
			k.PlantFilter(testBlock, blockFilter(testBlock, 0, 7, 3, "flower"))
		}, "flower filter (chain 0, priority 7, handle 0x3)"},
		{"filter in another chain", func(k *kerneltest.Kernel) {
			k.PlantFilter(testBlock, blockFilter(testBlock, 4, 1, 1, "matchall", 2))
		}, "chain 4"},
		{"empty foreign chain", func(k *kerneltest.Kernel) { k.PlantChain(testBlock, 9) }, "chain 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKernel(t, 1, 2, 3)
			// Another program's device 3 made the block; it holds their objects.
			k.PlantQdisc(ingressQdisc(3, kindClsact, testBlock, 0))
			tc.add(k)
			g := guardOn(t, k, testBlock)
			for name, op := range map[string]func() error{
				"Bind":    func() error { return g.Bind([]int{1, 2}) },
				"Block":   g.Block,
				"Unblock": g.Unblock,
			} {
				err := op()
				if !errors.Is(err, ErrForeignBlock) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: %v, want ErrForeignBlock naming %q", name, err, tc.want)
				}
			}
			if len(k.Log) != 0 {
				t.Fatalf("changed a foreign block: %v", k.Log)
			}
			s := mustStatus(t, g, []int{1, 2})
			if len(s.Intruders) == 0 {
				t.Fatalf("status %+v: intruders not reported", s)
			}
		})
	}
}

// Devices bound to our block that are not our ports are strangers: the
// block is shared with somebody else.
func TestStatusStrangers(t *testing.T) {
	k := newKernel(t, 1, 2, 3)
	g := guardOn(t, k, testBlock)
	if err := g.Bind([]int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	s := mustStatus(t, g, []int{1, 2})
	if !slices.Equal(s.Strangers, []int{3}) || !slices.Equal(s.Users, []int{1, 2, 3}) {
		t.Fatalf("status %+v: want stranger 3", s)
	}
	if s := mustStatus(t, g, nil); s.Strangers != nil {
		t.Fatalf("strangers %v without expected ports", s.Strangers)
	}
}

// Deleting every port's qdisc deletes the block, filter and all. With the
// expected ports given the guard is not called blocked: they forward.
func TestEveryQdiscDeletedIsUnguarded(t *testing.T) {
	k := newKernel(t, 1, 2)
	g := guardOn(t, k, testBlock)
	if err := g.Bind([]int{1, 2}); err != nil {
		t.Fatal(err)
	}
	wantState(t, g, Blocked)
	k.RemoveQdisc(1)
	if s := mustStatus(t, g, []int{1, 2}); s.State != Unguarded || !slices.Equal(s.Unbound, []int{1}) {
		t.Fatalf("one qdisc deleted: %+v", s)
	}
	k.RemoveQdisc(2) // the block goes with its last qdisc
	s := mustStatus(t, g, []int{1, 2})
	if s.State != Unguarded || !slices.Equal(s.Unbound, []int{1, 2}) {
		t.Fatalf("every qdisc deleted: %+v", s)
	}
	// Re-binding arms the new block closed before the second port.
	if err := g.Bind(s.Unbound); err != nil {
		t.Fatal(err)
	}
	if s := mustStatus(t, g, []int{1, 2}); s.State != Blocked || len(s.Unbound)+len(s.Foreign)+len(s.Strangers)+len(s.Intruders) != 0 {
		t.Fatalf("after re-bind: %+v", s)
	}
}

func TestFailedPorts(t *testing.T) {
	other := errors.New("netlink: socket closed")
	for _, tc := range []struct {
		name  string
		err   error
		ports []int
		whole bool
	}{
		{"ports", errors.Join(&PortError{9, ErrForeign}, &PortError{3, ErrForeign}), []int{3, 9}, false},
		{"one", &PortError{4, ErrForeign}, []int{4}, false},
		{"whole", other, nil, true},
		{"both", errors.Join(&PortError{5, ErrForeign}, other), []int{5}, true},
	} {
		ports, whole := FailedPorts(tc.err)
		if !slices.Equal(ports, tc.ports) || whole != tc.whole {
			t.Errorf("%s: %v %v, want %v %v", tc.name, ports, whole, tc.ports, tc.whole)
		}
	}
}
