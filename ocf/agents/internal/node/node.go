// Package node is what the two qinqbridge OCF agents (ocf/agents/bridge and
// ocf/agents/tcguard) need from bridgectl and tcguard, behind two small
// interfaces, so that each agent's action × kernel-state → exit-code matrix
// is unit-tested on any machine (package fakenode: the real Manager and
// guard over an in-memory kernel), and only the wiring is left to the
// kernel tests.
//
// It also holds what both agents share: their common parameters, opening a
// namespace (a missing one is a state, not an error), loading the
// configuration with the right OCF status for each failure, their state
// files (through package statedir), the namespace lock of their mutating
// actions, and reasons short enough for Pacemaker.
package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/internal/statedir"
	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// Guard is the part of *tcguard.Guard the agents use.
type Guard interface {
	Bind(ifindexes []int) error
	BindTrunks(ifindexes []int) error
	Block() error
	Unblock() error
	Status(ports []int) (tcguard.Status, error)
	StatusTrunks(trunks []int) (tcguard.Status, error)
	Close() error
}

// Node is one network namespace as bridgectl manages it: the part of
// *bridgectl.Manager the agents use, with Guard returning the interface.
type Node interface {
	// Dir is the namespace's state directory (tmpfs): bridgectl's applied
	// record, tcguard's open marker and the agents' own markers live there.
	Dir() string
	Applied() (*config.Config, error)
	Observe(cfg *config.Config, guard bool) (*bridgectl.View, error)
	Apply(cfg *config.Config, raw []byte) (*bridgectl.View, plan.Result, error)
	// Down deletes every link of ours and returns the foreign links it
	// left alone in bridgectl's device groups.
	Down() ([]plan.Foreign, error)
	// SetDown sets links down by ifindex (ports that cannot be guarded).
	SetDown(ifindexes []int) error
	// RemoveFilters deletes the tc datapath's translation filters (ours),
	// leaving the trunks (not ours) as they are.
	RemoveFilters() error
	// Guard opens the guard of block for group (its marker); GroupGuard
	// the guard of cfg's group, knowing the other groups (their filters
	// share the tc datapath's block: Status needs them).
	Guard(block uint32, group string) (Guard, error)
	GroupGuard(cfg *config.Config, group string) (Guard, error)
	// Unblock opens guard g of group and, if it was not open, takes the
	// trunks of the group's pass-throughs down and up so that the
	// switches renegotiate LACP at once; it returns those trunks.
	// RestoreKicked brings up the trunks of such a kick that was killed
	// before it brought them up.
	Unblock(g bridgectl.Unblocker, group string) ([]string, error)
	RestoreKicked() ([]string, error)
	// RestoreCarrier brings up the trunks carrier propagation took down
	// (a propagator that was killed before it could).
	RestoreCarrier() ([]string, error)
	Close()
}

// Opener opens a Node. Open is the real one; tests pass a fake.
type Opener func(o bridgectl.Options) (Node, error)

// netNSDir is where named network namespaces are (ip netns).
const netNSDir = "/run/netns"

// ErrNoNetNS means the namespace named by the netns parameter does not
// exist. Nothing of ours can exist in it: monitor says not running, stop
// has nothing to do, start cannot run on this node (ErrInstalled).
var ErrNoNetNS = errors.New("network namespace does not exist")

// ErrBadNetNS means the netns parameter cannot name a namespace. It is a
// configuration error for start and validate-all, and for monitor and stop
// the same as a namespace that does not exist. It is statedir's: the CLIs
// and bridgectl.Open refuse the same names.
var ErrBadNetNS = statedir.ErrBadNetNS

// CheckNetNS checks the netns parameter's value ("" is the agent's own
// namespace): a name statedir.CheckNetNS accepts, of an existing namespace.
func CheckNetNS(name string) error {
	if name == "" {
		return nil
	}
	if err := statedir.CheckNetNS(name); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(netNSDir, name)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("netns %s: %w (no %s/%s)", name, ErrNoNetNS, netNSDir, name)
	}
	return nil
}

// Absent reports whether err says the namespace is missing or cannot
// exist, so that nothing of ours can be there.
func Absent(err error) bool {
	return errors.Is(err, ErrNoNetNS) || errors.Is(err, ErrBadNetNS)
}

