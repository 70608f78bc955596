package ocf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// crmAttributeFallback is where Debian's pacemaker-cli-utils installs
// crm_attribute, for callers whose PATH lacks /usr/sbin.
const crmAttributeFallback = "/usr/sbin/crm_attribute"

// promotionCap bounds a crm_attribute call when the action has no deadline
// (a run by hand): a hung CIB connection must not hang the agent forever.
const promotionCap = 30 * time.Second

// SetPromotionScore sets this instance's promotion score on this node with
// `crm_attribute --promotion -v score --lifetime reboot`, Pacemaker's own
// interface for it (crm_master is deprecated). The attribute is named after
// OCF_RESOURCE_INSTANCE, which crm_attribute reads from the environment it
// gets from Env.Environ, as it does the node name.
//
// The error is returned, never acted on: outside a cluster (ocf-tester,
// crm_resource --force-*) the call fails (exit 102, no CIB), and only the
// caller knows whether that matters.
func (e *Env) SetPromotionScore(ctx context.Context, score int) error {
	return e.crmAttribute(ctx, "--promotion", "-v", strconv.Itoa(score), "--lifetime", "reboot")
}

// DeletePromotionScore removes this instance's promotion score on this node
// (`crm_attribute --promotion -D --lifetime reboot`), as a stop should, so
// a stopped instance is not chosen for promotion. Errors as for
// SetPromotionScore.
func (e *Env) DeletePromotionScore(ctx context.Context) error {
	return e.crmAttribute(ctx, "--promotion", "-D", "--lifetime", "reboot")
}

func (e *Env) crmAttribute(ctx context.Context, args ...string) error {
	if e.Instance == "" {
		return errors.New("crm_attribute --promotion: OCF_RESOURCE_INSTANCE is not set")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, promotionCap)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, e.lookPath("crm_attribute", crmAttributeFallback), args...)
	cmd.Env = e.Environ
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would mean the process environment
	}
	var out bytes.Buffer
	// Captured, not passed through: anything written to our stderr after
	// this would push the exit reason off the last line.
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second // do not wait on pipes held by a killed child's children
	if err := cmd.Run(); err != nil {
		msg := oneLine(out.String())
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		if msg != "" {
			return fmt.Errorf("crm_attribute %s: %w: %s", strings.Join(args, " "), err, msg)
		}
		return fmt.Errorf("crm_attribute %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// lookPath finds a program in the PATH of Env.Environ (not the process's,
// so a test can supply a fake crm_attribute), else returns fallback.
func (e *Env) lookPath(name, fallback string) string {
	path := ""
	for _, kv := range e.Environ {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // a relative PATH entry would depend on the cwd
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return fallback
}
