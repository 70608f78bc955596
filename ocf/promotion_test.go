package ocf

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeCrmAttribute installs a crm_attribute that records its arguments and
// OCF_RESOURCE_INSTANCE in dir/calls, then hangs for $FAKE_SLEEP seconds if
// set, else prints $FAKE_OUT and exits $FAKE_RC.
func fakeCrmAttribute(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	script := `#!/bin/sh
echo "$OCF_RESOURCE_INSTANCE $*" >> "$FAKE_DIR/calls"
[ -n "$FAKE_SLEEP" ] && exec sleep "$FAKE_SLEEP"
[ -n "$FAKE_OUT" ] && echo "$FAKE_OUT" >&2
exit ${FAKE_RC:-0}
`
	if err := os.WriteFile(filepath.Join(dir, "crm_attribute"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPromotionScore(t *testing.T) {
	dir := fakeCrmAttribute(t)
	env := func(extra ...string) *Env {
		return ParseEnv("promote", append([]string{
			"PATH=relative:" + dir + ":/usr/bin:/bin", "FAKE_DIR=" + dir,
			"OCF_RESOURCE_INSTANCE=p_guard:1",
		}, extra...), nil)
	}
	ctx := context.Background()
	if err := env().SetPromotionScore(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := env().DeletePromotionScore(ctx); err != nil {
		t.Fatal(err)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	want := "p_guard:1 --promotion -v 10 --lifetime reboot\np_guard:1 --promotion -D --lifetime reboot\n"
	if string(calls) != want {
		t.Errorf("calls:\n%s\nwant:\n%s", calls, want)
	}

	// Outside a cluster: the error says what crm_attribute said.
	err := env("FAKE_RC=102", "FAKE_OUT=crm_attribute: Could not connect to the CIB").SetPromotionScore(ctx, 5)
	if err == nil || err.Error() != "crm_attribute --promotion -v 5 --lifetime reboot: exit status 102: crm_attribute: Could not connect to the CIB" {
		t.Errorf("error = %v", err)
	}

	// A hung crm_attribute is killed at the action's deadline.
	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = env("FAKE_SLEEP=10").SetPromotionScore(ctx, 5)
	if took := time.Since(start); err == nil || took > 3*time.Second || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("hung crm_attribute: error %v after %v", err, took)
	}

	noInstance := ParseEnv("promote", []string{"PATH=" + dir}, nil)
	if err := noInstance.SetPromotionScore(context.Background(), 1); err == nil {
		t.Error("no error without OCF_RESOURCE_INSTANCE")
	}
}

func TestLookPathFallback(t *testing.T) {
	e := ParseEnv("start", []string{"PATH=/nonexistent"}, nil)
	if got := e.lookPath("crm_attribute", crmAttributeFallback); got != crmAttributeFallback {
		t.Errorf("lookPath = %q, want the fallback", got)
	}
}
