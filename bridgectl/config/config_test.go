package config

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

// hash32 is the naming rule's hash, computed independently of names.go.
func hash32(s string) string {
	sum := sha256.Sum256([]byte(s))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))
}

func ad(id uint16) Tag { return Tag{Dot1AD, id} }
func q(id uint16) Tag  { return Tag{Dot1Q, id} }

func TestLinkName(t *testing.T) {
	for _, c := range []struct {
		parent string
		tags   []Tag
		want   string
	}{
		{"eth0", []Tag{ad(100)}, "eth0.s100"},
		{"eth0", []Tag{ad(100), q(200)}, "eth0.s100.200"},
		{"eth1", []Tag{q(300)}, "eth1.300"},
		{"eth0", []Tag{q(100)}, "eth0.100"},
		{"eth0", []Tag{q(100), q(200)}, "eth0.100.200"},
		{"enp129s0f1np1", []Tag{q(1)}, "enp129s0f1np1.1"}, // exactly 15
		{"enp129s0f1np1", []Tag{q(10)}, "q" + hash32("enp129s0f1np1")[:11] + ".10"},
		{"enp129s0f1np1", []Tag{ad(100)}, "q" + hash32("enp129s0f1np1")[:9] + ".s100"},
		{"enp129s0f1np1", []Tag{ad(100), q(200)}, "q" + hash32("enp129s0f1np1")[:5] + ".s100.200"},
		{"abcdefghijklmno", []Tag{ad(4094), q(4094)}, "q" + hash32("abcdefghijklmno")[:3] + ".s4094.4094"},
		{"enp129s0f1", []Tag{ad(100)}, "enp129s0f1.s100"},
		{"enp129s0f1", []Tag{ad(100), q(200)}, "q" + hash32("enp129s0f1")[:5] + ".s100.200"},
	} {
		got := linkName(c.parent, c.tags)
		if got != c.want {
			t.Errorf("linkName(%q, %v) = %q, want %q", c.parent, c.tags, got, c.want)
		}
		if len(got) > maxIfname {
			t.Errorf("linkName(%q, %v) = %q: too long", c.parent, c.tags, got)
		}
	}
}

func TestBridgeName(t *testing.T) {
	long := "a-rather-long-translation-name"
	for _, c := range []struct {
		name  string
		index int
		want  string
	}{
		{"vps-bm", 0, "br-vps-bm"},
		{"bulk", 1000, "br-bulk.1000"},
		{"twelve-chars", 0, "br-twelve-chars"},
		{"twelve-chars", 1, "br_" + hash32("twelve-chars#1")[:12]},
		{long, 0, "br_" + hash32(long + "#0")[:12]},
		{long, 7, "br_" + hash32(long + "#7")[:12]},
	} {
		if got := bridgeName(c.name, c.index); got != c.want {
			t.Errorf("bridgeName(%q, %d) = %q, want %q", c.name, c.index, got, c.want)
		}
	}
}

func TestStrings(t *testing.T) {
	s := Stack{"eth0", []Tag{ad(100), q(200)}}
	if got := s.String(); got != "eth0 802.1ad:100 802.1Q:200" {
		t.Errorf("Stack.String() = %q", got)
	}
	if got := Proto(0x9100).String(); got != "0x9100" {
		t.Errorf("Proto(0x9100).String() = %q", got)
	}
	errs := Errors{{Pos{"f.toml", 3}, "first"}, {Pos{"f.toml", 7}, "second"}}
	if got := errs.Error(); got != "f.toml:3: first\nf.toml:7: second" {
		t.Errorf("Errors.Error() = %q", got)
	}
}

