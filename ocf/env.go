package ocf

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Environment variable names and prefixes of the OCF API and Pacemaker.
const (
	resKeyPrefix = "OCF_RESKEY_"
	metaPrefix   = "OCF_RESKEY_CRM_meta_"
)

// Env is everything the resource manager passed in the environment, parsed
// once per call. Nothing in it is read from the process environment: it comes
// from the list given to ParseEnv, so tests and Exec can supply their own.
type Env struct {
	// Action is argv[1], e.g. "monitor".
	Action string

	Root     string // OCF_ROOT
	Instance string // OCF_RESOURCE_INSTANCE, e.g. "p_guard:1" for clone instance 1
	Type     string // OCF_RESOURCE_TYPE, e.g. "tcguard"
	Provider string // OCF_RESOURCE_PROVIDER, e.g. "qinqbridge"

	// APIMajor and APIMinor are OCF_RA_VERSION_MAJOR/MINOR: the OCF version
	// the caller speaks. Pacemaker 2.1 sets 1.1; ocf-tester sets nothing (0.0).
	APIMajor, APIMinor int

	// CheckLevel is OCF_CHECK_LEVEL (0, 10 or 20; 0 when unset).
	CheckLevel int

	// Interval and Timeout come from OCF_RESKEY_CRM_meta_interval and
	// _timeout (milliseconds). Zero when unset or unparsable.
	Interval time.Duration
	Timeout  time.Duration

	// OnNode is OCF_RESKEY_CRM_meta_on_node, the node the action runs for.
	OnNode string

	// Clone is set when the resource is a clone instance.
	Clone *Clone

	// Notify describes the event of a notify action (zero otherwise).
	Notify Notify

	// Meta holds every OCF_RESKEY_CRM_meta_<name> variable by <name>,
	// including those parsed into the fields above.
	Meta map[string]string

	// Debug is true when debug logging was asked for: HA_debug (which
	// Pacemaker derives from PCMK_debug, and ocf-tester -d sets) or the
	// resource meta attribute debug=true.
	Debug bool

	// Warnings lists values that could not be parsed (a garbage timeout,
	// say). They never fail the call, since stop and monitor must work even
	// when something is off; the runner logs them.
	Warnings []string

	// Environ is the complete environment, for child processes such as
	// crm_attribute, which read OCF_RESOURCE_INSTANCE and the node name from it.
	Environ []string

	params map[string]string // declared parameters, defaults applied
	given  map[string]bool   // declared parameters present in the environment
	decl   map[string]Param
}

// Clone holds the clone meta attributes Pacemaker passes to each instance.
type Clone struct {
	Instance        int  // OCF_RESKEY_CRM_meta_clone: this instance's number
	Max             int  // clone_max
	NodeMax         int  // clone_node_max
	Promotable      bool // promotable
	PromotedMax     int  // promoted_max (master_max before Pacemaker 2.0)
	PromotedNodeMax int  // promoted_node_max (master_node_max)
	Notify          bool // notify: whether notify actions are sent
	GloballyUnique  bool // globally_unique
}

// Notify is the event a notify action reports: Type "pre" or "post" of
// Operation "start", "stop", "promote" or "demote", and the instances involved.
type Notify struct {
	Type      string
	Operation string

	Start, Stop, Active, Promote, Demote Peers
	Promoted, Unpromoted                 Peers // also from the master/slave spellings
}

// Peers are clone instances and the nodes they are on, in Pacemaker's order:
// Resources[i] is on Unames[i] when both lists are complete.
type Peers struct {
	Resources []string
	Unames    []string
}

