package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/internal/statedir"
	"github.com/qinqbridge/qinqbridge/ocf"
)

// TestOptionsLock: every action that may change the namespace holds its
// lock, for half its timeout; read-only ones never wait for it.
func TestOptionsLock(t *testing.T) {
	for _, tc := range []struct {
		action  string
		timeout time.Duration
		lock    bool
		wait    time.Duration
	}{
		{ocf.ActionStart, 30 * time.Second, true, 15 * time.Second},
		{ocf.ActionStop, 30 * time.Second, true, 15 * time.Second},
		{ocf.ActionPromote, 15 * time.Second, true, 7500 * time.Millisecond},
		{ocf.ActionDemote, 0, true, defaultLockWait},
		{ocf.ActionReloadAgent, 20 * time.Second, true, 10 * time.Second},
		{"flush-restore", 15 * time.Second, true, 7500 * time.Millisecond},
		{ocf.ActionMonitor, 30 * time.Second, false, 0},
		{ocf.ActionValidateAll, 30 * time.Second, false, 0},
		{ocf.ActionNotify, 30 * time.Second, false, 0},
	} {
		environ := []string{"OCF_ROOT=/usr/lib/ocf"}
		if tc.timeout > 0 {
			environ = append(environ, fmt.Sprintf("OCF_RESKEY_CRM_meta_timeout=%d", tc.timeout.Milliseconds()))
		}
		r := &ocf.Request{Env: ocf.ParseEnv(tc.action, environ, Params(false))}
		o := Options(r)
		if o.Lock != tc.lock || o.LockWait != tc.wait {
			t.Errorf("%s (timeout %v): lock %v wait %v, want %v %v", tc.action, tc.timeout, o.Lock, o.LockWait, tc.lock, tc.wait)
		}
		if b := ocf.ActionBudget(tc.timeout); tc.lock && b > 0 && o.LockWait >= b {
			t.Errorf("%s: lock wait %v not below the action's budget %v", tc.action, o.LockWait, b)
		}
	}
}

// TestCheckNetNSOneRule: the agents refuse exactly the names bridgectl and
// the CLIs refuse.
func TestCheckNetNSOneRule(t *testing.T) {
	for _, name := range []string{"../x", "a/b", ".", "..", "-x", "default", strings.Repeat("n", 256)} {
		if err := CheckNetNS(name); !errors.Is(err, ErrBadNetNS) || !errors.Is(err, statedir.ErrBadNetNS) || !Absent(err) {
			t.Errorf("%q: %v", name, err)
		}
		if _, err := bridgectl.Open(bridgectl.Options{NetNS: name, StateDir: t.TempDir()}); !errors.Is(err, ErrBadNetNS) {
			t.Errorf("bridgectl.Open(%q): %v", name, err)
		}
	}
}

// TestRemoveStateBadName: a name that is not a namespace's has no state
// directory: nothing is removed, and DirFor leads nowhere.
func TestRemoveStateBadName(t *testing.T) {
	root := filepath.Join(t.TempDir(), "run")
	victim := filepath.Join(root, "victim")
	os.MkdirAll(victim, 0o700)
	p := filepath.Join(victim, "marker")
	os.WriteFile(p, nil, 0o600)
	for _, ns := range []string{"../run/victim", "../../x", ".."} {
		o := bridgectl.Options{NetNS: ns, StateDir: filepath.Join(root, "sub")}
		if err := RemoveState(o, "marker"); err != nil {
			t.Errorf("RemoveState(%q): %v", ns, err)
		}
		if err := RemoveFile(filepath.Join(DirFor(o), "marker")); err == nil {
			if _, serr := os.Stat(p); serr != nil {
				t.Errorf("RemoveFile(DirFor(%q)) removed the victim", ns)
			}
		}
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("victim removed: %v", err)
	}
	o := bridgectl.Options{NetNS: "victim", StateDir: root}
	if err := RemoveState(o, "marker"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("own marker not removed: %v", err)
	}
}

// TestOpenTakesLock: a mutating action's Open waits for the namespace's
// lock (here held by "another command") and fails naming it after its
// bounded wait; a monitor's Open does not wait.
func TestOpenTakesLock(t *testing.T) {
	root := filepath.Join(t.TempDir(), "run")
	d, _ := statedir.New(root, "")
	unlock, err := d.Lock(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	env := []string{"OCF_ROOT=/usr/lib/ocf", "OCF_RESKEY_state_dir=" + root, "OCF_RESKEY_CRM_meta_timeout=200"}
	start := &ocf.Request{Env: ocf.ParseEnv(ocf.ActionStart, env, Params(false))}
	if _, err := Open(Options(start)); err == nil || !strings.Contains(err.Error(), "another qinqbridge command holds the lock of the current namespace") {
		t.Fatalf("start while the lock is held: %v", err)
	}
	monitor := &ocf.Request{Env: ocf.ParseEnv(ocf.ActionMonitor, env, Params(false))}
	n, err := Open(Options(monitor))
	if err != nil {
		t.Fatalf("monitor while the lock is held: %v", err)
	}
	n.Close()
}
