package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/clidoc"
	"github.com/qinqbridge/qinqbridge/internal/cliflags"
)

func commonFlags() []cli.Flag {
	return cliflags.Common("configuration `FILE`", "where applied state and the guard marker live (`DIR`, tmpfs)")
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "bridgectl",
		Usage: "declarative QinQ/VLAN translation bridges",
		Description: "bridgectl builds, from one TOML file, the 802.1ad/802.1Q subinterfaces and the bridge of every\n" +
			"translation, and keeps exactly those. It only ever changes or deletes links it created (device\n" +
			"group 29026 and an alias starting with \"qinqbridge\"). New bridge ports are bound to the standby\n" +
			"guard (tcguard) before they come up.\n\n" +
			"Exit codes: 0 ok (in sync); 1 drift (check); 2 error or invalid input.\n\n" +
			"Examples:\n" +
			"   bridgectl validate                     # the file /etc/qinqbridge/qinqbridge.toml\n" +
			"   bridgectl plan                         # what apply would do\n" +
			"   bridgectl apply                        # do it; the guard keeps the new ports blocked\n" +
			"   bridgectl status --netns lab -c /etc/qinqbridge/lab.toml",
		Flags:                commonFlags(),
		HideHelpCommand:      true,
		EnableBashCompletion: true, // bridgectl completion bash
		Commands: []*cli.Command{
			{Name: "validate", Usage: "check the configuration file; print every error as FILE:LINE: message", Flags: commonFlags(), Action: cmdValidate,
				Description: "Exit 0 if the file is valid, 2 otherwise. Touches nothing. A file is refused if it is larger\n" +
					"than 1 MiB or its ranges expand to more than 16384 translations (four full VLAN spaces), checked\n" +
					"before anything is expanded; every command and agent reads the file the same way.\n\n" +
					"Example: bridgectl validate -c /etc/qinqbridge/qinqbridge.toml"},
			{Name: "plan", Usage: "show what apply would change, touching nothing", Flags: commonFlags(), Action: cmdPlan,
				Description: "Lines: '+' create, '±' recreate (an attribute the kernel cannot change drifted), '~' fix in place,\n'-' delete (a link of ours the file no longer has), '!' a foreign link apply leaves alone but reports.\n\nExample: bridgectl plan --netns lab"},
			{Name: "apply", Usage: "converge the kernel to the configuration", Flags: append(commonFlags(), &cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print every step"}), Action: cmdApply,
				Description: "Creates what is missing, recreates what drifted in id, protocol or parent, fixes the rest in place,\n" +
					"deletes links of ours that are no longer in the file, and brings everything up. A second apply changes\n" +
					"nothing. If a step fails, apply stops and says what was done; running it again converges.\n\nExample: bridgectl apply -c /etc/qinqbridge/qinqbridge.toml"},
			{Name: "check", Usage: "exit 0 if the kernel matches the configuration, 1 on drift (one line per attribute), 2 on error", Flags: commonFlags(), Action: cmdCheck,
				Description: "Compares the kernel with the file, as plan does, and prints one line per attribute that drifted,\n" +
					"and one per foreign link bridgectl leaves alone but reports (NAME: foreign ...): a port of a\n" +
					"translation bridge bridgectl did not create, or a link in its device group without its mark.\n" +
					"For monitoring scripts; changes nothing.\n\nExamples:\n" +
					"   bridgectl check\n" +
					"   bridgectl check --netns lab || bridgectl apply --netns lab     # converge if it drifted"},
			{Name: "status", Usage: "show every translation: links, state, counters, guard", Flags: append(commonFlags(), &cli.BoolFlag{Name: "json", Usage: "machine-readable output"}), Action: cmdStatus,
				Description: "First the configuration: the file, its digest, and drift (nothing applied, the file is not the\n" +
					"applied configuration, or check would not exit 0), then the last apply's time and outcome (apply,\n" +
					"watch, the bridge agent). Then the node's guard: blocked or open, ports bound, frames dropped (tcguard\n" +
					"status has the details), the promotion score the tcguard agent sets. Then one line per translation:\n" +
					"its links from the trunk up, the bridge, the first problem found (missing, down or no-carrier link,\n" +
					"else up), the guard over its ports (UNBOUND: a port forwards whatever the guard says) and the packet\n" +
					"counters of both bridge ports (tc datapath: per direction, its filter and counters). A pass-through\n" +
					"([[passthrough]]) has a line per direction: its filter present or MISSING, its guard, the frames sent.\n\n" +
					"--json prints all of it, with what `bridgectl metrics` exports: config {file, digest,\n" +
					"applied_digest, translations, drift, drift_reason, last_apply {time, ok, digest, error}}, guard\n" +
					"{group, block, state, ports_bound, ports_expected, dropped_packets, promotion_score}, and per\n" +
					"translation its links' counters (rx/tx packets, bytes, dropped), its filters (tc datapath) and\n" +
					"directions [{direction, received_frames, received_bytes, frames, bytes, dropped_frames}];\n" +
					"passthroughs [{in, out, protocol, group, present, forwarded, bytes}]. It reads;\n" +
					"it takes no lock.\n\nExamples:\n" +
					"   bridgectl status\n" +
					"   bridgectl status --json --netns lab"},
			{Name: "down", Usage: "delete every link bridgectl created, and nothing else", Flags: commonFlags(), Action: cmdDown,
				Description: "Deletes every link bridgectl created in the namespace, whatever the file says: those of device\n" +
					"group qinqbridge (29026) whose alias starts with \"qinqbridge\". Interfaces bridgectl did not create are\n" +
					"never touched; one put in the group by hand is left alone and named in a warning (exit 0).\n" +
					"Reads no configuration.\n\nExamples:\n" +
					"   bridgectl down\n" +
					"   bridgectl down --netns lab"},
			watchCommand(),
			carrierCommand(),
			metricsCommand(),
			clidoc.CompletionCommand("bridgectl"),
			clidoc.ManCommand(8, "tcguard(8)", "ocf_qinqbridge_bridge(7)", "ocf_qinqbridge_tcguard(7)"),
		},
	}
}

