package kerneltest

import (
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// The oper state is derived as the kernel derives it: a NIC needs carrier,
// a VLAN its parent's oper state, a bridge one oper-up port.
func TestOperUp(t *testing.T) {
	for _, tc := range []struct {
		name             string
		change           func(k *Kernel)
		nic, vlan, brdge bool
	}{
		{"all up", func(*Kernel) {}, true, true, true},
		{"cable pulled", func(k *Kernel) { k.SetCarrier("eth0", false) }, false, false, false},
		{"cable back", func(k *Kernel) { k.SetCarrier("eth0", false); k.SetCarrier("eth0", true) }, true, true, true},
		{"NIC down", func(k *Kernel) { k.SetLink("eth0", func(o *plan.Observed) { o.Up = false }) }, false, false, false},
		{"VLAN down", func(k *Kernel) { k.SetLink("eth0.7", func(o *plan.Observed) { o.Up = false }) }, true, false, false},
		{"VLAN deleted with its NIC", func(k *Kernel) { k.DeleteLink("eth0") }, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := New()
			nic := k.AddNIC("eth0", 1500)
			br := k.AddLink(plan.Observed{Name: "br0", Kind: string(plan.Bridge), MTU: 1500, Up: true}, false)
			k.AddLink(plan.Observed{Name: "eth0.7", Kind: string(plan.VLAN), ParentIndex: nic, ID: 7, MTU: 1500, MasterIndex: br, Up: true}, false)
			tc.change(k)
			for name, want := range map[string]bool{"eth0": tc.nic, "eth0.7": tc.vlan, "br0": tc.brdge} {
				if o := k.Link(name); (o != nil && o.OperUp) != want {
					t.Errorf("%s: %+v, want oper-up %v", name, o, want)
				}
			}
		})
	}
}
