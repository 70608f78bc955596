package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/carrier"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/ocf"
)

const cfgCarrier = cfgAcme + `
[[passthrough]]
a = "eth0"
b = "eth1"
protocols = ["lacp"]
carrier = true
`

// fakeLauncher counts launches instead of starting a propagator, and
// takes the pids in ours for the propagator's.
type fakeLauncher struct {
	mu       sync.Mutex
	launches int
	ours     map[int]bool
}

func (l *fakeLauncher) Launch(r *ocf.Request) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.launches++
	return nil
}

func (l *fakeLauncher) Ours(pid int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ours[pid]
}

func (l *fakeLauncher) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.launches
}

func carrierHarness(t *testing.T, cfg string) (*harness, *fakeLauncher) {
	h := newHarness(t, cfg)
	l := &fakeLauncher{ours: map[int]bool{}}
	h.agent = newAgent(&bridge{open: h.k.Open, carrier: l})
	return h, l
}

// lockHolderEnv makes the test binary a stand-in propagator: it takes the
// pid file's lock, names itself, says so on stdout and waits for a signal.
const lockHolderEnv = "QB_TEST_CARRIER_LOCK_HOLDER"

func TestMain(m *testing.M) {
	if path := os.Getenv(lockHolderEnv); path != "" {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil || unix.Flock(int(f.Fd()), unix.LOCK_EX) != nil {
			os.Exit(3)
		}
		f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
		os.Stdout.WriteString("locked\n")
		select {} // until a signal ends it
	}
	os.Exit(m.Run())
}

// holdLock starts a stand-in propagator of h's namespace and returns it
// once it holds the lock.
func holdLock(t *testing.T, h *harness) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(self)
	c.Env = append(os.Environ(), lockHolderEnv+"="+filepath.Join(h.k.Dir, carrierPidFile))
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("lock holder: %q, %v", buf, err)
	}
	return c
}

func TestCarrierStartsOnlyWithCarrierPairs(t *testing.T) {
	for _, c := range []struct {
		name, cfg string
		launches  int
	}{{"carrier pair", cfgCarrier, 1}, {"none", cfgAcme, 0}} {
		t.Run(c.name, func(t *testing.T) {
			h, l := carrierHarness(t, c.cfg)
			h.started()
			if got := l.count(); got != c.launches {
				t.Fatalf("launches after start: %d, want %d", got, c.launches)
			}
			h.want("reload-agent", nil, 0)
			if got := l.count(); got != 2*c.launches {
				t.Fatalf("launches after reload-agent with none running: %d, want %d", got, 2*c.launches)
			}
		})
	}
}

// A monitor that finds the propagator dead starts it, with a warning; one
// that finds it running does not.
func TestCarrierMonitorRestarts(t *testing.T) {
	h, l := carrierHarness(t, cfgCarrier)
	h.started()
	res := h.want("monitor", recurring, 0)
	if l.count() != 2 || !strings.Contains(res.log, "not running") {
		t.Fatalf("monitor with no propagator: %d launches, log:\n%s", l.count(), res.log)
	}
	c := holdLock(t, h)
	l.ours[c.Process.Pid] = true
	h.want("monitor", recurring, 0)
	if l.count() != 2 {
		t.Fatalf("monitor with a propagator running: launched another")
	}
}

// stop ends a running propagator (SIGTERM) and waits for it; a process
// that is not the propagator is never signalled.
func TestCarrierStop(t *testing.T) {
	for _, ours := range []bool{true, false} {
		t.Run(map[bool]string{true: "ours", false: "not ours"}[ours], func(t *testing.T) {
			h, l := carrierHarness(t, cfgCarrier)
			h.started()
			c := holdLock(t, h)
			l.ours[c.Process.Pid] = ours
			res := h.want("stop", nil, 0)
			pid, _ := carrierPid(h.k.Dir)
			if ours && pid != 0 {
				t.Fatalf("propagator still running after stop:\n%s", res.log)
			}
			if !ours && pid != c.Process.Pid {
				t.Fatalf("a process that is not the propagator was stopped (pid %d):\n%s", pid, res.log)
			}
		})
	}
}

// stop brings up the trunks a killed propagator left down (its record),
// and leaves an operator's down alone.
func TestCarrierStopRestores(t *testing.T) {
	h, _ := carrierHarness(t, cfgCarrier)
	h.started()
	eth1 := h.k.Link("eth1").Index
	h.k.SetLink("eth1", func(o *plan.Observed) { o.Up = false })
	h.k.SetLink("eth0", func(o *plan.Observed) { o.Up = false }) // the operator's
	rec := carrier.FormatRecord([]carrier.Down{{Index: eth1, Trunk: "eth1", Cause: "eth0"}})
	if err := os.WriteFile(filepath.Join(h.k.Dir, carrier.RecordFile), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	h.want("stop", nil, 0)
	if !h.k.Link("eth1").Up {
		t.Fatal("eth1, down by carrier propagation, left down by stop")
	}
	if h.k.Link("eth0").Up {
		t.Fatal("eth0, the operator's down, brought up by stop")
	}
}
