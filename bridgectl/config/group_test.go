package config

import (
	"strconv"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

const groupsFile = `
[[group]]
name = "east"

[[group]]
name = "west"
block = 5000

[[translation]]
name = "a"
group = "east"
a = { parent = "eth0", vlan = 10 }
b = { parent = "eth1", vlan = 20 }

[[translation]]
name = "b"
group = "west"
a = { parent = "eth0", vlan = 11 }
b = { parent = "eth1", vlan = 21 }

[[translation]]
name = "c"
a = { parent = "eth0", vlan = 12 }
b = { parent = "eth1", vlan = 22 }
`

func TestGroups(t *testing.T) {
	cfg, err := Parse("g.toml", []byte(groupsFile))
	if err != nil {
		t.Fatal(err)
	}
	want := []Group{
		{Name: DefaultGroup, Block: defaults.Block, Pos: Pos{File: "g.toml"}},
		{Name: "east", Block: GroupBlock("east"), Derived: true, Pos: Pos{"g.toml", 2}},
		{Name: "west", Block: 5000, Pos: Pos{"g.toml", 5}},
	}
	if len(cfg.Groups) != len(want) {
		t.Fatalf("groups %+v", cfg.Groups)
	}
	for i := range want {
		if cfg.Groups[i] != want[i] {
			t.Errorf("group %d: %+v, want %+v", i, cfg.Groups[i], want[i])
		}
	}
	for i, g := range []string{"east", "west", DefaultGroup} {
		if cfg.Translations[i].Group != g {
			t.Errorf("translation %s in %q, want %q", cfg.Translations[i].Name, cfg.Translations[i].Group, g)
		}
	}
	if cfg.Group("west").Block != 5000 || cfg.Group("north") != nil {
		t.Error("Group lookup")
	}
	// Without groups: one, the default, at [guard] block.
	plain, err := Parse("p.toml", []byte("[guard]\nblock = 77\n[[translation]]\nname = \"x\"\na = { parent = \"eth0\", vlan = 1 }\nb = { parent = \"eth1\", vlan = 2 }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(plain.Groups) != 1 || plain.Groups[0].Name != DefaultGroup || plain.Groups[0].Block != 77 || plain.Groups[0].Pos.Line != 2 {
		t.Errorf("plain groups %+v", plain.Groups)
	}
}

// GroupBlock is part of the file format: a derived block must not change
// between releases (nodes of one cluster may run different ones).
func TestGroupBlockStable(t *testing.T) {
	for name, want := range map[string]uint32{"east": GroupBlock("east"), "a": 1<<30 + 4*(0xe40c292c%(1<<20))} {
		if got := GroupBlock(name); got != want || got < 1<<30 || got%4 != 0 {
			t.Errorf("GroupBlock(%q) = %d, want %d", name, got, want)
		}
	}
}

func TestGroupErrors(t *testing.T) {
	tr := func(name, group string, id int) string {
		g := ""
		if group != "" {
			g = "group = \"" + group + "\"\n"
		}
		return "[[translation]]\nname = \"" + name + "\"\n" + g +
			"a = { parent = \"eth0\", vlan = " + strconv.Itoa(id) + " }\nb = { parent = \"eth1\", vlan = " + strconv.Itoa(id+1000) + " }\n"
	}
	for _, c := range []struct {
		name, src, want string
	}{
		{"undeclared", tr("x", "east", 1), "g.toml:3: group \"east\" is not declared"},
		{"default declared", "[[group]]\nname = \"default\"\n" + tr("x", "", 1), "g.toml:2: group \"default\" is implicit"},
		{"bad name", "[[group]]\nname = \"East\"\n" + tr("x", "", 1), "g.toml:2: group name \"East\""},
		{"no name", "[[group]]\nblock = 9\n" + tr("x", "", 1), "g.toml:1: group: name is required"},
		{"duplicate", "[[group]]\nname = \"e\"\n[[group]]\nname = \"e\"\n" + tr("x", "e", 1), "g.toml:4: group \"e\" is already declared at g.toml:1"},
		{"unused", "[[group]]\nname = \"e\"\n" + tr("x", "", 1), "g.toml:1: group \"e\": no translation is in it"},
		{"unknown key", "[[group]]\nname = \"e\"\nprio = 1\n" + tr("x", "e", 1), "g.toml:3: unknown key \"group.prio\""},
		{"block out of range", "[[group]]\nname = \"e\"\nblock = 4294967294\n" + tr("x", "e", 1), "g.toml:3: group.block: 4294967294 is out of range"},
		{"overlaps guard block", "[guard]\nblock = 100\n[[group]]\nname = \"e\"\nblock = 102\n" + tr("x", "e", 1) + tr("y", "", 2),
			"g.toml:3: group \"e\": its block 102 overlaps group \"default\"'s 100"},
		{"overlaps another", "[[group]]\nname = \"e\"\nblock = 7\n[[group]]\nname = \"w\"\nblock = 5\n" + tr("x", "e", 1) + tr("y", "w", 2),
			"g.toml:4: group \"w\": its block 5 overlaps group \"e\"'s 7"},
		{"group not a string", "[[translation]]\nname = \"x\"\ngroup = 3\na = { parent = \"eth0\", vlan = 1 }\nb = { parent = \"eth1\", vlan = 2 }\n", "g.toml:3: group: must be a string"},
		{"group not an array", "group = 3\n" + tr("x", "", 1), "g.toml:1: group: must be an array of tables"},
		{"flush on shared trunks", "[[group]]\nname = \"e\"\nswitch_flush_ms = 300\n" + tr("x", "e", 1) + tr("y", "", 2),
			"g.toml:3: group \"e\": switch_flush_ms 300, but its trunks eth0, eth1 carry other groups' translations too"},
		{"default's flush on shared trunks", "[guard]\nswitch_flush_ms = 1\n[[group]]\nname = \"e\"\n" + tr("x", "e", 1) + tr("y", "", 2),
			"g.toml:2: group \"default\": switch_flush_ms 1, but its trunks eth0, eth1"},
		{"flush out of range", "[guard]\nswitch_flush_ms = 10001\n" + tr("y", "", 2), "g.toml:2: guard.switch_flush_ms: 10001 is out of range"},
		{"flush negative", "[[group]]\nname = \"e\"\nswitch_flush_ms = -1\n" + tr("x", "e", 1), "g.toml:3: group.switch_flush_ms: -1 is out of range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("g.toml", []byte(c.src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v\nwant %q", err, c.want)
			}
		})
	}
}

