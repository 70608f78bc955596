package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/node"
)

// Carrier propagation on a Pacemaker node.
//
// A pass-through with carrier = true needs a process that reacts to link
// events for as long as the resource runs; a monitor must never do it (it
// runs every 10 s, and a monitor that changes links is a monitor that can
// fail for what it did). So start launches a detached copy of the agent
// (argument CarrierArg; the same propagator as `bridgectl carrier` and
// `bridgectl watch`) in its own session, with the action's environment;
// reload-agent makes it re-read the file (SIGHUP); stop ends it (SIGTERM:
// it brings up the trunks it took down) and brings up whatever a killed
// one left down. A monitor starts it again if it died, with a warning.
//
// The running propagator holds an exclusive flock on carrierPidFile in the
// state directory, which names its pid: a second copy (a monitor racing a
// start) finds it held and exits; the agent knows one runs by the lock,
// not by a pid that may have been reused, and checks /proc/PID/cmdline
// before signalling. The lock dies with the process: nothing to clean up
// after a SIGKILL of either.

// CarrierArg is the argument the agent re-executes itself with to run the
// propagator.
const CarrierArg = "carrier-propagate"

// carrierPidFile is the propagator's lock and pid, in the state directory.
const carrierPidFile = "ocf-bridge.carrier.pid"

// carrierStopWait bounds the wait for a propagator to exit after SIGTERM
// (it brings its downs up first: one request per trunk), and again after
// SIGKILL.
const carrierStopWait = 5 * time.Second

// carrierLauncher starts the detached propagator; tests replace it.
type carrierLauncher interface {
	Launch(r *ocf.Request) error
	// Ours reports whether pid runs the propagator (its command line).
	Ours(pid int) bool
}

// selfLauncher is the real launcher: this executable with CarrierArg.
type selfLauncher struct{}

func (selfLauncher) Launch(r *ocf.Request) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, CarrierArg)
	cmd.Env = r.Environ
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}

func (selfLauncher) Ours(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	self, err := os.Executable()
	if err != nil || len(args) < 2 {
		return false
	}
	return args[1] == CarrierArg && filepath.Base(args[0]) == filepath.Base(self)
}

