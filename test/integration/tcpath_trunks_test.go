//go:build integration

package integration

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The tc datapath's trunk settings on real devices: a bond (whose VLAN
// filtering offloads are on and changeable, as a NIC's) gets promiscuous
// mode and both offloads off, named in the plan; a trunk the operator made
// promiscuous stays so, also after down; down puts back the bond's
// settings and its promiscuity count. Read back with ethtool and rtnetlink,
// not with bridgectl's own reader.
func TestTCDatapathTrunkSettings(t *testing.T) {
	e := newBCEnv(t)
	bond := netlink.NewLinkBond(netlink.LinkAttrs{Name: "bond0", MTU: 1504})
	bond.Mode = netlink.BOND_MODE_802_3AD
	if err := e.ns.Link.LinkAdd(bond); err != nil {
		t.Fatalf("bond: %v", err)
	}
	if err := e.ns.Link.LinkSetUp(e.link(t, "bond0")); err != nil {
		t.Fatal(err)
	}
	if err := e.ns.Link.SetPromiscOn(e.link(t, "v0")); err != nil {
		t.Fatal(err)
	}
	offloads := func() string {
		out, err := exec.Command("ip", "netns", "exec", e.ns.Name, "ethtool", "-k", "bond0").CombinedOutput()
		if err != nil {
			t.Fatalf("ethtool -k bond0: %v\n%s", err, out)
		}
		var got []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "rx-vlan-filter:") || strings.HasPrefix(l, "rx-vlan-stag-filter:") {
				got = append(got, strings.TrimSpace(l))
			}
		}
		return strings.Join(got, "; ")
	}
	promisc := func(name string) (flag bool, count int) {
		l := e.link(t, name)
		return l.Attrs().RawFlags&unix.IFF_PROMISC != 0, l.Attrs().Promisc
	}
	const fresh = "rx-vlan-filter: on; rx-vlan-stag-filter: on"
	if got := offloads(); got != fresh {
		t.Fatalf("a fresh bond: %q, want %q", got, fresh)
	}
	cfg := e.write(t, "tc.toml", `datapath = "tc"

[[translation]]
name = "t"
a = { parent = "bond0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }
`)
	e.downAtCleanup(t)
	p := e.bridgectl(t, 0, "plan", "-c", cfg).stdout
	for _, want := range []string{"~ trunk bond0: promisc off -> on", "~ trunk bond0: rx-vlan-filter on -> off", "~ trunk bond0: rx-vlan-stag-filter on -> off"} {
		if !strings.Contains(p, want+"\n") {
			t.Errorf("plan lacks %q:\n%s", want, p)
		}
	}
	if strings.Contains(p, "trunk v0: promisc") {
		t.Errorf("plan touches v0's promisc, the operator's:\n%s", p)
	}
	e.bridgectl(t, 0, "apply", "-c", cfg)
	e.bridgectl(t, 0, "check", "-c", cfg)
	if got, want := offloads(), "rx-vlan-filter: off; rx-vlan-stag-filter: off"; got != want {
		t.Errorf("after apply: %q, want %q", got, want)
	}
	if flag, count := promisc("bond0"); !flag || count != 1 {
		t.Errorf("bond0 after apply: IFF_PROMISC %v, promiscuity %d; want on, 1", flag, count)
	}

	// Turned back by hand: check reports it, apply sets it again.
	if err := e.ns.Link.SetPromiscOff(e.link(t, "bond0")); err != nil {
		t.Fatal(err)
	}
	if r := e.bridgectl(t, 1, "check", "-c", cfg); !strings.Contains(r.stdout, "trunk bond0: promisc: have off, want on") {
		t.Errorf("check:\n%s", r.stdout)
	}
	e.bridgectl(t, 0, "apply", "-c", cfg)

	e.bridgectl(t, 0, "down")
	if got := offloads(); got != fresh {
		t.Errorf("after down: %q, want %q", got, fresh)
	}
	if flag, count := promisc("bond0"); flag || count != 0 {
		t.Errorf("bond0 after down: IFF_PROMISC %v, promiscuity %d; want off, 0", flag, count)
	}
	if flag, _ := promisc("v0"); !flag {
		t.Error("down cleared v0's promiscuous mode, which the operator set")
	}
}
