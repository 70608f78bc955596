package bridgectl

import (
	"context"
	"errors"
	"sync"
)

// mergedEvents subscribes to several sources as one: their events share one
// channel, and the end of any subscription ends them all. The watcher then
// resubscribes to every source and re-reads everything, exactly as after a
// lost link subscription: one recovery path for any lost event.
type mergedEvents []EventSource

func (m mergedEvents) Subscribe(ctx context.Context) (<-chan Event, error) {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	var subs []<-chan Event
	for _, s := range m {
		ch, err := s.Subscribe(ctx)
		if err != nil {
			cancel()
			for _, c := range subs {
				for range c { // its source closes it once ctx ends
				}
			}
			return nil, err
		}
		subs = append(subs, ch)
	}

	out := make(chan Event, 1024)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		cause error // why the first subscription ended
	)
	ended := func(err error) {
		once.Do(func() { cause = err })
		cancel()
	}
	for _, ch := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Read to the end whatever happens, so that no source is left
			// blocked on a send.
			for ev := range ch {
				if ev.Err != nil {
					ended(ev.Err)
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
				}
			}
			if ctx.Err() == nil {
				ended(errors.New("event subscription closed"))
			}
		}()
	}
	go func() {
		wg.Wait()
		defer close(out)
		if parent.Err() != nil {
			return
		}
		select {
		case out <- Event{Err: cause}:
		case <-parent.Done():
		}
	}()
	return out, nil
}
