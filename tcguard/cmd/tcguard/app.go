package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/internal/clidoc"
	"github.com/qinqbridge/qinqbridge/internal/cliflags"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

func commonFlags() []cli.Flag {
	return append(cliflags.Common("configuration `FILE` (its [guard] block, its groups and their bridge ports)", "where the guards' open markers live (`DIR`, tmpfs)"),
		&cli.StringFlag{Name: "group", Usage: "act on the guard of translation group `NAME` only (default: every group's)"})
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "tcguard",
		Usage: "the standby guard of qinqbridge: block or open every translation at once",
		Description: "Every bridge port bridgectl creates is bound, before it comes up, to two shared tc blocks: its\n" +
			"ingress to the configuration's [guard] block (default 29026), its egress to the next index. Each\n" +
			"block holds one matchall filter, and both share one gact action (index: the block's): dropping,\n" +
			"the node forwards nothing (blocked, also after a reboot or a crash); passing, every translation\n" +
			"forwards (open). block and unblock send a few tc requests, whatever the number of\n" +
			"translations, and are idempotent: a run killed at any point converges when run again. Every command\n" +
			"first reads and checks the whole configuration, as bridgectl does (at most 1 MiB and 16384\n" +
			"translations): for a file status calls invalid, nothing is opened (exit 2).\n\n" +
			"Exit codes: 0 ok; 1 status found something off; 2 error.\n\n" +
			"Examples:\n" +
			"   tcguard block                          # standby: drop every frame on every bridge port\n" +
			"   tcguard unblock                        # active: forward\n" +
			"   tcguard status                         # blocked or open, ports bound, frames dropped\n" +
			"   tcguard status --json --netns lab -c /etc/qinqbridge/lab.toml\n" +
			"   tcguard --group east unblock            # open one group's translations only\n\n" +
			"Each translation group ([[group]] in the file; translations without one are in the group\n" +
			"\"default\", whose block is [guard] block) has a guard of its own: --group acts on one; without\n" +
			"it block and unblock act on every group's, and status shows every group's.",
		Flags:                commonFlags(),
		HideHelpCommand:      true,
		EnableBashCompletion: true, // tcguard completion bash
		Commands: []*cli.Command{
			{Name: "block", Usage: "make the guard drop: the node forwards nothing (standby)", Flags: commonFlags(), Action: cmdBlock,
				Description: "Puts back a guard filter that is missing, makes the guard's action drop, then forgets the\n" +
					"intent \"open\". Idempotent: blocking a blocked node exits 0. With no port bound yet there is\n" +
					"nothing to filter; the next bridgectl apply arms the blocks closed anyway. It enumerates no link.\n" +
					"With a configuration file that cannot be used (invalid, unreadable), block still fails closed: it\n" +
					"closes the block of the configuration bridgectl recorded as applied in the namespace (the one its\n" +
					"ports are bound to), says on stderr which block it closed, and exits 2 because the file is not\n" +
					"usable. With nothing applied it closes nothing.\n\n" +
					"Examples:\n" +
					"   tcguard block\n" +
					"   tcguard block --netns lab -c /etc/qinqbridge/lab.toml"},
			{Name: "unblock", Usage: "make the guard pass: every translation forwards (active)", Flags: commonFlags(), Action: cmdUnblock,
				Description: "Records the intent \"open\" (a marker under /run, fsynced), then makes the guard's action pass.\n" +
					"Idempotent. It enumerates no link, and its tc requests do not depend on the number of translations.\n" +
					"The configuration must be valid: for a file status calls invalid, nothing is opened (exit 2).\n\n" +
					"Examples:\n" +
					"   tcguard unblock\n" +
					"   tcguard unblock --netns lab -c /etc/qinqbridge/lab.toml"},
			{Name: "status", Usage: "show blocked/open, ports bound vs expected, frames dropped; exit 1 if something is off",
				Flags: append(commonFlags(), &cli.BoolFlag{Name: "json", Usage: "machine-readable output"}), Action: cmdStatus,
				Description: "States: blocked (the guard drops, nobody opened), open (opened on purpose), interrupted (an\n" +
					"unblock or block did not finish, or the blocks were re-created on an opened node: frames are\n" +
					"dropped; run unblock or block again), unguarded (a guard filter was removed or the action set to\n" +
					"pass behind tcguard's back: frames may flow; run block).\n" +
					"Expected ports are the bridge ports of the configuration that exist in the kernel. Each one not\n" +
					"bound to the block is named: unbound (no ingress qdisc; bridgectl apply binds it) or foreign\n" +
					"(an ingress qdisc tcguard did not create, left untouched: that port is not guarded).\n" +
					"It also shows the promotion score the tcguard agent sets on this node (from the configuration\n" +
					"bridgectl applied). --json carries the same state, ports, drops and score as `bridgectl status\n" +
					"--json` and `bridgectl metrics` (group \"default\": the namespace's one guard).\n" +
					"Exit 0 if blocked or open and every expected port is bound, 1 if anything is off, 2 on error.\n\n" +
					"Examples:\n" +
					"   tcguard status\n" +
					"   tcguard status --json --netns lab\n" +
					"   tcguard status -c /etc/qinqbridge/lab.toml || echo \"guard needs attention\""},
			clidoc.CompletionCommand("tcguard"),
			clidoc.ManCommand(8, "bridgectl(8)", "ocf_qinqbridge_tcguard(7)", "ocf_qinqbridge_bridge(7)"),
		},
	}
}

