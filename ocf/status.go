package ocf

import (
	"errors"
	"fmt"
	"strings"
)

// Status is an OCF exit code. Pacemaker decides the recovery from it alone
// (soft, hard or fatal), so agents pick it deliberately; see the constants.
type Status int

// The OCF exit codes (OCF resource agent API 1.1, "Exit Status Codes").
const (
	Success          Status = 0   // OCF_SUCCESS
	ErrGeneric       Status = 1   // OCF_ERR_GENERIC: soft error, restart maybe elsewhere
	ErrArgs          Status = 2   // OCF_ERR_ARGS: hard, the node is banned for the resource
	ErrUnimplemented Status = 3   // OCF_ERR_UNIMPLEMENTED: hard
	ErrPerm          Status = 4   // OCF_ERR_PERM: hard
	ErrInstalled     Status = 5   // OCF_ERR_INSTALLED: hard; from a probe it means stopped
	ErrConfigured    Status = 6   // OCF_ERR_CONFIGURED: fatal, stopped everywhere
	NotRunning       Status = 7   // OCF_NOT_RUNNING: monitor found it cleanly stopped
	RunningPromoted  Status = 8   // OCF_RUNNING_PROMOTED: monitor found it promoted
	FailedPromoted   Status = 9   // OCF_FAILED_PROMOTED: promoted but broken
	Degraded         Status = 190 // OCF_DEGRADED: running, shown degraded
	DegradedPromoted Status = 191 // OCF_DEGRADED_PROMOTED: promoted, shown degraded
)

var statusNames = map[Status]string{
	Success:          "OCF_SUCCESS",
	ErrGeneric:       "OCF_ERR_GENERIC",
	ErrArgs:          "OCF_ERR_ARGS",
	ErrUnimplemented: "OCF_ERR_UNIMPLEMENTED",
	ErrPerm:          "OCF_ERR_PERM",
	ErrInstalled:     "OCF_ERR_INSTALLED",
	ErrConfigured:    "OCF_ERR_CONFIGURED",
	NotRunning:       "OCF_NOT_RUNNING",
	RunningPromoted:  "OCF_RUNNING_PROMOTED",
	FailedPromoted:   "OCF_FAILED_PROMOTED",
	Degraded:         "OCF_DEGRADED",
	DegradedPromoted: "OCF_DEGRADED_PROMOTED",
}

// String returns the name the OCF shell functions use, e.g. "OCF_NOT_RUNNING",
// so logs read the same as those of the shell agents next to ours.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("OCF_STATUS(%d)", int(s))
}

// IsError reports whether s is a failure in every context. NotRunning,
// RunningPromoted and the degraded codes are not: a monitor returns them to
// describe a state, and whether that state is wrong is Pacemaker's decision.
func (s Status) IsError() bool {
	switch s {
	case ErrGeneric, ErrArgs, ErrUnimplemented, ErrPerm, ErrInstalled,
		ErrConfigured, FailedPromoted:
		return true
	}
	return s < 0 || s > 255
}

// Error is an error that carries the OCF status an action should exit with.
// Its message becomes the ocf-exit-reason that Pacemaker shows in crm_mon.
type Error struct {
	Status Status
	Err    error // the reason; never nil
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Fail returns an error carrying status s, formatted like fmt.Errorf (so %w
// keeps the cause reachable for errors.Is and errors.As):
//
//	return ocf.NotRunning, nil
//	return 0, ocf.Fail(ocf.ErrConfigured, "config %s: %w", path, err)
func Fail(s Status, format string, args ...any) error {
	return &Error{Status: s, Err: fmt.Errorf(format, args...)}
}

// StatusOf returns the status an error stands for: Success for nil, the
// status of the outermost *Error in the chain, ErrGeneric for anything else
// (an unclassified failure may well be transient, and ErrGeneric is the only
// code that lets Pacemaker retry on this node).
func StatusOf(err error) Status {
	if err == nil {
		return Success
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Status
	}
	return ErrGeneric
}

// outcome turns what an action returned into the exit status and the exit
// reason. The rules, in order:
//   - no error: the returned status, no reason;
//   - an error carrying a status (Fail): that status, the error text;
//   - a plain error with a non-success status: that status, the error text;
//   - a plain error with Success: ErrGeneric, since an action that reports
//     an error cannot have succeeded.
func outcome(s Status, err error) (Status, string) {
	if err == nil {
		return s, ""
	}
	reason := oneLine(err.Error())
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Status, reason
	}
	if s == Success {
		return ErrGeneric, reason
	}
	return s, reason
}

// oneLine folds a multi-line text into one line: Pacemaker takes the exit
// reason from a single stderr line, and log lines must stay greppable.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}
