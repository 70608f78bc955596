// Package node is what the two qinqbridge OCF agents (ocf/agents/bridge and
// ocf/agents/tcguard) need from bridgectl and tcguard, behind two small
// interfaces, so that each agent's action × kernel-state → exit-code matrix
// is unit-tested against a fake (package fakenode) on any machine, and only
// the wiring is left to the kernel tests.
//
// It also holds what both agents share: their common parameters, opening a
// namespace (a missing one is a state, not an error), loading the
// configuration with the right OCF status for each failure, small atomic
// state files, and reasons short enough for Pacemaker.
package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// Guard is the part of *tcguard.Guard the agents use.
type Guard interface {
	Block() error
	Unblock() error
	Status(ports []int) (tcguard.Status, error)
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
	Apply(cfg *config.Config, raw []byte) (*bridgectl.View, kernel.Result, error)
	// Down deletes every link of ours and returns the foreign links it
	// left alone in bridgectl's device groups.
	Down() ([]plan.Foreign, error)
	Guard(block uint32) (Guard, error)
	Close()
}

// Opener opens a Node. Open is the real one; tests pass a fake.
type Opener func(o bridgectl.Options) (Node, error)

// NetNSDir is where named network namespaces are (ip netns).
const NetNSDir = "/run/netns"

// ErrNoNetNS means the namespace named by the netns parameter does not
// exist. Nothing of ours can exist in it: monitor says not running, stop
// has nothing to do, start cannot run on this node (ErrInstalled).
var ErrNoNetNS = errors.New("network namespace does not exist")

// ErrBadNetNS means the netns parameter cannot name a namespace. It is a
// configuration error for start and validate-all, and for monitor and stop
// the same as a namespace that does not exist.
var ErrBadNetNS = errors.New("not a network namespace name")

// CheckNetNS checks the netns parameter's value ("" is the agent's own
// namespace).
func CheckNetNS(name string) error {
	if name == "" {
		return nil
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("netns %q: %w", name, ErrBadNetNS)
	}
	if _, err := os.Stat(filepath.Join(NetNSDir, name)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("netns %s: %w (no %s/%s)", name, ErrNoNetNS, NetNSDir, name)
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
	return manager{m}, nil
}

type manager struct{ *bridgectl.Manager }

func (m manager) Guard(block uint32) (Guard, error) {
	g, err := m.Manager.Guard(block)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return g, nil
}

// DirFor is the state directory a Node opened with o would have, for when
// the namespace is gone and a marker in it must still be removed. It
// matches bridgectl.Manager.Dir (a test checks).
func DirFor(o bridgectl.Options) string {
	if o.StateDir == "" {
		o.StateDir = bridgectl.DefaultStateDir
	}
	name := o.NetNS
	if name == "" {
		name = "default"
	}
	return filepath.Join(o.StateDir, name)
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
		{Name: ParamConfig, ShortDesc: "qinqbridge configuration file", Default: config.DefaultPath,
			Reloadable: configReloadable,
			LongDesc: "Absolute path of the qinqbridge TOML file (the same file bridgectl reads). " +
				"It must be identical on every node."},
		{Name: ParamNetNS, ShortDesc: "Network namespace (testbeds)",
			LongDesc: "Name of a network namespace under /run/netns to work in instead of the agent's own. " +
				"Leave empty in production; testbeds use it to run several nodes on one machine."},
		{Name: ParamStateDir, ShortDesc: "State directory (tests only)", Default: bridgectl.DefaultStateDir,
			LongDesc: "Directory (on tmpfs, so that a reboot forgets it) of the applied configuration and " +
				"the guard's markers, one subdirectory per namespace. Must be the same for the bridge and " +
				"tcguard resources and bridgectl. Leave the default; tests change it."},
	}
}

// Options returns the Node options the request's parameters select.
func Options(r *ocf.Request) bridgectl.Options {
	return bridgectl.Options{NetNS: r.Param(ParamNetNS), StateDir: r.Param(ParamStateDir)}
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
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, ocf.Fail(ocf.ErrInstalled, "config %s does not exist on this node", path)
	case errors.Is(err, fs.ErrPermission):
		return nil, nil, ocf.Fail(ocf.ErrPerm, "config %s: %v", path, err)
	case err != nil:
		return nil, nil, ocf.Fail(ocf.ErrGeneric, "config %s: %v", path, err)
	}
	cfg, err := config.Parse(path, raw)
	if err != nil {
		return nil, nil, ocf.Fail(ocf.ErrConfigured, "config invalid: %s", Summarize(err, 3))
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

// WriteFile replaces path with data atomically and durably: after a crash
// at any point, path holds either the old content or the new one.
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return syncDir(dir)
}

// RemoveFile removes path durably; a missing file is not an error.
func RemoveFile(path string) error {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
