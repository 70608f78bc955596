//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tcguard acts on no file that tcguard status calls invalid. With an
// invalid file, unblock exits 2 naming FILE:LINE and the guard stays
// blocked: real frames sent into both trunks are all dropped. block with
// an invalid file that names another [guard] block still closes the block
// recorded as applied (fail closed), says so, and exits 2: frames are
// dropped again.
func TestGuardInvalidFileActsOnNothing(t *testing.T) {
	const n, frames = 2, 200
	e := newGuardEnv(t)
	cfg := e.config(t, n)
	e.apply(t, cfg)
	e.wantStatus(t, cfg, "blocked", 2*n)
	e.waitOperUp(t, guardPorts(n))
	p := e.openPeers(t)

	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A second translation on the ports of the first: invalid at its a.
	dup := "\n[[translation]]\nname = \"dup\"\na = { parent = \"q0\", outer = 100, inner = 1 }\nb = { parent = \"v0\", vlan = 4000 }\n"
	bad := filepath.Join(e.dir, "bad.toml")
	badLine := strings.Count(string(good), "\n") + 4 // the a = line of dup
	if err := os.WriteFile(bad, append(append([]byte(nil), good...), dup...), 0o644); err != nil {
		t.Fatal(err)
	}
	badOther := filepath.Join(e.dir, "bad-other-block.toml")
	if err := os.WriteFile(badOther, append([]byte("[guard]\nblock = 7\n"), append(append([]byte(nil), good...), dup...)...), 0o644); err != nil {
		t.Fatal(err)
	}

	blocked := func(phase string) {
		t.Helper()
		s := e.wantStatus(t, cfg, "blocked", 2*n)
		if !s.Dropping || s.OpenMarker {
			t.Fatalf("%s: %+v", phase, s)
		}
		dropped := func() int { return int(e.status(t, cfg).DroppedPackets - s.DroppedPackets) }
		p.sendWindowed(t, phase, n, frames, dropped)
		guardWait(t, phase+": guard drop counter", func() bool { return dropped() >= 2*frames })
		if q, v, problems := p.rx.count(phase); q+v != 0 || len(problems) != 0 {
			t.Errorf("%s: %d frames from q0p and %d from v0p crossed a blocked node %v", phase, q, v, problems)
		}
	}

	r := e.exec(t, "tcguard", "unblock", "-c", bad)
	if want := fmt.Sprintf("%s:%d: ", bad, badLine); r.code != 2 || !strings.Contains(r.stderr, want) {
		t.Fatalf("tcguard unblock with an invalid file: exit %d, want 2 with %q\n%s%s", r.code, want, r.stdout, r.stderr)
	}
	blocked("after unblock of an invalid file")

	e.guard(t, "unblock", cfg)
	e.wantStatus(t, cfg, "open", 2*n)
	p.probe(t, n)

	r = e.exec(t, "tcguard", "block", "-c", badOther)
	if r.code != 2 || !strings.Contains(r.stderr, "blocked: group default, tc block 29026") || !strings.Contains(r.stderr, "applied configuration") {
		t.Fatalf("tcguard block with an invalid file: exit %d, want 2 and the applied block 29026 closed\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("tcguard block -c %s: exit %d\n%s", filepath.Base(badOther), r.code, r.stderr)
	blocked("after block of an invalid file")
}
