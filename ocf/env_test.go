package ocf

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var envParams = []Param{
	{Name: "config", ShortDesc: "c", Default: "/etc/qinqbridge/qinqbridge.toml"},
	{Name: "count", ShortDesc: "n", Type: Integer, Default: "3"},
	{Name: "force", ShortDesc: "f", Type: Boolean},
	{Name: "iface", ShortDesc: "i", Required: true},
	{Name: "percent", ShortDesc: "p", Type: Integer, Default: "50", Range: &Range{0, 100}},
}

func TestParseEnv(t *testing.T) {
	base := []string{
		"OCF_ROOT=/usr/lib/ocf", "OCF_RESOURCE_INSTANCE=p_guard",
		"OCF_RESOURCE_TYPE=tcguard", "OCF_RESOURCE_PROVIDER=qinqbridge",
	}
	for _, tc := range []struct {
		name   string
		action string
		env    []string
		check  func(t *testing.T, e *Env)
		warns  int
	}{
		{name: "identity and defaults", action: "start",
			env: []string{"OCF_RESKEY_iface=eth0", "OCF_RESKEY_unknown=x", "OCF_RESKEY_CRM_meta_foo=bar"},
			check: func(t *testing.T, e *Env) {
				eq(t, "Root", e.Root, "/usr/lib/ocf")
				eq(t, "Instance", e.Instance, "p_guard")
				eq(t, "Type", e.Type, "tcguard")
				eq(t, "Provider", e.Provider, "qinqbridge")
				eq(t, "config", e.Param("config"), "/etc/qinqbridge/qinqbridge.toml")
				eq(t, "count", e.Param("count"), "3")
				eq(t, "iface", e.Param("iface"), "eth0")
				eq(t, "config given", e.ParamGiven("config"), false)
				eq(t, "iface given", e.ParamGiven("iface"), true)
				eq(t, "Meta[foo]", e.Meta["foo"], "bar")
				eq(t, "Clone", e.Clone, (*Clone)(nil))
				eq(t, "IsProbe", e.IsProbe(), false)
				if _, ok := e.params["unknown"]; ok {
					t.Error("undeclared OCF_RESKEY_unknown was taken as a parameter")
				}
			}},
		{name: "set to empty is not defaulted", action: "start",
			env: []string{"OCF_RESKEY_config="},
			check: func(t *testing.T, e *Env) {
				eq(t, "config", e.Param("config"), "")
				eq(t, "given", e.ParamGiven("config"), true)
			}},
		{name: "later duplicate wins", action: "start",
			env:   []string{"OCF_RESKEY_iface=eth0", "OCF_RESKEY_iface=eth1"},
			check: func(t *testing.T, e *Env) { eq(t, "iface", e.Param("iface"), "eth1") }},
		{name: "probe", action: "monitor",
			env: []string{"OCF_RESKEY_CRM_meta_interval=0", "OCF_RESKEY_CRM_meta_timeout=20000"},
			check: func(t *testing.T, e *Env) {
				eq(t, "IsProbe", e.IsProbe(), true)
				eq(t, "Timeout", e.Timeout, 20*time.Second)
			}},
		{name: "monitor without interval is a probe", action: "monitor",
			check: func(t *testing.T, e *Env) { eq(t, "IsProbe", e.IsProbe(), true) }},
		{name: "recurring monitor", action: "monitor",
			env: []string{"OCF_RESKEY_CRM_meta_interval=10000", "OCF_CHECK_LEVEL=10"},
			check: func(t *testing.T, e *Env) {
				eq(t, "IsProbe", e.IsProbe(), false)
				eq(t, "Interval", e.Interval, 10*time.Second)
				eq(t, "CheckLevel", e.CheckLevel, 10)
			}},
		{name: "check level from meta", action: "monitor",
			env:   []string{"OCF_RESKEY_CRM_meta_OCF_CHECK_LEVEL=20"},
			check: func(t *testing.T, e *Env) { eq(t, "CheckLevel", e.CheckLevel, 20) }},
		{name: "start with interval 0 is no probe", action: "start",
			env:   []string{"OCF_RESKEY_CRM_meta_interval=0"},
			check: func(t *testing.T, e *Env) { eq(t, "IsProbe", e.IsProbe(), false) }},
		{name: "promotable clone instance", action: "start",
			env: []string{
				"OCF_RESOURCE_INSTANCE=p_guard:1", "OCF_RESKEY_CRM_meta_clone=1",
				"OCF_RESKEY_CRM_meta_clone_max=2", "OCF_RESKEY_CRM_meta_clone_node_max=1",
				"OCF_RESKEY_CRM_meta_promotable=true", "OCF_RESKEY_CRM_meta_promoted_max=1",
				"OCF_RESKEY_CRM_meta_promoted_node_max=1", "OCF_RESKEY_CRM_meta_notify=true",
				"OCF_RESKEY_CRM_meta_globally_unique=false", "OCF_RESKEY_CRM_meta_on_node=node-b",
				// Pacemaker 2.1 sends the legacy names too; the new ones win.
				"OCF_RESKEY_CRM_meta_master_max=7",
			},
			check: func(t *testing.T, e *Env) {
				eq(t, "Instance", e.Instance, "p_guard:1")
				eq(t, "ResourceName", e.ResourceName(), "p_guard")
				eq(t, "OnNode", e.OnNode, "node-b")
				eq(t, "Clone", e.Clone, &Clone{Instance: 1, Max: 2, NodeMax: 1, Promotable: true,
					PromotedMax: 1, PromotedNodeMax: 1, Notify: true})
			}},
		{name: "legacy master_max", action: "start",
			env: []string{"OCF_RESKEY_CRM_meta_clone=0", "OCF_RESKEY_CRM_meta_master_max=1",
				"OCF_RESKEY_CRM_meta_master_node_max=1", "OCF_RESKEY_CRM_meta_promotable=yes"},
			check: func(t *testing.T, e *Env) {
				eq(t, "Clone", e.Clone, &Clone{Promotable: true, PromotedMax: 1, PromotedNodeMax: 1})
			}},
		{name: "notify", action: "notify",
			env: []string{
				"OCF_RESKEY_CRM_meta_notify_type=pre", "OCF_RESKEY_CRM_meta_notify_operation=promote",
				"OCF_RESKEY_CRM_meta_notify_start_resource= p_guard:0  p_guard:1 ",
				"OCF_RESKEY_CRM_meta_notify_start_uname=node-a node-b",
				"OCF_RESKEY_CRM_meta_notify_stop_resource= ", "OCF_RESKEY_CRM_meta_notify_stop_uname= ",
				"OCF_RESKEY_CRM_meta_notify_active_resource=p_guard:0 p_guard:1",
				"OCF_RESKEY_CRM_meta_notify_active_uname=node-a node-b",
				"OCF_RESKEY_CRM_meta_notify_promote_resource=p_guard:1",
				"OCF_RESKEY_CRM_meta_notify_promote_uname=node-b",
				"OCF_RESKEY_CRM_meta_notify_demote_resource=p_guard:0",
				"OCF_RESKEY_CRM_meta_notify_demote_uname=node-a",
				"OCF_RESKEY_CRM_meta_notify_promoted_resource=p_guard:0",
				"OCF_RESKEY_CRM_meta_notify_promoted_uname=node-a",
				"OCF_RESKEY_CRM_meta_notify_master_resource=stale:9", // new name wins
				"OCF_RESKEY_CRM_meta_notify_unpromoted_resource=p_guard:1",
				"OCF_RESKEY_CRM_meta_notify_unpromoted_uname=node-b",
			},
			check: func(t *testing.T, e *Env) {
				eq(t, "Notify", e.Notify, Notify{
					Type: "pre", Operation: "promote",
					Start:      Peers{[]string{"p_guard:0", "p_guard:1"}, []string{"node-a", "node-b"}},
					Stop:       Peers{[]string{}, []string{}},
					Active:     Peers{[]string{"p_guard:0", "p_guard:1"}, []string{"node-a", "node-b"}},
					Promote:    Peers{[]string{"p_guard:1"}, []string{"node-b"}},
					Demote:     Peers{[]string{"p_guard:0"}, []string{"node-a"}},
					Promoted:   Peers{[]string{"p_guard:0"}, []string{"node-a"}},
					Unpromoted: Peers{[]string{"p_guard:1"}, []string{"node-b"}},
				})
			}},
		{name: "notify with master/slave spellings", action: "notify",
			env: []string{
				"OCF_RESKEY_CRM_meta_notify_master_resource=p:0", "OCF_RESKEY_CRM_meta_notify_master_uname=a",
				"OCF_RESKEY_CRM_meta_notify_slave_resource=p:1 p:2", "OCF_RESKEY_CRM_meta_notify_slave_uname=b c",
			},
			check: func(t *testing.T, e *Env) {
				eq(t, "Promoted", e.Notify.Promoted, Peers{[]string{"p:0"}, []string{"a"}})
				eq(t, "Unpromoted", e.Notify.Unpromoted, Peers{[]string{"p:1", "p:2"}, []string{"b", "c"}})
			}},
		{name: "garbage numbers are warnings, not failures", action: "monitor",
			env: []string{
				"OCF_RESKEY_CRM_meta_timeout=20s", "OCF_RESKEY_CRM_meta_interval=-5",
				"OCF_CHECK_LEVEL=ten", "OCF_RESKEY_CRM_meta_clone=x",
				"OCF_RESKEY_CRM_meta_promotable=maybe", "OCF_RA_VERSION_MINOR=one",
				"OCF_RESKEY_CRM_meta_clone_max=", // empty is unset, not garbage
			},
			warns: 6,
			check: func(t *testing.T, e *Env) {
				eq(t, "Timeout", e.Timeout, time.Duration(0))
				eq(t, "Interval", e.Interval, time.Duration(0))
				eq(t, "CheckLevel", e.CheckLevel, 0)
				eq(t, "Clone", e.Clone, &Clone{})
			}},
		{name: "huge timeout does not overflow", action: "start",
			env:   []string{"OCF_RESKEY_CRM_meta_timeout=99999999999999999"},
			warns: 1,
			check: func(t *testing.T, e *Env) { eq(t, "Timeout", e.Timeout, time.Duration(0)) }},
		{name: "OCF version", action: "meta-data",
			env: []string{"OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=1"},
			check: func(t *testing.T, e *Env) {
				eq(t, "version", [2]int{e.APIMajor, e.APIMinor}, [2]int{1, 1})
			}},
		{name: "HA_debug", action: "start", env: []string{"HA_debug=1"},
			check: func(t *testing.T, e *Env) { eq(t, "Debug", e.Debug, true) }},
		{name: "debug meta attribute", action: "start", env: []string{"OCF_RESKEY_CRM_meta_debug=true"},
			check: func(t *testing.T, e *Env) { eq(t, "Debug", e.Debug, true) }},
		{name: "HA_debug=0", action: "start", env: []string{"HA_debug=0"},
			check: func(t *testing.T, e *Env) { eq(t, "Debug", e.Debug, false) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			environ := append(append([]string{}, base...), tc.env...)
			e := ParseEnv(tc.action, environ, envParams)
			eq(t, "Action", e.Action, tc.action)
			if len(e.Warnings) != tc.warns {
				t.Errorf("warnings = %q, want %d", e.Warnings, tc.warns)
			}
			tc.check(t, e)
		})
	}
}

func TestParamUndeclaredPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Param of an undeclared name did not panic")
		}
	}()
	ParseEnv("start", nil, envParams).Param("nope")
}

func TestTypedParams(t *testing.T) {
	e := ParseEnv("start", []string{"OCF_RESKEY_count= 12 ", "OCF_RESKEY_force=Yes"}, envParams)
	if n, err := e.ParamInt("count"); n != 12 || err != nil {
		t.Errorf("ParamInt = %d, %v", n, err)
	}
	if b, err := e.ParamBool("force"); !b || err != nil {
		t.Errorf("ParamBool = %v, %v", b, err)
	}
	e = ParseEnv("start", []string{"OCF_RESKEY_count=many", "OCF_RESKEY_force=perhaps"}, envParams)
	if _, err := e.ParamInt("count"); StatusOf(err) != ErrConfigured {
		t.Errorf("ParamInt(garbage) error = %v, want ErrConfigured", err)
	}
	if _, err := e.ParamBool("force"); StatusOf(err) != ErrConfigured {
		t.Errorf("ParamBool(garbage) error = %v, want ErrConfigured", err)
	}
	for v, ok := range map[string]bool{"0": true, "100": true, "-1": false, "101": false} {
		e = ParseEnv("demote", []string{"OCF_RESKEY_percent=" + v}, envParams)
		if _, err := e.ParamInt("percent"); (err == nil) != ok || (err != nil && StatusOf(err) != ErrConfigured) {
			t.Errorf("ParamInt(percent=%s) error = %v, want in range: %v", v, err, ok)
		}
	}
}

