package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/internal/namespace"
	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/node"
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
// flap — but for a group's LACP pass-throughs, whose trunks carry only
// the group and go down for at least passthroughHold.
//
// The demote does not wait for the hold: Pacemaker promotes the other
// node only once the demote has returned, and the trunks of a blocked node
// carry nothing worth waiting for. A detached copy of the agent (argument
// RestoreArg) brings them up when switch_flush_ms has passed; a marker
// file makes that safe if it dies — start and promote bring them up at
// once, stop and a monitor once the hold is over.
const ParamSwitchFlush = "switch_flush_ms"

// ParamGroup names the translation group whose guard the instance is: one
// promotable clone per group.
const ParamGroup = "group"

// maxSwitchFlush is the longest hold switch_flush_ms accepts, in ms. Any
// switch sees a link go down within a second (a copper PHY in some hundred
// ms), so 10 s is ample; and a demote that cannot detach a restorer holds
// the trunks down itself, which must end well inside its 15 s timeout.
// The bound also keeps the hold far from overflowing a time.Duration.
const maxSwitchFlush = config.MaxSwitchFlushMs

// A flush is recorded in a marker file in the state directory, one per
// flush: flushFile + "." + a random generation (16 hex digits), written
// before the trunks go down. Its first line is "until <unix ns>", the end
// of the hold; the others name the interfaces. Whoever ends flushes reads
// the markers, brings up the trunks of those it ends and only then
// removes exactly those files. The actions of one instance never run
// concurrently (Pacemaker's executor runs one operation of a resource at
// a time); the detached restorers do, and each ends only the flush of the
// demote that started it. So, without any lock:
//   - a trunk goes down only once a marker names it;
//   - a marker is removed only after the trunks it names were brought up
//     by the remover, after it read it. A demote that writes its marker
//     meanwhile writes a new file, which no restorer but its own removes
//     — the race that left the trunks down with one shared marker (a
//     restorer brought them up, a demote rewrote the marker and took them
//     down, the restorer removed the marker). And a restorer never ends
//     another demote's flush between its marker and its link-down;
//   - every marker ends: at once on start and promote; once its hold is
//     over on stop, a monitor and in its restorer (a stop leaves a hold
//     running: on node standby Pacemaker stops the demoted instance
//     before it promotes another, see stop). A hold that would
//     end more than maxSwitchFlush from now (the clock was set back, or
//     the file is damaged) and a first line that does not parse count as
//     over: a trunk up on a blocked node is the safe side.
//
// The one effect left to timing: a restorer that has read its marker just
// before a second demote takes the trunks down may bring them up just
// after, which shortens that flush (never leaves a trunk down). It takes
// a demote, promote and demote within one hold.
//
// flushFile alone (no generation) is the single marker of earlier
// versions, honoured the same way (its restorer, of the earlier version,
// removes it as before).
const flushFile = "ocf-tcguard.flushing"

// RestoreArg is the action argument the agent re-executes itself with, as
// a detached process, to end a demote's flush once its hold is over. It is
// not an OCF action (meta-data does not list it).
const RestoreArg = "flush-restore"

// flush is one marker file.
type flush struct {
	path   string
	until  time.Time // zero: due now
	trunks []string
}

// markerRE matches the marker file names; temporary files of a write in
// progress never do.
var markerRE = regexp.MustCompile(`^` + regexp.QuoteMeta(flushFile) + `(\.[0-9a-f]{16})?$`)

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
func (osFiles) ReadFile(path string) ([]byte, error)     { return node.ReadFile(path) }
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

// readFlushes returns the flushes recorded in dir, in ReadDir's order. A
// marker removed while it reads is left out; one it cannot read is an
// error, returned with the others.
func readFlushes(files stateFiles, dir string) ([]flush, error) {
	names, err := files.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []flush
	var errs []error
	for _, name := range names {
		if !markerRE.MatchString(name) {
			continue
		}
		path := filepath.Join(dir, name)
		b, err := files.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		}
		f := flush{path: path}
		head, rest, _ := strings.Cut(string(b), "\n")
		if v, ok := strings.CutPrefix(head, "until "); ok {
			if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
				f.until = time.Unix(0, ns)
			}
			f.trunks = strings.Fields(rest)
		} else {
			f.trunks = strings.Fields(string(b)) // no hold recorded
		}
		out = append(out, f)
	}
	return out, errors.Join(errs...)
}

// writeFlush records a new flush and returns its marker's path.
func writeFlush(files stateFiles, dir string, until time.Time, trunks []string) (string, error) {
	var gen [8]byte
	if _, err := rand.Read(gen[:]); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("%s.%x", flushFile, gen))
	return path, files.WriteFile(path, fmt.Appendf(nil, "until %d\n%s\n", until.UnixNano(), strings.Join(trunks, "\n")))
}

