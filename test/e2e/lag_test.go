//go:build e2e

package e2e

import (
	"slices"
	"sync"
	"time"

	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// lagInterval is how often the LAG watch reads the switches' bonds: a
// /proc file each, cheap beside the traffic; it times the bundling to
// within this.
const lagInterval = 50 * time.Millisecond

// lagWatch reads both switches' LAGs and records, with the time, whose
// trunks carry each bundle: the members in the active aggregator,
// collecting and distributing (testbed.Bonding.Carrying). A member is the
// switch port named after its node.
type lagWatch struct {
	mu      sync.Mutex
	samples []lagSample // on change only
	errs    int
	stop    chan struct{}
	done    chan struct{}
}

type lagSample struct {
	at   time.Time
	q, v []string // the members carrying the QinQ and the VLAN switch's LAG
}

func newLagWatch(tp *topology) *lagWatch {
	w := &lagWatch{stop: make(chan struct{}), done: make(chan struct{})}
	sws := []*testbed.NS{{Name: tp.swq.name, Handle: tp.swq.h}, {Name: tp.swv.name, Handle: tp.swv.h}}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(lagInterval)
		defer tick.Stop()
		for {
			var carrying [2][]string
			ok := true
			for i, sw := range sws {
				b, err := testbed.ReadBonding(sw, lagName)
				if err != nil {
					ok = false
					break
				}
				carrying[i] = b.Carrying()
			}
			w.mu.Lock()
			if !ok {
				w.errs++
			} else if n := len(w.samples); n == 0 || !slices.Equal(w.samples[n-1].q, carrying[0]) || !slices.Equal(w.samples[n-1].v, carrying[1]) {
				w.samples = append(w.samples, lagSample{time.Now(), carrying[0], carrying[1]})
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *lagWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		<-w.done
	}
}

// bundledAfter returns when both LAGs were first carried by node's trunks
// alone at t or later (t itself if they already were).
func (w *lagWatch) bundledAfter(node string, t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	only := []string{node}
	for i, s := range w.samples {
		// A sample before t counts if it is the one in effect at t.
		if s.at.Before(t) && i+1 < len(w.samples) && w.samples[i+1].at.Before(t) {
			continue
		}
		if slices.Equal(s.q, only) && slices.Equal(s.v, only) {
			if s.at.Before(t) {
				return t, true
			}
			return s.at, true
		}
	}
	return time.Time{}, false
}

// since lists the changes at t or later, for the log.
func (w *lagWatch) since(t time.Time) []lagSample {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []lagSample
	for _, s := range w.samples {
		if !s.at.Before(t) {
			out = append(out, s)
		}
	}
	return out
}