// Open opens the namespace with bridgectl.
func Open(o bridgectl.Options) (Node, error) {
	if err := CheckNetNS(o.NetNS); err != nil {
		return nil, err
	}
	m, err := bridgectl.Open(o)
	if err != nil {
		if o.NetNS != "" && errors.Is(err, fs.ErrNotExist) { // deleted meanwhile
			return nil, fmt.Errorf("%w: %w", ErrNoNetNS, err)
		}
		return nil, err
	}
	return FromManager(m), nil
}

// FromManager is the Node of an open Manager (Open's, or a test's over an
// in-memory kernel). Closing the Node closes m.
func FromManager(m *bridgectl.Manager) Node { return manager{m} }

type manager struct{ *bridgectl.Manager }

func (m manager) Guard(block uint32, group string) (Guard, error) {
	g, err := m.Manager.Guard(block, group)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return g, nil
}

func (m manager) GroupGuard(cfg *config.Config, group string) (Guard, error) {
	g, err := m.Manager.GroupGuard(cfg, group)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// DirFor is the state directory a Node opened with o would have, for when
// the namespace is gone and a marker in it must still be removed. It
// matches bridgectl.Manager.Dir (a test checks). For a netns that is not a
// namespace name it is a path no file can have (it contains NUL), so that
// "../x" never reaches another instance's files; RemoveState says it
// plainly.
func DirFor(o bridgectl.Options) string {
	d, err := stateDir(o)
	if err != nil {
		return filepath.Join(o.StateDir, "\x00"+o.NetNS)
	}
	return d.Path()
}

func stateDir(o bridgectl.Options) (statedir.Dir, error) {
	if o.StateDir == "" {
		o.StateDir = defaults.StateDir
	}
	return statedir.New(o.StateDir, o.NetNS)
}

// RemoveState removes a state file of the namespace o selects without
// opening it (it may be gone). A netns that is not a namespace name has no
// state directory: nothing to remove.
func RemoveState(o bridgectl.Options, name string) error {
	d, err := stateDir(o)
	if err != nil {
		return nil
	}
	return d.Remove(name)
}

// Parameter names common to both agents.
const (
	ParamConfig   = "config"
	ParamNetNS    = "netns"
	ParamStateDir = "state_dir"
)

// Params returns the parameters both agents take. configReloadable marks
// config as reloadable (the bridge re-applies it in place).
func Params(configReloadable bool) []ocf.Param {
	return []ocf.Param{
		{Name: ParamConfig, ShortDesc: "qinqbridge configuration file", Default: defaults.ConfigPath,
			Reloadable: configReloadable,
			LongDesc: "Absolute path of the qinqbridge TOML file (the same file bridgectl reads). " +
				"It must be identical on every node."},
		{Name: ParamNetNS, ShortDesc: "Network namespace (testbeds)",
			LongDesc: "Name of a network namespace under /run/netns to work in instead of the agent's own. " +
				"Leave empty in production; testbeds use it to run several nodes on one machine."},
		{Name: ParamStateDir, ShortDesc: "State directory (tests only)", Default: defaults.StateDir,
			LongDesc: "Directory (on tmpfs, so that a reboot forgets it) of the applied configuration and " +
				"the guard's markers, one subdirectory per namespace. Must be the same for the bridge and " +
				"tcguard resources and bridgectl. It and its subdirectories must be root's and writable by root only " +
				"(the agents create them 0700 and refuse them otherwise); a mutating action holds the lock file of " +
				"its namespace's subdirectory, waiting at most half its timeout for another command. " +
				"Leave the default; tests change it."},
	}
}

// Options returns the Node options the request's parameters select. A
// mutating action holds the namespace's lock from open to close (see
// lockWait).
func Options(r *ocf.Request) bridgectl.Options {
	o := bridgectl.Options{NetNS: r.Param(ParamNetNS), StateDir: r.Param(ParamStateDir)}
	if !readOnly[r.Action] {
		o.Lock, o.LockWait = true, lockWait(r.Timeout)
	}
	return o
}

// readOnly are the actions that change nothing in the namespace, and so
// never wait for its lock: a monitor is not delayed or failed by an
// operator's long apply. Every other action (start, stop, promote, demote,
// reload, the tcguard agent's flush restorer) is serialised with the
// others and with bridgectl and tcguard. The tcguard agent's monitor is
// not locked either, although it may repair (bind again a port that lost
// its guard binding, set down one that cannot be bound, bring up the trunks
// a dead flush restorer left down once the hold is over): each repair is
// idempotent, none opens the guard, and a monitor must not fail because an
// operator's apply of 4094 translations holds the lock.
var readOnly = map[string]bool{
	ocf.ActionMonitor: true, ocf.ActionNotify: true, ocf.ActionValidateAll: true, ocf.ActionMetaData: true,
}

// defaultLockWait is the wait for the lock when Pacemaker passed no
// timeout (a manual run, ocf-tester).
const defaultLockWait = 10 * time.Second

// lockWait is how long an action with this timeout (Pacemaker's
// OCF_RESKEY_CRM_meta_timeout) waits for the namespace's lock: half of it.
// The wait must end before the action's budget (ocf.ActionBudget), so that
// a lock held too long is a failure with a reason that names it rather
// than a SIGKILL without one, and the other half is left for the work.
func lockWait(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return defaultLockWait
	}
	return timeout / 2
}

