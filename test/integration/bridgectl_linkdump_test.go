//go:build integration

package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Proving that a command changed nothing: a canonical dump of every link,
// taken once the kernel's asynchronous link state has settled, and a
// snapshot of the state directory.

// settleLinks waits until the operational state of every link that is
// administratively up agrees with its carrier: the kernel updates operstate
// asynchronously (linkwatch, rate-limited), and a link dump taken before
// that lands would differ from one taken after for no fault of the program
// under test. lo, and a bridge without ports, keep "unknown" for good.
func (e *bcEnv) settleLinks(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(guardPatience)
	for {
		pending, err := e.unsettled()
		if err == nil && len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("operstate not following carrier after %v: %v (%v)", guardPatience, pending, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// unsettled lists the up links whose operstate does not follow their
// carrier yet.
func (e *bcEnv) unsettled() ([]string, error) {
	links, err := e.ns.Link.LinkList()
	if err != nil {
		return nil, err
	}
	ports := map[int]bool{}
	for _, l := range links {
		ports[l.Attrs().MasterIndex] = true
	}
	var pending []string
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagUp == 0 || a.Name == "lo" || l.Type() == "bridge" && !ports[a.Index] && a.OperState == vnl.OperUnknown {
			continue
		}
		carrier := a.RawFlags&unix.IFF_LOWER_UP != 0
		if carrier && a.OperState != vnl.OperUp ||
			!carrier && a.OperState != vnl.OperDown && a.OperState != vnl.OperLowerLayerDown {
			pending = append(pending, fmt.Sprintf("%s (carrier %v, %v)", a.Name, carrier, a.OperState))
		}
	}
	return pending, nil
}

// Attributes whose value the kernel changes by itself, with nothing done to
// the link: counters, running timers, and IPv6's cache info (its reachable
// time is re-randomised every few minutes). Paths are attribute types from
// the link message down, joined by "/".
var bcVolatile = map[string]bool{
	attrPath(unix.IFLA_STATS):   true,
	attrPath(unix.IFLA_STATS64): true,
	attrPath(unix.IFLA_LINKINFO, unix.IFLA_INFO_DATA, unix.IFLA_BR_HELLO_TIMER):                   true,
	attrPath(unix.IFLA_LINKINFO, unix.IFLA_INFO_DATA, unix.IFLA_BR_TCN_TIMER):                     true,
	attrPath(unix.IFLA_LINKINFO, unix.IFLA_INFO_DATA, unix.IFLA_BR_TOPOLOGY_CHANGE_TIMER):         true,
	attrPath(unix.IFLA_LINKINFO, unix.IFLA_INFO_DATA, unix.IFLA_BR_GC_TIMER):                      true,
	attrPath(unix.IFLA_LINKINFO, unix.IFLA_INFO_SLAVE_DATA, unix.IFLA_BRPORT_MESSAGE_AGE_TIMER):   true,
	attrPath(unix.IFLA_LINKINFO, unix.IFLA_INFO_SLAVE_DATA, unix.IFLA_BRPORT_FORWARD_DELAY_TIMER): true,
	attrPath(unix.IFLA_LINKINFO, unix.IFLA_INFO_SLAVE_DATA, unix.IFLA_BRPORT_HOLD_TIMER):          true,
	attrPath(unix.IFLA_AF_SPEC, unix.AF_INET6, unix.IFLA_INET6_STATS):                             true,
	attrPath(unix.IFLA_AF_SPEC, unix.AF_INET6, unix.IFLA_INET6_ICMP6STATS):                        true,
	attrPath(unix.IFLA_AF_SPEC, unix.AF_INET6, unix.IFLA_INET6_CACHEINFO):                         true,
}

// Nests the dump walks into, to reach the volatile attributes inside them;
// every other attribute is kept whole, as bytes.
var bcNests = map[string]bool{
	attrPath(unix.IFLA_LINKINFO):                            true,
	attrPath(unix.IFLA_LINKINFO, unix.IFLA_INFO_DATA):       true,
	attrPath(unix.IFLA_LINKINFO, unix.IFLA_INFO_SLAVE_DATA): true,
	attrPath(unix.IFLA_AF_SPEC):                             true,
	attrPath(unix.IFLA_AF_SPEC, unix.AF_INET6):              true,
	attrPath(unix.IFLA_AF_SPEC, unix.AF_INET):               true,
}

func attrPath(types ...int) string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = fmt.Sprint(t)
	}
	return strings.Join(s, "/")
}

