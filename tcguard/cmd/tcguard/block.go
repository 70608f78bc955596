package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

func cmdBlock(c *cli.Context) error {
	block, err := loadBlock(c)
	if err != nil {
		return blockApplied(c, err)
	}
	return change(c, "block", (*tcguard.Guard).Block, "blocked", block)
}

func cmdUnblock(c *cli.Context) error {
	block, err := loadBlock(c)
	if err != nil {
		return err // nothing is opened for a file that cannot be loaded
	}
	return change(c, "unblock", (*tcguard.Guard).Unblock, "open", block)
}

// loadBlock is the [guard] block of the configuration file, validated whole
// first, unless the file is byte for byte the one bridgectl validated and
// applied in the namespace (bridgectl.AppliedBlock): then promotion by hand
// costs the same whatever the number of translations.
func loadBlock(c *cli.Context) (uint32, error) {
	if raw, err := config.Read(opt(c, "config")); err == nil {
		if block, ok := bridgectl.AppliedBlock(bridgectl.Options{NetNS: opt(c, "netns"), StateDir: opt(c, "state-dir")}, raw); ok {
			return block, nil
		}
	}
	cfg, _, err := load(c)
	if err != nil {
		return 0, err
	}
	return cfg.Guard.Block, nil
}

// blockApplied is block for a configuration file that cannot be loaded
// (loadErr): closing is always safe, so it closes the block of the
// configuration bridgectl recorded as applied in the namespace — the one
// its ports are bound to — and says so on stderr. It still fails with
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
	block := applied.Guard.Block
	g, err := m.Guard(block)
	if err == nil {
		defer g.Close()
		err = g.Block()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tcguard: block: cannot close the applied configuration's block: %s\n", bare(err))
		return loadErr
	}
	fmt.Fprintf(os.Stderr, "tcguard: blocked: %s, the applied configuration's (%s), instead of the file's\n", where(c, block), applied.File)
	return loadErr
}
