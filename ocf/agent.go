package ocf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// Action names. Only these can appear in an Agent's table: they are the
// names ra-api-1.dtd allows that a Pacemaker agent can use, plus OCF 1.1's
// reload-agent.
const (
	ActionStart       = "start"
	ActionStop        = "stop"
	ActionMonitor     = "monitor"
	ActionPromote     = "promote"
	ActionDemote      = "demote"
	ActionNotify      = "notify"
	ActionReload      = "reload"       // OCF 1.1: re-read the service's own configuration
	ActionReloadAgent = "reload-agent" // OCF 1.1: apply changed reloadable parameters
	ActionMigrateTo   = "migrate_to"
	ActionMigrateFrom = "migrate_from"
	ActionRecover     = "recover"
	ActionValidateAll = "validate-all" // built in; a Func adds agent checks
	ActionMetaData    = "meta-data"    // built in; an entry only sets the timeout
)

var knownActions = map[string]bool{
	ActionStart: true, ActionStop: true, ActionMonitor: true,
	ActionPromote: true, ActionDemote: true, ActionNotify: true,
	ActionReload: true, ActionReloadAgent: true,
	ActionMigrateTo: true, ActionMigrateFrom: true, ActionRecover: true,
	ActionValidateAll: true, ActionMetaData: true,
}

// Built-in actions get these meta-data timeouts unless the table lists them.
const (
	defaultMetaDataTimeout    = 5 * time.Second
	defaultValidateAllTimeout = 20 * time.Second
)

// ActionFunc performs one action. It returns the OCF status, or an error
// whose text becomes the exit reason (see Fail for choosing its status).
// It must return before ctx's deadline, which the runner sets a little
// before Pacemaker's timeout because Pacemaker SIGKILLs without warning.
type ActionFunc func(ctx context.Context, r *Request) (Status, error)

// Request is what an action works with: the parsed environment (embedded,
// so r.Param, r.IsProbe and r.Instance read naturally), a logger already
// labelled with the instance and action, and standard output.
type Request struct {
	*Env
	Log    *Logger
	Stdout io.Writer
}

// Agent is the one table an agent is written as: its identity and
// descriptions, its parameters and its actions. Meta-data, dispatch,
// parameter defaults and validate-all are all derived from it.
type Agent struct {
	Name      string // resource type, as installed under resource.d/<provider>/
	Provider  string // that <provider>; names the man page (ocf_<provider>_<name>)
	Version   string // the agent's own version (not the OCF version)
	ShortDesc string
	LongDesc  string // defaults to ShortDesc
	Params    []Param
	Actions   []Action
}

// Action is one entry of the meta-data actions list and, for the first
// entry of each name, the function that performs it. Later entries of the
// same name only add hints, such as monitors with other roles or depths.
type Action struct {
	Name     string
	Func     ActionFunc    // required on the first entry of a name, nil on later ones
	Timeout  time.Duration // recommended minimum timeout; required
	Interval time.Duration // recommended interval (monitor); 0 for none
	Depth    int           // OCF_CHECK_LEVEL this entry is for; 0 is left out
	Role     Role          // role this entry is for (monitor); "" for any
}

// Role is a role of a promotable clone instance, as OCF 1.1 and
// Pacemaker 2.1 spell it. Both dialects use these names, as resource-agents
// 4.12 does in its OCF 1.0 meta-data (its metadata.rng allows no others).
type Role string

// The roles of a promotable clone instance.
const (
	RolePromoted   Role = "Promoted"
	RoleUnpromoted Role = "Unpromoted"
)

// Param is one instance parameter, passed as OCF_RESKEY_<Name>.
type Param struct {
	Name      string
	ShortDesc string
	LongDesc  string // defaults to ShortDesc
	Type      ParamType
	Default   string // applied when the parameter is not set at all
	Required  bool
	Unique    bool // no two resources of this type may share the value

	// UniqueGroup (OCF 1.1) names a group of parameters whose combined
	// values must be unique; only the OCF 1.1 meta-data carries it.
	UniqueGroup string
	// Reloadable (OCF 1.1) means a change takes effect through the
	// reload-agent action instead of a restart; only the OCF 1.1 meta-data
	// carries it, and only an agent with a reload-agent action may set it.
	Reloadable bool
	// Range bounds an Integer parameter; nil leaves it unbounded.
	Range *Range
}

