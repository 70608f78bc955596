package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

const basic = `
[[translation]]
name = "vps-bm"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }
`

func parse(t *testing.T, s string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// nics is a kernel with only the trunks.
func nics() []*Observed {
	return []*Observed{
		{Index: 1, Name: "lo", MTU: 65536, Up: true},
		{Index: 2, Name: "eth0", MTU: 1500, Up: true},
		{Index: 3, Name: "eth1", MTU: 1500, Up: true},
		{Index: 4, Name: "eth2", MTU: 9000, Up: true},
	}
}

// converged is the kernel after a successful apply of want.
func converged(want []Link, base []*Observed) []*Observed {
	out := append([]*Observed(nil), base...)
	idx := map[string]int{}
	for _, o := range out {
		idx[o.Name] = o.Index
	}
	next := 100
	for _, w := range want {
		idx[w.Name] = next
		next++
	}
	for _, w := range want {
		o := &Observed{Index: idx[w.Name], Name: w.Name, Kind: string(w.Kind), MTU: w.MTU, Up: true, OperUp: true,
			Group: defaults.OwnerGroup, Alias: w.Alias, AddrGenNone: true, Bound: w.Port}
		if w.Kind == VLAN {
			o.ParentIndex, o.Proto, o.ID = idx[w.Parent], w.Proto, w.ID
		}
		if w.Master != "" {
			o.MasterIndex = idx[w.Master]
		}
		if w.Kind == Bridge {
			o.Ageing, o.GroupFwdMask = w.Ageing, GroupFwdMask
		}
		out = append(out, o)
	}
	return out
}

func TestDesiredQinQToVLAN(t *testing.T) {
	want, err := Desired(parse(t, basic), NewState(nics()))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(want))
	for i, w := range want {
		got[i] = w.Name + ":" + string(w.Kind) + ":" + w.Parent + ":" + w.Master
	}
	exp := []string{"eth0.s100:vlan:eth0:", "br-vps-bm:bridge::", "eth0.s100.200:vlan:eth0.s100:br-vps-bm", "eth1.300:vlan:eth1:br-vps-bm"}
	if strings.Join(got, " ") != strings.Join(exp, " ") {
		t.Fatalf("got %v\nwant %v", got, exp)
	}
	// MTU: the QinQ leaf pays for its second tag, the VLAN leaf follows it.
	for _, w := range want {
		wantMTU := map[string]int{"eth0.s100": 1500, "br-vps-bm": 1496, "eth0.s100.200": 1496, "eth1.300": 1496}[w.Name]
		if w.MTU != wantMTU {
			t.Errorf("%s: mtu %d, want %d", w.Name, w.MTU, wantMTU)
		}
	}
	if !want[2].Port || !want[3].Port || want[0].Port || want[1].Port {
		t.Errorf("ports: %+v", want)
	}
}

func TestDesiredSharesSTag(t *testing.T) {
	cfg := parse(t, `
[[translation]]
name = "bulk"
a = { parent = "eth0", outer = 100, inner = "1-3" }
b = { parent = "eth1", vlan = "11-13" }
`)
	want, err := Desired(cfg, NewState(nics()))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, w := range want {
		if w.Name == "eth0.s100" {
			n++
		}
	}
	if n != 1 || len(want) != 1+3*3 {
		t.Fatalf("want one shared S-tag link and 9 others, got %d links, %d S-tag", len(want), n)
	}
}

