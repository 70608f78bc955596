package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/node"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Switch flush on demote.
//
// The switches learn each host's MAC address behind the port of the node
// that forwards its frames. After a switchover they keep sending unicast
// frames to the old node, whose guard now drops them, until the entries
// age out (300 s by default); two hosts that only talk to each other never
// recover sooner, since neither frame reaches the new node to be learned.
// Every switch flushes the addresses learned on a port whose link goes
// down. So a demote, once the guard is blocked, takes this node's trunk
// interfaces down for switch_flush_ms and brings them up again: the
// switches flood, the new promoted node forwards, and the first frame of
// each host teaches them its new place. It needs no host address and
// nothing from the other node; a node that dies takes its links down by
// itself (and fencing does so for a hung one). 0 turns it off, for trunks
// that carry other traffic that must not see a link flap.
const ParamSwitchFlush = "switch_flush_ms"

// flushFile, in the state directory, lists the interfaces a demote took
// down, written before it does: a demote killed half-way leaves them down,
// and the next start, promote or monitor brings them up again.
const flushFile = "ocf-tcguard.flushing"

// bouncer takes interfaces down and up (netlink; a fake in tests).
type bouncer interface {
	// Trunks returns the interfaces whose link the switches see for these
	// parents: the parent itself, the lower device of a VLAN parent, the
	// slaves of a bond; only those administratively up.
	Trunks(netns string, parents []string) ([]string, error)
	SetUp(netns string, names []string, up bool) error
}

// flushSwitches bounces the trunks of the applied configuration.
func (a *guard) flushSwitches(r *ocf.Request, n node.Node) {
	hold, err := r.ParamInt(ParamSwitchFlush)
	if err != nil || hold <= 0 || a.bounce == nil {
		return
	}
	applied, err := n.Applied()
	if err != nil {
		r.Log.Warningf("switches not flushed: %v", err)
		return
	}
	var parents []string
	for _, t := range applied.Translations {
		parents = append(parents, t.A.Parent, t.B.Parent)
	}
	slices.Sort(parents)
	ns := r.Param(node.ParamNetNS)
	trunks, err := a.bounce.Trunks(ns, slices.Compact(parents))
	if err != nil || len(trunks) == 0 {
		r.Log.Warningf("switches not flushed: trunks %v: %v", trunks, err)
		return
	}
	path := filepath.Join(n.Dir(), flushFile)
	if err := node.WriteFile(path, []byte(strings.Join(trunks, "\n")+"\n")); err != nil {
		r.Log.Warningf("switches not flushed: %v", err)
		return
	}
	if err := a.bounce.SetUp(ns, trunks, false); err != nil {
		r.Log.Warningf("switch flush: %v", err)
	}
	time.Sleep(time.Duration(hold) * time.Millisecond)
	if err := a.restoreTrunks(r, n); err != nil {
		r.Log.Errorf("%v", err)
		return
	}
	r.Log.Infof("switches flushed: %s down for %d ms", strings.Join(trunks, ", "), hold)
}

// restoreTrunks brings up the interfaces a (possibly killed) flush took
// down.
func (a *guard) restoreTrunks(r *ocf.Request, n node.Node) error {
	path := filepath.Join(n.Dir(), flushFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || a.bounce == nil {
		return nil
	}
	if err != nil {
		return err
	}
	if err := a.bounce.SetUp(r.Param(node.ParamNetNS), strings.Fields(string(b)), true); err != nil {
		return fmt.Errorf("trunks left down by a switch flush: %w", err)
	}
	return node.RemoveFile(path)
}

// netlinkBounce is the real bouncer.
type netlinkBounce struct{}

func handle(ns string) (*netlink.Handle, error) {
	if ns == "" {
		return netlink.NewHandle()
	}
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return netlink.NewHandleAt(h)
}

func (netlinkBounce) Trunks(ns string, parents []string) ([]string, error) {
	h, err := handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	all, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	var out []string
	var walk func(l netlink.Link, depth int)
	walk = func(l netlink.Link, depth int) {
		la := l.Attrs()
		switch {
		case depth > 8:
		case l.Type() == "vlan":
			if p := byIndex(all, la.ParentIndex); p != nil {
				walk(p, depth+1)
			}
		case l.Type() == "bond":
			for _, s := range all {
				if s.Attrs().MasterIndex == la.Index {
					walk(s, depth+1)
				}
			}
		case la.Flags&net.FlagUp != 0:
			out = append(out, la.Name)
		}
	}
	for _, p := range parents {
		if l := byName(all, p); l != nil {
			walk(l, 0)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (netlinkBounce) SetUp(ns string, names []string, up bool) error {
	h, err := handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	var errs []error
	for _, name := range names {
		l, err := h.LinkByName(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if up {
			err = h.LinkSetUp(l)
		} else {
			err = h.LinkSetDown(l)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func byIndex(all []netlink.Link, i int) netlink.Link {
	for _, l := range all {
		if l.Attrs().Index == i {
			return l
		}
	}
	return nil
}

func byName(all []netlink.Link, name string) netlink.Link {
	for _, l := range all {
		if l.Attrs().Name == name {
			return l
		}
	}
	return nil
}