// A group with trunks of its own may flush them; 0 is allowed on shared
// trunks (it flushes nothing); the key is optional.
func TestGroupSwitchFlush(t *testing.T) {
	src := "[guard]\nswitch_flush_ms = 0\n[[group]]\nname = \"e\"\nswitch_flush_ms = 300\n[[group]]\nname = \"w\"\n" +
		"[[translation]]\nname = \"x\"\ngroup = \"e\"\na = { parent = \"eth0\", vlan = 1 }\nb = { parent = \"eth1\", vlan = 2 }\n" +
		"[[translation]]\nname = \"y\"\na = { parent = \"eth0\", vlan = 3 }\nb = { parent = \"eth1\", vlan = 4 }\n" +
		"[[translation]]\nname = \"z\"\ngroup = \"w\"\na = { parent = \"eth2\", vlan = 3 }\nb = { parent = \"eth3\", vlan = 4 }\n"
	_, err := Parse("g.toml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "g.toml:5: group \"e\": switch_flush_ms 300") {
		t.Fatalf("e shares eth0/eth1 with the default group: %v", err)
	}
	src = strings.Replace(src, "group = \"e\"\na = { parent = \"eth0\", vlan = 1 }\nb = { parent = \"eth1\"", "group = \"e\"\na = { parent = \"eth4\", vlan = 1 }\nb = { parent = \"eth5\"", 1)
	cfg, err := Parse("g.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]SwitchFlush{
		DefaultGroup: {Ms: 0, Set: true, Pos: Pos{File: "g.toml", Line: 2}},
		"e":          {Ms: 300, Set: true, Pos: Pos{File: "g.toml", Line: 5}},
		"w":          {},
	}
	for name, w := range want {
		if got := cfg.Group(name).SwitchFlush; got.Ms != w.Ms || got.Set != w.Set || got.Pos.Line != w.Pos.Line {
			t.Errorf("group %s: %+v, want %+v", name, got, w)
		}
	}
	unset, err := Parse("g.toml", []byte(strings.Replace(src, "switch_flush_ms = 300\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if unset.Digest() == cfg.Digest() {
		t.Error("the digest ignores a group's switch_flush_ms: the agent would keep reading the old value")
	}
}

func TestGroupsDigest(t *testing.T) {
	base, _ := Parse("g.toml", []byte(groupsFile))
	swap := strings.NewReplacer(`group = "west"`, `group = "east"`, `group = "east"`, `group = "west"`)
	moved, _ := Parse("g.toml", []byte(swap.Replace(groupsFile)))
	reblocked, _ := Parse("g.toml", []byte(strings.Replace(groupsFile, "block = 5000", "block = 5004", 1)))
	if moved == nil || reblocked == nil {
		t.Fatal("variants do not parse")
	}
	if base.Digest() == moved.Digest() || base.Digest() == reblocked.Digest() {
		t.Fatal("the digest ignores a translation's group or a group's block")
	}
}
