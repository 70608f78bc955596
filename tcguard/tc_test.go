package tcguard

import (
	"errors"
	"os"
	"testing"
	"time"
)

// openTestTC opens real sockets (no privileges needed) in the current
// namespace, with a short timeout. Nothing is sent on them: the host's
// rtnl lock may be held by anything, and a send would wait for it.
func openTestTC(t *testing.T) *kernelTC {
	t.Helper()
	k, err := openTC(0)
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

// A request whose answer never comes fails after the timeout, and closing
// the sockets ends its wait.
func TestUnansweredRequestTimesOut(t *testing.T) {
	k := openTestTC(t)
	ended := make(chan error, 1)
	wantTimeout(t, k, func() (struct{}, error) {
		_, err := k.raw.c.Receive()
		ended <- err
		return struct{}{}, err
	})
	select {
	case err := <-ended:
		t.Logf("the receive ended: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("closing the socket did not end the receive")
	}
}
