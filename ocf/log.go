package ocf

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
)

// journalEnabled reports whether journald accepts messages. journal.Enabled
// dials the socket on every call, so the answer is taken once per process;
// a variable so tests can pretend either way.
var journalEnabled = sync.OnceValue(journal.Enabled)

// journalSend is journal.Send, replaceable in tests.
var journalSend = journal.Send

// level is a log level.
type level int

// The log levels; priority maps them to syslog priorities for journald.
const (
	levelDebug level = iota
	levelInfo
	levelWarning
	levelError
)

func (l level) String() string {
	switch l {
	case levelDebug:
		return "debug"
	case levelInfo:
		return "info"
	case levelWarning:
		return "warning"
	case levelError:
		return "error"
	}
	return "level" + strconv.Itoa(int(l))
}

func (l level) priority() journal.Priority {
	switch l {
	case levelDebug:
		return journal.PriDebug
	case levelWarning:
		return journal.PriWarning
	case levelError:
		return journal.PriErr
	}
	return journal.PriInfo
}

// Logger logs for one action of one resource instance. With journald it
// sends structured entries (OCF_RESOURCE_INSTANCE, OCF_ACTION and any
// fields added with With, such as TRANSLATION), so `journalctl
// OCF_RESOURCE_INSTANCE=p_guard:0` finds them. Without it (containers,
// tests, ocf-tester outside systemd), it writes one line per message to
// stderr, where Pacemaker's executor logs it:
//
//	agent[instance] action: message KEY=value
//
// The zero Logger discards everything. A Logger is safe for concurrent use.
type Logger struct {
	agent, instance, action string
	debug                   bool
	fields                  map[string]string // journal field names, sanitised
	out                     *lockedWriter     // lines without the journal; nil discards all
	journal                 bool              // send to journald first
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLogger returns a Logger for an action of an agent's instance. It logs
// to the systemd journal when journald is reachable, else to w. Debug
// messages are dropped unless debug is true.
func NewLogger(w io.Writer, agent, instance, action string, debug bool) *Logger {
	// w is kept even with the journal: a failed send falls back to it.
	if w == nil {
		w = io.Discard
	}
	return &Logger{
		agent: agent, instance: instance, action: action, debug: debug,
		out: &lockedWriter{w: w}, journal: journalEnabled(),
	}
}

// With returns a Logger that adds a field to every message. Keys are
// journal field names: upper case letters, digits and underscores (other
// characters become underscores, a leading underscore is dropped, since
// journald reserves those for itself).
func (l *Logger) With(key, value string) *Logger {
	if l == nil {
		return nil
	}
	c := *l
	c.fields = maps.Clone(l.fields)
	if c.fields == nil {
		c.fields = map[string]string{}
	}
	c.fields[fieldName(key)] = value
	return &c
}

// Debugf logs at debug level, only when debugging was asked for.
func (l *Logger) Debugf(format string, args ...any) { l.log(levelDebug, format, args...) }

// Infof logs at info level.
func (l *Logger) Infof(format string, args ...any) { l.log(levelInfo, format, args...) }

// Warningf logs at warning level.
func (l *Logger) Warningf(format string, args ...any) { l.log(levelWarning, format, args...) }

// Errorf logs at error level.
func (l *Logger) Errorf(format string, args ...any) { l.log(levelError, format, args...) }

func (l *Logger) log(lv level, format string, args ...any) {
	if l == nil || l.out == nil || (lv == levelDebug && !l.debug) {
		return
	}
	msg := oneLine(fmt.Sprintf(format, args...))
	if l.journal {
		vars := map[string]string{
			"SYSLOG_IDENTIFIER":     l.agent,
			"OCF_RESOURCE_INSTANCE": l.instance,
			"OCF_ACTION":            l.action,
		}
		maps.Copy(vars, l.fields)
		// The message repeats instance and action because plain journalctl
		// output shows only SYSLOG_IDENTIFIER and MESSAGE.
		if journalSend(l.instance+" "+l.action+": "+msg, lv.priority(), vars) == nil {
			return
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s[%s] %s: ", l.agent, l.instance, l.action)
	if lv != levelInfo {
		b.WriteString(lv.String() + ": ")
	}
	b.WriteString(msg)
	for _, k := range slices.Sorted(maps.Keys(l.fields)) {
		v := l.fields[k]
		if v == "" || strings.ContainsAny(v, " \t\"=") {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	b.WriteByte('\n')
	l.out.mu.Lock()
	defer l.out.mu.Unlock()
	io.WriteString(l.out.w, b.String())
}

// fieldName makes key acceptable to journald, which silently drops entries
// with bad field names (and go-systemd complains on the process's stderr,
// which would corrupt our exit reason).
func fieldName(key string) string {
	b := []byte(strings.ToUpper(key))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	s := strings.TrimLeft(string(b), "_")
	if s == "" {
		return "FIELD"
	}
	return s
}
