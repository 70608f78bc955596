//go:build integration

package integration

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// Ownership by device group alone (issue 12, item 7) and foreign ports of
// translation bridges (item 6, the reporting half). A link is bridgectl's
// only in its device group (29026, or 29027 on its way out) and with an
// alias starting "qinqbridge". What an admin puts in the group — lo, which
// the kernel cannot delete, or a veth of their own — is left exactly as it
// is by down, apply and apply's delete phase, which never fail because of
// it; plan, check and apply name it. The tests use `ip`, as the careless
// admin would.

// ourLinks are the links foreignBase makes; foreignMore adds theirs.
var (
	ourLinks  = []string{"q0.s100", "q0.s100.200", "v0.300", "br-vps-bm"}
	moreLinks = []string{"q0.s102", "q0.s102.201", "v0.301", "br-x"}
)

// linkLines is the part of a linkDump about one link: equal parts mean the
// link did not change at all.
func linkLines(dump, name string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.SplitAfter(dump, "\n") {
		if strings.HasPrefix(l, "link ") {
			f := strings.Fields(l)
			in = len(f) > 2 && f[2] == name+":"
		}
		if in {
			b.WriteString(l)
		}
	}
	return b.String()
}

// ip runs the ip command in the namespace, as an admin would.
func (e *bcEnv) ip(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", e.ns.Name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// absent fails the test if any of names exists.
func (e *bcEnv) absent(t *testing.T, what string, names []string) {
	t.Helper()
	for _, n := range names {
		if _, err := e.ns.Link.LinkByName(n); err == nil {
			t.Errorf("%s: %s still exists", what, n)
		}
	}
}

// adminVeth adds an admin's veth pair adm0/adm1, up.
func (e *bcEnv) adminVeth(t *testing.T) {
	t.Helper()
	e.ip(t, "link", "add", "adm0", "type", "veth", "peer", "name", "adm1")
	e.ip(t, "link", "set", "adm0", "up")
	e.ip(t, "link", "set", "adm1", "up")
}

func TestBridgectlDownLeavesForeignLinksInGroup(t *testing.T) {
	for _, c := range []struct {
		name    string
		foreign []string                 // links the admin put in the group
		put     func(*testing.T, *bcEnv) // puts them there
	}{
		{"lo-in-the-group", []string{"lo"}, func(t *testing.T, e *bcEnv) {
			e.ip(t, "link", "set", "lo", "group", "29026")
		}},
		{"an-admins-veth-in-the-group", []string{"adm0"}, func(t *testing.T, e *bcEnv) {
			e.adminVeth(t)
			e.ip(t, "link", "set", "adm0", "group", "29026")
		}},
		{"an-admins-veth-with-an-alias-in-the-group", []string{"adm0"}, func(t *testing.T, e *bcEnv) {
			e.adminVeth(t)
			e.ip(t, "link", "set", "adm0", "group", "29026", "alias", "uplink to rack 4")
		}},
		{"lo-and-a-veth-in-the-doomed-group", []string{"lo", "adm0", "adm1"}, func(t *testing.T, e *bcEnv) {
			e.adminVeth(t)
			e.ip(t, "link", "set", "lo", "group", "29027")
			e.ip(t, "link", "set", "adm0", "group", "29027")
			e.ip(t, "link", "set", "adm1", "group", "29026")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newBCEnv(t)
			base := e.write(t, "base.toml", foreignBase)
			e.bridgectl(t, 0, "apply", "-c", base)
			c.put(t, e)
			e.settleLinks(t)
			before := e.linkDump(t)

			// plan and check name each.
			p := e.bridgectl(t, 0, "plan", "-c", base)
			r := e.bridgectl(t, 1, "check", "-c", base)
			for _, n := range c.foreign {
				if !hasLinePrefix(p.stdout, "! "+n+": foreign ") {
					t.Errorf("plan does not show %s:\n%s", n, p.stdout)
				}
				if !hasLineWith(r.stdout, n+": foreign ", "in group qinqbridge") {
					t.Errorf("check does not report %s:\n%s", n, r.stdout)
				}
			}

			// down deletes ours, leaves theirs exactly as they were,
			// names them and exits 0.
			d := e.bridgectl(t, 0, "down")
			e.settleLinks(t)
			after := e.linkDump(t)
			for _, n := range c.foreign {
				if linkLines(before, n) != linkLines(after, n) {
					t.Errorf("down changed %s:\n%s", n, lineDiff(linkLines(before, n), linkLines(after, n)))
				}
				if !strings.Contains(d.stderr, "warning: "+n+": foreign ") {
					t.Errorf("down does not name %s:\n%s", n, d.stderr)
				}
			}
			e.absent(t, "down", ourLinks)

			// apply builds around them, and says so.
			a := e.bridgectl(t, 0, "apply", "-c", base)
			for _, n := range c.foreign {
				if !strings.Contains(a.stderr, "warning: "+n+": foreign ") {
					t.Errorf("apply does not report %s:\n%s", n, a.stderr)
				}
			}
			e.settleLinks(t)
			again := e.linkDump(t)
			for _, n := range c.foreign {
				if linkLines(before, n) != linkLines(again, n) {
					t.Errorf("apply changed %s:\n%s", n, lineDiff(linkLines(before, n), linkLines(again, n)))
				}
			}
			e.bridgectl(t, 0, "down")
			e.absent(t, "second down", ourLinks)
			t.Logf("down: %s%s", d.stdout, d.stderr)
		})
	}
}

// apply's delete phase ("doom", then a group delete) with a foreign link in
// the doomed group: the translation the file dropped is deleted, the
// foreign link is not, apply exits 0.
func TestBridgectlApplyDeletesAroundForeignDoomed(t *testing.T) {
	for _, c := range []struct {
		name    string
		foreign []string
		put     func(*testing.T, *bcEnv)
	}{
		{"lo", []string{"lo"}, func(t *testing.T, e *bcEnv) { e.ip(t, "link", "set", "lo", "group", "29027") }},
		{"an-admins-veth", []string{"adm0"}, func(t *testing.T, e *bcEnv) {
			e.adminVeth(t)
			e.ip(t, "link", "set", "adm0", "group", "29027")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newBCEnv(t)
			e.downAtCleanup(t)
			base := e.write(t, "base.toml", foreignBase)
			more := e.write(t, "more.toml", foreignMore)
			e.bridgectl(t, 0, "apply", "-c", more)
			c.put(t, e)
			e.settleLinks(t)
			before := e.linkDump(t)
			r := e.bridgectl(t, 0, "apply", "-c", base)
			e.settleLinks(t)
			after := e.linkDump(t)
			for _, n := range c.foreign {
				if linkLines(before, n) != linkLines(after, n) {
					t.Errorf("apply changed %s:\n%s", n, lineDiff(linkLines(before, n), linkLines(after, n)))
				}
			}
			e.absent(t, "apply of the smaller file", moreLinks)
			if !strings.HasPrefix(r.stdout, "applied: 0 created, 0 recreated, 0 modified, 4 deleted") {
				t.Errorf("apply: %q", r.stdout)
			}
			e.bridgectl(t, 1, "check", "-c", base)
		})
	}
}

// A link of a wanted name, kind and identity in the group with no alias —
// what a run killed between a create and its alias would leave — is
// adopted: apply marks it, check is clean. One of another identity is
// refused, named, and left alone.
func TestBridgectlAdoptsUnmarkedWantedLink(t *testing.T) {
	e := newBCEnv(t)
	e.downAtCleanup(t)
	base := e.write(t, "base.toml", foreignBase)
	e.bridgectl(t, 0, "apply", "-c", base)
	h := e.ns.Link
	vlan := func(id int) {
		t.Helper()
		if err := h.LinkDel(e.link(t, "v0.300")); err != nil {
			t.Fatal(err)
		}
		la := netlink.NewLinkAttrs()
		la.Name, la.ParentIndex, la.Group = "v0.300", e.link(t, "v0").Attrs().Index, 29026
		if err := h.LinkAdd(&netlink.Vlan{LinkAttrs: la, VlanId: id, VlanProtocol: netlink.VLAN_PROTOCOL_8021Q}); err != nil {
			t.Fatal(err)
		}
	}
	vlan(300)
	e.bridgectl(t, 0, "apply", "-c", base)
	e.bridgectl(t, 0, "check", "-c", base)
	if a := e.link(t, "v0.300").Attrs().Alias; a != "qinqbridge vps-bm b" {
		t.Errorf("adopted v0.300: alias %q", a)
	}

	vlan(301)
	e.settleLinks(t)
	before := e.linkDump(t)
	for _, cmd := range []string{"apply", "plan", "check"} {
		r := e.bridgectl(t, 2, cmd, "-c", base)
		if !strings.Contains(r.stderr, "v0.300: a link of that name is in group qinqbridge but not marked as bridgectl's") {
			t.Errorf("%s: %s", cmd, r.stderr)
		}
	}
	e.sameDump(t, "refusing an unmarked link of another identity", before)
	e.bridgectl(t, 0, "down")
	if _, err := h.LinkByName("v0.300"); err != nil {
		t.Errorf("down deleted the unmarked v0.300: %v", err)
	}
}

// A foreign interface enslaved to a translation bridge (item 6): plan shows
// it, check reports it (exit 1, its name), apply leaves it enslaved and
// names it.
func TestBridgectlForeignPortReported(t *testing.T) {
	e := newBCEnv(t)
	e.downAtCleanup(t)
	base := e.write(t, "base.toml", foreignBase)
	e.bridgectl(t, 0, "apply", "-c", base)
	e.adminVeth(t)
	e.ip(t, "link", "set", "adm0", "master", "br-vps-bm")
	e.settleLinks(t)
	before := e.linkDump(t)

	const line = "adm0: foreign veth, port of translation bridge br-vps-bm"
	r := e.bridgectl(t, 1, "check", "-c", base)
	if !hasLinePrefix(r.stdout, line) {
		t.Errorf("check does not report adm0:\n%s", r.stdout)
	}
	if p := e.bridgectl(t, 0, "plan", "-c", base); !hasLinePrefix(p.stdout, "! "+line) {
		t.Errorf("plan does not show adm0:\n%s", p.stdout)
	}
	a := e.bridgectl(t, 0, "apply", "-c", base)
	if !strings.Contains(a.stderr, "warning: "+line) {
		t.Errorf("apply does not name adm0:\n%s", a.stderr)
	}
	e.sameDump(t, "apply with a foreign port", before)
	if m := e.link(t, "adm0").Attrs().MasterIndex; m != e.link(t, "br-vps-bm").Attrs().Index {
		t.Errorf("adm0 released from br-vps-bm (master %d)", m)
	}
	t.Logf("check:\n%s", r.stdout)
}
