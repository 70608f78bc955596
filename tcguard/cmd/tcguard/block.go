package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

func cmdBlock(c *cli.Context) error {
	groups, err := loadGroups(c)
	if err != nil {
		return blockApplied(c, err)
	}
	return change(c, "block", func(_ *bridgectl.Manager, g *tcguard.Guard, _ config.Group) error { return g.Block() }, "blocked", groups)
}

func cmdUnblock(c *cli.Context) error {
	groups, err := loadGroups(c)
	if err != nil {
		return err // nothing is opened for a file that cannot be loaded
	}
	return change(c, "unblock", unblock, "open", groups)
}

// unblock opens a group's guard; a group with pass-throughs has their
// trunks kicked so that the switches renegotiate LACP at once
// (bridgectl.Manager.Unblock).
func unblock(m *bridgectl.Manager, g *tcguard.Guard, grp config.Group) error {
	kicked, err := m.Unblock(g, grp.Name)
	if len(kicked) > 0 {
		fmt.Fprintf(os.Stderr, "tcguard: unblock: %s: trunks %s taken down and up: the switches renegotiate LACP\n", grp.Name, strings.Join(kicked, ", "))
	}
	return err
}

// loadGroups are the groups the command acts on (targets) of the
// configuration file, validated whole first, unless the file is byte for
// byte the one bridgectl validated and applied in the namespace
// (bridgectl.AppliedGroups): then promotion by hand costs the same
// whatever the number of translations.
func loadGroups(c *cli.Context) ([]config.Group, error) {
	if raw, err := config.Read(opt(c, "config")); err == nil {
		if groups, ok := bridgectl.AppliedGroups(bridgectl.Options{NetNS: opt(c, "netns"), StateDir: opt(c, "state-dir")}, raw); ok {
			return targets(c, groups)
		}
	}
	cfg, _, err := load(c)
	if err != nil {
		return nil, err
	}
	return targets(c, cfg.Groups)
}

// blockApplied is block for a configuration file that cannot be loaded
// (loadErr), or that lacks --group's group: closing is always safe, so it
// closes the guards of the configuration bridgectl recorded as applied in
// the namespace — those its ports are bound to — (of --group's group only,
// if the applied one has it) and says so on stderr. It still fails with
// loadErr (exit 2): the file the operator named was not used.
func blockApplied(c *cli.Context, loadErr error) error {
	m, err := bridgectl.Open(bridgectl.Options{NetNS: opt(c, "netns"), StateDir: opt(c, "state-dir")})
	if err != nil {
		fmt.Fprintf(os.Stderr, "tcguard: block: nothing closed: %s\n", bare(err))
		return loadErr
	}
	defer m.Close()
	applied, err := m.Applied()
	switch {
	case errors.Is(err, bridgectl.ErrNotApplied):
		fmt.Fprintf(os.Stderr, "tcguard: block: nothing closed: no configuration applied in this namespace (%s)\n", m.Dir())
		return loadErr
	case err != nil:
		fmt.Fprintf(os.Stderr, "tcguard: block: nothing closed: the applied configuration is unreadable: %s\n", bare(err))
		return loadErr
	}
	groups := applied.Groups
	if name := opt(c, "group"); name != "" {
		if g := applied.Group(name); g != nil {
			groups = []config.Group{*g}
		}
	}
	for _, grp := range groups {
		g, err := m.Guard(grp.Block, grp.Name)
		if err == nil {
			err = g.Block()
			g.Close()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcguard: block: cannot close the applied configuration's %s: %s\n", where(c, grp), bare(err))
			return loadErr
		}
		fmt.Fprintf(os.Stderr, "tcguard: blocked: %s, the applied configuration's (%s), instead of the file's\n", where(c, grp), applied.File)
	}
	return loadErr
}