func opt(c *cli.Context, name string) string { return cliflags.Get(c, name) }

func fail(code int, format string, a ...any) error {
	for i, x := range a {
		if err, ok := x.(error); ok {
			a[i] = bare(err)
		}
	}
	return cli.Exit(fmt.Sprintf(format, a...), code)
}

// bare is an error's text without the package's "tcguard: " prefix, which
// main puts in front of every message anyway.
func bare(err error) string { return strings.TrimPrefix(err.Error(), "tcguard: ") }

// load reads and validates the whole configuration through config.Load,
// as every command and agent does: every error, exit 2. Every verb calls
// it, so no verb acts on a file that status calls invalid.
func load(c *cli.Context) (*config.Config, []byte, error) {
	path := opt(c, "config")
	cfg, raw, err := config.Load(path)
	var invalid config.Errors
	switch {
	case errors.As(err, &invalid):
		fmt.Fprintln(os.Stderr, err)
		return nil, nil, fail(exitError, "%s: invalid configuration", path)
	case err != nil:
		return nil, nil, fail(exitError, "%v", err)
	}
	return cfg, raw, nil
}

// manager connects to the namespace. The guards' state directory is the
// namespace's bridgectl state directory.
func manager(c *cli.Context) (*bridgectl.Manager, error) {
	m, err := bridgectl.Open(bridgectl.Options{NetNS: opt(c, "netns"), StateDir: opt(c, "state-dir")})
	if err != nil {
		return nil, fail(exitError, "%v", err)
	}
	return m, nil
}

// where names the group, block and namespace for messages.
func where(c *cli.Context, g config.Group) string {
	s := fmt.Sprintf("group %s, tc block %d", g.Name, g.Block)
	if ns := opt(c, "netns"); ns != "" {
		s += ", netns " + ns
	}
	return s
}

// targets are the groups a command acts on: --group's, or every one.
func targets(c *cli.Context, groups []config.Group) ([]config.Group, error) {
	name := opt(c, "group")
	if name == "" {
		return groups, nil
	}
	var names []string
	for _, g := range groups {
		if g.Name == name {
			return []config.Group{g}, nil
		}
		names = append(names, g.Name)
	}
	return nil, fail(exitError, "group %q is not in the configuration (its groups: %s)", name, strings.Join(names, ", "))
}

// change runs op (Block or Unblock) on the guard of each group, under the
// namespace's lock, and says where each guard now is. It stops at the
// first failure: block's callers then block again (a node left half
// blocked is never half open: each group has its own guard).
func change(c *cli.Context, name string, op func(*bridgectl.Manager, *tcguard.Guard, config.Group) error, done string, groups []config.Group) error {
	m, err := manager(c)
	if err != nil {
		return err
	}
	defer m.Close()
	unlock, err := m.Lock() // not in the middle of an apply, an agent's action
	if err != nil {
		return fail(exitError, "%s: nothing changed: %v", name, err)
	}
	defer unlock()
	for _, grp := range groups {
		g, err := m.Guard(grp.Block, grp.Name)
		if err == nil {
			err = op(m, g, grp)
			g.Close()
		}
		if err != nil {
			return fail(exitError, "%s: %s: %v", name, where(c, grp), err)
		}
		fmt.Printf("%s: %s\n", done, where(c, grp))
	}
	return nil
}