// tr is a compact expected translation.
type tr struct {
	name, bridge string
	index        int
	a, b         string // Stack.String()
	aLinks       []string
	bLinks       []string
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		name string
		src  string
		want []tr // checked against the first len(want) translations
		n    int  // expected number of translations
		// check, if set, checks the rest.
		check func(t *testing.T, cfg *Config)
	}{{
		name: "single ends and defaults",
		src: `
[[translation]]
name = "vps-bm"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }
`,
		n: 1,
		want: []tr{{"vps-bm", "br-vps-bm", 0, "eth0 802.1ad:100 802.1Q:200", "eth1 802.1Q:300",
			[]string{"eth0.s100", "eth0.s100.200"}, []string{"eth1.300"}}},
		check: func(t *testing.T, cfg *Config) {
			if cfg.Guard.Block != defaults.Block || cfg.Bridge.Ageing != 300*time.Second {
				t.Errorf("defaults: block %d ageing %v", cfg.Guard.Block, cfg.Bridge.Ageing)
			}
			tr := cfg.Translations[0]
			if tr.Pos.Line != 2 || tr.A.Pos.Line != 4 || tr.B.Pos.Line != 5 || tr.Pos.File != "test.toml" {
				t.Errorf("positions %v %v %v", tr.Pos, tr.A.Pos, tr.B.Pos)
			}
			if tr.Source != "vps-bm" || tr.A.MTU != 0 || cfg.File != "test.toml" {
				t.Errorf("got %+v", tr)
			}
		},
	}, {
		name: "range expands position by position",
		src: `
[[translation]]
name = "bulk"
a = { parent = "eth0", outer = 100, inner = "1-1000" }
b = { parent = "eth1", vlan = "2001-3000" }
`,
		n: 1000,
		want: []tr{
			{"bulk.1", "br-bulk.1", 1, "eth0 802.1ad:100 802.1Q:1", "eth1 802.1Q:2001", []string{"eth0.s100", "eth0.s100.1"}, []string{"eth1.2001"}},
			{"bulk.2", "br-bulk.2", 2, "eth0 802.1ad:100 802.1Q:2", "eth1 802.1Q:2002", []string{"eth0.s100", "eth0.s100.2"}, []string{"eth1.2002"}},
		},
		check: func(t *testing.T, cfg *Config) {
			last := cfg.Translations[999]
			if last.Name != "bulk.1000" || last.Index != 1000 || last.Source != "bulk" || last.Bridge != "br-bulk.1000" ||
				last.A.Tags[1].ID != 1000 || last.B.Tags[0].ID != 3000 {
				t.Errorf("last = %+v", last)
			}
		},
	}, {
		name: "ranged outer, single inner, string ids",
		src: `
[[translation]]
name = "r"
a = { parent = "eth0", outer = "10-12", inner = "7" }
b = { parent = "eth1", outer = 5, inner = "20-22" }
`,
		n: 3,
		want: []tr{
			{"r.1", "br-r.1", 1, "eth0 802.1ad:10 802.1Q:7", "eth1 802.1ad:5 802.1Q:20", []string{"eth0.s10", "eth0.s10.7"}, []string{"eth1.s5", "eth1.s5.20"}},
			{"r.2", "br-r.2", 2, "eth0 802.1ad:11 802.1Q:7", "eth1 802.1ad:5 802.1Q:21", []string{"eth0.s11", "eth0.s11.7"}, []string{"eth1.s5", "eth1.s5.21"}},
		},
	}, {
		name: "a one-wide range is still ranged",
		src: `
[[translation]]
name = "one"
a = { parent = "eth0", vlan = "5-5" }
b = { parent = "eth1", vlan = "6" }
`,
		n:    1,
		want: []tr{{"one.1", "br-one.1", 1, "eth0 802.1Q:5", "eth1 802.1Q:6", []string{"eth0.5"}, []string{"eth1.6"}}},
	}, {
		name: "outer_proto 802.1Q, case-insensitive, and QinQ to QinQ",
		src: `
[[translation]]
name = "dbl"
a = { parent = "eth0", outer = 100, inner = 200, outer_proto = "802.1q" }
b = { parent = "eth1", outer = 100, inner = 200, outer_proto = "802.1AD" }
`,
		n: 1,
		want: []tr{{"dbl", "br-dbl", 0, "eth0 802.1Q:100 802.1Q:200", "eth1 802.1ad:100 802.1Q:200",
			[]string{"eth0.100", "eth0.100.200"}, []string{"eth1.s100", "eth1.s100.200"}}},
	}, {
		name: "shared S-tags, and 802.1Q and 802.1ad with one id on one parent",
		src: `
[[translation]]
name = "x"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }

[[translation]]
name = "y"
a = { parent = "eth0", outer = 100, inner = "201-202" }
b = { parent = "eth1", vlan = "301-302" }

[[translation]]
name = "z"
a = { parent = "eth0", vlan = 100 }
b = { parent = "eth1", vlan = 100 }
`,
		n: 4,
		want: []tr{
			{"x", "br-x", 0, "eth0 802.1ad:100 802.1Q:200", "eth1 802.1Q:300", []string{"eth0.s100", "eth0.s100.200"}, []string{"eth1.300"}},
			{"y.1", "br-y.1", 1, "eth0 802.1ad:100 802.1Q:201", "eth1 802.1Q:301", []string{"eth0.s100", "eth0.s100.201"}, []string{"eth1.301"}},
			{"y.2", "br-y.2", 2, "eth0 802.1ad:100 802.1Q:202", "eth1 802.1Q:302", []string{"eth0.s100", "eth0.s100.202"}, []string{"eth1.302"}},
			{"z", "br-z", 0, "eth0 802.1Q:100", "eth1 802.1Q:100", []string{"eth0.100"}, []string{"eth1.100"}},
		},
	}, {
		name: "sub-tables, dotted keys, options",
		src: `[guard]
block = 4294967293

[bridge]
ageing = 1000000

[[translation]]
name = "sub"
bridge = "xlat0"

[translation.a]
parent = "eth0"
vlan = 10
mtu = 9000

[translation.b]
parent = "eth1"
outer = 1
inner = 2
mtu = 9000

[[translation]]
name = "dotted"
bridge = "xl"
a.parent = "eth0"
a.vlan = "11-12"
b.parent = "eth1"
b.vlan = "13-14"
b.mtu = 1500
`,
		n: 3,
		want: []tr{
			{"sub", "xlat0", 0, "eth0 802.1Q:10", "eth1 802.1ad:1 802.1Q:2", []string{"eth0.10"}, []string{"eth1.s1", "eth1.s1.2"}},
			{"dotted.1", "xl.1", 1, "eth0 802.1Q:11", "eth1 802.1Q:13", []string{"eth0.11"}, []string{"eth1.13"}},
			{"dotted.2", "xl.2", 2, "eth0 802.1Q:12", "eth1 802.1Q:14", []string{"eth0.12"}, []string{"eth1.14"}},
		},
		check: func(t *testing.T, cfg *Config) {
			if cfg.Guard.Block != 4294967293 || cfg.Bridge.Ageing != 1000000*time.Second {
				t.Errorf("options: block %d ageing %v", cfg.Guard.Block, cfg.Bridge.Ageing)
			}
			s, d := cfg.Translations[0], cfg.Translations[2]
			if s.A.MTU != 9000 || s.B.MTU != 9000 || d.A.MTU != 0 || d.B.MTU != 1500 {
				t.Errorf("mtus %d %d %d %d", s.A.MTU, s.B.MTU, d.A.MTU, d.B.MTU)
			}
			if s.Pos.Line != 7 || s.A.Pos.Line != 11 || s.B.Pos.Line != 16 || d.Pos.Line != 22 || d.A.Pos.Line != 25 || d.B.Pos.Line != 27 {
				t.Errorf("positions %v %v %v %v %v %v", s.Pos, s.A.Pos, s.B.Pos, d.Pos, d.A.Pos, d.B.Pos)
			}
		},
	}, {
		name: "long parents and names use hashes",
		src: `
[[translation]]
name = "a-rather-long-translation-name"
a = { parent = "enp129s0f1np1", outer = 100, inner = 200 }
b = { parent = "enx0123456789ab", vlan = 4094 }

[[translation]]
name = "twelve-chars"
a = { parent = "enp129s0f1np1", outer = 100, inner = "201-202" }
b = { parent = "enx0123456789ab", vlan = "1-2" }
`,
		n: 3,
		want: []tr{
			{"a-rather-long-translation-name", "br_" + hash32("a-rather-long-translation-name#0")[:12], 0,
				"enp129s0f1np1 802.1ad:100 802.1Q:200", "enx0123456789ab 802.1Q:4094",
				[]string{"q" + hash32("enp129s0f1np1")[:9] + ".s100", "q" + hash32("enp129s0f1np1")[:5] + ".s100.200"},
				[]string{"q" + hash32("enx0123456789ab")[:9] + ".4094"}},
			{"twelve-chars.1", "br_" + hash32("twelve-chars#1")[:12], 1,
				"enp129s0f1np1 802.1ad:100 802.1Q:201", "enx0123456789ab 802.1Q:1",
				[]string{"q" + hash32("enp129s0f1np1")[:9] + ".s100", "q" + hash32("enp129s0f1np1")[:5] + ".s100.201"},
				[]string{"q" + hash32("enx0123456789ab")[:12] + ".1"}},
		},
	}, {
		name: "an array of inline tables",
		src: `translation = [
  { name = "i", a = { parent = "eth0", vlan = 1 }, b = { parent = "eth1", vlan = 2 } },
]`,
		n:    1,
		want: []tr{{"i", "br-i", 0, "eth0 802.1Q:1", "eth1 802.1Q:2", []string{"eth0.1"}, []string{"eth1.2"}}},
	}, {
		name: "empty",
		src:  "# nothing yet\n",
		n:    0,
	}} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("test.toml", []byte(c.src))
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Translations) != c.n {
				t.Fatalf("%d translations, want %d", len(cfg.Translations), c.n)
			}
			for i, w := range c.want {
				g := cfg.Translations[i]
				got := tr{g.Name, g.Bridge, g.Index, g.A.Stack.String(), g.B.Stack.String(), g.A.Links(), g.B.Links()}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("translation %d:\n got %+v\nwant %+v", i, got, w)
				}
			}
			checkInvariants(t, cfg)
			if c.check != nil {
				c.check(t, cfg)
			}
		})
	}
}

