package tcnl

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/florianl/go-tc"
	"github.com/mdlayher/netlink"
)

// TC is the tc objects of one namespace. Errors are the kernel's (a
// *netlink.OpError carrying the errno and the extended-ack text).
type TC interface {
	// Qdiscs lists every qdisc of the namespace (kind and shared blocks).
	Qdiscs() ([]tc.Object, error)
	// AddQdisc creates a qdisc, never replacing one (NLM_F_EXCL).
	AddQdisc(*tc.Object) error
	// Filters dumps the filters msg selects (Info: priority and protocol).
	// Each action comes with its index, its parameters (a gact's verdict)
	// and its statistics (Stats.Queue.Drops: frames it dropped, 32 bits).
	Filters(msg tc.Msg) ([]tc.Object, error)
	// DeleteQdisc deletes the qdisc with the object's parent, handle and
	// kind.
	DeleteQdisc(*tc.Object) error
	// AddFilter creates a filter, never replacing one (NLM_F_EXCL).
	AddFilter(*tc.Object) error
	// ReplaceFilter changes the filter at the object's priority and handle
	// in place (NLM_F_REPLACE), or creates it.
	ReplaceFilter(*tc.Object) error
	// DeleteFilter deletes the filter with the object's kind, priority and
	// handle; with handle 0, every filter at that priority.
	DeleteFilter(*tc.Object) error
	// Chains dumps the chains of the block msg names.
	Chains(msg tc.Msg) ([]tc.Object, error)
	// ReplaceAction sets a standalone action (RTM_NEWACTION, NLM_F_REPLACE):
	// an action of that kind and index changes in place, for every filter
	// bound to it; else it is created.
	ReplaceAction(*tc.Action) error
	// Actions dumps the actions of a kind (their index, parameters —
	// a gact's verdict and bind count — and statistics).
	Actions(kind string) ([]*tc.Action, error)
	// DeleteAction deletes a standalone action by kind and index; the
	// kernel refuses (EPERM) while a filter binds it.
	DeleteAction(*tc.Action) error
	Close() error
}

// kernelTC is TC over rtnetlink, through go-tc.
type kernelTC struct {
	tc     *tc.Tc
	qdiscs *netlink.Conn // the qdisc dump's own socket (qdiscdump.go)
	// timeout bounds each request's wait for the kernel (replyTimeout);
	// expired: one request took longer, the socket is being closed.
	timeout  time.Duration
	expired  atomic.Bool
	close    sync.Once
	closeErr error
}

// dumpChunk is the receive buffer, and so the size of the kernel's dump
// datagrams: the largest it builds (SKB_WITH_OVERHEAD(32 KiB) in
// net/netlink/af_netlink.c). The kernel sizes them by the largest buffer
// the socket has received with; with page-sized ones the qdisc dump, which
// walks the devices anew for each datagram, turns quadratic (8 s for 12,000
// devices under TCG against 1.5 s).
const dumpChunk = 32 << 10

// replyTimeout bounds the wait for the kernel's answer to one request, well
// inside the agent's shortest action timeout (15 s): a request the kernel
// never answers fails the action instead of hanging it until Pacemaker
// kills the agent. rtnetlink answers synchronously (the answer is queued
// before sendmsg returns; a dump's next part is built as it is read), so
// this fires only on a lost or never-sent answer. Dumps of thousands of
// devices take about a second under TCG.
const replyTimeout = 10 * time.Second

// Open opens the sockets in the namespace fd (0: the current one).
func Open(fd int) (TC, error) { return open(fd) }

func open(fd int) (*kernelTC, error) {
	t, err := tc.Open(&tc.Config{NetNS: fd, MessageBufferSize: dumpChunk})
	if err != nil {
		return nil, fmt.Errorf("tc: rtnetlink socket: %w", err)
	}
	// The kernel's error text (extended ack) in our errors; optional, old
	// kernels just give less detail. Not CapAcknowledge: with capped acks
	// mdlayher/netlink v1.11 misplaces the text and loses the errno.
	_ = t.SetOption(netlink.ExtendedAcknowledge, true)
	q, err := dialQdiscs(fd)
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("tc: rtnetlink socket: %w", err)
	}
	return &kernelTC{tc: t, qdiscs: q, timeout: replyTimeout}, nil
}

