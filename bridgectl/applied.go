package bridgectl

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
)

// appliedFile is a byte copy of the configuration last applied in the
// namespace. The OCF monitor checks the kernel against it, not against the
// file on disk, so an edited file is reported ("not applied yet") instead of
// looking like kernel drift — which would make Pacemaker restart the clone
// and cut every translation.
const appliedFile = "applied.toml"

// Record stores raw as the applied configuration, atomically.
func (m *Manager) Record(cfg *config.Config, raw []byte) error {
	// The first line names the source; TOML reads it as a comment.
	b := fmt.Appendf(nil, "# applied from %s\n", cfg.File)
	return m.dir.WriteFile(appliedFile, append(b, raw...))
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