// TestLines checks that errors point at the right line whatever the
// layout: the scanner must track TOML's multi-line constructs.
func TestLines(t *testing.T) {
	for _, c := range []struct {
		name  string
		src   string
		lines []int // of all errors
	}{
		{"after a multi-line basic string", "x = \"\"\"\none\\\ntwo\"\"\"\"\ny = 1\n", []int{1, 4}},
		{"multi-line strings and arrays", `[[translation]]
name = """
"""
a = { parent = 'eth0', vlan = 1 }
b = { parent = "eth1", vlan = 2 }
[[translation]]
name = "y"
note = [
  "x, ]}", '#',
  { k = """a
b""" },  # ]
]
a = { parent = "eth0", vlan = 3 }
b = { parent = "eth1", vlan = 4 }
c = 1`, []int{2, 8, 15}},
		{"CRLF and BOM", "\ufeff[[translation]]\r\nname = \"x\"\r\nwhat = 1\r\na = { parent = \"eth0\", vlan = 1 }\r\nb = { parent = \"eth1\", vlan = 1, mtu = 1 }\r\n", []int{3, 5}},
		{"quoted keys", "[[translation]]\nname = \"x\"\n\"a\" = { parent = \"eth0\", 'vlan' = 1 }\nb = { parent = \"eth1\", \"v\\u006can\" = 0 }\n", []int{4}},
		{"inline table over lines", "[[translation]]\nname = \"x\"\na = { parent = \"eth0\",\n  vlan = 1 }\nb = { parent = \"eth1\", vlan = 2,\n  # note\n  mtu = 1 }\n", []int{7}},
		{"second entry of an array of tables", "[[translation]]\nname = \"x\"\na = { parent = \"eth0\", vlan = 1 }\nb = { parent = \"eth1\", vlan = 2 }\n[[translation]]\nname = \"y\"\n[translation.a]\nparent = \"eth0\"\nvlan = 3\n[translation.b]\nparent = \"eth1\"\nvlan = 4\nmtu = 5\nfoo = 1\n", []int{13, 14}},
		{"datetime with a space", "when = 1979-05-27 07:32:00Z\n[[translation]]\nname = \"x\"\n", []int{1, 2, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("l.toml", []byte(c.src))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want Errors", err)
			}
			var lines []int
			for _, e := range errs {
				lines = append(lines, e.Pos.Line)
			}
			if !reflect.DeepEqual(lines, c.lines) {
				t.Errorf("errors at lines %v, want %v:\n%v", lines, c.lines, errs)
			}
		})
	}
}

