package tcguard

import (
	"errors"
	"os"
	"testing"
	"time"
)

// A request the kernel never answers fails after the timeout, and the TC
// stays closed. Real sockets (no privileges needed): the wait is a receive
// with nothing sent, which only closing the socket ends.
func TestUnansweredRequestTimesOut(t *testing.T) {
	k, err := openTC(0)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	k.timeout = 50 * time.Millisecond
	start := time.Now()
	_, err = bounded(k, func() (struct{}, error) { _, err := k.raw.c.Receive(); return struct{}{}, err })
	if !errors.Is(err, os.ErrDeadlineExceeded) {
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

// An answered request is not affected by the timer.
func TestAnsweredRequest(t *testing.T) {
	k, err := openTC(0)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := k.Qdiscs(); err != nil {
		t.Fatalf("qdisc dump of this namespace: %v", err)
	}
	if _, err := k.Chains(blockMsg(testBlock)); err != nil {
		t.Fatalf("chain dump of an absent block: %v", err)
	}
}
