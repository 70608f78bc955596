// Command framecount is the frame counter of `make demo` (examples/demo/run):
// it sends numbered test frames with a given tag stack out of one
// interface and counts those that arrive at another with the expected tag
// stack, as they are on the wire. That shows a translation working (and
// that exactly one translator node forwards: a frame received twice means
// two did).
//
//	framecount -from demo-qhost:eth0 -tags 88a8:100,8100:200 \
//	           -to demo-vhost:eth0 -want 8100:300 [-n 20] [-expect N] [-wait 20s]
//
// It exits 0 when exactly -expect frames (default -n) arrived, each once
// and with the expected tags; 1 otherwise. With -expect 0 it waits all of
// -wait to be sure nothing comes. The frames carry the local experimental
// EtherType 0x88b5 (test/testbed), so hosts ignore them.
package main

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netns"

	"github.com/qinqbridge/qinqbridge/test/testbed"
)

func main() {
	from := flag.String("from", "", "send from `NETNS:IF`")
	to := flag.String("to", "", "receive at `NETNS:IF`")
	tags := flag.String("tags", "", "tags of the frames sent, outermost first: `TPID:VID,...` (TPID in hex)")
	want := flag.String("want", "", "tags the frames must arrive with: `TPID:VID,...`")
	n := flag.Int("n", 20, "frames to send")
	expect := flag.Int("expect", -1, "frames that must arrive; -1: all -n of them")
	wait := flag.Duration("wait", 20*time.Second, "how long to wait for them at most")
	flag.Parse()
	if *expect < 0 {
		*expect = *n
	}
	if err := run(*from, *to, *tags, *want, *n, *expect, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "framecount:", err)
		os.Exit(1)
	}
}

func run(from, to, tagsArg, wantArg string, n, expect int, wait time.Duration) error {
	sendTags, err := parseTags(tagsArg)
	if err != nil {
		return fmt.Errorf("-tags: %w", err)
	}
	wantTags, err := parseTags(wantArg)
	if err != nil {
		return fmt.Errorf("-want: %w", err)
	}
	rx, err := open(to)
	if err != nil {
		return err
	}
	defer rx.Close()
	tx, err := open(from)
	if err != nil {
		return err
	}
	defer tx.Close()

	// The receiving socket is bound (open returned): send now. A fresh
	// nonce tells this run's frames from any earlier run's still queued.
	var nonce [8]byte
	rand.Read(nonce[:])
	src := net.HardwareAddr{0x02, 0x00, 0x5e, nonce[0], nonce[1], nonce[2]}
	for i := range n {
		payload := make([]byte, 46) // the Ethernet minimum
		copy(payload, nonce[:])
		binary.BigEndian.PutUint32(payload[8:], uint32(i))
		f := testbed.Frame{Dst: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, Src: src,
			Tags: sendTags, EtherType: testbed.EtherTypeTest, Payload: payload}
		if err := tx.Send(f); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}

	seen := map[uint32]bool{}
	dups, wrong := 0, 0
	deadline := time.Now().Add(wait)
	// Wait for every frame expected; with none expected, wait it out.
	for expect == 0 || len(seen) < expect {
		f, err := rx.Recv(testbed.EtherTypeTest, deadline)
		if err != nil {
			break // deadline
		}
		if len(f.Payload) < 12 || string(f.Payload[:8]) != string(nonce[:]) {
			continue // not ours
		}
		seq := binary.BigEndian.Uint32(f.Payload[8:])
		switch {
		case !testbed.SameTags(f.Tags, wantTags):
			wrong++
		case seen[seq]:
			dups++
		default:
			seen[seq] = true
		}
	}
	fmt.Printf("sent %d frames from %s tagged %s; received %d at %s tagged %s", n, from, describe(sendTags), len(seen), to, describe(wantTags))
	if dups > 0 || wrong > 0 {
		fmt.Printf(" (and %d duplicates, %d with other tags)", dups, wrong)
	}
	fmt.Println()
	switch {
	case len(seen) != expect:
		return fmt.Errorf("expected %d frames across, got %d", expect, len(seen))
	case dups > 0:
		return errors.New("frames arrived twice: more than one node forwards")
	case wrong > 0:
		return errors.New("frames arrived with other tags than expected")
	}
	return nil
}

// open binds a packet socket to NETNS:IF.
func open(spec string) (*testbed.Port, error) {
	name, ifname, ok := strings.Cut(spec, ":")
	if !ok || name == "" || ifname == "" {
		return nil, fmt.Errorf("%q: want NETNS:IF", spec)
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	// The socket keeps its namespace; the handle is only needed to open it.
	defer h.Close()
	return testbed.OpenPort(&testbed.NS{Name: name, Handle: h}, ifname)
}

// parseTags reads "88a8:100,8100:200".
func parseTags(s string) ([]testbed.Tag, error) {
	var tags []testbed.Tag
	for _, t := range strings.Split(s, ",") {
		tpid, vid, ok := strings.Cut(strings.TrimSpace(t), ":")
		p, err1 := strconv.ParseUint(strings.TrimPrefix(tpid, "0x"), 16, 16)
		v, err2 := strconv.ParseUint(vid, 10, 12)
		if !ok || err1 != nil || err2 != nil || v == 0 || v == 4095 {
			return nil, fmt.Errorf("%q: want TPID:VID, e.g. 88a8:100", t)
		}
		tags = append(tags, testbed.Tag{TPID: uint16(p), VID: uint16(v)})
	}
	return tags, nil
}

// describe names a tag stack as people say it: "802.1ad 100 + 802.1Q 200".
func describe(tags []testbed.Tag) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		switch t.TPID {
		case 0x88a8:
			parts[i] = fmt.Sprintf("802.1ad %d", t.VID)
		case 0x8100:
			parts[i] = fmt.Sprintf("802.1Q %d", t.VID)
		default:
			parts[i] = t.String()
		}
	}
	return strings.Join(parts, " + ")
}
