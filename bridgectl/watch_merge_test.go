package bridgectl

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// TestMergedEvents: link and tc subscriptions as one. Events of both come
// through; the end of either ends both and says why; a refused
// subscription closes the ones already made; a cancelled context closes
// the channel without an error.
func TestMergedEvents(t *testing.T) {
	overrun := errors.New("Receive failed: no buffer space available")
	tests := []struct {
		name    string
		end     func(link, tcs *fakeSource, cancel func())
		wantErr error // nil: closed without an error event
	}{
		{"the tc subscription fails", func(_, tcs *fakeSource, _ func()) { tcs.fail(overrun) }, overrun},
		{"the link subscription fails", func(link, _ *fakeSource, _ func()) { link.fail(overrun) }, overrun},
		{"a subscription closes without a reason", func(_, tcs *fakeSource, _ func()) { tcs.closeAll() }, errSubscriptionClosed},
		{"the context ends", func(_, _ *fakeSource, cancel func()) { cancel() }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link, tcs := &fakeSource{}, &fakeSource{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, err := mergedEvents{link, tcs}.Subscribe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			link.send(ourDeletion)
			tcs.send(qdiscDeleted)
			got := map[string]bool{}
			for range 2 {
				ev := next(t, ch)
				switch {
				case ev.Link != nil:
					got["link"] = true
				case ev.TC != nil:
					got["tc"] = true
				}
			}
			if !got["link"] || !got["tc"] {
				t.Fatalf("events seen: %v, want one of each", got)
			}

			tt.end(link, tcs, cancel)
			var last Event
			for ev := range ch { // closes, or the test times out
				last = ev
			}
			switch {
			case tt.wantErr == nil && last.Err != nil:
				t.Errorf("ended with %v, want no error", last.Err)
			case tt.wantErr == errSubscriptionClosed && (last.Err == nil || last.Err.Error() != "event subscription closed"):
				t.Errorf("ended with %v, want %q", last.Err, "event subscription closed")
			case tt.wantErr != nil && tt.wantErr != errSubscriptionClosed && !errors.Is(last.Err, tt.wantErr):
				t.Errorf("ended with %v, want %v", last.Err, tt.wantErr)
			}
			if !link.allClosed() || !tcs.allClosed() {
				t.Error("a subscription is still open after the merged one ended")
			}
		})
	}

	t.Run("a refused subscription closes the others", func(t *testing.T) {
		link, tcs := &fakeSource{}, &fakeSource{refuse: true}
		_, err := mergedEvents{link, tcs}.Subscribe(context.Background())
		if !errors.Is(err, syscall.EPERM) {
			t.Fatalf("Subscribe: %v, want EPERM", err)
		}
		if link.count() != 1 || !link.allClosed() {
			t.Error("the link subscription was not closed")
		}
	})
}

// errSubscriptionClosed stands for the merged source's own error in the table.
var errSubscriptionClosed = errors.New("(closed)")

func next(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return Event{}
	}
}

// closeAll ends every subscription without a reason.
func (s *fakeSource) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		sub.close()
	}
}

func (s *fakeSource) allClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		if !sub.closed {
			return false
		}
	}
	return true
}
