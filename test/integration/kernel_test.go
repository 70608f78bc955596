//go:build integration

package integration

import (
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// TestKernelQinQToVLAN builds one translation by hand with netlink — the
// kernel objects every qinqbridge translation consists of — reads them back,
// and passes real frames through both ways. It pins down the kernel
// behaviour the rest of the project relies on.
func TestKernelQinQToVLAN(t *testing.T) {
	ns := testbed.NewNS(t)
	h := ns.Link
	qTrunk, _ := ns.Veth(t, "qtrunk", "qhost")
	vTrunk, _ := ns.Veth(t, "vtrunk", "vhost")

	add := func(l netlink.Link) netlink.Link {
		t.Helper()
		if err := h.LinkAdd(l); err != nil {
			t.Fatalf("add %s: %v", l.Attrs().Name, err)
		}
		got, err := h.LinkByName(l.Attrs().Name)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	vlan := func(name string, parent netlink.Link, id int, proto netlink.VlanProtocol) netlink.Link {
		la := netlink.NewLinkAttrs()
		la.Name, la.ParentIndex = name, parent.Attrs().Index
		return add(&netlink.Vlan{LinkAttrs: la, VlanId: id, VlanProtocol: proto})
	}
	stag := vlan("qtrunk.s100", qTrunk, 100, netlink.VLAN_PROTOCOL_8021AD)
	ctag := vlan("qtrunk.s100.200", stag, 200, netlink.VLAN_PROTOCOL_8021Q)
	vtag := vlan("vtrunk.300", vTrunk, 300, netlink.VLAN_PROTOCOL_8021Q)
	la := netlink.NewLinkAttrs()
	la.Name = "br-test"
	off := false
	br := add(&netlink.Bridge{LinkAttrs: la, MulticastSnooping: &off})
	for _, l := range []netlink.Link{ctag, vtag} {
		if err := h.LinkSetMaster(l, br); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []netlink.Link{stag, ctag, vtag, br} {
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}

	// Read every attribute back from the kernel.
	for _, want := range []struct {
		name   string
		parent int
		id     int
		proto  netlink.VlanProtocol
	}{
		{"qtrunk.s100", qTrunk.Attrs().Index, 100, netlink.VLAN_PROTOCOL_8021AD},
		{"qtrunk.s100.200", stag.Attrs().Index, 200, netlink.VLAN_PROTOCOL_8021Q},
		{"vtrunk.300", vTrunk.Attrs().Index, 300, netlink.VLAN_PROTOCOL_8021Q},
	} {
		l, err := h.LinkByName(want.name)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := l.(*netlink.Vlan)
		if !ok {
			t.Fatalf("%s: kind %s, want vlan", want.name, l.Type())
		}
		if v.ParentIndex != want.parent || v.VlanId != want.id || v.VlanProtocol != want.proto {
			t.Errorf("%s: parent %d id %d proto %v, want %d %d %v", want.name, v.ParentIndex, v.VlanId, v.VlanProtocol, want.parent, want.id, want.proto)
		}
		if v.Flags&net.FlagUp == 0 {
			t.Errorf("%s: not up", want.name)
		}
	}
	for _, name := range []string{"qtrunk.s100.200", "vtrunk.300"} {
		l, _ := h.LinkByName(name)
		if l.Attrs().MasterIndex != br.Attrs().Index {
			t.Errorf("%s: master %d, want bridge %d", name, l.Attrs().MasterIndex, br.Attrs().Index)
		}
	}
	got, _ := h.LinkByName("br-test")
	if b, ok := got.(*netlink.Bridge); !ok || b.MulticastSnooping == nil || *b.MulticastSnooping {
		t.Errorf("br-test: want a bridge with multicast snooping off, got %#v", got)
	}

	qinq := []testbed.Tag{{TPID: 0x88a8, VID: 100}, {TPID: 0x8100, VID: 200}}
	dot1q := []testbed.Tag{{TPID: 0x8100, VID: 300}}
	waitForwarding(t, ns, []string{"qtrunk.s100.200", "vtrunk.300"})
	t.Run("qinq-to-vlan", func(t *testing.T) { crossOne(t, ns, "qhost", qinq, "vhost", dot1q) })
	t.Run("vlan-to-qinq", func(t *testing.T) { crossOne(t, ns, "vhost", dot1q, "qhost", qinq) })
}

// waitForwarding waits until the bridge ports are operationally up: with STP
// off a port forwards as soon as it has carrier.
func waitForwarding(t *testing.T, ns *testbed.NS, ports []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range ports {
		for {
			l, err := ns.Link.LinkByName(p)
			if err != nil {
				t.Fatal(err)
			}
			if l.Attrs().OperState == netlink.OperUp {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: oper state %v after 30s", p, l.Attrs().OperState)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// crossOne sends one frame carrying inTags into the trunk behind host "from"
// and expects it to leave the trunk behind host "to" carrying outTags, with
// the addresses and payload unchanged.
func crossOne(t *testing.T, ns *testbed.NS, from string, inTags []testbed.Tag, to string, outTags []testbed.Tag) {
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
	sent := testbed.Frame{Dst: dst, Src: src, Tags: inTags, EtherType: testbed.EtherTypeTest, Payload: []byte("qinqbridge kernel test frame")}
	if err := tx.Send(sent); err != nil {
		t.Fatal(err)
	}
	got, err := rx.Recv(testbed.EtherTypeTest, time.Now().Add(20*time.Second))
	if err != nil {
		t.Fatalf("%s -> %s: %v", from, to, err)
	}
	if !testbed.SameTags(got.Tags, outTags) {
		t.Fatalf("%s -> %s: tags %v, want %v", from, to, got.Tags, outTags)
	}
	if got.Src.String() != src.String() || got.Dst.String() != dst.String() || string(got.Payload[:len(sent.Payload)]) != string(sent.Payload) {
		t.Fatalf("%s -> %s: frame changed: %+v", from, to, got)
	}
	t.Logf("%s -> %s: tags %v in, %v out", from, to, inTags, got.Tags)
}