// bounded runs one request, waiting at most k.timeout for the answer. go-tc
// neither sets a deadline nor exposes its socket, so on expiry a timer
// closes the socket: mdlayher/netlink's Close wakes the blocked receive,
// and the request fails. The TC stays closed (a Guard lives for one action,
// and its namespace may be gone). Not bounded: a sendmsg waiting for the
// rtnl lock held elsewhere, which no socket deadline or close can
// interrupt (nor could the process exit before the kernel lets go);
// running each request in a goroutine of its own to return anyway cost
// 100 µs a request under TCG, 20% on a guard Bind of 4000 ports.
func bounded[T any](k *kernelTC, request func() (T, error)) (T, error) {
	var zero T
	if k.expired.Load() {
		return zero, k.noAnswer()
	}
	timer := time.AfterFunc(k.timeout, func() {
		k.expired.Store(true)
		k.closeSocket()
	})
	v, err := request()
	if !timer.Stop() {
		return zero, k.noAnswer()
	}
	return v, err
}

func (k *kernelTC) noAnswer() error {
	return fmt.Errorf("tc: the kernel did not answer a request within %v; socket closed: %w", k.timeout, os.ErrDeadlineExceeded)
}

func (k *kernelTC) Qdiscs() ([]tc.Object, error) {
	if k.expired.Load() {
		return nil, k.noAnswer()
	}
	return dumpQdiscs(k.qdiscs, k.timeout)
}
func (k *kernelTC) AddQdisc(o *tc.Object) error {
	return k.do(func() error { return k.tc.Qdisc().Add(o) })
}
func (k *kernelTC) Filters(m tc.Msg) ([]tc.Object, error) {
	return bounded(k, func() ([]tc.Object, error) { return k.tc.Filter().Get(&m) })
}
func (k *kernelTC) DeleteQdisc(o *tc.Object) error {
	return k.do(func() error { return k.tc.Qdisc().Delete(o) })
}
func (k *kernelTC) AddFilter(o *tc.Object) error {
	return k.do(func() error { return k.tc.Filter().Add(o) })
}
func (k *kernelTC) ReplaceFilter(o *tc.Object) error {
	return k.do(func() error { return k.tc.Filter().Replace(o) })
}
func (k *kernelTC) DeleteFilter(o *tc.Object) error {
	return k.do(func() error { return k.tc.Filter().Delete(o) })
}
func (k *kernelTC) Chains(m tc.Msg) ([]tc.Object, error) {
	return bounded(k, func() ([]tc.Object, error) { return k.tc.Chain().Get(&m) })
}
func (k *kernelTC) ReplaceAction(a *tc.Action) error {
	return k.do(func() error { return k.tc.Actions().Replace([]*tc.Action{a}) })
}
func (k *kernelTC) Actions(kind string) ([]*tc.Action, error) {
	return bounded(k, func() ([]*tc.Action, error) { return k.tc.Actions().Get([]*tc.Action{{Kind: kind}}) })
}
func (k *kernelTC) DeleteAction(a *tc.Action) error {
	return k.do(func() error { return k.tc.Actions().Delete([]*tc.Action{a}) })
}

// do is bounded for a request answered by an ack only.
func (k *kernelTC) do(request func() error) error {
	_, err := bounded(k, func() (struct{}, error) { return struct{}{}, request() })
	return err
}

// Close closes the socket; after a timeout the timer is closing it
// already, and Close does not wait for it.
func (k *kernelTC) Close() error {
	if k.expired.Load() {
		return nil
	}
	return k.closeSocket()
}

func (k *kernelTC) closeSocket() error {
	k.close.Do(func() { k.closeErr = errors.Join(k.tc.Close(), k.qdiscs.Close()) })
	return k.closeErr
}