// holdOver reports whether a flush is due to end at now.
func holdOver(f flush, now time.Time) bool {
	return !now.Before(f.until) || f.until.Sub(now) > maxSwitchFlush*time.Millisecond
}

// endFlushes ends the recorded flushes that are due: brings up their
// trunks, then removes their markers. It returns the flushes still on
// and the trunks it brought up. When the trunks cannot be brought up the
// markers stay, for the next action to try again.
func (a *guard) endFlushes(r *ocf.Request, dir string, due func(flush) bool) (pending []flush, up []string, err error) {
	files := a.stateFiles()
	flushes, err := readFlushes(files, dir)
	var ending []flush
	for _, f := range flushes {
		if due(f) {
			ending = append(ending, f)
			up = append(up, f.trunks...)
		} else {
			pending = append(pending, f)
		}
	}
	if len(ending) == 0 {
		return pending, nil, err
	}
	slices.Sort(up)
	up = slices.Compact(up)
	if uerr := a.bounce.SetUp(r.Param(node.ParamNetNS), up, true); uerr != nil {
		return pending, nil, errors.Join(err, fmt.Errorf("trunks left down by a switch flush: %w", uerr))
	}
	errs := []error{err}
	for _, f := range ending {
		errs = append(errs, files.RemoveFile(f.path))
	}
	return pending, up, errors.Join(errs...)
}

// bouncer takes interfaces down and up (netlink; a fake in tests).
type bouncer interface {
	// Trunks returns the interfaces whose link the switches see for these
	// parents: the parent itself, the lower device of a VLAN parent, the
	// slaves of a bond; only those administratively up.
	Trunks(netns string, parents []string) ([]string, error)
	// SetUp sets the interfaces up or down; one that does not exist is
	// left out.
	SetUp(netns string, names []string, up bool) error
}

// restorer ends a flush after the action has returned: the real one starts
// a detached copy of the agent with RestoreArg and the marker's name,
// tests run restoreAfterHold themselves.
type restorer interface {
	Detach(r *ocf.Request, marker string) error
}

// flushTrunks returns the trunks a demote takes down and for how long
// (switchFlush of the applied configuration), nil when it flushes
// nothing. The demote asks before it blocks: the gap in the traffic starts
// with the block, and the switchover waits for the demote.
func (a *guard) flushTrunks(r *ocf.Request, n node.Node) ([]string, int) {
	if a.bounce == nil {
		return nil, 0
	}
	applied, err := n.Applied()
	if err != nil {
		if hold, _ := r.ParamInt(ParamSwitchFlush); hold > 0 {
			r.Log.Warningf("switches not flushed: %v", err)
		}
		return nil, 0
	}
	hold, err := switchFlush(r, applied)
	if err != nil {
		// Out of range: start refused it; a demote still blocks.
		r.Log.Errorf("switches not flushed: %v", err)
		return nil, 0
	}
	group := groupOf(r)
	pairs := passthroughTrunks(applied, group)
	if hold == 0 {
		return a.passthroughFlush(r, pairs)
	}
	if shared := applied.SharedTrunks(group); len(shared) > 0 {
		// validate-all and start refuse it; never cut the other groups.
		r.Log.Errorf("switches not flushed: trunks %s carry other groups' translations too", strings.Join(shared, ", "))
		return nil, 0
	}
	trunks, err := a.bounce.Trunks(r.Param(node.ParamNetNS), applied.Trunks(group))
	if err != nil || len(trunks) == 0 {
		r.Log.Warningf("switches not flushed: trunks %v: %v", trunks, err)
		return nil, 0
	}
	if least := int(passthroughHold / time.Millisecond); hold < least && len(pairs) > 0 {
		hold = least
	}
	return trunks, hold
}

// passthroughHold is how long a demote holds a pass-through group's
// trunks down (at least: switch_flush_ms may be longer). The switches'
// LAGs must see the promoted node's members come up while this node's are
// still down: a LAG port that comes up without an LACP partner yet is
// used at once (Linux bonding enables the ports of an active aggregator
// without a partner), so the traffic flows through the new node within
// its kick's hold, long before LACP bundles it. This node's members,
// up again first, would be the ones taken, blocked, and the LAGs would
// keep them until the new node's bundle formed (~3 s more). Measured in
// the testbed (TestPassthroughTwoTranslators, TestPassthroughCluster):
// 3 s covers the promote and its kick under TCG with room to spare.
const passthroughHold = 3 * time.Second

