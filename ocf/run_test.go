package ocf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// testAgent returns a minimal valid agent whose monitor returns s, err.
func testAgent(s Status, err error) *Agent {
	ok := func(context.Context, *Request) (Status, error) { return Success, nil }
	return &Agent{
		Name: "t", ShortDesc: "test agent",
		Params: []Param{{Name: "iface", ShortDesc: "i", Required: true}},
		Actions: []Action{
			{Name: ActionStart, Func: ok, Timeout: time.Second},
			{Name: ActionStop, Func: ok, Timeout: time.Second},
			{Name: ActionMonitor, Timeout: time.Second, Func: func(context.Context, *Request) (Status, error) {
				return s, err
			}},
		},
	}
}

func execAgent(a *Agent, env []string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = a.Exec(append([]string{"/usr/lib/ocf/resource.d/qinqbridge/t"}, args...), env, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestExecStatuses(t *testing.T) {
	all := []Status{Success, ErrGeneric, ErrArgs, ErrUnimplemented, ErrPerm, ErrInstalled,
		ErrConfigured, NotRunning, RunningPromoted, FailedPromoted, Degraded, DegradedPromoted}
	type tc struct {
		name       string
		s          Status
		err        error
		wantCode   int
		wantReason string // "" means: no ocf-exit-reason line at all
	}
	var cases []tc
	for _, s := range all[1:] {
		cases = append(cases,
			tc{s.String() + " without reason", s, nil, int(s), ""},
			tc{s.String() + " with Fail", 0, Fail(s, "why %d", int(s)), int(s), fmt.Sprintf("why %d", int(s))},
			tc{s.String() + " with plain error", s, errors.New("plain"), int(s), "plain"},
		)
	}
	cases = append(cases,
		tc{"success", Success, nil, 0, ""},
		tc{"success with Fail(Success) prints no reason", 0, Fail(Success, "fine"), 0, ""},
		tc{"success with plain error is generic", Success, errors.New("boom"), 1, "boom"},
		tc{"Fail beats returned status", ErrGeneric, Fail(ErrInstalled, "no tc"), 5, "no tc"},
		tc{"wrapped Fail", 0, fmt.Errorf("load: %w", Fail(ErrConfigured, "line 3")), 6, "load: line 3"},
		tc{"multi-line reason", 0, errors.New("first\nsecond"), 1, "first; second"},
		tc{"status out of range", 300, nil, 1, ""},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := execAgent(testAgent(c.s, c.err), nil, "monitor")
			if code != c.wantCode {
				t.Errorf("exit code = %d, want %d", code, c.wantCode)
			}
			if stdout != "" {
				t.Errorf("stdout = %q", stdout)
			}
			if c.wantReason == "" {
				if strings.Contains(stderr, "ocf-exit-reason:") {
					t.Errorf("unexpected exit reason in %q", stderr)
				}
				return
			}
			if got, want := lastLine(stderr), "ocf-exit-reason:"+c.wantReason; got != want {
				t.Errorf("last stderr line = %q, want %q (stderr %q)", got, want, stderr)
			}
		})
	}
}

