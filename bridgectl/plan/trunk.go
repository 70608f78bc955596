package plan

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Feature is one device feature flag (ethtool -k).
type Feature struct {
	On    bool
	Fixed bool // the device cannot change it
}

// Setting is a trunk setting the tc datapath needs: promiscuous mode (a
// bridge port's VLAN devices would set it; the tc datapath has none, and
// the frames it translates are for the hosts behind it, not for the NIC's
// address), and the VLAN filtering offloads off (a NIC that filters VLANs
// drops those no device registered).
type Setting string

const (
	Promisc    Setting = "promisc"
	VLANFilter Setting = "rx-vlan-filter"
	STagFilter Setting = "rx-vlan-stag-filter"
)

// TrunkOffloads are the features of a trunk the tc datapath turns off.
var TrunkOffloads = []string{string(VLANFilter), string(STagFilter)}

// Changed is a trunk setting bridgectl changed, as recorded before it
// changed it: Was is the value it found, put back when no translation
// needs the trunk any more. A trunk is known by ifindex and name: one
// deleted and created again is not the one bridgectl changed.
type Changed struct {
	Index   int
	Trunk   string
	Setting Setting
	Was     bool
}

// SettingStep changes one trunk setting: to what the tc datapath needs, or
// back (Restore) to what it was before bridgectl changed it.
type SettingStep struct {
	Trunk      string
	Index      int
	Setting    Setting
	Have, Want bool
	Restore    bool
}

func (s SettingStep) String() string {
	t := fmt.Sprintf("%s %s -> %s", s.Setting, onOff(s.Have), onOff(s.Want))
	if s.Restore {
		t += " (restored: bridgectl changed it)"
	}
	return t
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// have is the value of setting s of o, and whether o has it.
func have(o *Observed, s Setting) (Feature, bool) {
	if s == Promisc {
		return Feature{On: o.Promisc}, true
	}
	f, ok := o.Offloads[string(s)]
	return f, ok
}

// ComputeSettings returns the steps that give the trunks the settings the
// tc datapath needs, and put back the recorded ones of trunks it no longer
// needs; and the record as it stands once they are done (after): every
// setting bridgectl changed and a trunk still needs, with the value it
// found first. A fixed feature the datapath needs off is a warning, not a
// step.
func ComputeSettings(trunks []string, st *State, changed []Changed) (steps []SettingStep, after []Changed, warnings []string) {
	type key struct {
		index   int
		setting Setting
	}
	recorded := map[key]Changed{}
	for _, c := range changed {
		recorded[key{c.Index, c.Setting}] = c
	}
	wanted := map[int]bool{}
	for _, name := range trunks {
		o := st.ByName[name]
		if o == nil || wanted[o.Index] {
			continue
		}
		wanted[o.Index] = true
		for _, s := range []Setting{Promisc, VLANFilter, STagFilter} {
			f, ok := have(o, s)
			want := s == Promisc
			c, mine := recorded[key{o.Index, s}]
			switch {
			case !ok:
				continue
			case f.On != want && f.Fixed:
				warnings = append(warnings, fmt.Sprintf("trunk %s: %s is %s and the device cannot change it: frames of VLANs no device registered may be dropped by the NIC",
					name, s, onOff(f.On)))
				continue
			case f.On != want:
				steps = append(steps, SettingStep{Trunk: name, Index: o.Index, Setting: s, Have: f.On, Want: want})
				if !mine || c.Trunk != name {
					c, mine = Changed{Index: o.Index, Trunk: name, Setting: s, Was: f.On}, true
				}
			}
			if mine && c.Trunk == name {
				after = append(after, c)
			}
		}
	}
	for _, c := range changed {
		o := st.ByIndex[c.Index]
		if o == nil || o.Name != c.Trunk || wanted[c.Index] {
			continue // gone (nothing of ours to put back), or kept above
		}
		if f, ok := have(o, c.Setting); ok && f.On != c.Was && !f.Fixed {
			steps = append(steps, SettingStep{Trunk: c.Trunk, Index: c.Index, Setting: c.Setting, Have: f.On, Want: c.Was, Restore: true})
		}
	}
	return steps, after, warnings
}

// FormatChanged is the record of changed settings: one line per setting,
// "IFINDEX NAME SETTING on|off".
func FormatChanged(cs []Changed) []byte {
	var b bytes.Buffer
	for _, c := range cs {
		fmt.Fprintf(&b, "%d %s %s %s\n", c.Index, c.Trunk, c.Setting, onOff(c.Was))
	}
	return b.Bytes()
}

// ParseChanged reads FormatChanged's record; file names it in errors.
func ParseChanged(file string, b []byte) ([]Changed, error) {
	var out []Changed
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("%s:%d: %s: %q", file, line, why, sc.Text()) }
		if len(f) != 4 {
			return nil, bad("want IFINDEX NAME SETTING on|off")
		}
		i, err := strconv.Atoi(f[0])
		if err != nil || i <= 0 {
			return nil, bad("bad ifindex")
		}
		s := Setting(f[2])
		if !slices.Contains([]Setting{Promisc, VLANFilter, STagFilter}, s) {
			return nil, bad("unknown setting")
		}
		if f[3] != "on" && f[3] != "off" {
			return nil, bad("want on or off")
		}
		out = append(out, Changed{Index: i, Trunk: f[1], Setting: s, Was: f[3] == "on"})
	}
	return out, sc.Err()
}
