package traffic

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// Report is a session's result.
type Report struct {
	DurationMs float64  `json:"duration_ms"`
	Flows      []Stats  `json:"flows"`
	Errors     []string `json:"errors,omitempty"` // send or receive errors (first few)
	// SocketDrops counts, per endpoint, frames the receiving socket's full
	// buffer dropped: losses of the test tool itself, not of the network.
	SocketDrops map[string]int `json:"socket_drops"`
}

// Flow returns the stats of the flow with that name.
func (r Report) Flow(name string) (Stats, bool) {
	for _, s := range r.Flows {
		if s.Flow == name {
			return s, true
		}
	}
	return Stats{}, false
}

// Session is traffic running between endpoints.
type Session struct {
	start     time.Time
	flows     map[uint16]*flowState
	order     []*flowState
	stopSend  chan struct{}
	stopRecv  atomic.Bool
	lastRecv  atomic.Int64 // ns since start of the last frame of ours received
	sendWG    sync.WaitGroup
	recvWG    sync.WaitGroup
	errMu     sync.Mutex
	errs      []string
	sendEnded time.Duration
	eps       []*Endpoint
}

// sendTick is how often a sender wakes up to send what is due.
const sendTick = time.Millisecond

// Start starts a receiver on every endpoint, then a sender on every
// endpoint some flow comes from. Flow IDs must be unique and non-zero
// (0 is Announce's).
func Start(eps []*Endpoint, flows []Flow) (*Session, error) {
	s := &Session{flows: map[uint16]*flowState{}, stopSend: make(chan struct{})}
	byName := map[string]*Endpoint{}
	for _, e := range eps {
		byName[e.Name] = e
	}
	for _, f := range flows {
		if f.ID == 0 || s.flows[f.ID] != nil {
			return nil, fmt.Errorf("flow %s: id %d zero or not unique", f.Name, f.ID)
		}
		if byName[f.From] == nil || byName[f.To] == nil || f.Rate <= 0 {
			return nil, fmt.Errorf("flow %s: unknown endpoint %s or %s, or rate %d", f.Name, f.From, f.To, f.Rate)
		}
		fs := newFlowState(f)
		s.flows[f.ID] = fs
		s.order = append(s.order, fs)
	}
	for _, e := range eps {
		e.drops() // reset
	}
	s.eps = eps
	s.start = time.Now()
	// The receivers' sockets are bound already (Open): they receive from
	// here on, before any sender starts.
	for _, e := range eps {
		s.recvWG.Add(1)
		go s.receive(e)
	}
	for _, e := range eps {
		var mine []*flowState
		for _, fs := range s.order {
			if fs.flow.From == e.Name {
				mine = append(mine, fs)
			}
		}
		if len(mine) > 0 {
			s.sendWG.Add(1)
			go s.send(e, mine)
		}
	}
	return s, nil
}

// Since is the time since the session started.
func (s *Session) Since() time.Duration { return time.Since(s.start) }

func (s *Session) fail(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if len(s.errs) < 5 {
		s.errs = append(s.errs, err.Error())
	}
}

// send sends each flow's frames when they are due, at its rate on average.
func (s *Session) send(e *Endpoint, flows []*flowState) {
	defer s.sendWG.Done()
	buf := make([]byte, 0, 128)
	t := time.NewTicker(sendTick)
	defer t.Stop()
	for {
		select {
		case <-s.stopSend:
			return
		case <-t.C:
		}
		// Round robin over the flows while any is behind, so that a sender
		// that was held up (TCG, a full socket) catches up on all flows
		// alike instead of one after the other.
		now := time.Since(s.start)
		for behind := true; behind; {
			behind = false
			for _, fs := range flows {
				if len(fs.sentNs) >= int(now.Seconds()*float64(fs.flow.Rate)) {
					continue
				}
				behind = true
				p := payload{Flow: fs.flow.ID, Seq: uint64(len(fs.sentNs)), SentNs: int64(time.Since(s.start))}
				fs.sentNs = append(fs.sentNs, p.SentNs)
				if err := e.send(fs.flow.frame(buf, p)); err != nil && !errors.Is(err, errNoBufs) {
					s.fail(fmt.Errorf("send on %s: %w", e.Name, err))
				}
			}
		}
	}
}

// receive accounts every frame of ours arriving at e.
func (s *Session) receive(e *Endpoint) {
	defer s.recvWG.Done()
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for !s.stopRecv.Load() {
		b, err := e.recv(buf, oob)
		if err != nil {
			s.fail(fmt.Errorf("receive on %s: %w", e.Name, err))
			return
		}
		if b == nil {
			continue
		}
		fr, err := testbed.ParseFrame(b)
		if err != nil || fr.EtherType != testbed.EtherTypeTest {
			continue
		}
		p, err := parsePayload(fr.Payload)
		if errors.Is(err, errNotOurs) || p.Flow == 0 {
			continue
		}
		s.lastRecv.Store(int64(time.Since(s.start)))
		fs := s.flows[p.Flow]
		switch {
		case err != nil || fs == nil:
			if fs != nil {
				fs.bad.Add(1)
			}
		case fs.flow.To != e.Name:
			fs.looped.Add(1)
		case !testbed.SameTags(fr.Tags, fs.flow.WantTags) || fr.Src.String() != fs.flow.Src.String() || fr.Dst.String() != fs.flow.Dst.String():
			fs.bad.Add(1)
		default:
			fs.received(p.Seq)
		}
	}
}

// Stop stops the senders, waits until nothing has arrived for quiet (or
// at most maxDrain), stops the receivers and reports.
func (s *Session) Stop(quiet, maxDrain time.Duration) Report {
	close(s.stopSend)
	s.sendWG.Wait()
	s.sendEnded = time.Since(s.start)
	for deadline := time.Now().Add(maxDrain); time.Now().Before(deadline); {
		if time.Since(s.start)-time.Duration(s.lastRecv.Load()) >= quiet {
			break
		}
		time.Sleep(quiet / 4)
	}
	s.stopRecv.Store(true)
	s.recvWG.Wait()
	r := Report{DurationMs: ms(int64(s.sendEnded)), Errors: s.errs, SocketDrops: map[string]int{}}
	for _, e := range s.eps {
		r.SocketDrops[e.Name] = e.drops()
	}
	for _, fs := range s.order {
		r.Flows = append(r.Flows, fs.stats())
	}
	return r
}

// Announce sends one frame from src on e (flow id 0, ignored by receivers),
// so that switches learn src behind e, as a host that sends once and then
// falls silent.
func Announce(e *Endpoint, src, dst []byte, tags []testbed.Tag) error {
	f := Flow{Src: src, Dst: dst, SendTags: tags}
	return e.send(f.frame(nil, payload{}))
}
