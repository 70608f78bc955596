package ocf

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
)

func TestLoggerStderr(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(&buf, "bridge", "p_bridge:0", "start", false)
	l.Infof("created %d links", 3)
	l.Debugf("hidden")
	l.Warningf("slow\nnetlink")
	tl := l.With("translation", "100.200 300").With("_x-y", "")
	tl.Errorf("failed")
	l.Infof("parent unchanged")
	want := `bridge[p_bridge:0] start: created 3 links
bridge[p_bridge:0] start: warning: slow; netlink
bridge[p_bridge:0] start: error: failed TRANSLATION="100.200 300" X_Y=""
bridge[p_bridge:0] start: parent unchanged
`
	if got := buf.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}

	buf.Reset()
	NewLogger(&buf, "bridge", "p", "monitor", true).Debugf("shown")
	if got := buf.String(); got != "bridge[p] monitor: debug: shown\n" {
		t.Errorf("debug line = %q", got)
	}

	var zero *Logger
	zero.Infof("nothing")
	zero.With("A", "b").Errorf("nothing")
	(&Logger{}).Errorf("nothing")
}

func TestLoggerJournal(t *testing.T) {
	type entry struct {
		msg  string
		pri  journal.Priority
		vars map[string]string
	}
	var sent []entry
	fail := false
	journalSend = func(msg string, pri journal.Priority, vars map[string]string) error {
		if fail {
			return errors.New("journald gone")
		}
		sent = append(sent, entry{msg, pri, vars})
		return nil
	}
	journalEnabled = func() bool { return true }
	defer func() {
		journalSend = journal.Send
		journalEnabled = func() bool { return false }
	}()

	var buf bytes.Buffer
	l := NewLogger(&buf, "tcguard", "p_guard:1", "promote", false).With("TRANSLATION", "100.200:300")
	l.Warningf("opening guard")
	l.Debugf("not sent")
	if buf.Len() != 0 {
		t.Errorf("stderr got %q with the journal available", buf.String())
	}
	want := entry{"p_guard:1 promote: opening guard", journal.PriWarning, map[string]string{
		"SYSLOG_IDENTIFIER": "tcguard", "OCF_RESOURCE_INSTANCE": "p_guard:1",
		"OCF_ACTION": "promote", "TRANSLATION": "100.200:300",
	}}
	if len(sent) != 1 {
		t.Fatalf("sent %d entries, want 1", len(sent))
	}
	eq(t, "journal entry", sent[0], want)

	fail = true
	l.Errorf("fallback")
	if got := buf.String(); got != "tcguard[p_guard:1] promote: error: fallback TRANSLATION=100.200:300\n" {
		t.Errorf("fallback line = %q", got)
	}
}

func TestLoggerConcurrent(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(&buf, "a", "i", "start", false)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { l.With("N", string(rune('a'+i))).Infof("x") })
	}
	wg.Wait()
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 8 {
		t.Errorf("%d lines, want 8:\n%s", n, buf.String())
	}
}

func TestFieldName(t *testing.T) {
	for in, want := range map[string]string{
		"TRANSLATION": "TRANSLATION", "s_vlan": "S_VLAN", "q-in-q": "Q_IN_Q",
		"_PID": "PID", "__": "FIELD", "": "FIELD", "xä": "X__",
	} {
		if got := fieldName(in); got != want {
			t.Errorf("fieldName(%q) = %q, want %q", in, got, want)
		}
	}
}