func TestExecDispatch(t *testing.T) {
	iface := []string{"OCF_RESOURCE_INSTANCE=p:0", "OCF_RESKEY_iface=eth0"}
	for _, tc := range []struct {
		name       string
		args       []string
		env        []string
		wantCode   int
		wantLast   string // expected last stderr line, "" for empty stderr
		wantStdout string // substring
	}{
		{"no action", nil, nil, 2, "ocf-exit-reason:no action given", ""},
		{"empty action", []string{""}, nil, 2, "ocf-exit-reason:no action given", ""},
		{"unknown action", []string{"bogus"}, iface, 3, `ocf-exit-reason:t does not implement action "bogus"`, ""},
		{"optional action not implemented", []string{"promote"}, iface, 3, `ocf-exit-reason:t does not implement action "promote"`, ""},
		{"extra arguments ignored", []string{"monitor", "extra", "args"}, iface, 0, "", ""},
		{"usage", []string{"usage"}, nil, 0, "", "usage: t {start|stop|monitor|meta-data|validate-all}"},
		{"meta-data needs no environment", []string{"meta-data"}, nil, 0, "", `<resource-agent name="t">`},
		{"meta-data ignores broken params", []string{"meta-data"}, []string{"OCF_RESKEY_iface="}, 0, "", "<version>1.0</version>"},
		{"meta-data for OCF 1.1", []string{"meta-data"}, []string{"OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=1"}, 0, "", "<version>1.1</version>"},
		{"validate-all built in", []string{"validate-all"}, iface, 0, "", ""},
		{"validate-all missing required", []string{"validate-all"}, nil, 6, "ocf-exit-reason:required parameter iface is not set", ""},
		{"start checks params", []string{"start"}, nil, 6, "ocf-exit-reason:required parameter iface is not set", ""},
		{"stop does not check params", []string{"stop"}, nil, 0, "", ""},
		{"probe does not check params", []string{"monitor"}, []string{"OCF_RESKEY_CRM_meta_interval=0"}, 0, "", ""},
		{"exit reason prefix from Pacemaker", []string{"bogus"}, []string{"OCF_EXIT_REASON_PREFIX=reason>"}, 3, `reason>t does not implement action "bogus"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := execAgent(testAgent(Success, nil), tc.env, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tc.wantCode, stderr)
			}
			if tc.wantLast == "" && stderr != "" && !strings.Contains(stderr, "usage:") {
				t.Errorf("stderr = %q, want empty", stderr)
			}
			if tc.wantLast != "" && lastLine(stderr) != tc.wantLast {
				t.Errorf("last stderr line = %q, want %q", lastLine(stderr), tc.wantLast)
			}
			if !strings.Contains(stdout, tc.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout, tc.wantStdout)
			}
		})
	}
}

func TestExecUsageOnStderrWithoutAction(t *testing.T) {
	_, stdout, stderr := execAgent(testAgent(Success, nil), nil)
	if stdout != "" || !strings.HasPrefix(stderr, "usage: t {") {
		t.Errorf("stdout %q, stderr %q: want usage on stderr", stdout, stderr)
	}
}

func TestExecReasonIsLastAfterLogs(t *testing.T) {
	a := testAgent(0, nil)
	a.Actions[2].Func = func(_ context.Context, r *Request) (Status, error) {
		r.Log.Infof("looking")
		r.Log.With("TRANSLATION", "100.200:300").Warningf("odd")
		return 0, Fail(ErrGeneric, "broken")
	}
	code, _, stderr := execAgent(a, []string{"OCF_RESOURCE_INSTANCE=p:0", "OCF_RESKEY_CRM_meta_timeout=abc"}, "monitor")
	want := `t[p:0] monitor: warning: ignoring OCF_RESKEY_CRM_meta_timeout="abc": not a number of milliseconds
t[p:0] monitor: looking
t[p:0] monitor: warning: odd TRANSLATION=100.200:300
t[p:0] monitor: error: OCF_ERR_GENERIC: broken
ocf-exit-reason:broken
`
	if code != 1 || stderr != want {
		t.Errorf("code %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
}

func TestExecRecoversPanic(t *testing.T) {
	a := testAgent(0, nil)
	a.Actions[2].Func = func(context.Context, *Request) (Status, error) { panic("nil map") }
	code, _, stderr := execAgent(a, nil, "monitor")
	if code != 1 || lastLine(stderr) != "ocf-exit-reason:internal error: nil map" {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
}

func TestExecRejectsBadTable(t *testing.T) {
	a := testAgent(0, nil)
	a.Actions = a.Actions[:2] // no monitor
	for _, action := range []string{"meta-data", "start"} {
		code, stdout, stderr := execAgent(a, nil, action)
		if code != 1 || stdout != "" || !strings.HasPrefix(lastLine(stderr), "ocf-exit-reason:agent table of t: mandatory action monitor is missing") {
			t.Errorf("%s: code %d, stdout %q, stderr %q", action, code, stdout, stderr)
		}
	}
}

func TestValidateAllRunsAgentCheck(t *testing.T) {
	a := testAgent(0, nil)
	called := false
	a.Actions = append(a.Actions, Action{Name: ActionValidateAll, Timeout: time.Second,
		Func: func(context.Context, *Request) (Status, error) {
			called = true
			return 0, Fail(ErrInstalled, "no tc binary")
		}})
	if code, _, _ := execAgent(a, nil, "validate-all"); code != 6 || called {
		t.Errorf("missing parameter: code %d, agent check called %v; want 6 before the agent check", code, called)
	}
	if code, _, stderr := execAgent(a, []string{"OCF_RESKEY_iface=x"}, "validate-all"); code != 5 || !called {
		t.Errorf("code %d, called %v, stderr %q", code, called, stderr)
	}
}

func TestActionBudget(t *testing.T) {
	for _, tc := range []struct{ timeout, want time.Duration }{
		{0, 0},
		{-time.Second, 0},
		{time.Nanosecond, time.Nanosecond},
		{100 * time.Millisecond, 90 * time.Millisecond},
		{5 * time.Second, 4500 * time.Millisecond},
		{20 * time.Second, 18 * time.Second}, // 10% == 2 s
		{30 * time.Second, 28 * time.Second},
		{10 * time.Minute, 10*time.Minute - 2*time.Second},
	} {
		if got := ActionBudget(tc.timeout); got != tc.want {
			t.Errorf("ActionBudget(%v) = %v, want %v", tc.timeout, got, tc.want)
		}
	}
}

func TestExecDeadline(t *testing.T) {
	var left time.Duration
	var has bool
	a := testAgent(0, nil)
	a.Actions[2].Func = func(ctx context.Context, r *Request) (Status, error) {
		var d time.Time
		d, has = ctx.Deadline()
		left = time.Until(d)
		return Success, nil
	}
	execAgent(a, []string{"OCF_RESKEY_CRM_meta_timeout=20000"}, "monitor")
	if !has || left > 18*time.Second || left < 17*time.Second {
		t.Errorf("20 s timeout: deadline set %v, %v left; want about 18 s", has, left)
	}
	execAgent(a, nil, "monitor")
	if has {
		t.Errorf("no timeout: deadline set, %v left; want none", left)
	}
}

func TestExecDeadlineExceeded(t *testing.T) {
	a := testAgent(0, nil)
	a.Actions[2].Func = func(ctx context.Context, r *Request) (Status, error) {
		<-ctx.Done()
		return 0, fmt.Errorf("waiting for link: %w", ctx.Err())
	}
	start := time.Now()
	code, _, stderr := execAgent(a, []string{"OCF_RESKEY_CRM_meta_timeout=200"}, "monitor")
	took := time.Since(start)
	want := "ocf-exit-reason:waiting for link: context deadline exceeded (gave up after 180ms of the 200ms timeout)"
	if code != 1 || lastLine(stderr) != want {
		t.Errorf("code %d, last line %q, want %q", code, lastLine(stderr), want)
	}
	if took < 180*time.Millisecond || took > 2*time.Second {
		t.Errorf("took %v, want about 180ms", took)
	}
}
