package tcnl

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// openTestTC opens a real socket (no privileges needed) in the current
// namespace, with a short timeout. Nothing is sent on them: the host's
// rtnl lock may be held by anything, and a send would wait for it.
func openTestTC(t *testing.T) *kernelTC {
	t.Helper()
	k, err := open(0)
	if err != nil {
		t.Fatal(err)
	}
	k.timeout = 50 * time.Millisecond
	return k
}

func wantTimeout(t *testing.T, k *kernelTC, request func() (struct{}, error)) {
	t.Helper()
	start := time.Now()
	if _, err := bounded(k, request); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("unanswered request: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %v", took)
	}
	if _, err := k.Qdiscs(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("request after the timeout: %v", err)
	}
	if err := k.Close(); err != nil {
		t.Fatalf("Close after the timeout: %v", err)
	}
}

// A request whose answer never comes fails after the timeout, and the timer
// closes go-tc's socket. The request here waits for that close (go-tc has no
// call that waits without sending, and nothing may be sent on the host's
// rtnetlink); that the close wakes a receive blocked on the socket is
// TestCloseEndsReceive's.
func TestUnansweredRequestTimesOut(t *testing.T) {
	k := openTestTC(t)
	wantTimeout(t, k, func() (struct{}, error) {
		for {
			if err := k.tc.SetOption(netlink.ExtendedAcknowledge, true); err != nil {
				return struct{}{}, err // closed
			}
			runtime.Gosched()
		}
	})
}

// Closing a socket of go-tc's transport (mdlayher/netlink, as go-tc dials
// it) ends a receive blocked on it: what bounded relies on.
func TestCloseEndsReceive(t *testing.T) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{MessageBufferSize: dumpChunk})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	// Closed, as bounded's timer does, while the receive (most likely)
	// waits already.
	time.AfterFunc(50*time.Millisecond, func() { c.Close() })
	go func() {
		_, err := c.Receive()
		ended <- err
	}()
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the receive ended without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing the socket did not end the receive")
	}
}
