package ocf

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{
		Success: "OCF_SUCCESS", ErrGeneric: "OCF_ERR_GENERIC", ErrArgs: "OCF_ERR_ARGS",
		ErrUnimplemented: "OCF_ERR_UNIMPLEMENTED", ErrPerm: "OCF_ERR_PERM",
		ErrInstalled: "OCF_ERR_INSTALLED", ErrConfigured: "OCF_ERR_CONFIGURED",
		NotRunning: "OCF_NOT_RUNNING", RunningPromoted: "OCF_RUNNING_PROMOTED",
		FailedPromoted: "OCF_FAILED_PROMOTED", Degraded: "OCF_DEGRADED",
		DegradedPromoted: "OCF_DEGRADED_PROMOTED", 42: "OCF_STATUS(42)",
	} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", int(s), got, want)
		}
	}
	// The values are the protocol; a typo here would be a silent disaster.
	codes := []Status{Success, ErrGeneric, ErrArgs, ErrUnimplemented, ErrPerm, ErrInstalled,
		ErrConfigured, NotRunning, RunningPromoted, FailedPromoted}
	for i, s := range codes {
		if int(s) != i {
			t.Errorf("%v = %d, want %d", s, int(s), i)
		}
	}
	if Degraded != 190 || DegradedPromoted != 191 {
		t.Errorf("degraded codes = %d, %d; want 190, 191", Degraded, DegradedPromoted)
	}
}

func TestStatusIsError(t *testing.T) {
	for _, s := range []Status{ErrGeneric, ErrArgs, ErrUnimplemented, ErrPerm, ErrInstalled, ErrConfigured, FailedPromoted, -1, 300} {
		if !s.IsError() {
			t.Errorf("%v.IsError() = false", s)
		}
	}
	for _, s := range []Status{Success, NotRunning, RunningPromoted, Degraded, DegradedPromoted} {
		if s.IsError() {
			t.Errorf("%v.IsError() = true", s)
		}
	}
}

func TestFailAndStatusOf(t *testing.T) {
	cause := fs.ErrNotExist
	err := Fail(ErrInstalled, "config %s: %w", "/etc/x", cause)
	if got := err.Error(); got != "config /etc/x: file does not exist" {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("Fail does not keep the %w cause")
	}
	for _, tc := range []struct {
		err  error
		want Status
	}{
		{nil, Success},
		{errors.New("x"), ErrGeneric},
		{err, ErrInstalled},
		{fmt.Errorf("start: %w", err), ErrInstalled},
		{fmt.Errorf("outer: %w", Fail(ErrPerm, "inner: %w", Fail(ErrArgs, "x"))), ErrPerm},
	} {
		if got := StatusOf(tc.err); got != tc.want {
			t.Errorf("StatusOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		name       string
		s          Status
		err        error
		wantStatus Status
		wantReason string
	}{
		{"success", Success, nil, Success, ""},
		{"plain status", NotRunning, nil, NotRunning, ""},
		{"status with plain error", NotRunning, errors.New("gone"), NotRunning, "gone"},
		{"success with error", Success, errors.New("boom"), ErrGeneric, "boom"},
		{"Fail", 0, Fail(ErrConfigured, "bad"), ErrConfigured, "bad"},
		{"Fail wins over returned status", ErrGeneric, Fail(ErrInstalled, "no tc"), ErrInstalled, "no tc"},
		{"wrapped Fail", 0, fmt.Errorf("ctx: %w", Fail(ErrPerm, "denied")), ErrPerm, "ctx: denied"},
		{"multi-line", ErrGeneric, errors.New("a\n  b\r\nc\n"), ErrGeneric, "a; b; c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, r := outcome(tc.s, tc.err)
			if s != tc.wantStatus || r != tc.wantReason {
				t.Errorf("outcome = %v, %q; want %v, %q", s, r, tc.wantStatus, tc.wantReason)
			}
		})
	}
}