func opt(c *cli.Context, name string) string { return cliflags.Get(c, name) }

func fail(code int, format string, a ...any) error {
	return cli.Exit(fmt.Sprintf(format, a...), code)
}

// load reads and validates the configuration through config.Load, as
// every command and agent does: every error, exit 2.
func load(c *cli.Context) (*config.Config, []byte, error) {
	path := opt(c, "config")
	cfg, raw, err := config.Load(path)
	var invalid config.Errors
	switch {
	case errors.As(err, &invalid):
		fmt.Fprintln(os.Stderr, err)
		return nil, nil, cli.Exit("", exitError)
	case err != nil:
		return nil, nil, fail(exitError, "%v", err)
	}
	return cfg, raw, nil
}

func open(c *cli.Context) (*bridgectl.Manager, error) {
	m, err := bridgectl.Open(bridgectl.Options{NetNS: opt(c, "netns"), StateDir: opt(c, "state-dir")})
	if err != nil {
		return nil, fail(exitError, "%v", err)
	}
	return m, nil
}

// withManager loads the configuration, opens the namespace and runs f: how
// every command that compares the kernel with the file starts.
func withManager(c *cli.Context, f func(cfg *config.Config, raw []byte, m *bridgectl.Manager) error) error {
	cfg, raw, err := load(c)
	if err != nil {
		return err
	}
	m, err := open(c)
	if err != nil {
		return err
	}
	defer m.Close()
	return f(cfg, raw, m)
}

func cmdValidate(c *cli.Context) error {
	cfg, _, err := load(c)
	if err != nil {
		return err
	}
	fmt.Printf("%s: ok, %d translations\n", cfg.File, len(cfg.Translations))
	if len(cfg.Groups) > 1 {
		n := map[string]int{}
		for _, t := range cfg.Translations {
			n[t.Group]++
		}
		for _, g := range cfg.Groups {
			how := ""
			if g.Derived {
				how = " (derived from its name)"
			}
			fmt.Printf("  group %s: guard block %d%s, %d translations\n", g.Name, g.Block, how, n[g.Name])
		}
	}
	return nil
}

func cmdPlan(c *cli.Context) error {
	return withManager(c, func(cfg *config.Config, _ []byte, m *bridgectl.Manager) error {
		v, err := m.Observe(cfg, true)
		if err != nil {
			return fail(exitError, "%v", err)
		}
		return v.Plan.Write(os.Stdout)
	})
}

func cmdApply(c *cli.Context) error {
	return withManager(c, func(cfg *config.Config, raw []byte, m *bridgectl.Manager) error {
		v, res, err := m.Apply(cfg, raw)
		if v != nil && c.Bool("verbose") {
			v.Plan.Write(os.Stdout)
		}
		if err != nil {
			if v == nil {
				return fail(exitError, "nothing changed: %v", err)
			}
			reportForeign(v.Plan.Foreign)
			return fail(exitError, "apply stopped: %v\ndone before it: %s\nrun apply again to converge", err, res)
		}
		if v.Plan.Empty() {
			fmt.Println("in sync: no changes")
		} else {
			fmt.Printf("applied: %s\n", res)
		}
		// Left alone, and the exit stays 0: apply did everything it
		// may do. check exits 1 on them.
		reportForeign(v.Plan.Foreign)
		return nil
	})
}

func cmdCheck(c *cli.Context) error {
	return withManager(c, func(cfg *config.Config, _ []byte, m *bridgectl.Manager) error {
		v, err := m.Observe(cfg, true)
		if err != nil {
			return fail(exitError, "%v", err)
		}
		if v.Plan.Clean() {
			fmt.Printf("in sync: %d translations\n", len(cfg.Translations))
			return nil
		}
		v.Plan.WriteDrift(os.Stdout)
		return cli.Exit("", exitDrift)
	})
}

