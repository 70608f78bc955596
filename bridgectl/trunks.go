package bridgectl

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// changedFile records the trunk settings bridgectl changed for the tc
// datapath (plan.FormatChanged), so that it puts back only its own: a
// trunk an operator had made promiscuous stays so after down.
const changedFile = "trunk-settings"

// changedSettings reads the record; none is an empty one.
func (m *Manager) changedSettings() ([]plan.Changed, error) {
	b, err := m.dir.ReadFile(changedFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return plan.ParseChanged(filepath.Join(m.Dir(), changedFile), b)
}

func (m *Manager) recordSettings(cs []plan.Changed) error {
	if len(cs) == 0 {
		return m.dir.Remove(changedFile)
	}
	return m.dir.WriteFile(changedFile, plan.FormatChanged(cs))
}

// observeSettings plans the trunk settings: those the wanted trunks need,
// and those recorded for trunks no longer wanted. It reads the offloads of
// both (a trunk's features are not in the link dump).
func (m *Manager) observeSettings(v *View) error {
	var err error
	if v.Changed, err = m.changedSettings(); err != nil {
		return err
	}
	names := slices.Clone(v.Trunks)
	for _, c := range v.Changed {
		names = append(names, c.Trunk)
	}
	for _, name := range names {
		o := v.State.ByName[name]
		if o == nil || o.Offloads != nil {
			continue
		}
		if o.Offloads, err = m.Offloads.Read(name, plan.TrunkOffloads); err != nil {
			return err
		}
	}
	v.Plan.Settings, v.settingsAfter, v.Plan.Warnings = plan.ComputeSettings(tcTrunks(v), v.PassTrunks, v.State, v.Changed)
	return nil
}

// tcTrunks are the trunks the tc datapath translates on: those of v.Trunks
// not only a pass-through's.
func tcTrunks(v *View) []string {
	return slices.DeleteFunc(slices.Clone(v.Trunks), func(t string) bool { return slices.Contains(v.PassTrunks, t) })
}

// setTrunks gives the trunks the settings the tc datapath needs. Each
// setting is recorded before it changes: killed in between, the record
// holds a value the trunk has anyway, and putting it back changes nothing.
func (m *Manager) setTrunks(v *View) error {
	steps := settingSteps(v.Plan.Settings, false)
	if len(steps) == 0 {
		return nil
	}
	during := slices.Clone(v.Changed)
	for _, c := range v.settingsAfter {
		if !slices.ContainsFunc(during, func(d plan.Changed) bool { return d.Index == c.Index && d.Setting == c.Setting }) {
			during = append(during, c)
		}
	}
	if err := m.recordSettings(during); err != nil {
		return err
	}
	return m.setSettings(steps)
}

// restoreTrunks puts back the settings of trunks no translation needs any
// more, then records what is left.
func (m *Manager) restoreTrunks(v *View) error {
	if err := m.setSettings(settingSteps(v.Plan.Settings, true)); err != nil {
		return err
	}
	if slices.Equal(v.settingsAfter, v.Changed) {
		return nil
	}
	return m.recordSettings(v.settingsAfter)
}

func settingSteps(all []plan.SettingStep, restore bool) []plan.SettingStep {
	var out []plan.SettingStep
	for _, s := range all {
		if s.Restore == restore {
			out = append(out, s)
		}
	}
	return out
}

func (m *Manager) setSettings(steps []plan.SettingStep) error {
	for _, s := range steps {
		var err error
		if s.Setting == plan.Promisc {
			op := kernel.OpPromiscOff
			if s.Want {
				op = kernel.OpPromiscOn
			}
			r := kernel.Request{Op: op, Index: s.Index, What: fmt.Sprintf("%s: %s", s.Trunk, s)}
			if s.Restore {
				r.Done = unix.ENODEV // a trunk gone meanwhile has nothing to put back
			}
			_, err = m.links.Exec([]kernel.Request{r})
		} else {
			err = m.Offloads.Set(s.Trunk, string(s.Setting), s.Want)
		}
		if err != nil {
			return fmt.Errorf("trunk %s: %w", s.Trunk, err)
		}
	}
	return nil
}