// TestWideOverlapOnce checks that overlapping 4000-wide ranges give one
// error, not one per position.
func TestWideOverlapOnce(t *testing.T) {
	src := `
[[translation]]
name = "one"
a = { parent = "eth0", outer = 1, inner = "1-4000" }
b = { parent = "eth1", vlan = "1-4000" }
bridge = "b"

[[translation]]
name = "two"
a = { parent = "eth0", outer = 2, inner = "1-4000" }
b = { parent = "eth1", vlan = "1-4000" }
`
	_, err := Parse("w.toml", []byte(src))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("got %d errors, want 1:\n%v", len(errs), err)
	}
}

func TestDigest(t *testing.T) {
	base := `
[[translation]]
name = "x"
a = { parent = "eth0", outer = 100, inner = "1-3" }
b = { parent = "eth1", vlan = "11-13" }
`
	digest := func(file, src string) string {
		t.Helper()
		cfg, err := Parse(file, []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Digest()
	}
	d := digest("a.toml", base)
	if len(d) != 64 {
		t.Fatalf("digest %q", d)
	}
	same := map[string]string{
		"other file name": base,
		"comments and layout": `# the same
[[translation]]   # one
b = { vlan = "11-13", parent = "eth1" }
name = "x"

[translation.a]
inner = "1-3"
parent = "eth0"
outer = "100"
outer_proto = "802.1AD"
`,
		"explicit defaults": base + "[guard]\nblock = 29026\n[bridge]\nageing = 300\n",
	}
	// Translations are identified by name: their order does not count.
	two := "[[translation]]\nname = \"y\"\na = { parent = \"eth3\", vlan = 1 }\nb = { parent = \"eth4\", vlan = 1 }\n"
	if digest("a.toml", base+two) != digest("a.toml", two+base) {
		t.Error("reordering translations changed the digest")
	}
	for what, src := range same {
		if got := digest("b.toml", src); got != d {
			t.Errorf("%s changed the digest", what)
		}
	}
	differ := map[string]string{
		"an id":       strings.Replace(base, "11-13", "12-14", 1),
		"a proto":     strings.Replace(base, "inner", `outer_proto = "802.1Q", inner`, 1),
		"a parent":    strings.Replace(base, "eth1", "eth2", 1),
		"an mtu":      strings.Replace(base, `vlan = "11-13"`, `vlan = "11-13", mtu = 1500`, 1),
		"a bridge":    strings.Replace(base, `name = "x"`, "name = \"x\"\nbridge = \"br\"", 1),
		"a name":      strings.Replace(base, `name = "x"`, `name = "y"`, 1),
		"the block":   base + "[guard]\nblock = 1\n",
		"the ageing":  base + "[bridge]\nageing = 30\n",
		"a new range": base + "[[translation]]\nname = \"z\"\na = { parent = \"eth3\", vlan = 1 }\nb = { parent = \"eth4\", vlan = 1 }\n",
	}
	for what, src := range differ {
		if got := digest("a.toml", src); got == d {
			t.Errorf("changing %s kept the digest", what)
		}
	}
}

func TestLoad(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "missing.toml"))
	var errs Errors
	if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &errs) {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// TestTagsNotShared checks that expanded ends do not share tag storage: a
// caller changing one end must not change another.
func TestTagsNotShared(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(`
[[translation]]
name = "x"
a = { parent = "eth0", vlan = "1-2" }
b = { parent = "eth1", vlan = "3-4" }
`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Translations[0].A
	a.Tags = append(a.Tags, q(99))
	if got := cfg.Translations[0].B.Tags[0].ID; got != 3 {
		t.Errorf("appending to A's tags changed B's to %d", got)
	}
}

func TestDatapath(t *testing.T) {
	const tr = "[[translation]]\nname = \"x\"\na = { parent = \"eth0\", vlan = 10 }\nb = { parent = \"eth1\", vlan = 20 }\n"
	for _, c := range []struct {
		src  string
		want Datapath
	}{
		{tr, BridgeDatapath},
		{"datapath = \"bridge\"\n" + tr, BridgeDatapath},
		{"datapath = \"tc\"\n" + tr, TCDatapath},
	} {
		cfg, err := Parse("t.toml", []byte(c.src))
		if err != nil || cfg.Datapath != c.want {
			t.Fatalf("%q: %v %v, want %s", c.src, cfg, err, c.want)
		}
	}
	// The datapath is part of the digest; the default adds nothing to it.
	bridge, _ := Parse("t.toml", []byte(tr))
	explicit, _ := Parse("t.toml", []byte("datapath = \"bridge\"\n"+tr))
	tc, _ := Parse("t.toml", []byte("datapath = \"tc\"\n"+tr))
	if bridge.Digest() != explicit.Digest() || bridge.Digest() == tc.Digest() {
		t.Fatal("digest does not tell the datapaths apart, or the default changed it")
	}
}
