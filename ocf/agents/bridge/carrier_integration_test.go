//go:build integration

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/carrier"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/internal/statedir"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/agenttest"
)

const itCarrierConfig = `
[[translation]]
name = "acme"
a = { parent = "qtrunk", outer = 100, inner = 200 }
b = { parent = "vtrunk", vlan = 300 }

[[passthrough]]
a = "qtrunk"
b = "vtrunk"
protocols = ["lacp"]
carrier = true
`

// carrierPatience bounds each wait on a condition (TCG is slow; it only
// expires when something is broken).
const carrierPatience = 2 * time.Minute

// eventually waits for cond, checking it every 10 ms.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(carrierPatience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The agent's propagator on the real kernel: start runs it detached, it
// propagates on the promoted node, a monitor restarts it after a SIGKILL
// (which leaves its down in place, recorded), and stop ends it and brings
// the trunk up.
func TestKernelCarrierPropagation(t *testing.T) {
	e := newITEnv(t, itCarrierConfig)
	dir, err := statedir.New(e.env.Params["state_dir"], e.ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	e.want(t, "start", nil, 0)
	t.Cleanup(func() { e.env.Run(t, e.bin, "stop") })
	pid := e.propagator(t, dir.Path(), 0)

	// Promote: open the group's guard as the tcguard agent does.
	m, err := bridgectl.Open(bridgectl.Options{NetNS: e.ns.Name, StateDir: e.env.Params["state_dir"]})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg, err := config.Parse(e.cfg, []byte(itCarrierConfig))
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.GroupGuard(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := m.Unblock(g, ""); err != nil {
		t.Fatal(err)
	}
	e.setUp(t, "qpeer", false)
	eventually(t, "vtrunk down after qtrunk lost its carrier", func() bool { return !e.up(t, "vtrunk") })

	// Killed: its down stays (recorded); a monitor starts another, which
	// keeps it down while qtrunk is lost and brings it up when it returns.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the propagator gone", func() bool { p, _ := carrierPid(dir.Path()); return p == 0 })
	res := e.want(t, "monitor", agenttest.Recurring, 0)
	if !strings.Contains(res.Stderr, "not running") {
		t.Fatalf("monitor restarted the propagator without a warning:\n%s", res.Stderr)
	}
	e.propagator(t, dir.Path(), pid)
	if e.up(t, "vtrunk") {
		t.Fatal("vtrunk up while qtrunk is still lost")
	}
	e.setUp(t, "qpeer", true)
	eventually(t, "vtrunk up after qtrunk's return", func() bool { return e.up(t, "vtrunk") })

	// stop ends it and brings up what it had down.
	e.setUp(t, "qpeer", false)
	eventually(t, "vtrunk down again", func() bool { return !e.up(t, "vtrunk") })
	e.want(t, "stop", nil, 0)
	if p, _ := carrierPid(dir.Path()); p != 0 {
		t.Fatalf("propagator %d still running after stop", p)
	}
	if !e.up(t, "vtrunk") {
		t.Fatal("vtrunk left down after stop")
	}
	if _, err := os.Stat(filepath.Join(dir.Path(), carrier.RecordFile)); err == nil {
		t.Fatal("carrier record left after stop")
	}
}

// propagator waits for a propagator other than old to hold the lock and
// checks it is the agent run with CarrierArg.
func (e *itEnv) propagator(t *testing.T, dir string, old int) int {
	t.Helper()
	var pid int
	eventually(t, "the propagator running", func() bool {
		pid, _ = carrierPid(dir)
		return pid != 0 && pid != old
	})
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(string(b), "\x00")
	if len(args) < 2 || args[1] != CarrierArg || filepath.Base(args[0]) != filepath.Base(e.bin) {
		t.Fatalf("pid %d holding the lock is %q", pid, args)
	}
	return pid
}

func (e *itEnv) up(t *testing.T, name string) bool {
	t.Helper()
	return e.link(t, name).Attrs().RawFlags&unix.IFF_UP != 0
}

func (e *itEnv) setUp(t *testing.T, name string, up bool) {
	t.Helper()
	var err error
	if up {
		err = e.ns.Link.LinkSetUp(e.link(t, name))
	} else {
		err = e.ns.Link.LinkSetDown(e.link(t, name))
	}
	if err != nil {
		t.Fatal(err)
	}
}
