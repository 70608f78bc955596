//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// foreignBase is what is applied before each refusal: state that a wrong
// apply could disturb.
const foreignBase = `
[[translation]]
name = "vps-bm"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }
`

// foreignMore adds translation x, whose links are q0.s102, q0.s102.201,
// v0.301 and br-x.
const foreignMore = foreignBase + `
[[translation]]
name = "x"
a = { parent = "q0", outer = 102, inner = 201 }
b = { parent = "v0", vlan = 301 }
`

// A link bridgectl did not create (made by hand, outside its device group)
// in the way of a wanted link — holding its name, or its (protocol, id)
// slot on the parent under another name — makes apply, plan and check fail
// naming it, and leaves every link exactly as it was. Without it, the same
// file applies. down deletes bridgectl's links and leaves foreign ones as
// they were.
func TestBridgectlForeignLinkRefused(t *testing.T) {
	e := newBCEnv(t)
	base := e.write(t, "base.toml", foreignBase)
	more := e.write(t, "more.toml", foreignMore)
	e.bridgectl(t, 0, "apply", "-c", base)
	h := e.ns.Link

	// hand adds a link as an operator would, up, and removes it when the
	// subtest ends.
	hand := func(t *testing.T, l netlink.Link) {
		t.Helper()
		name := l.Attrs().Name
		if err := h.LinkAdd(l); err != nil {
			t.Fatalf("foreign link %s: %v", name, err)
		}
		t.Cleanup(func() {
			if err := h.LinkDel(e.link(t, name)); err != nil {
				t.Errorf("delete foreign link %s: %v", name, err)
			}
		})
		if err := h.LinkSetUp(e.link(t, name)); err != nil {
			t.Fatal(err)
		}
	}
	vlan := func(t *testing.T, name, parent string, id int, proto netlink.VlanProtocol) {
		la := netlink.NewLinkAttrs()
		la.Name, la.ParentIndex = name, e.link(t, parent).Attrs().Index
		hand(t, &netlink.Vlan{LinkAttrs: la, VlanId: id, VlanProtocol: proto})
	}
	veth := func(t *testing.T, name, peer string) {
		la := netlink.NewLinkAttrs()
		la.Name = name
		hand(t, &netlink.Veth{LinkAttrs: la, PeerName: peer})
		e.ns.Up(t, peer)
	}
	bridge := func(t *testing.T, name, port string) {
		la := netlink.NewLinkAttrs()
		la.Name = name
		hand(t, &netlink.Bridge{LinkAttrs: la})
		if err := h.LinkSetMaster(e.link(t, port), e.link(t, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		hand  func(t *testing.T)
		named string // the link the error must name
	}{
		{"port-name-held-by-a-vlan-like-it", func(t *testing.T) { vlan(t, "v0.301", "v0", 301, netlink.VLAN_PROTOCOL_8021Q) }, "v0.301"},
		{"port-name-held-by-a-veth", func(t *testing.T) { veth(t, "q0.s102.201", "fx0") }, "q0.s102.201"},
		{"s-tag-name-held-by-a-vlan-like-it", func(t *testing.T) { vlan(t, "q0.s102", "q0", 102, netlink.VLAN_PROTOCOL_8021AD) }, "q0.s102"},
		{"bridge-name-held-by-a-bridge", func(t *testing.T) { veth(t, "fx0", "fx1"); bridge(t, "br-x", "fx0") }, "br-x"},
		{"port-slot-held-under-another-name", func(t *testing.T) { vlan(t, "hand301", "v0", 301, netlink.VLAN_PROTOCOL_8021Q) }, "hand301"},
		{"s-tag-slot-held-under-another-name", func(t *testing.T) { vlan(t, "hands102", "q0", 102, netlink.VLAN_PROTOCOL_8021AD) }, "hands102"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.hand(t)
			e.settleLinks(t)
			before, state := e.linkDump(t), dirSnapshot(t, e.state)
			for _, cmd := range []string{"apply", "plan", "check"} {
				r := e.bridgectl(t, 2, cmd, "-c", more)
				if !strings.Contains(r.stderr, c.named) {
					t.Errorf("%s: the error does not name %s:\n%s", cmd, c.named, r.stderr)
				}
				e.sameDump(t, cmd+" refusing "+c.named, before)
				if s := dirSnapshot(t, e.state); s != state {
					t.Errorf("%s refusing %s changed the state directory:\n%s", cmd, c.named, lineDiff(state, s))
				}
				t.Logf("%s: exit 2: %s", cmd, strings.TrimSpace(r.stderr))
			}
		})
	}

	t.Run("applies-once-out-of-the-way", func(t *testing.T) {
		e.bridgectl(t, 0, "apply", "-c", more)
		e.bridgectl(t, 0, "check", "-c", more)
	})

	t.Run("down-leaves-foreign-links", func(t *testing.T) {
		e.bridgectl(t, 0, "down")
		vlan(t, "v0.999", "v0", 999, netlink.VLAN_PROTOCOL_8021Q)
		bridge(t, "br-hand", "v0.999")
		e.settleLinks(t)
		before := e.linkDump(t)
		e.bridgectl(t, 0, "apply", "-c", more)
		e.bridgectl(t, 0, "down")
		e.settleLinks(t)
		e.sameDump(t, "apply then down", before)
	})
}

// A parent interface that does not exist: apply, plan and check fail naming
// it, and nothing changes.
func TestBridgectlMissingParent(t *testing.T) {
	e := newBCEnv(t)
	base := e.write(t, "base.toml", foreignBase)
	e.bridgectl(t, 0, "apply", "-c", base)
	text := foreignBase + `
[[translation]]
name = "lost"
a = { parent = "v0", vlan = 305 }
b = { parent = "nosuch0", vlan = 5 }
`
	cfg := e.write(t, "missing.toml", text)
	at := fmt.Sprintf("%s:%d: ", cfg, 1+strings.Count(text[:strings.Index(text, "nosuch0")], "\n"))
	e.settleLinks(t)
	before, state := e.linkDump(t), dirSnapshot(t, e.state)
	for _, cmd := range []string{"apply", "plan", "check"} {
		r := e.bridgectl(t, 2, cmd, "-c", cfg)
		if !strings.Contains(r.stderr, at+"parent interface nosuch0 does not exist") {
			t.Errorf("%s: want %sparent interface nosuch0 does not exist, got:\n%s", cmd, at, r.stderr)
		}
		e.sameDump(t, cmd+" with a missing parent", before)
		if s := dirSnapshot(t, e.state); s != state {
			t.Errorf("%s with a missing parent changed the state directory:\n%s", cmd, lineDiff(state, s))
		}
		t.Logf("%s: exit 2: %s", cmd, strings.TrimSpace(r.stderr))
	}
	e.bridgectl(t, 0, "check", "-c", base)
}
