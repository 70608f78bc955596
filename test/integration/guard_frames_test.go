//go:build integration

package integration

import (
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// guardWindow is how many frames may be in flight (sent, neither arrived
// nor dropped by the guard yet): far below the kernel's backlog (1000).
const guardWindow = 200

// A fresh apply is blocked (fail closed): real frames sent into both trunks
// never come out and the guard's drop counter (tcguard status) counts every
// one. Unblocked, every frame crosses both ways with the translated tags.
// Blocked again, none. Block and unblock are idempotent.
func TestGuardFramesBlockUnblock(t *testing.T) {
	n := guardEnvInt(t, "QB_GUARD_FRAMES_TRANSLATIONS", 4)
	frames := guardEnvInt(t, "QB_GUARD_FRAMES", 1000) // per side and phase
	e := newGuardEnv(t)
	cfg := e.config(t, n)
	e.apply(t, cfg)
	s := e.wantStatus(t, cfg, "blocked", 2*n)
	if !s.Dropping || s.OpenMarker || !s.Armed || s.DroppedPackets != 0 || s.BoundTotal != 2*n {
		t.Fatalf("fresh apply: %+v", s)
	}
	e.waitOperUp(t, guardPorts(n))
	p := e.openPeers(t)

	blocked := func(phase string) {
		t.Helper()
		base := e.wantStatus(t, cfg, "blocked", 2*n).DroppedPackets
		dropped := func() int { return int(e.status(t, cfg).DroppedPackets - base) }
		p.sendWindowed(t, phase, n, frames, dropped)
		guardWait(t, phase+": guard drop counter", func() bool { return dropped() >= 2*frames })
		// The ports' egress is bound too, so the counter also counts what
		// the kernel itself sends out of a port while blocked: every frame
		// sent must be counted, and none may arrive.
		if d := dropped(); d < 2*frames {
			t.Errorf("%s: the guard dropped %d frames, %d were sent", phase, d, 2*frames)
		}
		q, v, problems := p.rx.count(phase)
		if q+v != 0 || len(problems) != 0 {
			t.Errorf("%s: %d of %d frames from q0p and %d of %d from v0p crossed a blocked node %v", phase, q, frames, v, frames, problems)
		}
		t.Logf("%s: %d frames sent into each side, %d dropped by the guard, %d came out", phase, frames, dropped(), q+v)
	}

	blocked("blocked")

	e.guard(t, "unblock", cfg)
	e.guard(t, "unblock", cfg) // idempotent
	if s := e.wantStatus(t, cfg, "open", 2*n); s.Dropping || !s.OpenMarker {
		t.Fatalf("unblocked: %+v", s)
	}
	p.probe(t, n)
	p.sendWindowed(t, "open", n, frames, func() int { return p.rx.total("open") })
	guardWait(t, "open: every frame across", func() bool { return p.rx.total("open") >= 2*frames })
	q, v, problems := p.rx.count("open")
	if q != frames || v != frames || len(problems) != 0 {
		t.Errorf("open: %d of %d frames crossed q0p->v0p, %d of %d v0p->q0p; problems: %v", q, frames, v, frames, problems)
	}
	t.Logf("open: %d of %d frames crossed q0p->v0p (QinQ 100.i -> VLAN i), %d of %d v0p->q0p", q, frames, v, frames)

	e.guard(t, "block", cfg)
	e.guard(t, "block", cfg) // idempotent
	if s := e.wantStatus(t, cfg, "blocked", 2*n); !s.Dropping || s.OpenMarker {
		t.Fatalf("blocked again: %+v", s)
	}
	blocked("blocked again")
}

// waitOperUp waits until the links are operationally up: only then do
// frames reach them.
func (e *guardEnv) waitOperUp(t *testing.T, names []string) {
	t.Helper()
	for _, name := range names {
		guardWait(t, name+" up", func() bool {
			l, err := e.ns.Link.LinkByName(name)
			return err == nil && l.Attrs().OperState == netlink.OperUp
		})
	}
}

// sendWindowed sends frames from each side, round robin over translations
// 1..n, never more than guardWindow ahead of progress (frames that came out,
// or that the guard dropped).
func (p *guardPeers) sendWindowed(t *testing.T, phase string, n, frames int, progress func() int) {
	t.Helper()
	done := 0
	for seq := range frames {
		for side := range 2 {
			k := 2*seq + side
			if k >= done+guardWindow {
				guardWait(t, phase+": frames in flight", func() bool {
					done = progress()
					return k < done+guardWindow
				})
			}
			p.send(t, guardFrame(phase, side, seq, 1+seq%n), side)
		}
	}
}

// probe sends a frame each way on every translation until one crosses each
// way: the opened bridges forward.
func (p *guardPeers) probe(t *testing.T, n int) {
	t.Helper()
	seq := 0
	guardWait(t, "first frames across the opened node", func() bool {
		for side := range 2 {
			p.send(t, guardFrame("probe", side, seq, 1+seq%n), side)
		}
		seq++
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if q, v, _ := p.rx.count("probe"); q > 0 && v > 0 {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	})
}
