package bridgectl

import (
	"context"
	"fmt"
	"log"

	"github.com/florianl/go-tc"

	"github.com/qinqbridge/qinqbridge/internal/namespace"
)

// tcEvents is the namespace's RTNLGRP_TC multicast group, through go-tc's
// monitor.
//
// go-tc's monitor drops a message it cannot parse after logging it to the
// Config's Logger; that logger here turns every line into an Undecoded
// event instead, so no tc message is lost unseen. (It also asks for a dump
// of the links when it starts, whose answers arrive as such lines: once per
// subscription, which is followed by a full check anyway.) Its socket keeps
// the default receive buffer (go-tc does not let us set one): a burst that
// overruns it ends the subscription with ENOBUFS, and the watcher
// resubscribes and re-reads everything.
type tcEvents struct {
	ns *namespace.NetNS
}

func (n tcEvents) Subscribe(ctx context.Context) (<-chan Event, error) {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx) // also ends go-tc's own goroutine
	out := make(chan Event, 1024)
	emit := func(ev Event) {
		select {
		case out <- ev:
		case <-ctx.Done():
		}
	}
	undecoded := log.New(undecodedWriter(func() { emit(Event{TC: &TCEvent{Undecoded: true}}) }), "", 0)

	conn, err := tc.Open(&tc.Config{NetNS: n.ns.Fd(), Logger: undecoded})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe to tc events: %w", err)
	}
	// Both callbacks run on go-tc's receive goroutine, one at a time; after
	// onError returns non-zero it calls neither again.
	ended := make(chan error, 1)
	onEvent := func(action uint16, o tc.Object) int {
		emit(Event{TC: &TCEvent{Type: action, Ifindex: o.Ifindex, Parent: o.Parent}})
		return 0
	}
	onError := func(err error) int {
		ended <- err // a receive error (ENOBUFS: events were lost), or the deadline set when ctx ended
		return 1
	}
	if err := conn.MonitorWithErrorFunc(ctx, 0, onEvent, onError); err != nil {
		cancel()
		conn.Close()
		return nil, fmt.Errorf("subscribe to tc events: %w", err)
	}
	go func() {
		defer close(out)
		err := <-ended
		cancel()
		conn.Close()
		if parent.Err() != nil {
			return
		}
		select {
		case out <- Event{Err: fmt.Errorf("tc events: %w", err)}:
		case <-parent.Done():
		}
	}()
	return out, nil
}

// undecodedWriter calls itself once per write: log.Logger writes each line
// with one Write.
type undecodedWriter func()

func (w undecodedWriter) Write(p []byte) (int, error) {
	w()
	return len(p), nil
}
