//go:build integration

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	tc "github.com/florianl/go-tc"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/internal/namespace"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/agenttest"
	"github.com/qinqbridge/qinqbridge/tcguard"
	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// Kernel tests of the built tcguard agent together with the bridge agent
// (make ktest builds both into $QB_BIN and runs this in the testbed VM).

// vmNode is one namespace with two veth trunks, a configuration, and both
// agents pointed at it.
type vmNode struct {
	ns             *testbed.NS
	cfg, stateDir  string
	bridge, guard  agenttest.Env
	bridgeBin, bin string
}

func newNode(t testing.TB, cfg string) *vmNode {
	t.Helper()
	ns := testbed.NewNS(t)
	ns.Veth(t, "qtrunk", "qpeer")
	ns.Veth(t, "vtrunk", "vpeer")
	dir := t.TempDir()
	n := &vmNode{ns: ns, cfg: filepath.Join(dir, "qinqbridge.toml"), stateDir: filepath.Join(dir, "state"),
		bridgeBin: agenttest.Binary(t, "bridge"), bin: agenttest.Binary(t, "tcguard")}
	agenttest.WriteFile(t, n.cfg, cfg)
	params := map[string]string{"config": n.cfg, "netns": ns.Name, "state_dir": n.stateDir}
	n.bridge = agenttest.Env{Instance: "p_bridge:0", Params: params}
	n.guard = agenttest.Env{Instance: "p_guard:0", Params: params}
	return n
}

func (n *vmNode) want(t testing.TB, action string, extra []string, code int, fragments ...string) agenttest.Result {
	t.Helper()
	return n.guard.Want(t, n.bin, action, extra, code, fragments...)
}

