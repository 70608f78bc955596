package bridgectl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
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

// Record stores raw as the applied configuration, atomically. Three header
// lines, which TOML reads as comments, name the source, the guard's block
// and every group's block (AppliedGroups).
func (m *Manager) Record(cfg *config.Config, raw []byte) error {
	b := fmt.Appendf(nil, "# applied from %s\n# guard block %d\n# groups", cfg.File, cfg.Guard.Block)
	for _, g := range cfg.Groups {
		b = fmt.Appendf(b, " %s=%d", g.Name, g.Block)
	}
	b = append(b, '\n')
	if err := m.recordPassTrunks(cfg); err != nil {
		return err
	}
	return m.dir.WriteFile(appliedFile, append(b, raw...))
}

// splitRecord splits an applied record into its groups header line (the
// third) and the file's bytes; ok is false for a record without all its
// header lines.
func splitRecord(rec []byte) (groupsLine, body []byte, ok bool) {
	_, rest, _ := bytes.Cut(rec, []byte("\n"))
	_, rest, _ = bytes.Cut(rest, []byte("\n"))
	return bytes.Cut(rest, []byte("\n"))
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
	line, body, found := splitRecord(rec)
	if !found || !bytes.Equal(body, raw) {
		return nil, false
	}
	return parseGroupsLine(line)
}

// parseGroupsLine reads a record's groups header line ("# groups
// NAME=BLOCK ...").
func parseGroupsLine(line []byte) (groups []config.Group, ok bool) {
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

// appliedGroups are the groups of the configuration applied in the
// namespace, from the record's header: no parse of the file, which costs
// more than a status's kernel reads at thousands of translations. ok is
// false if nothing (or a record without the header) is applied.
func (m *Manager) appliedGroups() ([]config.Group, bool) {
	rec, err := m.dir.ReadFile(appliedFile)
	if err != nil {
		return nil, false
	}
	line, _, found := splitRecord(rec)
	if !found {
		return nil, false
	}
	return parseGroupsLine(line)
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
