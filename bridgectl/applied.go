package bridgectl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

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

// splitRecord splits an applied record into its guard block header line
// and the file's bytes; ok is false for a record without both header
// lines.
func splitRecord(rec []byte) (blockLine, body []byte, ok bool) {
	_, rest, _ := bytes.Cut(rec, []byte("\n"))
	blockLine, body, ok = bytes.Cut(rest, []byte("\n"))
	return blockLine, body, ok
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
	line, body, found := splitRecord(rec)
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
func (m *Manager) Applied() (*config.Config, error) { return m.AppliedAs(nil, nil) }

// AppliedAs loads the configuration last applied in the namespace, or
// returns cfg itself if the record holds raw, cfg's bytes, byte for byte:
// the same bytes parse the same, and at thousands of translations a parse
// costs more than status's kernel reads. It reads the state file only.
func (m *Manager) AppliedAs(cfg *config.Config, raw []byte) (*config.Config, error) {
	rec, err := m.dir.ReadFile(appliedFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotApplied
	}
	if err != nil {
		return nil, err
	}
	if _, body, ok := splitRecord(rec); ok && cfg != nil && bytes.Equal(body, raw) {
		return cfg, nil
	}
	return config.Parse(filepath.Join(m.Dir(), appliedFile), rec)
}

// lastApplyFile records the outcome of the last apply in the namespace
// (LastApply, as JSON), for status and the metrics: every Apply that got
// as far as a plan writes it — bridgectl apply, watch, the bridge agent's
// start and reload —, whether it succeeded or failed on the way. One
// refused before anything changed writes nothing (the state directory
// stays as it was; drift shows the file is not applied). down leaves it:
// it tells what happened, not what is applied.
const lastApplyFile = "last-apply.json"

// LastApply is the outcome of the last apply in the namespace.
type LastApply struct {
	Time   time.Time `json:"time"`
	OK     bool      `json:"ok"`
	Digest string    `json:"digest"`          // of the configuration applied, or tried
	Error  string    `json:"error,omitempty"` // why it failed
}

// recordOutcome records the outcome err of applying cfg.
func (m *Manager) recordOutcome(cfg *config.Config, err error) error {
	a := LastApply{Time: time.Now().UTC(), OK: err == nil, Digest: cfg.Digest()}
	if err != nil {
		a.Error = err.Error()
	}
	b, merr := json.Marshal(a)
	if merr != nil {
		return merr
	}
	return m.dir.WriteFile(lastApplyFile, append(b, '\n'))
}

// LastApply is the outcome of the last apply in the namespace; nil if none
// is recorded (since boot).
func (m *Manager) LastApply() (*LastApply, error) {
	b, err := m.dir.ReadFile(lastApplyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var a LastApply
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(m.Dir(), lastApplyFile), err)
	}
	return &a, nil
}