func cmdStatus(c *cli.Context) error {
	return withManager(c, func(cfg *config.Config, raw []byte, m *bridgectl.Manager) error {
		r, err := m.Status(cfg, raw)
		if err != nil {
			return fail(exitError, "%v", err)
		}
		if c.Bool("json") {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		}
		writeConfigStatus(os.Stdout, r.Config)
		states := map[string]string{}
		for _, g := range r.Groups {
			label := "guard"
			if len(r.Groups) > 1 {
				label = "guard of group " + g.Group
			}
			fmt.Printf("%s: block %d %s, %d/%d ports bound, dropped %d frames, promotion score %d\n",
				label, g.Block, g.State, g.PortsBound, g.PortsExpected, g.DroppedPackets, g.PromotionScore)
			states[g.Group] = g.State
		}
		for _, p := range r.Passthroughs {
			present := "present"
			if !p.Present {
				present = "MISSING"
			}
			fmt.Printf("passthrough %s -> %s (%s): %s, guard of group %s %s, forwarded %d frames\n",
				p.In, p.Out, p.Protocol, present, p.Group, states[p.Group], p.Forwarded)
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		if cfg.Datapath == config.TCDatapath {
			return writeFilterStatus(w, r)
		}
		fmt.Fprintln(w, "TRANSLATION\tEND A\tEND B\tBRIDGE\tSTATE\tGUARD\tRX PKTS A/B\tTX PKTS A/B")
		for _, t := range r.Translations {
			pa, pb := t.A.Links[len(t.A.Links)-1], t.B.Links[len(t.B.Links)-1]
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%d/%d\n", t.Name,
				linkNames(t.A), linkNames(t.B), t.Bridge.Name, state(pa, pb, t.Bridge), guard(states[t.Group], pa, pb),
				pa.RxPackets, pb.RxPackets, pa.TxPackets, pb.TxPackets)
		}
		return w.Flush()
	})
}

// writeConfigStatus is status's first lines: the file against what is
// applied and the kernel, and the last apply.
func writeConfigStatus(w io.Writer, c bridgectl.ConfigStatus) {
	sync := "in sync"
	if c.Drift {
		sync = "DRIFT: " + c.DriftReason
	}
	fmt.Fprintf(w, "config: %s, %d translations, digest %.12s, %s\n", c.File, c.Translations, c.Digest, sync)
	switch a := c.LastApply; {
	case a == nil:
		fmt.Fprintln(w, "last apply: none since boot")
	case a.OK:
		fmt.Fprintf(w, "last apply: %s ok (digest %.12s)\n", a.Time.Local().Format(time.DateTime), a.Digest)
	default:
		fmt.Fprintf(w, "last apply: %s FAILED (digest %.12s): %s\n", a.Time.Local().Format(time.DateTime), a.Digest, strings.ReplaceAll(a.Error, "\n", "; "))
	}
}

// writeFilterStatus is status's table for the tc datapath: per
// translation and direction, its filter and counters.
func writeFilterStatus(w *tabwriter.Writer, r *bridgectl.Report) error {
	fmt.Fprintln(w, "TRANSLATION\tDIRECTION\tFROM\tTO\tFILTER\tMATCHED\tFORWARDED\tBYTES\tGUARD DROPPED")
	for _, t := range r.Translations {
		for _, f := range t.Filters {
			from, to := t.A.Stack, t.B.Stack
			if f.Direction == "b>a" {
				from, to = to, from
			}
			filter := "missing"
			if f.Present {
				filter = fmt.Sprintf("%#x", f.Handle)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", t.Name, f.Direction, from, to, filter, f.Matched, f.Forwarded, f.Bytes, f.GuardDropped)
		}
	}
	return w.Flush()
}

// guard is a translation's guard column: the node's guard state, unless one
// of its ports is not bound to the block (then it forwards regardless).
func guard(node string, ports ...bridgectl.LinkStatus) string {
	for _, p := range ports {
		if p.Present && !p.Guarded {
			return "UNBOUND " + p.Name
		}
	}
	return node
}

func linkNames(e bridgectl.EndStatus) string {
	n := make([]string, len(e.Links))
	for i, l := range e.Links {
		n[i] = l.Name
	}
	return strings.Join(n, ">")
}

func state(ls ...bridgectl.LinkStatus) string {
	for _, l := range ls {
		switch {
		case !l.Present:
			return "missing " + l.Name
		case !l.Up:
			return "down " + l.Name
		case !l.OperUp:
			return "no-carrier " + l.Name
		}
	}
	return "up"
}

func cmdDown(c *cli.Context) error {
	m, err := open(c)
	if err != nil {
		return err
	}
	defer m.Close()
	foreign, err := m.Down()
	if err != nil {
		return fail(exitError, "%v", err)
	}
	if len(foreign) == 0 {
		fmt.Println("down: every link of group qinqbridge deleted")
		return nil
	}
	// Not an error: down did all it may do, and a stop must not fail
	// over a link that is not bridgectl's.
	fmt.Printf("down: every link of bridgectl's deleted; %d foreign left alone\n", len(foreign))
	reportForeign(foreign)
	return nil
}

// reportForeign prints foreign links left alone on stderr.
func reportForeign(fs []plan.Foreign) {
	for _, f := range fs {
		fmt.Fprintf(os.Stderr, "warning: %s\n", f)
	}
}
