package plan

import (
	"reflect"
	"strings"
	"testing"
)

func TestComputeSettings(t *testing.T) {
	on, off := Feature{On: true}, Feature{}
	eth0 := func(promisc bool, fs map[string]Feature) *Observed {
		return &Observed{Index: 2, Name: "eth0", Promisc: promisc, Offloads: fs}
	}
	promisc := Changed{Index: 2, Trunk: "eth0", Setting: Promisc, Was: false}
	filter := Changed{Index: 2, Trunk: "eth0", Setting: VLANFilter, Was: true}
	for _, tc := range []struct {
		name     string
		link     *Observed
		trunks   []string
		changed  []Changed
		steps    []SettingStep
		after    []Changed
		warnings int
	}{
		{name: "fresh trunk: all set, all recorded", link: eth0(false, map[string]Feature{"rx-vlan-filter": on, "rx-vlan-stag-filter": on}), trunks: []string{"eth0"},
			steps: []SettingStep{{"eth0", 2, Promisc, false, true, false}, {"eth0", 2, VLANFilter, true, false, false}, {"eth0", 2, STagFilter, true, false, false}},
			after: []Changed{promisc, filter, {Index: 2, Trunk: "eth0", Setting: STagFilter, Was: true}}},
		{name: "already as needed, not ours: nothing", link: eth0(true, map[string]Feature{"rx-vlan-filter": off}), trunks: []string{"eth0"}},
		{name: "ours and in place: kept", link: eth0(true, map[string]Feature{"rx-vlan-filter": off}), trunks: []string{"eth0"},
			changed: []Changed{promisc, filter}, after: []Changed{promisc, filter}},
		{name: "ours, undone by hand: set again, first value kept", link: eth0(false, nil), trunks: []string{"eth0"},
			changed: []Changed{promisc}, steps: []SettingStep{{"eth0", 2, Promisc, false, true, false}}, after: []Changed{promisc}},
		{name: "fixed on: a warning", link: eth0(true, map[string]Feature{"rx-vlan-filter": {On: true, Fixed: true}}), trunks: []string{"eth0"}, warnings: 1},
		{name: "no longer a trunk: put back", link: eth0(true, map[string]Feature{"rx-vlan-filter": off}),
			changed: []Changed{promisc, filter}, steps: []SettingStep{{"eth0", 2, Promisc, true, false, true}, {"eth0", 2, VLANFilter, false, true, true}}},
		{name: "no longer a trunk, already back: nothing", link: eth0(false, map[string]Feature{"rx-vlan-filter": on}), changed: []Changed{promisc, filter}},
		{name: "another device by that name: not ours", link: &Observed{Index: 9, Name: "eth0", Promisc: true},
			changed: []Changed{promisc}},
		{name: "a recorded name on another index: set, recorded anew", link: &Observed{Index: 9, Name: "eth0"}, trunks: []string{"eth0"},
			changed: []Changed{promisc}, steps: []SettingStep{{"eth0", 9, Promisc, false, true, false}}, after: []Changed{{Index: 9, Trunk: "eth0", Setting: Promisc}}},
		{name: "trunk missing: nothing", link: &Observed{Index: 3, Name: "eth1"}, trunks: []string{"eth0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := NewState([]*Observed{tc.link})
			steps, after, warnings := ComputeSettings(tc.trunks, st, tc.changed)
			if !reflect.DeepEqual(steps, tc.steps) {
				t.Errorf("steps %+v\nwant  %+v", steps, tc.steps)
			}
			if !reflect.DeepEqual(after, tc.after) {
				t.Errorf("after %+v\nwant  %+v", after, tc.after)
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings %q, want %d", warnings, tc.warnings)
			}
		})
	}
}

func TestParseChanged(t *testing.T) {
	cs := []Changed{{Index: 2, Trunk: "eth0", Setting: Promisc}, {Index: 3, Trunk: "bond0", Setting: STagFilter, Was: true}}
	got, err := ParseChanged("f", FormatChanged(cs))
	if err != nil || !reflect.DeepEqual(got, cs) {
		t.Fatalf("round trip %+v, %v", got, err)
	}
	for _, bad := range []string{"2 eth0 promisc", "x eth0 promisc on", "0 eth0 promisc on", "2 eth0 mtu on", "2 eth0 promisc yes"} {
		if _, err := ParseChanged("f", []byte("2 eth1 promisc on\n"+bad+"\n")); err == nil || !strings.HasPrefix(err.Error(), "f:2: ") {
			t.Errorf("%q: %v, want an error at f:2", bad, err)
		}
	}
}

func FuzzParseChanged(f *testing.F) {
	f.Add([]byte("2 eth0 promisc off\n3 bond0 rx-vlan-filter on\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := ParseChanged("f", b)
		if err != nil {
			return
		}
		again, err := ParseChanged("f", FormatChanged(cs))
		if err != nil || !reflect.DeepEqual(again, cs) {
			t.Fatalf("%q: round trip %+v, %v", b, again, err)
		}
	})
}
