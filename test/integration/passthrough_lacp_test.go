//go:build integration

package integration

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/florianl/go-tc"
	"github.com/vishvananda/netlink"

	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/internal/tcnl"
	"github.com/qinqbridge/qinqbridge/tcguard"
	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// LACP through the translator (issue 16). Two "switches", each a
// namespace with a Linux bond in 802.3ad mode (lacp_rate fast) whose one
// member is the peer of a trunk of the translator: q0p behind q0 (QinQ
// 100.200), v0p behind v0 (VLAN 300). The translator passes the slow
// protocols between q0 and v0 behind its guard.
const lacpConfig = `datapath = %q

[[translation]]
name = "lacp"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }

[[passthrough]]
a = "q0"
b = "v0"
protocols = ["lacp"]
`

// lacpBundleMax bounds the time from unblock to both bonds bundled: the
// issue's goal is 6 s under TCG; without the renegotiation kick it takes
// up to the 30 s LACPDU tick of a port that never had a partner.
func lacpBundleMax(t *testing.T) time.Duration {
	return time.Duration(guardEnvInt(t, "QB_LACP_BUNDLE_MAX_S", 10)) * time.Second
}

// lacpSwitch is one switch: its namespace, its bond and the bond's members.
type lacpSwitch struct {
	ns      *testbed.NS
	bond    string
	members []string
	mac     net.HardwareAddr // the bond's, its LACP system id
	wire    *bcWire          // a raw socket on the first member
}

// lacpMember is a translator trunk's peer that becomes a bond member: the
// translator node, the peer's name there and the member's in the switch.
type lacpMember struct {
	node       *bcEnv
	peer, name string
}

