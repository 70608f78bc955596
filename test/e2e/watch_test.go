//go:build e2e

package e2e

import (
	"net"
	"os"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/internal/namespace"
	"github.com/qinqbridge/qinqbridge/tcguard"
	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// The watcher reads both guards whenever a node's tc filters or links
// change (rtnetlink multicast), and every watchInterval in case an event
// was missed. Polling every 50 ms instead cost a good share of the VM's CPU
// under TCG, at the moment the switchover needed it; events also time the
// opening more exactly.
const watchInterval = 250 * time.Millisecond

// guardWatch reads the guard of every live node and records when each
// opened and closed, and whether both were ever open at once.
type guardWatch struct {
	mu       sync.Mutex
	guards   map[string]*tcguard.Guard
	links    map[string]*netlink.Handle // the node's links, to tell forwarding ports from down ones
	subs     map[string]*subscription
	wake     chan struct{}
	open     map[string]bool
	opened   map[string][]time.Time // times a guard was first seen open
	events   []guardEvent
	both     int // consecutive polls with both open, at most
	bothRun  int
	errs     int
	stop     chan struct{}
	done     chan struct{}
	stateDir string
}

func newGuardWatch() *guardWatch {
	d, _ := os.MkdirTemp("", "qb-watch")
	w := &guardWatch{guards: map[string]*tcguard.Guard{}, links: map[string]*netlink.Handle{}, open: map[string]bool{}, opened: map[string][]time.Time{},
		subs: map[string]*subscription{}, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), stateDir: d}
	go w.loop()
	return w
}

// add starts watching the node's guard (block of the test configuration).
func (w *guardWatch) add(n *node) error {
	ns, err := namespace.Open(n.ns.name)
	if err != nil {
		return err
	}
	defer ns.Close() // the guard's sockets stay in it
	g, err := tcguard.Open(tcguard.Options{Block: defaults.Block, NetNS: ns, StateDir: w.stateDir})
	if err != nil {
		return err
	}
	h, err := netlink.NewHandleAt(n.ns.h)
	if err != nil {
		g.Close()
		return err
	}
	sub, err := subscribe(n.ns.h, w.wake)
	if err != nil {
		g.Close()
		h.Close()
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.guards[n.name] = g
	w.links[n.name] = h
	w.subs[n.name] = sub
	return nil
}

// drop stops watching a node (before its namespace goes: our socket would
// keep it alive).
func (w *guardWatch) drop(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if g := w.guards[name]; g != nil {
		g.Close()
	}
	if h := w.links[name]; h != nil {
		h.Close()
	}
	if sub := w.subs[name]; sub != nil {
		sub.close()
	}
	delete(w.guards, name)
	delete(w.links, name)
	delete(w.subs, name)
	w.open[name] = false
}

func (w *guardWatch) close() {
	close(w.stop)
	<-w.done
	for n := range w.guards {
		w.drop(n)
	}
}

func (w *guardWatch) loop() {
	defer close(w.done)
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		case <-w.wake:
		}
		w.poll()
	}
}

func (w *guardWatch) poll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	nOpen := 0
	for name, g := range w.guards {
		s, err := g.Status(nil)
		if err != nil {
			w.errs++
			continue
		}
		// Open: the guard does not drop what reaches it (bridge ports bound,
		// or translation filters), and a bound port is up. A port bound
		// while it is still down cannot forward: bridgectl binds new ports
		// to fresh blocks (a node coming back) one before the guard filters
		// go in, and brings them up only after. A trunk forwards only
		// through translation filters.
		open := s.Reach && !s.Dropping && w.anyUp(name, s.Bound)
		if open && !w.open[name] {
			w.opened[name] = append(w.opened[name], time.Now())
		}
		if open != w.open[name] {
			w.events = append(w.events, guardEvent{time.Now(), name, open})
		}
		w.open[name] = open
		if open {
			nOpen++
		}
	}
	if nOpen > 1 {
		w.bothRun++
		w.both = max(w.both, w.bothRun)
	} else {
		w.bothRun = 0
	}
}

// anyUp reports whether one of the ifindexes is administratively up in the
// node's namespace (an error counts as up: the watch must not miss a leak).
func (w *guardWatch) anyUp(name string, ifindexes []int) bool {
	if len(ifindexes) == 0 {
		return false
	}
	links, err := w.links[name].LinkList()
	if err != nil {
		w.errs++
		return true
	}
	up := make(map[int]bool, len(links))
	for _, l := range links {
		up[l.Attrs().Index] = l.Attrs().Flags&net.FlagUp != 0
	}
	for _, i := range ifindexes {
		if up[i] {
			return true
		}
	}
	return false
}

// openedAfter returns when the node's guard was first seen opening after t.
func (w *guardWatch) openedAfter(name string, t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, o := range w.opened[name] {
		if o.After(t) {
			return o, true
		}
	}
	return time.Time{}, false
}

// promoted returns the node whose guard is open ("" if none).
func (w *guardWatch) promoted() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for n, o := range w.open {
		if o {
			return n
		}
	}
	return ""
}

// bothOpen is the longest run of consecutive polls that saw both open.
func (w *guardWatch) bothOpen() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.both
}

// guardEvent is a guard seen opening or closing.
type guardEvent struct {
	at   time.Time
	node string
	open bool
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

// subscribe wakes wake (without blocking) on every tc or link change in
// the namespace.
func subscribe(ns netns.NsHandle, wake chan<- struct{}) (*subscription, error) {
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
			select {
			case wake <- struct{}{}:
			default:
			}
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
