package config

import (
	"reflect"
	"strings"
	"testing"
)

const passthroughFile = `
[[group]]
name = "east"

[[translation]]
name = "x"
group = "east"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }

[[translation]]
name = "y"
a = { parent = "eth2", vlan = 1 }
b = { parent = "eth3", vlan = 2 }

[[passthrough]]
a = "eth1"
b = "eth0"
protocols = ["lacp"]
carrier = true
group = "east"

[[passthrough]]
a = "eth2"
b = "eth3"
protocols = ["lacp"]
`

func TestPassthroughs(t *testing.T) {
	cfg, err := Parse("p.toml", []byte(passthroughFile))
	if err != nil {
		t.Fatal(err)
	}
	want := []Passthrough{
		{A: "eth1", B: "eth0", Protocols: []string{ProtoLACP}, Carrier: true, Group: "east", Pos: Pos{"p.toml", 16}},
		{A: "eth2", B: "eth3", Protocols: []string{ProtoLACP}, Group: DefaultGroup, Pos: Pos{"p.toml", 23}},
	}
	if !reflect.DeepEqual(cfg.Passthroughs, want) {
		t.Errorf("passthroughs\n%+v\nwant\n%+v", cfg.Passthroughs, want)
	}
	if got := cfg.Passthroughs[0].String(); got != "eth1 <-> eth0 (lacp)" {
		t.Errorf("String() = %q", got)
	}
}

func TestPassthroughErrors(t *testing.T) {
	const trs = "[[translation]]\nname = \"x\"\na = { parent = \"eth0\", vlan = 1 }\nb = { parent = \"eth1\", vlan = 2 }\n" + // 1-4
		"[[translation]]\nname = \"y\"\na = { parent = \"eth2\", vlan = 1 }\nb = { parent = \"eth0\", vlan = 3 }\n" // 5-8
	pass := func(body string) string { return trs + "[[passthrough]]\n" + body } // header at line 9
	for _, c := range []struct {
		name, src, want string
	}{
		{"not the sides of a translation", pass("a = \"eth1\"\nb = \"eth2\"\nprotocols = [\"lacp\"]\n"),
			"p.toml:9: passthrough eth1 <-> eth2: no translation has these two trunks"},
		{"unknown protocol", pass("a = \"eth0\"\nb = \"eth1\"\nprotocols = [\"stp\"]\n"),
			"p.toml:12: passthrough.protocols: \"stp\" is not supported: only \"lacp\""},
		{"lldp refused", pass("a = \"eth0\"\nb = \"eth1\"\nprotocols = [\"lacp\", \"lldp\"]\n"),
			"p.toml:12: passthrough.protocols: \"lldp\" is not supported"},
		{"protocols missing", pass("a = \"eth0\"\nb = \"eth1\"\n"), "p.toml:9: passthrough: protocols is required"},
		{"protocols empty", pass("a = \"eth0\"\nb = \"eth1\"\nprotocols = []\n"), "p.toml:12: passthrough.protocols: must be a non-empty array"},
		{"protocols twice", pass("a = \"eth0\"\nb = \"eth1\"\nprotocols = [\"lacp\", \"lacp\"]\n"), "p.toml:12: passthrough.protocols: \"lacp\" is listed twice"},
		{"protocol not a string", pass("a = \"eth0\"\nb = \"eth1\"\nprotocols = [1]\n"), "p.toml:12: passthrough.protocols: entries must be strings"},
		{"unknown key", pass("a = \"eth0\"\nb = \"eth1\"\nprotocols = [\"lacp\"]\nmtu = 1\n"), "p.toml:13: unknown key \"passthrough.mtu\""},
		{"a missing", pass("b = \"eth1\"\nprotocols = [\"lacp\"]\n"), "p.toml:9: passthrough: a is required"},
		{"bad name", pass("a = \"eth0\"\nb = \"a b\"\nprotocols = [\"lacp\"]\n"), "p.toml:11: passthrough.b: \"a b\" is not a valid interface name"},
		{"same trunk", pass("a = \"eth0\"\nb = \"eth0\"\nprotocols = [\"lacp\"]\n"), "p.toml:11: passthrough: a and b are both \"eth0\""},
		{"carrier not a bool", pass("a = \"eth0\"\nb = \"eth1\"\nprotocols = [\"lacp\"]\ncarrier = \"yes\"\n"), "p.toml:13: passthrough.carrier: must be true or false, not string"},
		{"trunk in two pairs", pass("a = \"eth0\"\nb = \"eth1\"\nprotocols = [\"lacp\"]\n[[passthrough]]\na = \"eth2\"\nb = \"eth0\"\nprotocols = [\"lacp\"]\n"),
			"p.toml:13: passthrough eth2 <-> eth0: trunk eth0 is already in the pair at p.toml:9"},
		{"undeclared group", pass("a = \"eth0\"\nb = \"eth1\"\nprotocols = [\"lacp\"]\ngroup = \"east\"\n"), "p.toml:13: group \"east\" is not declared"},
		{"trunk of another group", "[[group]]\nname = \"east\"\n" + strings.Replace(trs, "name = \"y\"\n", "name = \"y\"\ngroup = \"east\"\n", 1) +
			"[[passthrough]]\na = \"eth0\"\nb = \"eth1\"\nprotocols = [\"lacp\"]\n",
			"p.toml:12: passthrough eth0 <-> eth1 is in group \"default\", but trunk eth0 carries translation \"y\" of group \"east\""},
		{"not an array", "passthrough = 3\n" + trs, "p.toml:1: passthrough: must be an array of tables"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("p.toml", []byte(c.src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v\nwant %q", err, c.want)
			}
		})
	}
}

func TestPassthroughDigest(t *testing.T) {
	parse := func(src string) *Config {
		t.Helper()
		cfg, err := Parse("p.toml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	base := parse(passthroughFile)
	without := parse(passthroughFile[:strings.Index(passthroughFile, "[[passthrough]]")])
	plain := parse(`
[[group]]
name = "east"

[[translation]]
name = "x"
group = "east"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }

[[translation]]
name = "y"
a = { parent = "eth2", vlan = 1 }
b = { parent = "eth3", vlan = 2 }
`)
	swapped := parse(strings.Replace(passthroughFile, "a = \"eth1\"\nb = \"eth0\"", "a = \"eth0\"\nb = \"eth1\"", 1))
	noCarrier := parse(strings.Replace(passthroughFile, "carrier = true", "carrier = false", 1))
	if without.Digest() != plain.Digest() {
		t.Error("a file without pass-throughs changed its digest")
	}
	if base.Digest() == without.Digest() || base.Digest() == noCarrier.Digest() {
		t.Error("the digest ignores a pass-through or its carrier")
	}
	if base.Digest() != swapped.Digest() {
		t.Error("a pair's digest depends on which trunk is a")
	}
}