// linkDump returns every link of the namespace with every attribute the
// kernel reports (the volatile ones above left out), one line per attribute
// with its raw bytes, links in ifindex order: equal dumps mean nothing about
// any link changed. It reads the kernel with its own rtnetlink socket
// (mdlayher/netlink), independent of bridgectl's code.
func (e *bcEnv) linkDump(t *testing.T) string {
	t.Helper()
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: int(e.ns.Handle)})
	if err != nil {
		t.Fatalf("rtnetlink in %s: %v", e.ns.Name, err)
	}
	defer c.Close()
	req := netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofIfInfomsg),
	}
	for attempt := 0; ; attempt++ {
		msgs, err := c.Execute(req)
		if err != nil {
			t.Fatalf("link dump in %s: %v", e.ns.Name, err)
		}
		interrupted := false
		links := map[int32]string{}
		for _, m := range msgs {
			if m.Header.Flags&netlink.DumpInterrupted != 0 {
				interrupted = true
			}
			if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
				continue
			}
			index := int32(binary.NativeEndian.Uint32(m.Data[4:]))
			links[index] = canonicalLink(m.Data)
		}
		if interrupted && attempt < 10 {
			continue // the kernel's tables changed during the dump: read again
		}
		idx := make([]int, 0, len(links))
		for i := range links {
			idx = append(idx, int(i))
		}
		sort.Ints(idx)
		var b strings.Builder
		for _, i := range idx {
			b.WriteString(links[int32(i)])
		}
		return b.String()
	}
}

// canonicalLink renders one RTM_NEWLINK body: the ifinfomsg fields, then
// each attribute as "path = hex", in the kernel's order.
func canonicalLink(d []byte) string {
	var name string
	walkAttrs(d[unix.SizeofIfInfomsg:], nil, func(path []int, v []byte) {
		if len(path) == 1 && path[0] == unix.IFLA_IFNAME {
			name = string(bytes.TrimRight(v, "\x00"))
		}
	})
	var b strings.Builder
	fmt.Fprintf(&b, "link %d %s: family %d type %d flags %#x change %#x\n", int32(binary.NativeEndian.Uint32(d[4:])), name,
		d[0], binary.NativeEndian.Uint16(d[2:]), binary.NativeEndian.Uint32(d[8:]), binary.NativeEndian.Uint32(d[12:]))
	walkAttrs(d[unix.SizeofIfInfomsg:], nil, func(path []int, v []byte) {
		fmt.Fprintf(&b, "  %s %s = %x\n", name, attrPath(path...), v)
	})
	return b.String()
}

// walkAttrs calls f for each attribute of b that is neither volatile nor a
// nest the dump walks into; it descends into those nests.
func walkAttrs(b []byte, parent []int, f func(path []int, v []byte)) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			return
		}
		typ := int(binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER))
		path := append(append([]int(nil), parent...), typ)
		key := attrPath(path...)
		switch {
		case bcVolatile[key]:
		case bcNests[key]:
			walkAttrs(b[4:l], path, f)
		default:
			f(path, b[4:l])
		}
		b = b[min((l+3)&^3, len(b)):]
	}
}

// sameDump fails the test, showing the lines that differ, unless the
// namespace's link dump is still before.
func (e *bcEnv) sameDump(t *testing.T, what, before string) {
	t.Helper()
	after := e.linkDump(t)
	if after == before {
		return
	}
	t.Fatalf("%s changed the kernel's links:\n%s", what, lineDiff(before, after))
}

// lineDiff lists the lines only in a ("-") and only in b ("+").
func lineDiff(a, b string) string {
	count := map[string]int{}
	for _, l := range strings.Split(b, "\n") {
		count[l]++
	}
	var out strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if count[l] > 0 {
			count[l]--
			continue
		}
		out.WriteString("- " + l + "\n")
	}
	for _, l := range strings.Split(b, "\n") {
		if count[l] > 0 {
			count[l]--
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}

// dirSnapshot returns every file under dir with its contents, so a test can
// tell that a failed command recorded nothing.
func dirSnapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			fmt.Fprintf(&b, "%s/\n", p)
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s: %q\n", p, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
