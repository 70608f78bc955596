package main

import (
	"fmt"
	"math"
	"os"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
)

// loadBlock reads the guard's block index from the configuration without
// expanding its translations: block and unblock must cost the same with
// 4094 translations as with one, and config.Parse is O(translations) (range
// expansion, names, checks: most of an unblock's time at 4094 in the
// testbed). Only the [guard] table is checked; the rest of the file is
// bridgectl's (bridgectl validate). On any problem the full parser runs to
// report it with its line.
func loadBlock(c *cli.Context) (uint32, error) {
	path := opt(c, "config")
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, fail(exitError, "%v", err)
	}
	block, err := guardBlock(raw)
	if err == nil {
		return block, nil
	}
	if _, perr := config.Parse(path, raw); perr != nil {
		fmt.Fprintln(os.Stderr, perr)
		return 0, fail(exitError, "%s: invalid configuration", path)
	}
	return 0, fail(exitError, "%s: %v", path, err)
}

// guardBlock decodes [guard] block as config.Parse does: an integer in
// 1..2^32-1, config.DefaultBlock if absent, no other key in [guard].
func guardBlock(raw []byte) (uint32, error) {
	var doc struct {
		Guard any `toml:"guard"`
	}
	if _, err := toml.Decode(string(raw), &doc); err != nil {
		return 0, err
	}
	if doc.Guard == nil {
		return config.DefaultBlock, nil
	}
	t, ok := doc.Guard.(map[string]any)
	if !ok {
		return 0, fmt.Errorf("guard: must be a table")
	}
	for k := range t {
		if k != "block" {
			return 0, fmt.Errorf("unknown key guard.%s", k)
		}
	}
	v, ok := t["block"]
	if !ok {
		return config.DefaultBlock, nil
	}
	n, ok := v.(int64)
	if !ok || n < 1 || n > math.MaxUint32 {
		return 0, fmt.Errorf("guard.block: must be an integer in 1..%d", uint32(math.MaxUint32))
	}
	return uint32(n), nil
}