// newLacpSwitch moves the members (trunks' peers) out of their
// translators' namespaces into a new one and enslaves them to a fresh
// 802.3ad bond (lacp_rate fast, miimon 100).
func newLacpSwitch(t *testing.T, bond string, mac net.HardwareAddr, mtu int, members ...lacpMember) *lacpSwitch {
	t.Helper()
	ns := testbed.NewNS(t)
	for _, k := range []string{"all", "default"} {
		p := "/proc/sys/net/ipv6/conf/" + k + "/disable_ipv6"
		if err := ns.Do(func() error { return os.WriteFile(p, []byte("1"), 0) }); err != nil {
			t.Fatal(err)
		}
	}
	la := netlink.NewLinkAttrs()
	la.Name, la.HardwareAddr, la.MTU = bond, mac, mtu
	b := netlink.NewLinkBond(la)
	b.Mode, b.LacpRate, b.Miimon = netlink.BOND_MODE_802_3AD, netlink.BOND_LACP_RATE_FAST, 100
	if err := ns.Link.LinkAdd(b); err != nil {
		t.Fatalf("bond %s: %v", bond, err)
	}
	bl, err := ns.Link.LinkByName(bond)
	if err != nil {
		t.Fatal(err)
	}
	s := &lacpSwitch{ns: ns, bond: bond, mac: mac}
	for _, m := range members {
		l := m.node.link(t, m.peer)
		if m.name != m.peer { // a link is renamed down, in its namespace
			if err := m.node.ns.Link.LinkSetDown(l); err != nil {
				t.Fatal(err)
			}
			if err := m.node.ns.Link.LinkSetName(l, m.name); err != nil {
				t.Fatalf("rename %s to %s: %v", m.peer, m.name, err)
			}
		}
		if err := m.node.ns.Link.LinkSetNsFd(l, int(ns.Handle)); err != nil {
			t.Fatalf("%s into %s: %v", m.name, ns.Name, err)
		}
		ml, err := ns.Link.LinkByName(m.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.Link.LinkSetMaster(ml, bl); err != nil {
			t.Fatalf("enslave %s to %s: %v", m.name, bond, err)
		}
		s.members = append(s.members, m.name)
	}
	ns.Up(t, bond)
	for _, m := range s.members {
		ns.Up(t, m)
	}
	return s
}

// open opens the raw socket on the first member. (A socket bound to a device
// that goes down keeps ENETDOWN pending for its next call: open it after
// the last bounce.)
func (s *lacpSwitch) open(t *testing.T) {
	t.Helper()
	p, err := testbed.OpenPort(s.ns, s.members[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s.wire = &bcWire{name: s.members[0], port: p, src: net.HardwareAddr{0x02, 0, 0, 0xbc, 0, byte(bcSeq.Add(1))}}
}

// partner is the partner system of the bond's active aggregator (zero or
// nil: none).
func (s *lacpSwitch) partner(t *testing.T) net.HardwareAddr {
	t.Helper()
	return s.bonding(t).Partner
}

// bonding is what the kernel says about the bond now.
func (s *lacpSwitch) bonding(t *testing.T) testbed.Bonding {
	t.Helper()
	b, err := testbed.ReadBonding(s.ns, s.bond)
	if err != nil {
		t.Fatalf("%s: %v", s.bond, err)
	}
	return b
}

// proc is the bond's /proc/net/bonding file, read in its namespace.
func (s *lacpSwitch) proc(t *testing.T) string {
	t.Helper()
	var b []byte
	if err := s.ns.Do(func() error {
		var err error
		b, err = os.ReadFile("/proc/thread-self/net/bonding/" + s.bond)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// bounce takes the members down and up: the bond's ports start over and
// send LACPDUs at the fast rate for a few seconds.
func (s *lacpSwitch) bounce(t *testing.T) {
	t.Helper()
	for _, m := range s.members {
		l, err := s.ns.Link.LinkByName(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ns.Link.LinkSetDown(l); err != nil {
			t.Fatal(err)
		}
		s.ns.Up(t, m)
	}
}

// passCounts are the frames the two pass-through filters redirected, by
// in trunk, read from the kernel with go-tc and bridgectl's decoder.
func (e *bcEnv) passCounts(t *testing.T) map[string]uint64 {
	t.Helper()
	c, err := tcnl.Open(int(e.ns.Handle))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	objs, err := c.Filters(tc.Msg{Ifindex: tc.MagicBlock, Parent: tcguard.TrunkBlock(defaults.Block)})
	if err != nil {
		t.Fatal(err)
	}
	var links []*plan.Observed
	for _, n := range []string{"q0", "v0"} {
		links = append(links, &plan.Observed{Index: e.link(t, n).Attrs().Index, Name: n})
	}
	out := map[string]uint64{}
	for _, f := range kernel.ObservedFilters(objs, plan.NewState(links), kernel.Gates{defaults.Block: tcguard.ActionIndex(defaults.Block)}) {
		if f.Pass != "" {
			if f.Out.Parent == "?" || f.Guard != defaults.Block {
				t.Fatalf("pass-through filter %s: not as bridgectl makes it (guard %d)", f, f.Guard)
			}
			out[f.In.Parent] = f.Forwarded
		}
	}
	if len(out) != 2 {
		t.Fatalf("pass-through filters: %v", out)
	}
	return out
}

// tap is a raw socket on a translator trunk: it sees what the trunk
// receives before tc does.
func (e *bcEnv) tap(t *testing.T, trunk string) *testbed.Port {
	t.Helper()
	p, err := testbed.OpenPort(e.ns, trunk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// awaitAll receives on w until the test frame with payload arrives and
// returns every other frame received meanwhile (any EtherType).
func awaitAll(t *testing.T, w *bcWire, payload string) []testbed.Frame {
	t.Helper()
	deadline := time.Now().Add(guardPatience)
	var others []testbed.Frame
	for {
		f, err := w.port.RecvAny(deadline)
		if err != nil {
			t.Fatalf("%s: frame %q never arrived (%v)", w.name, payload, err)
		}
		if f.EtherType == testbed.EtherTypeTest && strings.HasPrefix(string(f.Payload), payload) {
			return others
		}
		others = append(others, f)
	}
}

var (
	slowMAC = net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0x02}
	stpMAC  = net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0x00}
	lldpMAC = net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0x0e}
)

// The slow protocols cross the translator only while its guard is open;
// opening it makes the bonds bundle through it at once (the renegotiation
// kick); tagged frames cross translated, STP and LLDP never; blocking it
// again takes the member out of the bundle. Both datapaths.
func TestPassthroughLACP(t *testing.T) {
	for _, datapath := range []string{"bridge", "tc"} {
		t.Run(datapath, func(t *testing.T) { lacpThrough(t, datapath) })
	}
}

func lacpThrough(t *testing.T, datapath string) {
	e := newBCEnv(t)
	// The QinQ side carries what the VLAN side sends, with its S-tag.
	for _, l := range []string{"q0", "q0p"} {
		if err := e.ns.Link.LinkSetMTU(e.link(t, l), 1504); err != nil {
			t.Fatal(err)
		}
	}
	// The switches first: their namespaces go after bridgectl down at
	// cleanup (deleting one deletes a trunk with its peer).
	a := newLacpSwitch(t, "bonda", net.HardwareAddr{0x02, 0, 0, 0x1a, 0xc0, 0x0a}, 1504, lacpMember{e, "q0p", "q0p"})
	b := newLacpSwitch(t, "bondb", net.HardwareAddr{0x02, 0, 0, 0x1a, 0xc0, 0x0b}, 1500, lacpMember{e, "v0p", "v0p"})
	cfg := e.write(t, "lacp.toml", fmt.Sprintf(lacpConfig, datapath))
	e.downAtCleanup(t)
	e.bridgectl(t, 0, "apply", "-c", cfg)
	e.bridgectl(t, 0, "check", "-c", cfg)
	// The guard owns the pass-through filters: nothing foreign in its
	// blocks.
	if s := e.status(t, cfg); s.State != "blocked" || !s.OK || len(s.Problems) != 0 {
		t.Fatalf("tcguard status: %+v", s)
	}
	tapQ, tapV := e.tap(t, "q0"), e.tap(t, "v0")
	metrics := e.startMetrics(t, cfg)
	// passScraped is the pass-through frames the scrape s shows from in.
	passScraped := func(s *scraped, in, out string) uint64 {
		return uint64(s.get(t, "qinqbridge_passthrough_frames_total", "group", "default", "protocol", "lacp", "in", in, "out", out))
	}

	// Blocked: each bond's LACPDUs reach the translator (its taps see
	// them), the guard drops them, the bonds never see a partner.
	for _, c := range []struct {
		tap  *testbed.Port
		from *lacpSwitch
	}{{tapQ, a}, {tapV, b}} {
		c.from.bounce(t) // a port starting over sends at once
		f, err := c.tap.Recv(plan.EthPSlow, time.Now().Add(guardPatience))
		if err != nil {
			t.Fatalf("no LACPDU from %s reached the translator: %v", c.from.bond, err)
		}
		if !bytes.Equal(f.Dst, slowMAC) || len(f.Tags) != 0 {
			t.Fatalf("slow-protocol frame %v > %v tags %v", f.Src, f.Dst, f.Tags)
		}
	}
	a.open(t)
	b.open(t)
	// A tagged frame reaches the translator and does not leave it.
	blocked := a.wire.send(t, qinq(100, 200))
	for {
		f, err := tapQ.Recv(testbed.EtherTypeTest, time.Now().Add(guardPatience))
		if err != nil {
			t.Fatalf("the blocked test frame never reached q0: %v", err)
		}
		if strings.HasPrefix(string(f.Payload), blocked) {
			break
		}
	}
	if got := e.passCounts(t); got["q0"] != 0 || got["v0"] != 0 {
		t.Fatalf("blocked: the pass-throughs redirected %v", got)
	}
	if sc := metrics.scrape(t); passScraped(sc, "q0", "v0") != 0 || passScraped(sc, "v0", "q0") != 0 {
		t.Fatalf("blocked: the scrape shows pass-through frames:\n%s", sc.text)
	}
	for _, s := range []*lacpSwitch{a, b} {
		if p := s.partner(t); p != nil && !bytes.Equal(p, make(net.HardwareAddr, 6)) {
			t.Fatalf("blocked: %s has partner %v", s.bond, p)
		}
	}
	t.Logf("blocked: LACPDUs from both bonds dropped at the translator, no partner")

	// Open: both bonds bundle with each other as partner, at once.
	start := time.Now()
	r := e.guard(t, "unblock", cfg)
	if !strings.Contains(r.stderr, "taken down and up") {
		t.Errorf("unblock did not kick the pass-through trunks: %q", r.stderr)
	}
	bundled := func() bool { return bytes.Equal(a.partner(t), b.mac) && bytes.Equal(b.partner(t), a.mac) }
	lacpWait(t, e, a, b, "both bonds partnered through the translator", bundled)
	took := time.Since(start)
	t.Logf("%s datapath: unblock to both bonds bundled: %v (unblock itself %v)", datapath, took.Round(10*time.Millisecond), r.took.Round(time.Millisecond))
	if took > lacpBundleMax(t) {
		t.Errorf("bundled %v after unblock, more than %v", took, lacpBundleMax(t))
	}
	// The scrape counts what the filters count: a scrape before and one
	// after the filters' own read bracket it (LACPDUs keep crossing).
	before := metrics.scrape(t)
	got := e.passCounts(t)
	after := metrics.scrape(t)
	if got["q0"] == 0 || got["v0"] == 0 {
		t.Fatalf("open: the pass-throughs redirected %v", got)
	}
	for _, d := range [][2]string{{"q0", "v0"}, {"v0", "q0"}} {
		if b, a := passScraped(before, d[0], d[1]), passScraped(after, d[0], d[1]); b > got[d[0]] || got[d[0]] > a {
			t.Errorf("pass-through %s -> %s: scraped %d, then the filter counted %d, then scraped %d", d[0], d[1], b, got[d[0]], a)
		}
	}
	if s := e.status(t, cfg); s.State != "open" || !s.OK || len(s.Problems) != 0 {
		t.Fatalf("tcguard status: %+v", s)
	}
	e.bridgectl(t, 0, "check", "-c", cfg) // the kick left no drift
	r = e.bridgectl(t, 0, "status", "-c", cfg)
	for _, line := range []string{"passthrough q0 -> v0 (lacp): present", "passthrough v0 -> q0 (lacp): present"} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("bridgectl status lacks %q:\n%s", line, r.stdout)
		}
	}

	// Counted tagged frames cross translated, each once; the one sent
	// while blocked never comes out.
	const n = 20
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		for _, o := range cross(t, a.wire, qinq(100, 200), b.wire, dot1q(300)) {
			seen[o]++
		}
		for _, o := range cross(t, b.wire, dot1q(300), a.wire, qinq(100, 200)) {
			seen[o]++
		}
	}
	for o := range seen {
		if strings.HasPrefix(o, blocked) {
			t.Fatal("the frame sent while blocked came out")
		}
	}
	if len(seen) != 0 {
		t.Fatalf("%d stray or duplicated test frames: %q", len(seen), slices.Collect(maps.Keys(seen)))
	}

	// STP and LLDP stay on their link: sent before a marker, they are not
	// among what arrives before it.
	for _, f := range []testbed.Frame{
		{Dst: stpMAC, Src: a.wire.src, EtherType: 0x0026, Payload: append([]byte{0x42, 0x42, 0x03}, make([]byte, 35)...)},
		{Dst: lldpMAC, Src: a.wire.src, EtherType: 0x88cc, Payload: make([]byte, 46)},
	} {
		if err := a.wire.port.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	marker := a.wire.send(t, qinq(100, 200))
	for _, f := range awaitAll(t, b.wire, marker) {
		if bytes.Equal(f.Dst, stpMAC) || bytes.Equal(f.Dst, lldpMAC) {
			t.Fatalf("a link-local frame to %v crossed the translator", f.Dst)
		}
	}

	// Blocked again: the member leaves the bundle (fast rate: about 3 s
	// without LACPDUs).
	e.guard(t, "block", cfg)
	start = time.Now()
	lacpWait(t, e, a, b, "both bonds without partner", func() bool { return !bytes.Equal(a.partner(t), b.mac) && !bytes.Equal(b.partner(t), a.mac) })
	t.Logf("%s datapath: block to both bonds unbundled: %v", datapath, time.Since(start).Round(10*time.Millisecond))
}

// lacpWait waits for cond like guardWait, for at most a minute (a bond
// that did not bundle by then will not), and says what the bonds and the
// pass-throughs saw if it is not reached.
func lacpWait(t *testing.T, e *bcEnv, a, b *lacpSwitch, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			for _, s := range []*lacpSwitch{a, b} {
				t.Logf("%s:\n%s", s.bond, s.proc(t))
			}
			t.Logf("pass-throughs redirected %v", e.passCounts(t))
			t.Fatalf("%s: not reached after a minute", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