// status reads the guard with package tcguard, as bridgectl would.
func (n *vmNode) status(t testing.TB) tcguard.Status {
	t.Helper()
	ns, err := namespace.Open(n.ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	g, err := tcguard.Open(tcguard.Options{Block: defaults.Block, NetNS: ns, StateDir: filepath.Join(n.stateDir, n.ns.Name)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	s, err := g.Status(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const acme = `
[[translation]]
name = "acme"
a = { parent = "qtrunk", outer = 100, inner = 200 }
b = { parent = "vtrunk", vlan = 300 }
`

func TestKernelOCFTester(t *testing.T) {
	n := newNode(t, acme)
	n.bridge.Want(t, n.bridgeBin, "start", nil, 0)
	n.guard.RunOCFTester(t, n.bin)
	if s := n.status(t); s.State != tcguard.Blocked || !s.Dropping || len(s.Bound) != 2 {
		t.Fatalf("after ocf-tester: %v, filter %v, %d bound", s.State, s.Dropping, len(s.Bound))
	}
	n.bridge.Want(t, n.bridgeBin, "stop", nil, 0)
}

// Frames cross only while the guard is promoted.
func TestKernelFrames(t *testing.T) {
	n := newNode(t, acme)
	n.bridge.Want(t, n.bridgeBin, "start", nil, 0)
	n.want(t, "start", nil, 0)
	waitOperUp(t, n.ns, "qtrunk.s100.200", "vtrunk.300")

	qinq := []testbed.Tag{{TPID: 0x88a8, VID: 100}, {TPID: 0x8100, VID: 200}}
	dot1q := []testbed.Tag{{TPID: 0x8100, VID: 300}}
	cross(t, n.ns, "qpeer", qinq, "vpeer", nil)
	n.want(t, "promote", nil, 0)
	n.want(t, "monitor", promoted, 8)
	cross(t, n.ns, "qpeer", qinq, "vpeer", dot1q)
	cross(t, n.ns, "vpeer", dot1q, "qpeer", qinq)
	n.want(t, "demote", nil, 0)
	n.want(t, "monitor", unpromoted, 0)
	cross(t, n.ns, "vpeer", dot1q, "qpeer", nil)
	n.want(t, "promote", nil, 0)
	n.want(t, "stop", nil, 0) // fail closed
	cross(t, n.ns, "qpeer", qinq, "vpeer", nil)
	n.want(t, "monitor", unpromoted, 7)
	n.bridge.Want(t, n.bridgeBin, "stop", nil, 0)
}

// The leak checks against the real kernel: a guard filter deleted, or the
// guard's action set to pass, behind our back (with go-tc, as an admin
// would with tc).
func TestKernelLeak(t *testing.T) {
	n := newNode(t, acme)
	n.bridge.Want(t, n.bridgeBin, "start", nil, 0)
	n.want(t, "start", nil, 0)
	deleteFilter(t, n.ns)
	n.want(t, "monitor", unpromoted, 1, "unpromoted, yet the guard of block 29026 is open", "2 ports may forward")
	n.want(t, "stop", nil, 0)
	if s := n.status(t); !s.Dropping {
		t.Fatal("stop did not block")
	}
	openActionByHand(t, n.ns)
	n.want(t, "monitor", agenttest.Probe, 1, "not started, yet the guard of block 29026 is unguarded")
	n.want(t, "stop", nil, 0)
	n.want(t, "monitor", agenttest.Probe, 7)
	n.bridge.Want(t, n.bridgeBin, "stop", nil, 0)
}

// The bridge restarted (all ports deleted and bound again) under an open
// guard: the re-created block is blocked, the promoted monitor says 9.
func TestKernelPromotedButBlocked(t *testing.T) {
	n := newNode(t, acme)
	n.bridge.Want(t, n.bridgeBin, "start", nil, 0)
	n.want(t, "start", nil, 0)
	n.want(t, "promote", nil, 0)
	n.bridge.Want(t, n.bridgeBin, "stop", nil, 0)
	n.bridge.Want(t, n.bridgeBin, "start", nil, 0)
	n.want(t, "monitor", promoted, 9, "drops every frame")
	n.want(t, "promote", nil, 0)
	n.want(t, "monitor", promoted, 8)
	n.want(t, "stop", nil, 0)
	n.bridge.Want(t, n.bridgeBin, "stop", nil, 0)
}

// tcIn is a go-tc socket in ns, closed with the test.
func tcIn(t *testing.T, ns *testbed.NS) *tc.Tc {
	t.Helper()
	tcnl, err := tc.Open(&tc.Config{NetNS: int(ns.Handle)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcnl.Close() })
	return tcnl
}

func deleteFilter(t *testing.T, ns *testbed.NS) {
	t.Helper()
	tcnl := tcIn(t, ns)
	info := uint32(tcguard.FilterPriority)<<16 | uint32(htons(unix.ETH_P_ALL))
	if err := tcnl.Filter().Delete(&tc.Object{
		Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: tc.MagicBlock, Parent: defaults.Block, Handle: tcguard.FilterHandle, Info: info},
		Attribute: tc.Attribute{Kind: "matchall"},
	}); err != nil {
		t.Fatal(err)
	}
}

// openActionByHand is `tc actions change action gact pipe index 29026`.
func openActionByHand(t *testing.T, ns *testbed.NS) {
	t.Helper()
	if err := tcIn(t, ns).Actions().Replace([]*tc.Action{{Kind: "gact", Gact: &tc.Gact{Parms: &tc.GactParms{
		Index: tcguard.ActionIndex(defaults.Block), Action: tc.ActPipe}}}}); err != nil {
		t.Fatal(err)
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func waitOperUp(t *testing.T, ns *testbed.NS, names ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, name := range names {
		for {
			l, err := ns.Link.LinkByName(name)
			if err != nil {
				t.Fatal(err)
			}
			if l.Attrs().OperState == 6 { // IF_OPER_UP
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not operationally up", name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// cross sends a frame with inTags into the trunk behind from and expects
// it behind to with outTags, or (outTags nil) expects nothing within a
// second.
func cross(t *testing.T, ns *testbed.NS, from string, inTags []testbed.Tag, to string, outTags []testbed.Tag) {
	t.Helper()
	rx, err := testbed.OpenPort(ns, to)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := testbed.OpenPort(ns, from)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	src, _ := net.ParseMAC("02:00:00:00:01:01")
	dst, _ := net.ParseMAC("02:00:00:00:02:02")
	if err := tx.Send(testbed.Frame{Dst: dst, Src: src, Tags: inTags, EtherType: testbed.EtherTypeTest, Payload: []byte("ocf tcguard test frame")}); err != nil {
		t.Fatal(err)
	}
	if outTags == nil {
		if got, err := rx.Recv(testbed.EtherTypeTest, time.Now().Add(time.Second)); err == nil {
			t.Fatalf("%s -> %s: frame crossed a blocked guard: %v", from, to, got.Tags)
		}
		return
	}
	got, err := rx.Recv(testbed.EtherTypeTest, time.Now().Add(20*time.Second))
	if err != nil {
		t.Fatalf("%s -> %s: %v", from, to, err)
	}
	if !testbed.SameTags(got.Tags, outTags) {
		t.Fatalf("%s -> %s: tags %v, want %v", from, to, got.Tags, outTags)
	}
}

// BenchmarkPromote measures the wall time of the promote action (the agent
// binary, as Pacemaker runs it) at 1 translation and at 4094 (or
// $QB_BENCH_N): promote must not depend on the number of translations.
// Each iteration is one promote; the demote between them is not timed. Both
// namespaces are built once, before the sub-benchmarks.
//
//	bin/ktest/ocf-agents-tcguard.test -test.run '^$' -test.bench Promote -test.benchtime 20x
func BenchmarkPromote(b *testing.B) {
	big := 4094
	if v := os.Getenv("QB_BENCH_N"); v != "" {
		fmt.Sscan(v, &big)
	}
	for _, count := range []int{1, big} {
		n := newNode(b, agenttest.Translations(count))
		r := n.bridge.Run(b, n.bridgeBin, "start")
		if r.Code != 0 {
			b.Fatalf("bridge start: %d %s", r.Code, r.Reason)
		}
		b.Logf("bridge start with %d translations: %v", count, r.Took)
		if g := n.guard.Run(b, n.bin, "start"); g.Code != 0 {
			b.Fatalf("guard start: %d %s", g.Code, g.Reason)
		} else {
			b.Logf("guard start with %d translations: %v", count, g.Took)
		}
		if s := n.status(b); len(s.Bound) != 2*count || s.State != tcguard.Blocked {
			b.Fatalf("%d ports bound (want %d), guard %v", len(s.Bound), 2*count, s.State)
		}
		b.Run(fmt.Sprintf("translations=%d", count), func(b *testing.B) {
			var took []time.Duration
			for range b.N {
				r := n.guard.Run(b, n.bin, "promote")
				if r.Code != 0 {
					b.Fatalf("promote: %d %s", r.Code, r.Reason)
				}
				took = append(took, r.Took)
				b.StopTimer()
				if r := n.guard.Run(b, n.bin, "demote"); r.Code != 0 {
					b.Fatalf("demote: %d %s", r.Code, r.Reason)
				}
				b.StartTimer()
			}
			b.StopTimer()
			sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-median")
			b.Logf("promote with %d translations (%d ports): median %v, min %v, max %v over %d", count, 2*count, took[len(took)/2], took[0], took[len(took)-1], len(took))
		})
		m := n.guard.Run(b, n.bin, "monitor", "OCF_RESKEY_CRM_meta_interval=11000")
		b.Logf("unpromoted monitor with %d translations: %d in %v", count, m.Code, m.Took)
		n.guard.Run(b, n.bin, "stop")
		r = n.bridge.Run(b, n.bridgeBin, "stop")
		b.Logf("bridge stop with %d translations: %v", count, r.Took)
	}
}

// switch_flush_ms: the demote takes the trunks down and returns without
// waiting for the hold; a detached agent process brings them up once it is
// over, and the VLAN links on them come up with them (loose binding keeps
// their own state).
func TestKernelSwitchFlush(t *testing.T) {
	n := newNode(t, acme)
	n.bridge.Want(t, n.bridgeBin, "start", nil, 0)
	n.want(t, "start", nil, 0)
	n.want(t, "promote", nil, 0)
	waitOperUp(t, n.ns, "qtrunk.s100.200", "vtrunk.300")
	qinq := []testbed.Tag{{TPID: 0x88a8, VID: 100}, {TPID: 0x8100, VID: 200}}
	dot1q := []testbed.Tag{{TPID: 0x8100, VID: 300}}
	cross(t, n.ns, "qpeer", qinq, "vpeer", dot1q)

	// The hold is long enough that a stalled VM does not end it before the
	// checks below.
	const hold = 5 * time.Second
	flushEnv := []string{fmt.Sprintf("OCF_RESKEY_switch_flush_ms=%d", hold.Milliseconds())}
	res := n.want(t, "demote", flushEnv, 0)
	flushes, err := readFlushes(osFiles{}, filepath.Join(n.stateDir, n.ns.Name))
	if err != nil || len(flushes) != 1 {
		t.Fatalf("not one flush recorded after the demote (%v): %v %v\n%s", res.Took, flushes, err, res.Stderr)
	}
	f := flushes[0]
	if time.Now().After(f.until) {
		t.Fatalf("checked after the hold had ended (demote took %v): cannot tell whether it waited", res.Took)
	}
	for _, name := range []string{"qtrunk", "vtrunk"} {
		l, err := n.ns.Link.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attrs().Flags&net.FlagUp != 0 {
			t.Fatalf("%s up during the hold", name)
		}
	}
	if !slices.Equal(f.trunks, []string{"qtrunk", "vtrunk"}) {
		t.Fatalf("flushed %v", f.trunks)
	}
	n.want(t, "monitor", unpromoted, 0) // leaves the hold alone

	deadline := f.until.Add(30 * time.Second)
	for {
		g, err := readFlushes(osFiles{}, filepath.Join(n.stateDir, n.ns.Name))
		if err != nil {
			t.Fatal(err)
		}
		if len(g) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trunks not restored 30 s after the hold")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if time.Now().Before(f.until) {
		t.Fatal("trunks restored before the end of the hold")
	}
	waitOperUp(t, n.ns, "qtrunk", "vtrunk", "qtrunk.s100.200", "vtrunk.300")
	n.want(t, "monitor", unpromoted, 0)
	cross(t, n.ns, "qpeer", qinq, "vpeer", nil)
	n.want(t, "promote", nil, 0)
	cross(t, n.ns, "qpeer", qinq, "vpeer", dot1q)
	n.want(t, "stop", nil, 0)
	n.bridge.Want(t, n.bridgeBin, "stop", nil, 0)
}

// A port that loses its binding forwards on an unpromoted node (the
// control: the frame crosses); the next monitor binds it again, and the
// same frame no longer crosses. Also with every port's qdisc deleted,
// which deletes the block, filter and all.
func TestKernelLostBindingMonitor(t *testing.T) {
	for _, lost := range [][]string{{"qtrunk.s100.200"}, {"qtrunk.s100.200", "vtrunk.300"}} {
		n := newNode(t, acme)
		n.bridge.Want(t, n.bridgeBin, "start", nil, 0)
		n.want(t, "start", nil, 0)
		waitOperUp(t, n.ns, "qtrunk.s100.200", "vtrunk.300")
		qinq := []testbed.Tag{{TPID: 0x88a8, VID: 100}, {TPID: 0x8100, VID: 200}}
		dot1q := []testbed.Tag{{TPID: 0x8100, VID: 300}}
		cross(t, n.ns, "qpeer", qinq, "vpeer", nil)
		for _, name := range lost {
			deleteClsact(t, n.ns, name)
		}
		if len(lost) == 2 {
			cross(t, n.ns, "qpeer", qinq, "vpeer", dot1q) // both ports loose: it crosses
		} else {
			// One port loose: its frames still leave through a port whose
			// egress is bound, and are dropped there.
			cross(t, n.ns, "qpeer", qinq, "vpeer", nil)
		}
		n.want(t, "monitor", unpromoted, 0)
		if s := n.status(t); !s.Dropping || len(s.Bound) != 2 {
			t.Fatalf("after the monitor: %+v", s)
		}
		cross(t, n.ns, "qpeer", qinq, "vpeer", nil)
		cross(t, n.ns, "vpeer", dot1q, "qpeer", nil)
		n.want(t, "stop", nil, 0)
		n.bridge.Want(t, n.bridgeBin, "stop", nil, 0)
	}
}

func deleteClsact(t *testing.T, ns *testbed.NS, name string) {
	t.Helper()
	l, err := ns.Link.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	tcnl, err := tc.Open(&tc.Config{NetNS: int(ns.Handle)})
	if err != nil {
		t.Fatal(err)
	}
	defer tcnl.Close()
	if err := tcnl.Qdisc().Delete(&tc.Object{
		Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: uint32(l.Attrs().Index), Handle: 0xFFFF0000, Parent: tc.HandleIngress},
		Attribute: tc.Attribute{Kind: "clsact"},
	}); err != nil {
		t.Fatalf("deleting the clsact of %s: %v", name, err)
	}
}
