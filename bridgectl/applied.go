package bridgectl

import (
	"errors"
	"fmt"
	"os"
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
	if err := os.MkdirAll(m.Dir(), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(m.Dir(), appliedFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	// The first line names the source; TOML reads it as a comment.
	if _, err = fmt.Fprintf(f, "# applied from %s\n", cfg.File); err == nil {
		_, err = f.Write(raw)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, filepath.Join(m.Dir(), appliedFile))
}

// ErrNotApplied means nothing was applied in the namespace since boot (or
// since the last down).
var ErrNotApplied = errors.New("no configuration applied since boot")

// Applied loads the configuration last applied in the namespace.
func (m *Manager) Applied() (*config.Config, error) {
	path := filepath.Join(m.Dir(), appliedFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotApplied
	}
	if err != nil {
		return nil, err
	}
	return config.Parse(path, raw)
}