// passthroughFlush is the flush of a demote without switch_flush_ms: the
// trunks of the group's pass-throughs (pairs), for passthroughHold. A
// pass-through's trunks carry no other group (validate), so nothing else
// is cut.
func (a *guard) passthroughFlush(r *ocf.Request, pairs []string) ([]string, int) {
	if len(pairs) == 0 {
		return nil, 0
	}
	trunks, err := a.bounce.Trunks(r.Param(node.ParamNetNS), pairs)
	if err != nil || len(trunks) == 0 {
		r.Log.Warningf("pass-through trunks not taken down: trunks %v: %v", trunks, err)
		return nil, 0
	}
	return trunks, int(passthroughHold / time.Millisecond)
}

// passthroughTrunks are the trunks of group's pass-throughs in cfg.
func passthroughTrunks(cfg *config.Config, group string) []string {
	var out []string
	for _, p := range cfg.Passthroughs {
		if p.Group == group {
			out = append(out, p.A, p.B)
		}
	}
	return out
}

// flushSwitches records the flush, takes the trunks down and leaves
// bringing them up to a detached restorer (or, if it cannot start one,
// waits for the hold itself).
func (a *guard) flushSwitches(r *ocf.Request, n node.Node, trunks []string, hold int) {
	if len(trunks) == 0 {
		return
	}
	marker, err := writeFlush(a.stateFiles(), n.Dir(), a.now().Add(time.Duration(hold)*time.Millisecond), trunks)
	if err != nil {
		r.Log.Warningf("switches not flushed: %v", err)
		return
	}
	if err := a.bounce.SetUp(r.Param(node.ParamNetNS), trunks, false); err != nil {
		r.Log.Warningf("switch flush: %v", err)
	}
	if a.later != nil {
		if err = a.later.Detach(r, filepath.Base(marker)); err == nil {
			r.Log.Infof("switches flushing: %s down for %d ms", strings.Join(trunks, ", "), hold)
			return
		}
	}
	r.Log.Warningf("switch flush: no restorer (%v): holding in the demote", err)
	if err := a.restoreAfterHold(r, filepath.Base(marker)); err != nil {
		r.Log.Errorf("%v", err)
	}
}

// restoreAfterHold is the restorer of the flush recorded in marker (a
// file name in the state directory): it waits for the end of its hold,
// then ends it — unless it was ended meanwhile (promote, start, or once
// the hold is over stop or a monitor). It ends no other flush: one a
// demote has recorded may not have its trunks down yet.
func (a *guard) restoreAfterHold(r *ocf.Request, marker string) error {
	if !markerRE.MatchString(marker) {
		return fmt.Errorf("%s: not a switch flush marker", marker)
	}
	path := filepath.Join(node.DirFor(node.Options(r)), marker)
	for {
		now := a.now()
		pending, up, err := a.endFlushes(r, filepath.Dir(path), func(f flush) bool { return f.path == path && holdOver(f, now) })
		if len(up) > 0 {
			r.Log.Infof("switches flushed: %s up again", strings.Join(up, ", "))
		}
		i := slices.IndexFunc(pending, func(f flush) bool { return f.path == path })
		if err != nil || i < 0 {
			return err
		}
		a.sleep(pending[i].until.Sub(now))
	}
}

// restoreTrunks brings up the interfaces flushes (possibly killed ones)
// took down: all at once when now, else those whose hold is over — a
// monitor or a stop right after the demote leaves them to the restorer.
// When now (start, promote: under the namespace's lock) it ends an
// interrupted renegotiation kick too (stop does so itself).
func (a *guard) restoreTrunks(r *ocf.Request, n node.Node, now bool) error {
	if now {
		// A renegotiation kick killed between its down and its up
		// (bridgectl.Manager.Kick) is over too.
		if err := a.restoreKicked(r, n); err != nil {
			return err
		}
	}
	if a.bounce == nil {
		return nil
	}
	t := a.now()
	_, _, err := a.endFlushes(r, n.Dir(), func(f flush) bool { return now || holdOver(f, t) })
	return err
}

// restoreKicked brings up the trunks of a renegotiation kick killed
// between its down and its up (bridgectl.Manager.Kick).
func (a *guard) restoreKicked(r *ocf.Request, n node.Node) error {
	up, err := n.RestoreKicked()
	if len(up) > 0 {
		r.Log.Infof("trunks %s up again after an interrupted renegotiation kick", strings.Join(up, ", "))
	}
	return err
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

func (selfRestorer) Detach(r *ocf.Request, marker string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, RestoreArg, marker)
	cmd.Env = r.Environ
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}

// netlinkBounce is the real bouncer.
type netlinkBounce struct{}

// handle opens a link socket in the namespace called ns ("" the agent's own).
func handle(ns string) (*netlink.Handle, error) {
	n, err := namespace.Open(ns)
	if err != nil {
		return nil, err
	}
	defer n.Close() // the handle's socket stays in the namespace
	return netlink.NewHandleAt(n.Handle())
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
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			continue // deleted meanwhile: nothing left down
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
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
