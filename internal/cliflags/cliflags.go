// Package cliflags holds the flags bridgectl and tcguard share: the same
// names, the same defaults, accepted before or after the subcommand.
package cliflags

import (
	"github.com/urfave/cli/v2"

	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

// Common returns -c/--config, --netns and the hidden --state-dir, with the
// given usage texts for the file and the state directory (each command says
// what it reads there).
func Common(configUsage, stateUsage string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: defaults.ConfigPath, Usage: configUsage},
		&cli.StringFlag{Name: "netns", Usage: "work in the network namespace `NAME` (/run/netns/NAME) instead of the current one"},
		&cli.StringFlag{Name: "state-dir", Value: defaults.StateDir, Usage: stateUsage, Hidden: true},
	}
}

// Get returns a common flag's value, whether given before or after the
// subcommand (after wins).
func Get(c *cli.Context, name string) string {
	for _, x := range c.Lineage() {
		if x.IsSet(name) {
			return x.String(name)
		}
	}
	return c.String(name)
}
