package bridgectl

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/internal/statedir"
)

// appliedFile is a byte copy of the configuration last applied in the
// namespace. The OCF monitor checks the kernel against it, not against the
// file on disk, so an edited file is reported ("not applied yet") instead of
// looking like kernel drift — which would make Pacemaker restart the clone
// and cut every translation.
const appliedFile = "applied.toml"

// Record stores raw as the applied configuration, atomically. Three header
// lines, which TOML reads as comments, name the source, the guard's block
// and every group's block (AppliedGroups).
func (m *Manager) Record(cfg *config.Config, raw []byte) error {
	b := fmt.Appendf(nil, "# applied from %s\n# guard block %d\n# groups", cfg.File, cfg.Guard.Block)
	for _, g := range cfg.Groups {
		b = fmt.Appendf(b, " %s=%d", g.Name, g.Block)
	}
	b = append(b, '\n')
	return m.dir.WriteFile(appliedFile, append(b, raw...))
}

// AppliedGroups are the groups (name and guard block; the default group
// first) of the configuration applied in the namespace o selects, if raw
// is byte for byte the file that was applied: it was validated whole then,
// so a command that needs only the blocks (tcguard block and unblock)
// need not validate it again — at thousands of translations that costs
// more than the rest of the command. It reads the state file only. ok is
// false for anything else (nothing applied, another file, a record
// without the header lines).
func AppliedGroups(o Options, raw []byte) (groups []config.Group, ok bool) {
	if o.StateDir == "" {
		o.StateDir = defaults.StateDir
	}
	dir, err := statedir.New(o.StateDir, o.NetNS)
	if err != nil {
		return nil, false
	}
	rec, err := dir.ReadFile(appliedFile)
	if err != nil {
		return nil, false
	}
	_, rest, _ := bytes.Cut(rec, []byte("\n"))
	_, rest, _ = bytes.Cut(rest, []byte("\n"))
	line, body, found := bytes.Cut(rest, []byte("\n"))
	if !found || !bytes.Equal(body, raw) {
		return nil, false
	}
	fields := strings.Fields(string(line))
	if len(fields) < 3 || fields[0] != "#" || fields[1] != "groups" {
		return nil, false
	}
	for _, f := range fields[2:] {
		name, n, _ := strings.Cut(f, "=")
		block, err := strconv.ParseUint(n, 10, 32)
		if err != nil || block == 0 || name == "" {
			return nil, false
		}
		groups = append(groups, config.Group{Name: name, Block: uint32(block)})
	}
	return groups, true
}

// ErrNotApplied means nothing was applied in the namespace since boot (or
// since the last down).
var ErrNotApplied = errors.New("no configuration applied since boot")

// Applied loads the configuration last applied in the namespace.
func (m *Manager) Applied() (*config.Config, error) {
	raw, err := m.dir.ReadFile(appliedFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotApplied
	}
	if err != nil {
		return nil, err
	}
	return config.Parse(filepath.Join(m.Dir(), appliedFile), raw)
}