func TestCheckParams(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string // "" for no error
	}{
		{[]string{"OCF_RESKEY_iface=eth0"}, ""},
		{[]string{"OCF_RESKEY_iface=eth0", "OCF_RESKEY_force=off", "OCF_RESKEY_count=0"}, ""},
		{nil, "required parameter iface is not set"},
		{[]string{"OCF_RESKEY_iface="}, "required parameter iface is not set"},
		{[]string{"OCF_RESKEY_iface=e", "OCF_RESKEY_count=x", "OCF_RESKEY_force=2"},
			`parameter count="x" is not an integer; parameter force="2" is not a boolean`},
		{[]string{"OCF_RESKEY_iface=e", "OCF_RESKEY_percent=0"}, ""},
		{[]string{"OCF_RESKEY_iface=e", "OCF_RESKEY_percent= 100 "}, ""},
		{[]string{"OCF_RESKEY_iface=e", "OCF_RESKEY_percent=-1"}, `parameter percent="-1" is out of range (0 to 100)`},
		{[]string{"OCF_RESKEY_iface=e", "OCF_RESKEY_percent=101"}, `parameter percent="101" is out of range (0 to 100)`},
		{[]string{"OCF_RESKEY_iface=e", "OCF_RESKEY_percent=99999999999999999999"}, `parameter percent="99999999999999999999" is not an integer`},
	} {
		err := ParseEnv("validate-all", tc.env, envParams).CheckParams()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: unexpected error %v", tc.env, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%q: error = %v, want %q", tc.env, err, tc.want)
		case err != nil && StatusOf(err) != ErrConfigured:
			t.Errorf("%q: status %v, want ErrConfigured", tc.env, StatusOf(err))
		}
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{"1": true, "YES": true, "y": true, "True": true, "on": true,
		"": false, "0": false, "no": false, "N": false, "false": false, "off": false} {
		if got, err := parseBool(in); got != want || err != nil {
			t.Errorf("parseBool(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := parseBool("ja"); err == nil || !strings.Contains(err.Error(), "ja") {
		t.Errorf("parseBool(ja) error = %v", err)
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestNotRunning(t *testing.T) {
	for _, tc := range []struct {
		action   string
		interval time.Duration
		err      bool
	}{
		{"monitor", 0, false},               // probe: the expected answer
		{"monitor", 10 * time.Second, true}, // recurring: a failure, with its reason
	} {
		e := &Env{Action: tc.action, Interval: tc.interval}
		st, err := e.NotRunning("gone: %s", "eth9")
		if got := StatusOf(err); tc.err && (got != NotRunning || err == nil || err.Error() == "") {
			t.Errorf("%s/%v: %v, %v; want a NotRunning error with a reason", tc.action, tc.interval, st, err)
		}
		if !tc.err && (st != NotRunning || err != nil) {
			t.Errorf("%s/%v: %v, %v; want NotRunning, nil", tc.action, tc.interval, st, err)
		}
	}
}