// ParseEnv parses environ (in os.Environ form, later duplicates winning as in
// os/exec) for an action of an agent with the given parameters. It never
// fails; see Env.Warnings.
func ParseEnv(action string, environ []string, params []Param) *Env {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	e := &Env{
		Action:   action,
		Root:     vars["OCF_ROOT"],
		Instance: vars["OCF_RESOURCE_INSTANCE"],
		Type:     vars["OCF_RESOURCE_TYPE"],
		Provider: vars["OCF_RESOURCE_PROVIDER"],
		Meta:     map[string]string{},
		Environ:  environ,
		params:   map[string]string{},
		given:    map[string]bool{},
		decl:     map[string]Param{},
	}
	for k, v := range vars {
		if name, ok := strings.CutPrefix(k, metaPrefix); ok {
			e.Meta[name] = v
		}
	}

	e.APIMajor = e.intVar(vars, "OCF_RA_VERSION_MAJOR")
	e.APIMinor = e.intVar(vars, "OCF_RA_VERSION_MINOR")
	// Pacemaker exports OCF_CHECK_LEVEL without prefix (services_linux.c);
	// the meta spelling is the same op attribute seen by older executors.
	if _, ok := vars["OCF_CHECK_LEVEL"]; ok {
		e.CheckLevel = e.intVar(vars, "OCF_CHECK_LEVEL")
	} else {
		e.CheckLevel = e.intVar(vars, metaPrefix+"OCF_CHECK_LEVEL")
	}
	e.Interval = e.msVar(vars, metaPrefix+"interval")
	e.Timeout = e.msVar(vars, metaPrefix+"timeout")
	e.OnNode = e.Meta["on_node"]

	if _, isClone := e.Meta["clone"]; isClone || e.Meta["clone_max"] != "" {
		e.Clone = &Clone{
			Instance:        e.intVar(vars, metaPrefix+"clone"),
			Max:             e.intVar(vars, metaPrefix+"clone_max"),
			NodeMax:         e.intVar(vars, metaPrefix+"clone_node_max"),
			Promotable:      e.boolVar(vars, metaPrefix+"promotable"),
			PromotedMax:     e.intVar(vars, e.newOrLegacy(metaPrefix+"promoted_max", metaPrefix+"master_max")),
			PromotedNodeMax: e.intVar(vars, e.newOrLegacy(metaPrefix+"promoted_node_max", metaPrefix+"master_node_max")),
			Notify:          e.boolVar(vars, metaPrefix+"notify"),
			GloballyUnique:  e.boolVar(vars, metaPrefix+"globally_unique"),
		}
	}

	n := &e.Notify
	n.Type = e.Meta["notify_type"]
	n.Operation = e.Meta["notify_operation"]
	peers := func(kind, legacy string) Peers {
		list := func(suffix string) []string {
			key := "notify_" + kind + "_" + suffix
			if _, ok := e.Meta[key]; !ok && legacy != "" {
				key = "notify_" + legacy + "_" + suffix
			}
			return strings.Fields(e.Meta[key])
		}
		return Peers{Resources: list("resource"), Unames: list("uname")}
	}
	n.Start = peers("start", "")
	n.Stop = peers("stop", "")
	n.Active = peers("active", "")
	n.Promote = peers("promote", "")
	n.Demote = peers("demote", "")
	n.Promoted = peers("promoted", "master")
	n.Unpromoted = peers("unpromoted", "slave")

	e.Debug = isTrue(vars["HA_debug"]) || isTrue(e.Meta["debug"])

	for _, p := range params {
		e.decl[p.Name] = p
		if v, ok := vars[resKeyPrefix+p.Name]; ok {
			e.params[p.Name] = v
			e.given[p.Name] = true
		} else {
			e.params[p.Name] = p.Default
		}
	}
	return e
}

// newOrLegacy returns the key to read: the current name when present,
// otherwise the name Pacemaker used before 2.0 (it still sends both).
func (e *Env) newOrLegacy(current, legacy string) string {
	if _, ok := e.Meta[strings.TrimPrefix(current, metaPrefix)]; ok {
		return current
	}
	return legacy
}

func (e *Env) intVar(vars map[string]string, key string) int {
	v, ok := vars[key]
	if !ok || v == "" {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		e.Warnings = append(e.Warnings, fmt.Sprintf("ignoring %s=%q: not an integer", key, v))
		return 0
	}
	return n
}

