//go:build e2e

package e2e

import (
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/tcguard"
	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// The watcher reads a node's guards whenever its tc filters or links
// change (rtnetlink multicast), and every guard every watchInterval in case
// an event was missed. Polling every 50 ms instead cost a good share of the
// VM's CPU under TCG, at the moment the switchover needed it; events also
// time the opening more exactly. An event has only its own node's guards
// read: each read is a few netlink dumps per guard, and the groups test
// has two guards per node.
const watchInterval = 250 * time.Millisecond

// guardKey is one group's guard on one node.
type guardKey struct{ node, group string }

// guardWatch reads the guard of every group (each has its own block and
// open marker) on every live node and records when each opened and
// closed, and whether two nodes' guards of one group were ever open at
// once.
type guardWatch struct {
	mu       sync.Mutex
	cfg      *config.Config
	groups   []string // the groups with translations: those a guard clone promotes
	guards   map[guardKey]*tcguard.Guard
	links    map[string]*netlink.Handle // the node's links, to tell forwarding ports from down ones
	subs     map[string]*subscription
	wake     chan struct{}
	dirtyMu  sync.Mutex
	dirty    map[string]bool // nodes with events since the last poll
	open     map[guardKey]bool
	opened   map[guardKey][]time.Time // times a guard was first seen open
	events   []guardEvent
	both     map[string]int // per group: consecutive polls with two nodes open, at most
	bothRun  map[string]int
	errs     int
	stop     chan struct{}
	done     chan struct{}
	stateDir string
}

// newGuardWatch watches the guards of cfg's groups.
func newGuardWatch(cfg *config.Config) *guardWatch {
	d, _ := os.MkdirTemp("", "qb-watch")
	w := &guardWatch{cfg: cfg, guards: map[guardKey]*tcguard.Guard{}, links: map[string]*netlink.Handle{},
		open: map[guardKey]bool{}, opened: map[guardKey][]time.Time{}, both: map[string]int{}, bothRun: map[string]int{},
		subs: map[string]*subscription{}, wake: make(chan struct{}, 1), dirty: map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{}), stateDir: d}
	for _, g := range cfg.Groups {
		if slices.ContainsFunc(cfg.Translations, func(t config.Translation) bool { return t.Group == g.Name }) {
			w.groups = append(w.groups, g.Name)
		}
	}
	go w.loop()
	return w
}

// add starts watching the node's guards. Each is opened as bridgectl and
// the agents open it (its group's block and open marker; in the tc
// datapath the trunk block all groups share); the open markers it would
// read are under a directory of the test's, not the node's private /run:
// the watch judges what the kernel forwards, not what was asked.
func (w *guardWatch) add(n *node) error {
	m, err := bridgectl.Open(bridgectl.Options{NetNS: n.ns.name, StateDir: w.stateDir})
	if err != nil {
		return err
	}
	defer m.Close() // the guards' sockets stay in the namespace
	gs := map[guardKey]*tcguard.Guard{}
	closeAll := func() {
		for _, g := range gs {
			g.Close()
		}
	}
	for _, group := range w.groups {
		g, err := m.GroupGuard(w.cfg, group)
		if err != nil {
			closeAll()
			return err
		}
		gs[guardKey{n.name, group}] = g
	}
	h, err := netlink.NewHandleAt(n.ns.h)
	if err != nil {
		closeAll()
		return err
	}
	sub, err := subscribe(n.ns.h, func() { w.changed(n.name) })
	if err != nil {
		closeAll()
		h.Close()
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	maps.Copy(w.guards, gs)
	w.links[n.name] = h
	w.subs[n.name] = sub
	return nil
}

// drop stops watching a node (before its namespace goes: our sockets would
// keep it alive).
func (w *guardWatch) drop(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, g := range w.guards {
		if k.node == name {
			g.Close()
			delete(w.guards, k)
			w.open[k] = false
		}
	}
	if h := w.links[name]; h != nil {
		h.Close()
	}
	if sub := w.subs[name]; sub != nil {
		sub.close()
	}
	delete(w.links, name)
	delete(w.subs, name)
}

func (w *guardWatch) close() {
	close(w.stop)
	<-w.done
	for n := range w.links {
		w.drop(n)
	}
}

// changed records an event of node's and wakes the loop (without
// blocking).
func (w *guardWatch) changed(node string) {
	w.dirtyMu.Lock()
	w.dirty[node] = true
	w.dirtyMu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *guardWatch) loop() {
	defer close(w.done)
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		all := false
		select {
		case <-w.stop:
			return
		case <-t.C:
			all = true
		case <-w.wake:
		}
		w.dirtyMu.Lock()
		nodes := w.dirty
		w.dirty = map[string]bool{}
		w.dirtyMu.Unlock()
		if all {
			nodes = nil
		}
		w.poll(nodes)
	}
}

