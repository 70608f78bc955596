package bridgectl

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

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

// Record stores raw as the applied configuration, atomically. Two header
// lines, which TOML reads as comments, name the source and the guard's
// block (AppliedBlock).
func (m *Manager) Record(cfg *config.Config, raw []byte) error {
	b := fmt.Appendf(nil, "# applied from %s\n# guard block %d\n", cfg.File, cfg.Guard.Block)
	return m.dir.WriteFile(appliedFile, append(b, raw...))
}

// AppliedBlock is the guard's block of the configuration applied in the
// namespace o selects, if raw is byte for byte the file that was applied:
// it was validated whole then, so a command that needs only the block
// (tcguard block and unblock) need not validate it again — at thousands of
// translations that costs more than the rest of the command. It reads the
// state file only. ok is false for anything else (nothing applied, another
// file, a record without the block line).
func AppliedBlock(o Options, raw []byte) (block uint32, ok bool) {
	if o.StateDir == "" {
		o.StateDir = defaults.StateDir
	}
	dir, err := statedir.New(o.StateDir, o.NetNS)
	if err != nil {
		return 0, false
	}
	rec, err := dir.ReadFile(appliedFile)
	if err != nil {
		return 0, false
	}
	_, rest, _ := bytes.Cut(rec, []byte("\n"))
	line, body, found := bytes.Cut(rest, []byte("\n"))
	if !found || !bytes.Equal(body, raw) {
		return 0, false
	}
	if _, err := fmt.Sscanf(string(line), "# guard block %d", &block); err != nil || block == 0 {
		return 0, false
	}
	return block, true
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
