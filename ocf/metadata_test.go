package ocf

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// goldenAgent uses every feature of the table, so the golden files show
// each one in both dialects.
func goldenAgent() *Agent {
	fn := func(context.Context, *Request) (Status, error) { return Success, nil }
	return &Agent{
		Name:      "golden",
		Version:   "2.3.4",
		ShortDesc: "Golden test agent",
		LongDesc:  "First line.\nSecond line with <markup> & \"quotes\".",
		Params: []Param{
			{Name: "config", ShortDesc: "Configuration file", LongDesc: "Path of the TOML file.",
				Default: "/etc/qinqbridge/qinqbridge.toml", Unique: true, UniqueGroup: "config"},
			{Name: "retries", ShortDesc: "Retries", Type: Integer, Default: "3", Reloadable: true, Range: &Range{0, 10}},
			{Name: "strict", ShortDesc: "Strict checks", Type: Boolean, Default: "false", Reloadable: true},
			{Name: "iface", ShortDesc: "Interface", Required: true},
		},
		Actions: []Action{
			{Name: ActionStart, Func: fn, Timeout: 60 * time.Second},
			{Name: ActionStop, Func: fn, Timeout: 60 * time.Second},
			{Name: ActionMonitor, Func: fn, Timeout: 20 * time.Second, Interval: 10 * time.Second, Role: RolePromoted},
			{Name: ActionMonitor, Timeout: 20 * time.Second, Interval: 11 * time.Second, Role: RoleUnpromoted},
			{Name: ActionMonitor, Timeout: 30 * time.Second, Interval: 60 * time.Second, Depth: 10},
			{Name: ActionPromote, Func: fn, Timeout: 10 * time.Second},
			{Name: ActionDemote, Func: fn, Timeout: 10 * time.Second},
			{Name: ActionNotify, Func: fn, Timeout: 5 * time.Second},
			{Name: ActionReload, Func: fn, Timeout: 1500 * time.Millisecond},
			{Name: ActionReloadAgent, Func: fn, Timeout: 10 * time.Second},
			{Name: ActionMetaData, Timeout: 3 * time.Second},
		},
	}
}

func TestMetaDataGolden(t *testing.T) {
	for _, tc := range []struct {
		d    Dialect
		file string
	}{
		{OCF10, "metadata-ocf10.xml"},
		{OCF11, "metadata-ocf11.xml"},
	} {
		t.Run(tc.d.String(), func(t *testing.T) {
			got, err := goldenAgent().MetaData(tc.d)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./ocf -run Golden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("meta-data differs from %s (go test ./ocf -run Golden -update after checking):\n%s", path, got)
			}
		})
	}
}

func TestMetaDataDialects(t *testing.T) {
	ocf10, _ := goldenAgent().MetaData(OCF10)
	ocf11, _ := goldenAgent().MetaData(OCF11)
	for _, s := range []string{"reload-agent", "reloadable", "unique-group", `"reload"`, "<version>1.1</version>"} {
		if bytes.Contains(ocf10, []byte(s)) {
			t.Errorf("OCF 1.0 meta-data contains %s", s)
		}
		if !bytes.Contains(ocf11, []byte(s)) {
			t.Errorf("OCF 1.1 meta-data lacks %s", s)
		}
	}
	// Without OCF 1.1 features both dialects differ only in <version>.
	a := testAgent(Success, nil)
	m10, _ := a.MetaData(OCF10)
	m11, _ := a.MetaData(OCF11)
	if got := strings.Replace(string(m11), "<version>1.1</version>", "<version>1.0</version>", 1); got != string(m10) {
		t.Errorf("dialects differ beyond the version:\n%s\n%s", m10, m11)
	}
}

