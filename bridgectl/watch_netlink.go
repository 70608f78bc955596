package bridgectl

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/internal/namespace"
)

// eventRcvBuf is the subscription socket's receive buffer. One apply of
// thousands of translations emits several notifications per link; a bigger
// buffer makes an overrun (ENOBUFS, then a resubscription and a full check)
// rarer, it does not make it impossible.
const eventRcvBuf = 8 << 20

// Events is what the watcher listens to: the namespace's link and tc
// notifications (RTNLGRP_LINK and RTNLGRP_TC) as one EventSource.
func (m *Manager) Events() EventSource {
	return mergedEvents{linkEvents{ns: m.ns}, tcEvents{ns: m.ns}}
}

// linkEvents is the namespace's RTNLGRP_LINK multicast group.
type linkEvents struct {
	ns *namespace.NetNS
}

func (n linkEvents) Subscribe(ctx context.Context) (<-chan Event, error) {
	updates := make(chan netlink.LinkUpdate, 1024)
	done := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(done) }) }

	var mu sync.Mutex
	var lastErr error
	opts := netlink.LinkSubscribeOptions{
		// Called from the library's receive goroutine; the fatal one
		// (a failed receive) comes just before it closes updates.
		ErrorCallback: func(err error) {
			mu.Lock()
			lastErr = err
			mu.Unlock()
		},
		ReceiveBufferSize:      eventRcvBuf,
		ReceiveBufferForceSize: true, // past rmem_max; needs CAP_NET_ADMIN, as everything here
	}
	if h := n.ns.Handle(); h.IsOpen() {
		opts.Namespace = &h
	}
	if err := netlink.LinkSubscribeWithOptions(updates, done, opts); err != nil {
		stop()
		return nil, fmt.Errorf("subscribe to link events: %w", err)
	}

	out := make(chan Event, 1024)
	go func() {
		defer close(out)
		// Closing done makes the library close its socket, which ends its
		// receive goroutine and closes updates: drain until then so that
		// goroutine is never left blocked on a send.
		unregister := context.AfterFunc(ctx, stop)
		defer unregister()
		defer stop()
		for u := range updates {
			select {
			case out <- Event{Link: linkEvent(u)}:
			case <-ctx.Done():
				for range updates {
				}
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		mu.Lock()
		err := lastErr
		mu.Unlock()
		if err == nil {
			err = errors.New("subscription closed")
		}
		select {
		case out <- Event{Err: fmt.Errorf("link events: %w", err)}:
		case <-ctx.Done():
		}
	}()
	return out, nil
}

func linkEvent(u netlink.LinkUpdate) *LinkEvent {
	a := u.Link.Attrs()
	return &LinkEvent{
		Deleted:     u.Header.Type == unix.RTM_DELLINK,
		Index:       int(u.Index),
		Name:        a.Name,
		Group:       a.Group,
		ParentIndex: a.ParentIndex,
		MasterIndex: a.MasterIndex,
		Up:          a.RawFlags&unix.IFF_UP != 0,
		OperUp:      a.OperState == netlink.OperUp,
	}
}