// Range is the values an Integer parameter accepts, both ends included.
// Neither ra-api-1.dtd nor the OCF 1.1 schema has a place for it in
// <content>, so the meta-data longdesc and the man page state it in words;
// CheckParams and ParamInt enforce it, so validate-all and start refuse a
// value out of range with ErrConfigured.
type Range struct{ Min, Max int }

func (r Range) String() string { return fmt.Sprintf("%d to %d", r.Min, r.Max) }

// ParamType is the content type of a parameter. The zero value is String.
type ParamType int

// The parameter types both ra-api-1.dtd and the OCF 1.1 schema accept.
const (
	String ParamType = iota
	Integer
	Boolean
)

func (t ParamType) String() string {
	switch t {
	case String:
		return "string"
	case Integer:
		return "integer"
	case Boolean:
		return "boolean"
	}
	return fmt.Sprintf("ParamType(%d)", int(t))
}

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Check reports mistakes in the table: missing descriptions or timeouts,
// unknown action names, a handler missing or given twice, promote without
// demote, reloadable parameters without reload-agent, defaults that do not
// parse. Exec refuses to run an agent whose table fails it; call it from a
// test of each agent to find out at build time.
func (a *Agent) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if a.Name == "" || strings.ContainsAny(a.Name, " \t\n/") {
		bad("agent name %q is not a file name", a.Name)
	}
	if a.ShortDesc == "" {
		bad("agent %s has no ShortDesc", a.Name)
	}

	seenParam := map[string]bool{}
	reloadable := false
	for _, p := range a.Params {
		switch {
		case !nameRE.MatchString(p.Name):
			bad("parameter name %q cannot be an environment variable", p.Name)
		case seenParam[p.Name]:
			bad("parameter %s is declared twice", p.Name)
		}
		seenParam[p.Name] = true
		if p.ShortDesc == "" {
			bad("parameter %s has no ShortDesc", p.Name)
		}
		switch {
		case p.Range != nil && p.Type != Integer:
			bad("parameter %s has a range but is not an integer", p.Name)
		case p.Range != nil && p.Range.Min > p.Range.Max:
			bad("parameter %s has an empty range %v", p.Name, *p.Range)
		}
		switch p.Type {
		case String:
		case Integer, Boolean:
			if p.Default == "" {
				break
			}
			env := ParseEnv("", nil, []Param{p})
			if err := env.CheckParams(); err != nil {
				bad("parameter %s: default: %v", p.Name, err)
			}
		default:
			bad("parameter %s has unknown type %v", p.Name, p.Type)
		}
		reloadable = reloadable || p.Reloadable
	}

	seenAction := map[string]bool{}
	for _, act := range a.Actions {
		name := act.Name
		switch {
		case !knownActions[name]:
			bad("unknown action %q", name)
			continue
		case act.Timeout < time.Millisecond:
			bad("action %s has no timeout", name)
		case act.Depth < 0:
			bad("action %s has negative depth", name)
		case act.Interval < 0:
			bad("action %s has negative interval", name)
		case act.Role != "" && act.Role != RolePromoted && act.Role != RoleUnpromoted:
			bad("action %s has unknown role %q", name, act.Role)
		}
		first := !seenAction[name]
		seenAction[name] = true
		builtin := name == ActionMetaData || name == ActionValidateAll
		switch {
		case name == ActionMetaData && act.Func != nil:
			bad("meta-data is built in and takes no Func")
		case !first && act.Func != nil:
			bad("only the first %s entry may have a Func", name)
		case first && act.Func == nil && !builtin:
			bad("first %s entry has no Func", name)
		}
	}
	for _, name := range []string{ActionStart, ActionStop, ActionMonitor} {
		if !seenAction[name] {
			bad("mandatory action %s is missing", name)
		}
	}
	if seenAction[ActionPromote] != seenAction[ActionDemote] {
		bad("promote and demote come together")
	}
	if reloadable && !seenAction[ActionReloadAgent] {
		bad("reloadable parameters need a reload-agent action")
	}
	return errors.Join(errs...)
}

// handler returns the function for an action name, nil when the agent does
// not implement it.
func (a *Agent) handler(name string) ActionFunc {
	for _, act := range a.Actions {
		if act.Name == name {
			return act.Func
		}
	}
	return nil
}

func (a *Agent) implements(name string) bool {
	for _, act := range a.Actions {
		if act.Name == name {
			return true
		}
	}
	return false
}
