package ocf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

// defaultReasonPrefix is the marker Pacemaker looks for in stderr; it
// takes the last such line as the exit reason (services_linux.c).
const defaultReasonPrefix = "ocf-exit-reason:"

// Run is an agent's main: it runs the action named by os.Args[1] with the
// process environment and exits with its status. SIGTERM and SIGINT cancel
// the action's context.
func Run(a *Agent) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := a.exec(ctx, os.Args, os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exec runs the action named by args[1] (args as in os.Args; further
// arguments are ignored, as OCF requires) with the given environment and
// returns the exit code instead of exiting. It reads no process state
// except whether journald is reachable, so tests can drive it.
func (a *Agent) Exec(args, environ []string, stdout, stderr io.Writer) int {
	return a.exec(context.Background(), args, environ, stdout, stderr)
}

// ActionBudget is how long an action may run when Pacemaker gives it
// timeout: the timeout less 10%, at most 2 s less. Pacemaker SIGKILLs an
// agent's process group at the timeout without a SIGTERM first, so the
// margin is what lets an action notice its deadline, clean up and report
// why, instead of dying with a bare "timed out". Zero means no deadline.
func ActionBudget(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return 0
	}
	return timeout - min(timeout/10, 2*time.Second)
}

func (a *Agent) exec(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	start := time.Now()
	env := ParseEnv(argAction(args), environ, a.Params)
	prefix := defaultReasonPrefix
	for _, kv := range environ {
		if p, ok := strings.CutPrefix(kv, "OCF_EXIT_REASON_PREFIX="); ok && p != "" {
			prefix = p
		}
	}
	report := func(s Status, reason string) int {
		if s != Success && reason != "" {
			fmt.Fprintf(stderr, "%s%s\n", prefix, oneLine(reason))
		}
		if s < 0 || s > 255 {
			return int(ErrGeneric)
		}
		return int(s)
	}

	if err := a.Check(); err != nil {
		return report(ErrGeneric, "agent table of "+a.Name+": "+err.Error())
	}
	switch env.Action {
	case "":
		a.usage(stderr)
		return report(ErrArgs, "no action given")
	case ActionMetaData:
		// No logger, no files, no environment beyond the OCF version: this
		// runs as nobody under ocf-tester and for every tool that asks.
		xml, err := a.MetaData(DialectFor(env))
		if err == nil {
			_, err = stdout.Write(xml)
		}
		if err != nil {
			return report(ErrGeneric, err.Error())
		}
		return report(Success, "")
	case "usage", "help", "--help", "-h":
		a.usage(stdout)
		return report(Success, "")
	case ActionMan:
		// Like meta-data: the table only, for any user.
		if err := a.WriteMan(stdout); err != nil {
			return report(ErrGeneric, err.Error())
		}
		return report(Success, "")
	}

	log := NewLogger(stderr, a.Name, env.Instance, env.Action, env.Debug)
	for _, w := range env.Warnings {
		log.Warningf("%s", w)
	}
	status, reason := a.dispatch(ctx, start, env, log, stdout)
	switch {
	case status == ErrUnimplemented:
		// Callers probe for optional actions this way (ocf-tester tries
		// promote, notify, reload); the exit reason says enough.
	case status.IsError():
		log.Errorf("%s: %s", status, orDefault(reason, "no reason given"))
	case reason != "":
		log.Infof("%s: %s", status, reason)
	default:
		log.Debugf("%s after %v", status, time.Since(start).Round(time.Millisecond))
	}
	return report(status, reason)
}

func argAction(args []string) string {
	if len(args) < 2 {
		return ""
	}
	return args[1]
}

// paramActions are the actions that apply the parameters, and so check
// them first: invalid parameters there are ErrConfigured (fatal), which is
// right for a start but would be wrong for a stop or a probe, which must
// work with whatever configuration they are given.
var paramActions = map[string]bool{
	ActionValidateAll: true, ActionStart: true, ActionReloadAgent: true, ActionMigrateFrom: true,
}

func (a *Agent) dispatch(ctx context.Context, start time.Time, env *Env, log *Logger, stdout io.Writer) (status Status, reason string) {
	fn := a.handler(env.Action)
	if fn == nil && env.Action != ActionValidateAll {
		return ErrUnimplemented, fmt.Sprintf("%s does not implement action %q", a.Name, env.Action)
	}
	if paramActions[env.Action] {
		if err := env.CheckParams(); err != nil {
			return outcome(0, err)
		}
	}
	if fn == nil { // validate-all without agent checks
		return Success, ""
	}

	if budget := ActionBudget(env.Timeout); budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, start.Add(budget))
		defer cancel()
	}
	defer func() {
		// A panic would exit with 2, ErrArgs, which bans the node: turn it
		// into ErrGeneric, the retryable failure it more likely is.
		if p := recover(); p != nil {
			log.Errorf("panic: %v\n%s", p, debug.Stack())
			status, reason = ErrGeneric, fmt.Sprintf("internal error: %v", p)
		}
	}()
	status, reason = outcome(fn(ctx, &Request{Env: env, Log: log, Stdout: stdout}))
	if status.IsError() && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		reason = fmt.Sprintf("%s (gave up after %v of the %v timeout)",
			orDefault(reason, "deadline reached"), ActionBudget(env.Timeout), env.Timeout)
	}
	return status, reason
}

func (a *Agent) usage(w io.Writer) {
	names := []string{}
	seen := map[string]bool{}
	for _, act := range a.Actions {
		if !seen[act.Name] {
			seen[act.Name] = true
			names = append(names, act.Name)
		}
	}
	for _, n := range []string{ActionMetaData, ActionValidateAll} {
		if !seen[n] {
			names = append(names, n)
		}
	}
	fmt.Fprintf(w, "usage: %s {%s}\n\n%s: %s\nOCF resource agent; run by Pacemaker, parameters in OCF_RESKEY_<name>.\n"+
		"\"%s %s\" prints its man page.\n",
		a.Name, strings.Join(names, "|"), a.Name, a.ShortDesc, a.Name, ActionMan)
}
