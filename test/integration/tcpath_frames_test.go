//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// The tc datapath with real frames: every kind of translation, both ways,
// tag bytes checked on the wire; fail closed while the guard is blocked
// (frames counted by the guard, none out, beside the same frames crossing
// once it is open); untranslated tags never forwarded; a management VLAN
// on a trunk reaches the host, blocked or open. Trunks q0 (QinQ), v0 and
// w0 (802.1Q); their peers are the switches.
func TestTCDatapathFrames(t *testing.T) {
	e := newBCEnv(t)
	e.ns.Veth(t, "w0", "w0p")
	// The QinQ trunk carries what the 802.1Q ones send, with its S-tag.
	for _, l := range []string{"q0", "q0p"} {
		if err := e.ns.Link.LinkSetMTU(e.link(t, l), 1504); err != nil {
			t.Fatal(err)
		}
	}
	cfg := e.write(t, "tc.toml", "datapath = \"tc\"\n"+everyKind+fmt.Sprintf(bulkRange, 50, 2050))
	e.downAtCleanup(t)
	links := len(e.links(t))
	r := e.bridgectl(t, 0, "apply", "-c", cfg)
	t.Logf("apply: %v: %s", r.took, firstLine(r.stdout))
	e.bridgectl(t, 0, "check", "-c", cfg)
	if n := len(e.links(t)); n != links {
		t.Fatalf("the tc datapath created %d links", n-links)
	}
	// The guard names the trunks as what it holds.
	e.wantStatus(t, cfg, "blocked", 3)

	// A management VLAN on a trunk: the host's, not translated.
	mgmt := e.vlan(t, "q0", 999)

	q, v, w := e.wire(t, "q0p"), e.wire(t, "v0p"), e.wire(t, "w0p")
	type end struct {
		wire *bcWire
		tags []testbed.Tag
	}
	cases := []struct {
		name string
		a, b end
	}{
		{"qinq-100.200-vlan-300", end{q, qinq(100, 200)}, end{v, dot1q(300)}},
		{"vlan-100-vlan-200", end{v, dot1q(100)}, end{w, dot1q(200)}},
		{"outer-802.1Q-500.600-vlan-700", end{q, dot1q(500, 600)}, end{v, dot1q(700)}},
		{"qinq-102.7-qinq-103.8", end{q, qinq(102, 7)}, end{w, qinq(103, 8)}},
		{"range-1", end{q, qinq(101, 1)}, end{w, dot1q(2001)}},
		{"range-50", end{q, qinq(101, 50)}, end{w, dot1q(2050)}},
	}

	// Blocked: each direction's frame is taken by its filter and dropped by
	// the guard's action (counted), and the management VLAN still works.
	base := e.status(t, cfg).DroppedPackets
	var blocked []string
	for _, c := range cases {
		blocked = append(blocked, c.a.wire.send(t, c.a.tags), c.b.wire.send(t, c.b.tags))
	}
	guardWait(t, "the guard drops every translated frame", func() bool {
		return e.status(t, cfg).DroppedPackets-base >= uint64(len(blocked))
	})
	if d := e.status(t, cfg).DroppedPackets - base; d != uint64(len(blocked)) {
		t.Fatalf("the guard dropped %d frames, %d sent", d, len(blocked))
	}
	e.mgmtReaches(t, q, mgmt, 999)

	// Open: the same frames cross, tags rewritten; none of those sent while
	// blocked came out before them (a wire delivers in order).
	e.guard(t, "unblock", cfg)
	e.wantStatus(t, cfg, "open", 3)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, others := range [][]string{
				cross(t, c.a.wire, c.a.tags, c.b.wire, c.b.tags),
				cross(t, c.b.wire, c.b.tags, c.a.wire, c.a.tags),
			} {
				for _, o := range others {
					for _, b := range blocked {
						if strings.HasPrefix(o, b) {
							t.Fatalf("a frame sent while blocked came out: %q", o)
						}
					}
				}
			}
			t.Logf("%s %v <-> %s %v", c.a.wire.name, c.a.tags, c.b.wire.name, c.b.tags)
		})
	}
	e.mgmtReaches(t, q, mgmt, 999)

	// Tags no translation has stay out: the frame goes to the trunk's host
	// stack, which drops it (no VLAN device for it), and a frame sent after
	// it on a translation arrives with no trace of it before.
	for _, c := range []struct {
		name     string
		from     *bcWire
		tags     []testbed.Tag
		dropAt   string
		to       *bcWire
		marker   []testbed.Tag
		markerTo []testbed.Tag
	}{
		{"qinq-other-inner", q, qinq(100, 201), "q0", v, cases[0].a.tags, cases[0].b.tags},
		{"qinq-past-the-range", q, qinq(101, 51), "q0", w, cases[4].a.tags, cases[4].b.tags},
		{"vlan-other-id", v, dot1q(301), "v0", q, cases[0].b.tags, cases[0].a.tags},
		{"qinq-outer-802.1Q-instead-of-802.1ad", q, dot1q(100, 200), "q0", v, cases[0].a.tags, cases[0].b.tags},
		{"qinq-outer-802.1ad-instead-of-802.1Q", q, qinq(500, 600), "q0", v, cases[0].a.tags, cases[0].b.tags},
		{"untagged", v, nil, "v0", q, cases[0].b.tags, cases[0].a.tags},
	} {
		t.Run("untranslated-"+c.name, func(t *testing.T) {
			e.noCross(t, c.from, c.tags, c.dropAt, c.to, c.marker, c.markerTo)
		})
	}

	// Blocked again: nothing crosses, the management VLAN still works.
	e.guard(t, "block", cfg)
	e.wantStatus(t, cfg, "blocked", 3)
	base = e.status(t, cfg).DroppedPackets
	payload := q.send(t, cases[0].a.tags)
	guardWait(t, "the guard drops the frame", func() bool { return e.status(t, cfg).DroppedPackets > base })
	e.mgmtReaches(t, q, mgmt, 999)
	e.guard(t, "unblock", cfg)
	for _, o := range cross(t, q, cases[0].a.tags, v, cases[0].b.tags) {
		if strings.HasPrefix(o, payload) {
			t.Fatal("a frame sent while blocked came out")
		}
	}
	e.bridgectl(t, 0, "check", "-c", cfg)
	t.Logf("status:\n%s", e.bridgectl(t, 0, "status", "-c", cfg).stdout)
}

// links lists the namespace's links.
func (e *bcEnv) links(t *testing.T) []netlink.Link {
	t.Helper()
	ls, err := e.ns.Link.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// vlan adds an 802.1Q device on a trunk, up, as an operator would for the
// host's own traffic.
func (e *bcEnv) vlan(t *testing.T, parent string, id int) string {
	t.Helper()
	la := netlink.NewLinkAttrs()
	la.Name, la.ParentIndex = fmt.Sprintf("%s.%d", parent, id), e.link(t, parent).Attrs().Index
	if err := e.ns.Link.LinkAdd(&netlink.Vlan{LinkAttrs: la, VlanId: id}); err != nil {
		t.Fatal(err)
	}
	e.ns.Up(t, la.Name)
	return la.Name
}

// mgmtReaches sends a frame tagged id from wire and waits until the VLAN
// device dev counts it received.
func (e *bcEnv) mgmtReaches(t *testing.T, from *bcWire, dev string, id uint16) {
	t.Helper()
	rx := func() uint64 { return e.link(t, dev).Attrs().Statistics.RxPackets }
	before := rx()
	from.send(t, dot1q(id))
	guardWait(t, "the management VLAN frame reaches "+dev, func() bool { return rx() > before })
}
