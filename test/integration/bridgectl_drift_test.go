//go:build integration

package integration

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// driftConfig is two translations: QinQ 100.200 on q0 <-> VLAN 300 on v0,
// and VLAN 100 on v0 <-> VLAN 400 on q0.
const driftConfig = `
[[translation]]
name = "vps-bm"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }

[[translation]]
name = "zones"
a = { parent = "v0", vlan = 100 }
b = { parent = "q0", vlan = 400 }
`

// Drift made by hand with netlink, one kind at a time: check exits 1 with a
// line naming the link and the attribute, apply heals it, check exits 0, a
// second apply changes nothing, and frames cross again both ways.
func TestBridgectlDriftHealed(t *testing.T) {
	e := newBCEnv(t)
	cfg := e.write(t, "drift.toml", driftConfig)
	e.bridgectl(t, 0, "apply", "-c", cfg)
	e.guard(t, "unblock", cfg)
	q, v := e.wire(t, "q0p"), e.wire(t, "v0p")
	h := e.ns.Link

	// hand makes a change the way an operator's `ip link` would.
	hand := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s by hand: %v", what, err)
		}
	}
	vlan := func(name, parent string, id int, group uint32) *netlink.Vlan {
		la := netlink.NewLinkAttrs()
		la.Name, la.ParentIndex, la.Group = name, e.link(t, parent).Attrs().Index, group
		return &netlink.Vlan{LinkAttrs: la, VlanId: id, VlanProtocol: netlink.VLAN_PROTOCOL_8021Q}
	}
	for _, c := range []struct {
		name  string
		drift func()
		want  []string // lines check prints (prefixes)
	}{
		{"port-deleted", func() { hand("delete", h.LinkDel(e.link(t, "v0.300"))) },
			[]string{"v0.300: exists: have absent, want vlan 802.1Q 300 on v0, port of br-vps-bm"}},
		{"s-tag-deleted-with-its-port", func() { hand("delete", h.LinkDel(e.link(t, "q0.s100"))) },
			[]string{"q0.s100: exists: have absent, want vlan 802.1ad 100 on q0", "q0.s100.200: exists: have absent, want vlan 802.1Q 200 on q0.s100"}},
		{"bridge-deleted", func() { hand("delete", h.LinkDel(e.link(t, "br-vps-bm"))) },
			[]string{"br-vps-bm: exists: have absent, want bridge", "q0.s100.200: master: have none, want br-vps-bm", "v0.300: master: have none, want br-vps-bm"}},
		{"port-down", func() { hand("set down", h.LinkSetDown(e.link(t, "q0.s100.200"))) },
			[]string{"q0.s100.200: up: have down, want up"}},
		{"bridge-down", func() { hand("set down", h.LinkSetDown(e.link(t, "br-vps-bm"))) },
			[]string{"br-vps-bm: up: have down, want up"}},
		{"port-nomaster", func() { hand("nomaster", h.LinkSetNoMaster(e.link(t, "v0.300"))) },
			[]string{"v0.300: master: have none, want br-vps-bm"}},
		{"port-in-the-other-bridge", func() { hand("master", h.LinkSetMaster(e.link(t, "v0.300"), e.link(t, "br-zones"))) },
			[]string{"v0.300: master: have br-zones, want br-vps-bm"}},
		{"port-recreated-with-another-id", func() {
			hand("delete", h.LinkDel(e.link(t, "v0.300")))
			// In bridgectl's device group and with its alias: a link of
			// its own whose id changed (the kernel cannot change it in
			// place). Without the alias it would be foreign (see
			// bridgectl_owner_test.go).
			hand("create", h.LinkAdd(vlan("v0.300", "v0", 301, 29026)))
			hand("alias", h.LinkSetAlias(e.link(t, "v0.300"), "qinqbridge vps-bm b"))
		}, []string{"v0.300: id: have 301, want 300"}},
		{"port-mtu", func() { hand("set mtu", h.LinkSetMTU(e.link(t, "v0.300"), 1400)) },
			[]string{"v0.300: mtu: have 1400, want 1496"}}, // QinQ's second tag costs the other end 4 bytes
		{"bridge-multicast-snooping", func() {
			// By name, not index: a request with both is a rename,
			// which the kernel refuses (EBUSY) on an up link, even to
			// the same name — BridgeSetMcastSnoop sends both.
			la := netlink.NewLinkAttrs()
			la.Name = "br-vps-bm"
			on := true
			hand("mcast_snooping", h.LinkModify(&netlink.Bridge{LinkAttrs: la, MulticastSnooping: &on}))
		},
			[]string{"br-vps-bm: mcast_snooping: have on, want off"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.drift()
			drift := e.bridgectl(t, 1, "check", "-c", cfg).stdout
			for _, w := range c.want {
				if !hasLinePrefix(drift, w) {
					t.Errorf("check: no line starting %q in:\n%s", w, drift)
				}
			}
			r := e.bridgectl(t, 0, "apply", "-c", cfg)
			if !strings.HasPrefix(r.stdout, "applied: ") {
				t.Errorf("apply after drift: %q", r.stdout)
			}
			e.bridgectl(t, 0, "check", "-c", cfg)
			if r := e.bridgectl(t, 0, "apply", "-c", cfg); r.stdout != "in sync: no changes\n" {
				t.Errorf("second apply: %q, want no changes", r.stdout)
			}
			e.waitOperUp(t, []string{"q0.s100.200", "v0.300"})
			cross(t, q, qinq(100, 200), v, dot1q(300))
			cross(t, v, dot1q(300), q, qinq(100, 200))
			t.Logf("check:\n%sapply healed it: %s", drift, r.stdout)
		})
	}
}

func hasLinePrefix(out, prefix string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