func TestDesiredErrors(t *testing.T) {
	for _, tc := range []struct {
		name, cfg, err string
	}{
		{"missing parent", `
[[translation]]
name = "x"
a = { parent = "eth9", vlan = 1 }
b = { parent = "eth1", vlan = 2 }`, "parent interface eth9 does not exist"},
		{"mtu over capacity", `
[[translation]]
name = "x"
a = { parent = "eth0", outer = 1, inner = 2, mtu = 1500 }
b = { parent = "eth2", vlan = 2 }`, "mtu 1500 is more than eth0 (mtu 1500) can carry with 2 tags (1496)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Desired(parse(t, tc.cfg), NewState(nics()))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestDesiredExplicitMTU(t *testing.T) {
	cfg := parse(t, `
[[translation]]
name = "jumbo"
a = { parent = "eth2", vlan = 5, mtu = 8000 }
b = { parent = "eth2", vlan = 6 }`)
	want, err := Desired(cfg, NewState(nics()))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if w.MTU != 8000 {
			t.Errorf("%s: mtu %d, want 8000 (the explicit end mtu bounds the translation)", w.Name, w.MTU)
		}
	}
}

// TestCompute drives the planner over kernel states made from a converged
// one by the changes an operator (or a crash) makes.
func TestCompute(t *testing.T) {
	cfg := parse(t, basic)
	want, err := Desired(cfg, NewState(nics()))
	if err != nil {
		t.Fatal(err)
	}
	byName := func(links []*Observed, name string) *Observed {
		for _, o := range links {
			if o.Name == name {
				return o
			}
		}
		t.Fatalf("no %s", name)
		return nil
	}
	for _, tc := range []struct {
		name   string
		mutate func([]*Observed) []*Observed
		plan   string // the plan's lines, without the summary
		err    string
	}{
		{name: "converged", mutate: func(l []*Observed) []*Observed { return l }},
		{name: "empty kernel", mutate: func(l []*Observed) []*Observed { return nics() },
			plan: "+ eth0.s100: create vlan 802.1ad 100 on eth0 (mtu 1500)\n" +
				"+ br-vps-bm: create bridge (mtu 1496)\n" +
				"+ eth0.s100.200: create vlan 802.1Q 200 on eth0.s100, port of br-vps-bm (mtu 1496)\n" +
				"+ eth1.300: create vlan 802.1Q 300 on eth1, port of br-vps-bm (mtu 1496)"},
		{name: "port down and out of the bridge", mutate: func(l []*Observed) []*Observed {
			o := byName(l, "eth1.300")
			o.Up, o.MasterIndex = false, 0
			return l
		}, plan: "~ eth1.300: master none -> br-vps-bm; up down -> up"},
		{name: "mtu and guard", mutate: func(l []*Observed) []*Observed {
			o := byName(l, "eth0.s100.200")
			o.MTU, o.Bound = 1400, false
			return l
		}, plan: "~ eth0.s100.200: mtu 1400 -> 1496; guard unbound -> bound"},
		{name: "id drift recreates", mutate: func(l []*Observed) []*Observed {
			byName(l, "eth1.300").ID = 301
			return l
		}, plan: "± eth1.300: recreate, the kernel cannot change id: id 301 -> 300"},
		{name: "recreated parent takes its children", mutate: func(l []*Observed) []*Observed {
			byName(l, "eth0.s100").Proto = config.Dot1Q
			return l
		}, plan: "± eth0.s100: recreate, the kernel cannot change protocol: protocol 802.1Q -> 802.1ad\n" +
			"± eth0.s100.200: recreate, its parent eth0.s100 is recreated: parent eth0.s100 -> eth0.s100"},
		{name: "bridge settings", mutate: func(l []*Observed) []*Observed {
			o := byName(l, "br-vps-bm")
			o.STP, o.McastSnoop, o.Ageing = true, true, time.Minute
			return l
		}, plan: "~ br-vps-bm: stp on -> off; mcast_snooping on -> off; ageing 1m0s -> 5m0s"},
		{name: "orphan deleted first", mutate: func(l []*Observed) []*Observed {
			return append(l, &Observed{Index: 50, Name: "eth1.301", Kind: "vlan", ParentIndex: 3, ID: 301, Proto: config.Dot1Q, Group: defaults.OwnerGroup, Alias: "qinqbridge old b"})
		}, plan: "- eth1.301: delete vlan, not in the configuration"},
		{name: "orphan marked for deletion by an interrupted run deleted", mutate: func(l []*Observed) []*Observed {
			return append(l, &Observed{Index: 50, Name: "eth1.301", Kind: "vlan", ParentIndex: 3, ID: 301, Proto: config.Dot1Q, Group: defaults.DoomedGroup, Alias: "qinqbridge s-tag"})
		}, plan: "- eth1.301: delete vlan, not in the configuration"},
		// Ownership needs the group and the mark (issue 12, item 7).
		{name: "unmarked link in the group is foreign, not deleted", mutate: func(l []*Observed) []*Observed {
			return append(l, &Observed{Index: 50, Name: "eth1.301", Kind: "vlan", ParentIndex: 3, ID: 301, Proto: config.Dot1Q, Group: defaults.OwnerGroup})
		}, plan: "! eth1.301: foreign vlan, " + inGroup(defaults.OwnerGroup, "", "eth1.301")},
		{name: "lo in the group is foreign", mutate: func(l []*Observed) []*Observed {
			byName(l, "lo").Group = defaults.OwnerGroup
			return l
		}, plan: "! lo: foreign device, " + inGroup(defaults.OwnerGroup, "", "lo")},
		{name: "admin's link with an alias of its own in the doomed group is foreign", mutate: func(l []*Observed) []*Observed {
			return append(l, &Observed{Index: 51, Name: "mine", Kind: "veth", Group: defaults.DoomedGroup, Alias: "qinqbridgeish"})
		}, plan: "! mine: foreign veth, " + inGroup(defaults.DoomedGroup, "qinqbridgeish", "mine")},
		{name: "wanted link left unmarked by a killed run is adopted", mutate: func(l []*Observed) []*Observed {
			byName(l, "eth1.300").Alias = ""
			return l
		}, plan: `~ eth1.300: alias "" -> "qinqbridge vps-bm b"`},
		{name: "wanted link left unmarked in the doomed group is adopted", mutate: func(l []*Observed) []*Observed {
			o := byName(l, "br-vps-bm")
			o.Alias, o.Group = "", defaults.DoomedGroup
			return l
		}, plan: `~ br-vps-bm: group 29027 -> 29026; alias "" -> "qinqbridge vps-bm"`},
		{name: "unmarked link of a wanted name with another id is refused", mutate: func(l []*Observed) []*Observed {
			o := byName(l, "eth1.300")
			o.Alias, o.ID = "", 301
			return l
		}, err: `eth1.300: a link of that name is in group qinqbridge but not marked as bridgectl's (foreign, kind "vlan", alias "")`},
		{name: "unmarked link of a wanted name and another kind is refused", mutate: func(l []*Observed) []*Observed {
			o := byName(l, "eth1.300")
			o.Alias, o.Kind = "", "veth"
			return l
		}, err: `eth1.300: a link of that name is in group qinqbridge but not marked as bridgectl's (foreign, kind "veth", alias "")`},
		{name: "link of a wanted name in the group with an admin's alias is refused", mutate: func(l []*Observed) []*Observed {
			byName(l, "eth0.s100").Alias = "uplink to rack 4"
			return l
		}, err: `eth0.s100: a link of that name is in group qinqbridge but not marked as bridgectl's (foreign, kind "vlan", alias "uplink to rack 4")`},
		{name: "marked link out of the group is foreign", mutate: func(l []*Observed) []*Observed {
			byName(l, "eth1.300").Group = 0
			return l
		}, err: "eth1.300: a link of that name exists and was not created by bridgectl"},
		// A foreign port of a translation bridge (issue 12, item 6).
		{name: "foreign port of a translation bridge is reported, not released", mutate: func(l []*Observed) []*Observed {
			return append(l, &Observed{Index: 52, Name: "fx0", Kind: "veth", MasterIndex: byName(l, "br-vps-bm").Index, Up: true})
		}, plan: "! fx0: foreign veth, port of translation bridge br-vps-bm: it forwards through the translation; bridgectl never releases it: ip link set fx0 nomaster"},
		{name: "foreign port of a translation bridge, in the group", mutate: func(l []*Observed) []*Observed {
			return append(l, &Observed{Index: 52, Name: "fx0", Kind: "veth", MasterIndex: byName(l, "br-vps-bm").Index, Group: defaults.OwnerGroup})
		}, plan: "! fx0: foreign veth, " + inGroup(defaults.OwnerGroup, "", "fx0") +
			"; port of translation bridge br-vps-bm: it forwards through the translation; bridgectl never releases it: ip link set fx0 nomaster"},
		{name: "port of a foreign bridge is none of bridgectl's business", mutate: func(l []*Observed) []*Observed {
			return append(l, &Observed{Index: 53, Name: "br-hand", Kind: "bridge"}, &Observed{Index: 54, Name: "fx0", Kind: "veth", MasterIndex: 53})
		}},
		{name: "interrupted delete kept", mutate: func(l []*Observed) []*Observed {
			byName(l, "eth1.300").Group = defaults.DoomedGroup
			return l
		}, plan: "~ eth1.300: group 29027 -> 29026"},
		{name: "foreign name", mutate: func(l []*Observed) []*Observed {
			byName(l, "eth1.300").Group = 0
			return l
		}, err: "eth1.300: a link of that name exists and was not created by bridgectl"},
		{name: "foreign slot", mutate: func(l []*Observed) []*Observed {
			out := nics()
			return append(out, &Observed{Index: 60, Name: "vlan300", Kind: "vlan", ParentIndex: 3, ID: 300, Proto: config.Dot1Q})
		}, err: "foreign link vlan300 already holds 802.1Q 300 on eth1"},
		{name: "foreign slot, other protocol is free", mutate: func(l []*Observed) []*Observed {
			return append(l, &Observed{Index: 60, Name: "ad300", Kind: "vlan", ParentIndex: 3, ID: 300, Proto: config.Dot1AD})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := NewState(tc.mutate(converged(want, nics())))
			p, err := Compute(want, st)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			p.Write(&b)
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")
			got := strings.Join(lines[:len(lines)-1], "\n")
			if got != tc.plan {
				t.Fatalf("plan:\n%s\nwant:\n%s", got, tc.plan)
			}
		})
	}
}

// inGroup is the reason a foreign link in one of bridgectl's groups is
// reported.
func inGroup(group uint32, alias, name string) string {
	return fmt.Sprintf("in group qinqbridge (%d) but not marked as bridgectl's (alias %q): never changed or deleted by bridgectl; take it out with: ip link set %s group default", group, alias, name)
}

func TestWriteDrift(t *testing.T) {
	cfg := parse(t, basic)
	want, _ := Desired(cfg, NewState(nics()))
	links := converged(want, nics())
	for _, o := range links {
		if o.Name == "eth1.300" {
			o.Up = false
		}
	}
	p, err := Compute(want, NewState(links))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	p.WriteDrift(&b)
	if got := b.String(); got != "eth1.300: up: have down, want up\n" {
		t.Fatalf("drift %q", got)
	}
}

// A foreign port of a translation bridge changes nothing apply would do,
// but check must not call the node clean.
func TestWriteDriftForeign(t *testing.T) {
	want, _ := Desired(parse(t, basic), NewState(nics()))
	links := converged(want, nics())
	links = append(links, &Observed{Index: 60, Name: "fx0", Kind: "veth", MasterIndex: 101})
	p, err := Compute(want, NewState(links))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() || p.Clean() {
		t.Fatalf("Empty %v, Clean %v: want nothing to apply and not clean", p.Empty(), p.Clean())
	}
	var b strings.Builder
	p.WriteDrift(&b)
	if got := b.String(); !strings.HasPrefix(got, "fx0: foreign veth, port of translation bridge br-vps-bm: ") {
		t.Fatalf("drift %q", got)
	}
}
