package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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
// interfaces down: the switches flood, the new promoted node forwards, and
// the first frame of each host teaches them its new place. It needs no
// host address and nothing from the other node; a node that dies takes
// its links down by itself (and fencing does so for a hung one). 0 turns
// it off, for trunks that carry other traffic that must not see a link
// flap.
//
// The demote does not wait for the hold: Pacemaker promotes the other
// node only once the demote has returned, and the trunks of a blocked node
// carry nothing worth waiting for. A detached copy of the agent (argument
// RestoreArg) brings them up when switch_flush_ms has passed; the marker
// file makes that safe if it dies — start, promote and stop bring them up
// at once, a monitor once the hold is over.
const ParamSwitchFlush = "switch_flush_ms"

// maxSwitchFlush is the longest hold switch_flush_ms accepts, in ms. Any
// switch sees a link go down within a second (a copper PHY in some hundred
// ms), so 10 s is ample; and a demote that cannot detach a restorer holds
// the trunks down itself, which must end well inside its 15 s timeout.
// The bound also keeps the hold far from overflowing a time.Duration.
const maxSwitchFlush = 10000

// flushFile, in the state directory, records a flush: written before the
// trunks go down, removed once they are up again. Its first line is
// "until <unix ns>", the end of the hold; the others name the interfaces.
const flushFile = "ocf-tcguard.flushing"

// RestoreArg is the action argument the agent re-executes itself with, as
// a detached process, to end a demote's flush once its hold is over. It is
// not an OCF action (meta-data does not list it).
const RestoreArg = "flush-restore"

// flush is the content of flushFile.
type flush struct {
	until  time.Time
	trunks []string
	raw    string // the file's content: identifies this flush
}

func flushPath(dir string) string { return filepath.Join(dir, flushFile) }

// stateFiles is how the flush reads and writes its markers: the state
// directory (osFiles), or an in-memory fake where a test interleaves the
// actions step by step.
type stateFiles interface {
	ReadDir(dir string) ([]string, error)
	ReadFile(path string) ([]byte, error)
	WriteFile(path string, data []byte) error
	RemoveFile(path string) error
}

// osFiles is the state directory; writes and removals are node's, atomic
// and durable.
type osFiles struct{}

func (osFiles) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, err
}
func (osFiles) ReadFile(path string) ([]byte, error)     { return os.ReadFile(path) }
func (osFiles) WriteFile(path string, data []byte) error { return node.WriteFile(path, data) }
func (osFiles) RemoveFile(path string) error             { return node.RemoveFile(path) }

// clock is the time the hold is measured in (a fake in tests).
type clock interface {
	Now() time.Time
	Sleep(d time.Duration)
}

func (a *guard) stateFiles() stateFiles {
	if a.files == nil {
		return osFiles{}
	}
	return a.files
}

func (a *guard) now() time.Time {
	if a.clock == nil {
		return time.Now()
	}
	return a.clock.Now()
}

func (a *guard) sleep(d time.Duration) {
	if a.clock == nil {
		time.Sleep(d)
	} else {
		a.clock.Sleep(d)
	}
}

// readFlushes returns the flushes recorded in dir.
func readFlushes(files stateFiles, dir string) ([]*flush, error) {
	f, err := readFlush(files, dir)
	if f == nil {
		return nil, err
	}
	return []*flush{f}, err
}

// readFlush returns the flush recorded in dir, or nil without one.
func readFlush(files stateFiles, dir string) (*flush, error) {
	b, err := files.ReadFile(flushPath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f := &flush{raw: string(b)}
	head, rest, _ := strings.Cut(f.raw, "\n")
	if v, ok := strings.CutPrefix(head, "until "); ok {
		ns, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: bad first line %q", flushPath(dir), head)
		}
		f.until, f.trunks = time.Unix(0, ns), strings.Fields(rest)
	} else {
		f.trunks = strings.Fields(f.raw) // no hold recorded: due now
	}
	return f, nil
}

func writeFlush(files stateFiles, dir string, until time.Time, trunks []string) error {
	return files.WriteFile(flushPath(dir), fmt.Appendf(nil, "until %d\n%s\n", until.UnixNano(), strings.Join(trunks, "\n")))
}

// bouncer takes interfaces down and up (netlink; a fake in tests).
type bouncer interface {
	// Trunks returns the interfaces whose link the switches see for these
	// parents: the parent itself, the lower device of a VLAN parent, the
	// slaves of a bond; only those administratively up.
	Trunks(netns string, parents []string) ([]string, error)
	SetUp(netns string, names []string, up bool) error
}

// restorer ends a flush after the action has returned: the real one starts
// a detached copy of the agent with RestoreArg, tests run restoreAfterHold
// themselves.
type restorer interface {
	Detach(r *ocf.Request) error
}