// poll reads the guards of nodes (nil: every node's).
func (w *guardWatch) poll(nodes map[string]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	up := map[string]map[int]bool{} // per node, read once a poll
	for k, g := range w.guards {
		if nodes != nil && !nodes[k.node] {
			continue
		}
		s, err := g.Status(nil)
		if err != nil {
			w.errs++
			continue
		}
		if up[k.node] == nil {
			up[k.node] = w.upLinks(k.node)
		}
		// Open: the guard does not drop what reaches it (bridge ports bound,
		// or translation filters), and a bound port is up. A port bound
		// while it is still down cannot forward: bridgectl binds new ports
		// to fresh blocks (a node coming back) one before the guard filters
		// go in, and brings them up only after. A trunk forwards only
		// through translation filters.
		open := s.Reach && !s.Dropping && anyUp(up[k.node], s.Bound)
		if open && !w.open[k] {
			w.opened[k] = append(w.opened[k], time.Now())
		}
		if open != w.open[k] {
			w.events = append(w.events, guardEvent{time.Now(), k.node, k.group, open})
		}
		w.open[k] = open
	}
	nOpen := map[string]int{}
	for k, o := range w.open {
		if o {
			nOpen[k.group]++
		}
	}
	for _, group := range w.groups {
		if nOpen[group] > 1 {
			w.bothRun[group]++
			w.both[group] = max(w.both[group], w.bothRun[group])
		} else {
			w.bothRun[group] = 0
		}
	}
}

// upLinks maps the ifindexes of the node's links to whether each is
// administratively up; nil if they cannot be read.
func (w *guardWatch) upLinks(name string) map[int]bool {
	links, err := w.links[name].LinkList()
	if err != nil {
		w.errs++
		return nil
	}
	up := make(map[int]bool, len(links))
	for _, l := range links {
		up[l.Attrs().Index] = l.Attrs().Flags&net.FlagUp != 0
	}
	return up
}

// anyUp reports whether one of the ifindexes is up (links not read count
// as up: the watch must not miss a leak).
func anyUp(up map[int]bool, ifindexes []int) bool {
	if len(ifindexes) == 0 {
		return false
	}
	if up == nil {
		return true
	}
	return slices.ContainsFunc(ifindexes, func(i int) bool { return up[i] })
}

// openedAfter returns when the node's guard of group was first seen opening
// after t.
func (w *guardWatch) openedAfter(name, group string, t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, o := range w.opened[guardKey{name, group}] {
		if o.After(t) {
			return o, true
		}
	}
	return time.Time{}, false
}

// promoted returns the node whose guard of group is open ("" if none).
func (w *guardWatch) promoted(group string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, o := range w.open {
		if o && k.group == group {
			return k.node
		}
	}
	return ""
}

// bothOpen is, per group, the longest run of consecutive polls that saw
// two nodes' guards of the group open.
func (w *guardWatch) bothOpen() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.both)
}

// guardEvent is a guard seen opening or closing.
type guardEvent struct {
	at          time.Time
	node, group string
	open        bool
}

// eventsSince returns the guard events after t.
func (w *guardWatch) eventsSince(t time.Time) []guardEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []guardEvent
	for _, e := range w.events {
		if e.at.After(t) {
			out = append(out, e)
		}
	}
	return out
}

// subscription is a socket in a node's namespace that receives its tc and
// link change notifications.
type subscription struct {
	fd   int
	stop chan struct{}
	done chan struct{}
}

// subscribe calls changed on every tc or link change in the namespace.
func subscribe(ns netns.NsHandle, changed func()) (*subscription, error) {
	sub := &subscription{fd: -1, stop: make(chan struct{}), done: make(chan struct{})}
	err := testbed.Do(ns, func() error { // a socket belongs to the namespace it is created in
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		sub.fd = fd
		// A receive timeout lets the reader notice close.
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK,
			Groups: 1<<(unix.RTNLGRP_TC-1) | 1<<(unix.RTNLGRP_LINK-1)})
	})
	if err != nil {
		if sub.fd >= 0 {
			unix.Close(sub.fd)
		}
		return nil, err
	}
	go func() {
		defer close(sub.done)
		buf := make([]byte, 64<<10)
		for {
			select {
			case <-sub.stop:
				return
			default:
			}
			_, err := unix.Read(sub.fd, buf)
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			// A message, or an error such as ENOBUFS (events lost): look.
			changed()
			if err != nil && err != unix.ENOBUFS {
				time.Sleep(watchInterval) // do not spin on a broken socket
			}
		}
	}()
	return sub, nil
}

func (s *subscription) close() {
	close(s.stop)
	<-s.done
	unix.Close(s.fd)
}