// carrierPid is the pid of the propagator running for state directory
// dir: 0 if none holds the lock.
func carrierPid(dir string) (int, error) {
	f, err := os.Open(filepath.Join(dir, carrierPidFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err == nil {
		return 0, nil // nobody holds it; closing f releases ours
	} else if !errors.Is(err, unix.EWOULDBLOCK) {
		return 0, fmt.Errorf("%s: %w", f.Name(), err)
	}
	// Held: the holder writes its pid right after taking the lock.
	for range 100 {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			return 0, err
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			return pid, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s is locked but names no pid", f.Name())
}

// waitCarrierExit waits at most d for the lock on dir's pid file to be
// released (the process gone): a blocking flock, not a poll.
func waitCarrierExit(dir string, d time.Duration) bool {
	f, err := os.Open(filepath.Join(dir, carrierPidFile))
	if err != nil {
		return true
	}
	done := make(chan error, 1)
	go func() { done <- unix.Flock(int(f.Fd()), unix.LOCK_SH) }()
	select {
	case err := <-done:
		f.Close()
		return err == nil
	case <-time.After(d):
		f.Close() // the goroutine's flock fails with EBADF, or gets the lock and loses it
		return false
	}
}

// ensureCarrier makes the propagator run for cfg if cfg has a pair with
// carrier = true: started if none runs; with reread (start, reload) one
// that runs is told to re-read the file (it may be left from before, or
// the file changed). One that runs for a file without such a pair is told
// too: it then brings its downs up and idles until stop.
func (b *bridge) ensureCarrier(r *ocf.Request, dir string, cfg *config.Config, reread bool) {
	pid, err := carrierPid(dir)
	if err != nil {
		r.Log.Warningf("carrier propagation: %v", err)
		return
	}
	pairs := len(bridgectl.CarrierPairs(cfg))
	switch {
	case pid != 0 && !reread:
	case pid != 0 && b.carrier.Ours(pid):
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			r.Log.Warningf("carrier propagation: telling pid %d to re-read the file: %v", pid, err)
		}
	case pid != 0:
		r.Log.Warningf("carrier propagation: %s is held by pid %d, which is not the propagator: left alone", carrierPidFile, pid)
	case pairs > 0:
		if !reread {
			r.Log.Warningf("carrier propagation was not running (it died?): starting it again")
		}
		if err := b.carrier.Launch(r); err != nil {
			r.Log.Warningf("carrier propagation not started: %v", err)
			return
		}
		r.Log.Infof("carrier propagation started for %d pass-throughs", pairs)
	}
}

// stopCarrier ends the propagator of dir, if one runs: SIGTERM, then
// SIGKILL if it has not exited within carrierStopWait. It must run before
// the stop takes the namespace's lock: the propagator takes it to bring
// its downs up.
func (b *bridge) stopCarrier(r *ocf.Request, dir string) {
	pid, err := carrierPid(dir)
	if err != nil {
		r.Log.Warningf("carrier propagation: %v", err)
		return
	}
	if pid == 0 {
		return
	}
	if !b.carrier.Ours(pid) {
		r.Log.Warningf("carrier propagation: %s is held by pid %d, which is not the propagator: not signalled", carrierPidFile, pid)
		return
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			r.Log.Warningf("carrier propagation: %v to pid %d: %v", sig, pid, err)
		}
		if waitCarrierExit(dir, carrierStopWait) {
			r.Log.Infof("carrier propagation stopped (pid %d)", pid)
			return
		}
	}
	r.Log.Warningf("carrier propagation: pid %d still holds %s after SIGKILL", pid, carrierPidFile)
}

// restoreCarrier brings up what a killed propagator left down.
func restoreCarrier(r *ocf.Request, n node.Node) {
	up, err := n.RestoreCarrier()
	if len(up) > 0 {
		r.Log.Infof("trunks %s up again (taken down by carrier propagation)", strings.Join(up, ", "))
	}
	if err != nil {
		r.Log.Warningf("bringing up the trunks carrier propagation took down: %v", err)
	}
}

// runCarrier is the detached propagator (CarrierArg): it takes the lock,
// names itself in the pid file, and propagates for the configuration file
// until SIGTERM, re-reading it on SIGHUP.
func runCarrier(agent *ocf.Agent) int {
	env := ocf.ParseEnv(CarrierArg, os.Environ(), agent.Params)
	log := ocf.NewLogger(os.Stderr, agent.Name, env.Instance, CarrierArg, env.Debug)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	o := bridgectl.Options{NetNS: env.Param(node.ParamNetNS), StateDir: env.Param(node.ParamStateDir)}
	m, err := bridgectl.Open(o)
	if err != nil {
		log.Errorf("%v", err)
		return 1
	}
	defer m.Close()
	f, err := os.OpenFile(filepath.Join(m.Dir(), carrierPidFile), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		log.Errorf("%v", err)
		return 1
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		log.Infof("another propagator runs (%v): exiting", err)
		return 0
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		log.Errorf("%s: %v", f.Name(), err)
		return 1
	}

	path := env.Param(node.ParamConfig)
	cfg, _, err := node.LoadConfig(path)
	if err != nil {
		log.Errorf("%v", err)
		return 1
	}
	p := bridgectl.NewPropagator(m, m.Events())
	p.Logf = log.Infof
	go func() {
		for range hup {
			c, _, err := node.LoadConfig(path)
			if err != nil {
				log.Errorf("reload refused, keeping the last good configuration: %v", err)
				continue
			}
			p.Reload(c)
		}
	}()
	if err := p.Run(ctx, cfg); err != nil {
		log.Errorf("%v", err)
		return 1
	}
	return 0
}