// flushTrunks returns the trunks a demote takes down, nil when it
// flushes nothing. The demote asks before it blocks: the gap in the
// traffic starts with the block, and the switchover waits for the demote.
func (a *guard) flushTrunks(r *ocf.Request, n node.Node) []string {
	hold, err := r.ParamInt(ParamSwitchFlush)
	if err != nil {
		// Out of range: start refused it; a demote still blocks.
		r.Log.Errorf("switches not flushed: %v", err)
		return nil
	}
	if hold == 0 || a.bounce == nil {
		return nil
	}
	applied, err := n.Applied()
	if err != nil {
		r.Log.Warningf("switches not flushed: %v", err)
		return nil
	}
	var parents []string
	for _, t := range applied.Translations {
		parents = append(parents, t.A.Parent, t.B.Parent)
	}
	slices.Sort(parents)
	trunks, err := a.bounce.Trunks(r.Param(node.ParamNetNS), slices.Compact(parents))
	if err != nil || len(trunks) == 0 {
		r.Log.Warningf("switches not flushed: trunks %v: %v", trunks, err)
		return nil
	}
	return trunks
}

// flushSwitches takes the trunks down and leaves bringing them up to a
// detached restorer (or, if it cannot start one, waits for the hold
// itself).
func (a *guard) flushSwitches(r *ocf.Request, n node.Node, trunks []string) {
	if len(trunks) == 0 {
		return
	}
	hold, _ := r.ParamInt(ParamSwitchFlush)
	until := a.now().Add(time.Duration(hold) * time.Millisecond)
	if err := writeFlush(a.stateFiles(), n.Dir(), until, trunks); err != nil {
		r.Log.Warningf("switches not flushed: %v", err)
		return
	}
	if err := a.bounce.SetUp(r.Param(node.ParamNetNS), trunks, false); err != nil {
		r.Log.Warningf("switch flush: %v", err)
	}
	var err error
	if a.later != nil {
		if err = a.later.Detach(r); err == nil {
			r.Log.Infof("switches flushing: %s down for %d ms", strings.Join(trunks, ", "), hold)
			return
		}
	}
	r.Log.Warningf("switch flush: no restorer (%v): holding in the demote", err)
	a.sleep(until.Sub(a.now()))
	if err := a.restoreTrunks(r, n, true); err != nil {
		r.Log.Errorf("%v", err)
	}
}

// restoreAfterHold is the detached restorer: it waits for the end of the
// hold recorded in the flush file, then brings the trunks up, unless the
// flush was ended (promote, start, stop, a monitor) or replaced meanwhile.
func (a *guard) restoreAfterHold(r *ocf.Request) error {
	dir := node.DirFor(node.Options(r))
	f, err := readFlush(a.stateFiles(), dir)
	if f == nil || err != nil {
		return err
	}
	a.sleep(f.until.Sub(a.now()))
	if g, err := readFlush(a.stateFiles(), dir); g == nil || err != nil || g.raw != f.raw {
		return err
	}
	n, err := a.open(node.Options(r))
	if err != nil {
		return err
	}
	defer n.Close()
	if err := a.restoreTrunks(r, n, false); err != nil {
		return err
	}
	r.Log.Infof("switches flushed: %s up again", strings.Join(f.trunks, ", "))
	return nil
}

// restoreTrunks brings up the interfaces a (possibly killed) flush took
// down: at once when now, else only once its hold is over — a monitor
// right after the demote leaves them to the restorer.
func (a *guard) restoreTrunks(r *ocf.Request, n node.Node, now bool) error {
	f, err := readFlush(a.stateFiles(), n.Dir())
	if f == nil || a.bounce == nil {
		return err
	}
	if !now && a.now().Before(f.until) {
		return nil
	}
	if err := a.bounce.SetUp(r.Param(node.ParamNetNS), f.trunks, true); err != nil {
		return fmt.Errorf("trunks left down by a switch flush: %w", err)
	}
	return a.stateFiles().RemoveFile(flushPath(n.Dir()))
}

// flushing reports whether a flush has the trunks down: the promotion
// score must not read that as broken trunks.
func flushing(n node.Node) bool {
	f, _ := readFlushes(osFiles{}, n.Dir())
	return len(f) > 0
}

// selfRestorer is the real restorer: this executable, re-run with
// RestoreArg in its own session (Pacemaker kills an action's process group
// at its timeout; the restorer must outlive the demote), with the
// action's environment and no inherited output (the executor reads the
// action's pipes until they close).
type selfRestorer struct{}

func (selfRestorer) Detach(r *ocf.Request) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, RestoreArg)
	cmd.Env = r.Environ
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
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