// msVar reads a duration Pacemaker gives in milliseconds.
func (e *Env) msVar(vars map[string]string, key string) time.Duration {
	v, ok := vars[key]
	if !ok || v == "" {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/int64(time.Millisecond) {
		e.Warnings = append(e.Warnings, fmt.Sprintf("ignoring %s=%q: not a number of milliseconds", key, v))
		return 0
	}
	return time.Duration(n) * time.Millisecond
}

func (e *Env) boolVar(vars map[string]string, key string) bool {
	v := vars[key]
	b, err := parseBool(v)
	if err != nil {
		e.Warnings = append(e.Warnings, fmt.Sprintf("ignoring %s=%q: not a boolean", key, v))
	}
	return b
}

// IsProbe reports whether this is a probe: a monitor with interval 0, which
// Pacemaker runs to learn the state before it starts anything. Probes must
// report NotRunning (or ErrInstalled) for a missing resource, never a failure.
func (e *Env) IsProbe() bool {
	return e.Action == "monitor" && e.Interval == 0
}

// ResourceName returns the instance name without the clone suffix ":N",
// i.e. the primitive's id in the CIB.
func (e *Env) ResourceName() string {
	name, _, _ := strings.Cut(e.Instance, ":")
	return name
}

// Param returns the value of a declared parameter, its default when it was
// not given. It panics for a name not in the agent's table: that is a bug
// the first test of the action finds.
func (e *Env) Param(name string) string {
	if _, ok := e.decl[name]; !ok {
		panic("ocf: parameter " + strconv.Quote(name) + " is not declared")
	}
	return e.params[name]
}

// ParamGiven reports whether the parameter was set in the environment
// (possibly to the empty string) rather than defaulted.
func (e *Env) ParamGiven(name string) bool {
	_ = e.Param(name)
	return e.given[name]
}

// ParamInt parses an integer parameter and checks it against its Range.
// The error carries ErrConfigured.
func (e *Env) ParamInt(name string) (int, error) {
	v := e.Param(name)
	n, err := parseInt(e.decl[name], v)
	if err != nil {
		return 0, Fail(ErrConfigured, "%v", err)
	}
	return n, nil
}

// parseInt parses the value of an integer parameter within its range.
func parseInt(p Param, v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	switch {
	case err != nil:
		return 0, fmt.Errorf("parameter %s=%q is not an integer", p.Name, v)
	case p.Range != nil && (n < p.Range.Min || n > p.Range.Max):
		return 0, fmt.Errorf("parameter %s=%q is out of range (%v)", p.Name, v, *p.Range)
	}
	return n, nil
}

// ParamBool parses a boolean parameter with the spellings ocf_is_true
// accepts (yes/true/on/1 and their negations; empty is false). The error
// carries ErrConfigured.
func (e *Env) ParamBool(name string) (bool, error) {
	v := e.Param(name)
	b, err := parseBool(v)
	if err != nil {
		return false, Fail(ErrConfigured, "parameter %s=%q is not a boolean", name, v)
	}
	return b, nil
}

// CheckParams checks the declared parameters against the table: required
// ones present and non-empty, integers parsable and within their Range,
// booleans parsable. Its error carries ErrConfigured. The runner calls it before validate-all, start,
// reload-agent and migrate_from; stop and monitor never depend on it.
func (e *Env) CheckParams() error {
	var problems []string
	for name, p := range e.decl {
		v := e.params[name]
		switch {
		case p.Required && v == "":
			problems = append(problems, fmt.Sprintf("required parameter %s is not set", name))
		case v == "":
		case p.Type == Integer:
			if _, err := parseInt(p, v); err != nil {
				problems = append(problems, err.Error())
			}
		case p.Type == Boolean:
			if _, err := parseBool(v); err != nil {
				problems = append(problems, fmt.Sprintf("parameter %s=%q is not a boolean", name, v))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems) // map order would make the reason change between calls
	return Fail(ErrConfigured, "%s", strings.Join(problems, "; "))
}

// parseBool accepts what both Pacemaker's crm_is_true and the shell
// agents' ocf_is_true accept, so a value means the same everywhere.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "y", "true", "on":
		return true, nil
	case "", "0", "no", "n", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", v)
}

func isTrue(v string) bool {
	b, _ := parseBool(v)
	return b
}

// NotRunning is the answer of a monitor that finds nothing running: plain
// OCF_NOT_RUNNING for a probe, where it is the expected answer, and with the
// reason for a recurring monitor, where it means the resource failed.
func (e *Env) NotRunning(format string, args ...any) (Status, error) {
	if e.IsProbe() {
		return NotRunning, nil
	}
	return 0, Fail(NotRunning, format, args...)
}