// report is what status prints of one group's guard; with --json, as is.
// Its state, ports and drops are what `bridgectl status --json` shows as
// the group's guard and `bridgectl metrics` exports as qinqbridge_guard_*.
type report struct {
	State string `json:"state"` // blocked, open, interrupted, unguarded
	OK    bool   `json:"ok"`    // exit 0
	Group string `json:"group"`
	Block uint32 `json:"block"`
	NetNS string `json:"netns,omitempty"`
	// PromotionScore is the score the tcguard agent sets for this node and
	// group (bridgectl.PromotionScore, from the applied configuration).
	PromotionScore int `json:"promotion_score"`

	Dropping   bool `json:"dropping"`    // both guard filters are in, their action drops
	OpenMarker bool `json:"open_marker"` // the intent "open" is recorded
	Armed      bool `json:"armed"`       // both blocks exist and carry the guard filter

	PortsConfigured int `json:"ports_configured"` // bridge ports in the configuration
	PortsExpected   int `json:"ports_expected"`   // of those, the ones the kernel has
	PortsBound      int `json:"ports_bound"`      // of those, the ones bound to the block
	BoundTotal      int `json:"bound_total"`      // every device bound to the block

	DroppedPackets uint64 `json:"dropped_packets"` // since the blocks were armed, modulo 2^32

	Unbound []string `json:"unbound"` // expected ports without ingress qdisc
	Foreign []string `json:"foreign"` // expected ports with an ingress qdisc not ours
	// Strangers are devices bound to the block that are not expected ports;
	// Intruders the filters and chains in it that tcguard did not create.
	Strangers []string `json:"strangers,omitempty"`
	Intruders []string `json:"intruders,omitempty"`
	Problems  []string `json:"problems"` // why not ok, one line each

	// Groups (--json, top level only): every group's report, the first
	// group's (the default's, or --group's) being the top level's own;
	// the top level's OK is every group's.
	Groups []report `json:"groups,omitempty"`
}

func cmdStatus(c *cli.Context) error {
	cfg, raw, err := load(c)
	if err != nil {
		return err
	}
	groups, err := targets(c, cfg.Groups)
	if err != nil {
		return err
	}
	m, err := manager(c)
	if err != nil {
		return err
	}
	defer m.Close()
	// The links, from the Manager's own socket: one dump, no planning
	// (nothing is wanted of an empty configuration).
	v, err := m.Observe(&config.Config{}, false)
	if err != nil {
		return fail(exitError, "status: %v", err)
	}
	index := make(map[string]int, len(v.State.ByName))
	names := make(map[int]string, len(v.State.ByName))
	for n, o := range v.State.ByName {
		index[n], names[o.Index] = o.Index, n
	}
	applied, err := m.AppliedAs(cfg, raw)
	if err != nil && !errors.Is(err, bridgectl.ErrNotApplied) {
		return fail(exitError, "status: the applied configuration: %v", err)
	}
	var all []report
	for _, grp := range groups {
		var ports []int
		portNames := cfg.GuardedNames(grp.Name)
		for _, p := range portNames {
			if i, ok := index[p]; ok {
				ports = append(ports, i)
			}
		}
		g, err := m.GroupGuard(cfg, grp.Name)
		if err != nil {
			return fail(exitError, "status: %v", err)
		}
		s, err := bridgectl.ReadGuard(g, cfg, ports)
		g.Close()
		if err != nil {
			return fail(exitError, "status: %s: %v", where(c, grp), err)
		}
		rep := newReport(s, grp, opt(c, "netns"), len(portNames), ports, names)
		rep.PromotionScore, _ = bridgectl.PromotionScore(applied, v.State, grp.Name)
		all = append(all, rep)
	}
	r := all[0]
	r.Groups = all
	for _, g := range all {
		r.OK = r.OK && g.OK
	}
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fail(exitError, "%v", err)
		}
	} else {
		for _, g := range all {
			g.write(os.Stdout)
		}
	}
	if !r.OK {
		return cli.Exit("", exitOff)
	}
	return nil
}