// LoadConfig reads and parses the configuration for the actions that apply
// it (start, validate-all, reload-agent). Its errors carry the OCF status:
// a relative path or a file that does not parse is ErrConfigured (the same
// on every node: fatal), a missing file ErrInstalled (this node lacks it),
// an unreadable one ErrPerm.
func LoadConfig(path string) (*config.Config, []byte, error) {
	if !filepath.IsAbs(path) {
		return nil, nil, ocf.Fail(ocf.ErrConfigured, "config %q is not an absolute path", path)
	}
	cfg, raw, err := config.Load(path)
	var invalid config.Errors
	switch {
	case errors.As(err, &invalid):
		return nil, nil, ocf.Fail(ocf.ErrConfigured, "config invalid: %s", Summarize(err, 3))
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, ocf.Fail(ocf.ErrInstalled, "config %s does not exist on this node", path)
	case errors.Is(err, fs.ErrPermission):
		return nil, nil, ocf.Fail(ocf.ErrPerm, "config %s: %v", path, err)
	case err != nil:
		return nil, nil, ocf.Fail(ocf.ErrGeneric, "config %s: %v", path, err)
	}
	return cfg, raw, nil
}

// Links returns every link of the namespace, ours or not, from one dump,
// without a configuration: the planner with nothing wanted cannot fail on
// missing parents or foreign links.
func Links(n Node) (*plan.State, error) {
	v, err := n.Observe(&config.Config{}, false)
	if err != nil {
		return nil, err
	}
	return v.State, nil
}

// Owned counts the links bridgectl made in st.
func Owned(st *plan.State) int {
	c := 0
	for _, o := range st.ByName {
		if o.Owned() {
			c++
		}
	}
	return c
}

// Summarize folds a multi-line error (errors.Join, config.Errors) into one
// line of at most max parts and a count of the rest. Pacemaker keeps only
// the first 128 characters of an exit reason, and 4094 translations can
// fail at once: the reason names the first problems, the log has the line.
func Summarize(err error, max int) string {
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return SummarizeList(parts, max)
}

// SummarizeList joins at most max items with "; " and counts the rest.
func SummarizeList(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s (and %d more)", strings.Join(items[:max], "; "), len(items)-max)
}

// WriteFile replaces the state file path with data atomically and
// durably (statedir.Dir.WriteFile): after a crash at any point, path holds
// either the old content or the new one; never through a symlink.
func WriteFile(path string, data []byte) error {
	return statedir.At(filepath.Dir(path)).WriteFile(filepath.Base(path), data)
}

// ReadFile reads the state file path, never through a symlink.
func ReadFile(path string) ([]byte, error) {
	return statedir.At(filepath.Dir(path)).ReadFile(filepath.Base(path))
}

// RemoveFile removes the state file path durably; a missing file is not an
// error.
func RemoveFile(path string) error {
	return statedir.At(filepath.Dir(path)).Remove(filepath.Base(path))
}
