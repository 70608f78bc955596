// Command exampleagent is a minimal promotable OCF agent over package ocf,
// used by its tests (with ocf-tester) and as a model for real agents. Its
// "resource" is a state file holding the role and a message.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qinqbridge/qinqbridge/ocf"
)

// agent is the whole agent: one table.
var agent = &ocf.Agent{
	Name:      "exampleagent",
	Version:   "1.0",
	ShortDesc: "Example promotable agent",
	LongDesc:  "Keeps its state in a file: the role on the first line, the message on the second.",
	Params: []ocf.Param{
		{Name: "state", ShortDesc: "State file", Required: true, Unique: true, UniqueGroup: "state",
			LongDesc: "Absolute path of the state file; its directory must exist."},
		{Name: "message", ShortDesc: "Message", Default: "hello", Reloadable: true,
			LongDesc: "Text stored in the state file; changing it needs no restart."},
	},
	Actions: []ocf.Action{
		{Name: ocf.ActionStart, Func: start, Timeout: 20 * time.Second},
		{Name: ocf.ActionStop, Func: stop, Timeout: 20 * time.Second},
		{Name: ocf.ActionMonitor, Func: monitor, Timeout: 20 * time.Second, Interval: 10 * time.Second, Role: ocf.RolePromoted},
		{Name: ocf.ActionMonitor, Timeout: 20 * time.Second, Interval: 11 * time.Second, Role: ocf.RoleUnpromoted},
		{Name: ocf.ActionPromote, Func: promote, Timeout: 10 * time.Second},
		{Name: ocf.ActionDemote, Func: demote, Timeout: 10 * time.Second},
		{Name: ocf.ActionNotify, Func: notify, Timeout: 5 * time.Second},
		{Name: ocf.ActionReloadAgent, Func: reloadAgent, Timeout: 10 * time.Second},
		{Name: ocf.ActionValidateAll, Func: validate, Timeout: 5 * time.Second},
	},
}

func main() { ocf.Run(agent) }

const (
	promoted   = "promoted"
	unpromoted = "unpromoted"
)

// Promotion scores: any positive score makes an instance eligible.
const (
	scorePromoted   = 10
	scoreUnpromoted = 5
)

// read returns the role in the state file, "" when there is none.
func read(r *ocf.Request) (string, error) {
	b, err := os.ReadFile(r.Param("state"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	role, _, _ := strings.Cut(string(b), "\n")
	if role != promoted && role != unpromoted {
		return "", fmt.Errorf("state file %s: unknown role %q", r.Param("state"), role)
	}
	return role, nil
}

func write(r *ocf.Request, role string) error {
	return os.WriteFile(r.Param("state"), []byte(role+"\n"+r.Param("message")+"\n"), 0o644)
}

// score records the promotion score; failing to is logged, not fatal, since
// outside a cluster there is nobody to tell.
func score(ctx context.Context, r *ocf.Request, n int) {
	if err := r.SetPromotionScore(ctx, n); err != nil {
		r.Log.Warningf("promotion score not set: %v", err)
	}
}

func validate(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	if !filepath.IsAbs(r.Param("state")) {
		return 0, ocf.Fail(ocf.ErrConfigured, "state %q is not an absolute path", r.Param("state"))
	}
	return ocf.Success, nil
}

func start(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	if st, err := validate(ctx, r); err != nil {
		return st, err
	}
	role, err := read(r)
	if err != nil {
		return 0, err
	}
	if role == "" {
		if err := write(r, unpromoted); err != nil {
			return 0, err
		}
		r.Log.With("STATE_FILE", r.Param("state")).Infof("started")
	}
	if role != promoted {
		score(ctx, r, scoreUnpromoted)
	}
	return ocf.Success, nil
}

func stop(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	if err := r.DeletePromotionScore(ctx); err != nil {
		r.Log.Debugf("promotion score not deleted: %v", err)
	}
	if err := os.Remove(r.Param("state")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	return ocf.Success, nil
}

func monitor(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	role, err := read(r)
	switch {
	case err != nil:
		return 0, err
	case role == "":
		return ocf.NotRunning, nil
	case role == promoted:
		return ocf.RunningPromoted, nil
	}
	return ocf.Success, nil
}

func setRole(ctx context.Context, r *ocf.Request, role string, n int) (ocf.Status, error) {
	cur, err := read(r)
	if err != nil {
		return 0, err
	}
	if cur == "" {
		return 0, ocf.Fail(ocf.NotRunning, "cannot %s: not running", r.Action)
	}
	if err := write(r, role); err != nil {
		return 0, err
	}
	score(ctx, r, n)
	return ocf.Success, nil
}

func promote(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	return setRole(ctx, r, promoted, scorePromoted)
}

func demote(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	return setRole(ctx, r, unpromoted, scoreUnpromoted)
}

func notify(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	r.Log.Infof("notify type=%q operation=%q, promoted on %v", r.Notify.Type, r.Notify.Operation, r.Notify.Promoted.Unames)
	return ocf.Success, nil
}

// reloadAgent rewrites the message of a running instance in place.
func reloadAgent(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	role, err := read(r)
	if err != nil || role == "" {
		return ocf.NotRunning, err
	}
	return ocf.Success, write(r, role)
}