func newReport(s tcguard.Status, grp config.Group, ns string, configured int, ports []int, names map[int]string) report {
	expected := make(map[int]bool, len(ports))
	for _, p := range ports {
		expected[p] = true
	}
	bound := 0
	for _, i := range s.Bound {
		if expected[i] {
			bound++
		}
	}
	name := func(is []int) []string {
		out := make([]string, 0, len(is))
		for _, i := range is {
			if n := names[i]; n != "" {
				out = append(out, n)
			} else {
				out = append(out, fmt.Sprintf("ifindex %d", i))
			}
		}
		return out // in the configuration's order
	}
	r := report{
		State: s.State.String(), Group: grp.Name, Block: grp.Block, NetNS: ns,
		Dropping: s.Dropping, OpenMarker: s.Marker, Armed: s.Armed,
		PortsConfigured: configured, PortsExpected: len(ports), PortsBound: bound, BoundTotal: len(s.Bound),
		DroppedPackets: s.DroppedPackets,
		Unbound:        name(s.Unbound), Foreign: name(s.Foreign), Problems: []string{},
	}
	switch s.State {
	case tcguard.Interrupted:
		r.Problems = append(r.Problems, "interrupted: the guard drops although the node was opened (an unblock or block did not finish, or the blocks were re-created): frames are dropped; run tcguard unblock or tcguard block")
	case tcguard.Unguarded:
		if len(s.Unbound)+len(s.Foreign) > 0 {
			r.Problems = append(r.Problems, "unguarded: nobody opened the guard, yet expected ports are not bound to the block: frames flow on them; run bridgectl apply")
		} else {
			r.Problems = append(r.Problems, "unguarded: a guard filter was removed or the guard's action set to pass behind tcguard's back, and nobody opened the guard: frames may flow; run tcguard block")
		}
	}
	if len(r.Unbound) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d expected port(s) without ingress qdisc: not bound to the block, they forward whatever the guard's state; bridgectl apply binds them", len(r.Unbound)))
	}
	if len(r.Foreign) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d expected port(s) carry an ingress qdisc tcguard did not create (left untouched): not guarded; delete it, then bridgectl apply binds them", len(r.Foreign)))
	}
	r.Strangers, r.Intruders = name(s.Strangers), s.Intruders
	if len(r.Strangers) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("devices that are not bridge ports of the configuration are bound to the block (%s): somebody else uses it; give [guard] block another index", strings.Join(r.Strangers, ", ")))
	}
	if len(r.Intruders) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("the block holds objects tcguard did not create (%s): somebody else uses it; give [guard] block another index", strings.Join(r.Intruders, ", ")))
	}
	r.OK = len(r.Problems) == 0
	return r
}

func (r report) write(w *os.File) {
	ns := ""
	if r.NetNS != "" {
		ns = ", netns " + r.NetNS
	}
	var b strings.Builder
	fmt.Fprintf(&b, "guard:    %s (group %s, tc block %d%s)\n", r.State, r.Group, r.Block, ns)
	fmt.Fprintf(&b, "ports:    %d of %d expected bound", r.PortsBound, r.PortsExpected)
	if missing := r.PortsConfigured - r.PortsExpected; missing > 0 {
		fmt.Fprintf(&b, "; %d of the configuration's %d not in the kernel", missing, r.PortsConfigured)
	}
	if other := r.BoundTotal - r.PortsBound; other > 0 {
		fmt.Fprintf(&b, "; %d other device(s) bound to the block", other)
	}
	b.WriteString("\n")
	if r.Dropping {
		fmt.Fprintf(&b, "dropped:  %d frames\n", r.DroppedPackets)
	}
	fmt.Fprintf(&b, "score:    %d (promotion score the tcguard agent sets here)\n", r.PromotionScore)
	if len(r.Unbound) > 0 {
		fmt.Fprintf(&b, "unbound:  %s\n", list(r.Unbound))
	}
	if len(r.Foreign) > 0 {
		fmt.Fprintf(&b, "foreign:  %s\n", list(r.Foreign))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem:  %s\n", p)
	}
	w.WriteString(b.String())
}

// textNames is how many port names the text output lists (--json: all).
const textNames = 24

func list(names []string) string {
	if len(names) <= textNames {
		return strings.Join(names, " ")
	}
	return fmt.Sprintf("%s ... and %d more (--json lists all)", strings.Join(names[:textNames], " "), len(names)-textNames)
}