func TestDialectFor(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want Dialect
	}{
		{nil, OCF10}, // ocf-tester, a shell
		{[]string{"OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=0"}, OCF10}, // Pacemaker <= 2.0
		{[]string{"OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=1"}, OCF11}, // Pacemaker 2.1 (measured)
		{[]string{"OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=2"}, OCF11},
		{[]string{"OCF_RA_VERSION_MAJOR=2", "OCF_RA_VERSION_MINOR=0"}, OCF11},
		{[]string{"OCF_RA_VERSION_MAJOR=x", "OCF_RA_VERSION_MINOR=1"}, OCF10},
	} {
		if got := DialectFor(ParseEnv("meta-data", tc.env, nil)); got != tc.want {
			t.Errorf("DialectFor(%q) = %v, want %v", tc.env, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	fn := func(context.Context, *Request) (Status, error) { return Success, nil }
	for _, tc := range []struct {
		name   string
		modify func(a *Agent)
		want   string // substring of the error; "" for valid
	}{
		{"valid", func(*Agent) {}, ""},
		{"golden is valid", func(a *Agent) { *a = *goldenAgent() }, ""},
		{"no name", func(a *Agent) { a.Name = "" }, "not a file name"},
		{"slash in name", func(a *Agent) { a.Name = "a/b" }, "not a file name"},
		{"no shortdesc", func(a *Agent) { a.ShortDesc = "" }, "has no ShortDesc"},
		{"bad param name", func(a *Agent) { a.Params[0].Name = "if-ace" }, "cannot be an environment variable"},
		{"duplicate param", func(a *Agent) { a.Params = append(a.Params, a.Params[0]) }, "declared twice"},
		{"param without shortdesc", func(a *Agent) { a.Params[0].ShortDesc = "" }, "parameter iface has no ShortDesc"},
		{"bad integer default", func(a *Agent) {
			a.Params = append(a.Params, Param{Name: "n", ShortDesc: "n", Type: Integer, Default: "many"})
		}, "not an integer"},
		{"bad boolean default", func(a *Agent) {
			a.Params = append(a.Params, Param{Name: "b", ShortDesc: "b", Type: Boolean, Default: "ja"})
		}, "not a boolean"},
		{"unknown type", func(a *Agent) { a.Params[0].Type = 7 }, "unknown type"},
		{"range on a string", func(a *Agent) { a.Params[0].Range = &Range{0, 1} }, "has a range but is not an integer"},
		{"empty range", func(a *Agent) {
			a.Params = append(a.Params, Param{Name: "n", ShortDesc: "n", Type: Integer, Range: &Range{5, 4}})
		}, "empty range 5 to 4"},
		{"default out of range", func(a *Agent) {
			a.Params = append(a.Params, Param{Name: "n", ShortDesc: "n", Type: Integer, Default: "-1", Range: &Range{0, 10}})
		}, `n="-1" is out of range (0 to 10)`},
		{"unknown action", func(a *Agent) {
			a.Actions = append(a.Actions, Action{Name: "status", Func: fn, Timeout: time.Second})
		}, `unknown action "status"`},
		{"no timeout", func(a *Agent) { a.Actions[0].Timeout = 0 }, "start has no timeout"},
		{"bad role", func(a *Agent) { a.Actions[2].Role = "Master" }, "unknown role"},
		{"missing func", func(a *Agent) { a.Actions[0].Func = nil }, "first start entry has no Func"},
		{"second func", func(a *Agent) {
			a.Actions = append(a.Actions, Action{Name: ActionMonitor, Func: fn, Timeout: time.Second})
		}, "only the first monitor entry"},
		{"meta-data func", func(a *Agent) {
			a.Actions = append(a.Actions, Action{Name: ActionMetaData, Func: fn, Timeout: time.Second})
		}, "meta-data is built in"},
		{"missing stop", func(a *Agent) { a.Actions = append(a.Actions[:1], a.Actions[2]) }, "mandatory action stop"},
		{"promote without demote", func(a *Agent) {
			a.Actions = append(a.Actions, Action{Name: ActionPromote, Func: fn, Timeout: time.Second})
		}, "promote and demote"},
		{"reloadable without reload-agent", func(a *Agent) { a.Params[0].Reloadable = true }, "need a reload-agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := testAgent(Success, nil)
			tc.modify(a)
			err := a.Check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
