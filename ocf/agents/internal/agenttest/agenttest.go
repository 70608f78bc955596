// Package agenttest runs the built OCF agents the way Pacemaker and
// ocf-tester do, for the agents' kernel tests (build tag integration, run
// in the testbed VM by make ktest). The binaries come from $QB_BIN, which
// make ktest sets after building them on the host.
package agenttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OCFTester is resource-agents' compliance test.
const OCFTester = "/usr/sbin/ocf-tester"

// Binary copies $QB_BIN/ocf-<agent> into a fresh directory under /tmp with
// mode 0755 on every component — ocf-tester runs meta-data as nobody — and
// returns its path.
func Binary(t testing.TB, agent string) string {
	t.Helper()
	dir := os.Getenv("QB_BIN")
	if dir == "" {
		t.Fatal("QB_BIN is not set: run the kernel tests with make ktest, which builds the agents into bin/ first")
	}
	src := filepath.Join(dir, "ocf-"+agent)
	in, err := os.Open(src)
	if err != nil {
		t.Fatalf("%v: run make build first", err)
	}
	defer in.Close()
	tmp, err := os.MkdirTemp("/tmp", "ocf-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := tmp; d != "/"; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			t.Fatalf("%s is not searchable by nobody (%v)", d, fi.Mode().Perm())
		}
	}
	dst := filepath.Join(tmp, agent)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Result is one run of an agent.
type Result struct {
	Code   int
	Reason string // the last ocf-exit-reason line, without the prefix
	Stderr string
	Took   time.Duration
}

// Env is the environment of one resource: OCF_RESOURCE_INSTANCE and the
// parameters (OCF_RESKEY_name=value).
type Env struct {
	Instance string
	Params   map[string]string
}

// Run runs action with the resource's environment plus extra variables
// (e.g. "OCF_RESKEY_CRM_meta_interval=10000").
func (e Env) Run(t testing.TB, bin, action string, extra ...string) Result {
	t.Helper()
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "OCF_ROOT=/usr/lib/ocf", "OCF_RESOURCE_INSTANCE=" + e.Instance}
	for k, v := range e.Params {
		env = append(env, "OCF_RESKEY_"+k+"="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, action)
	cmd.Env = append(env, extra...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	res := Result{Stderr: stderr.String(), Took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", bin, action, err)
	}
	for _, l := range strings.Split(res.Stderr, "\n") {
		if r, ok := strings.CutPrefix(l, "ocf-exit-reason:"); ok {
			res.Reason = r
		}
	}
	return res
}

// Want runs an action and fails the test unless it exits with code and
// its reason contains every fragment.
func (e Env) Want(t testing.TB, bin, action string, extra []string, code int, fragments ...string) Result {
	t.Helper()
	res := e.Run(t, bin, action, extra...)
	t.Logf("%s %s %v: %d %q (%v)", filepath.Base(bin), action, extra, res.Code, res.Reason, res.Took.Round(time.Millisecond))
	if res.Code != code {
		t.Fatalf("%s %s %v: exit %d, want %d\n%s", filepath.Base(bin), action, extra, res.Code, code, res.Stderr)
	}
	for _, f := range fragments {
		if !strings.Contains(res.Reason, f) {
			t.Fatalf("%s %s: reason %q does not contain %q", filepath.Base(bin), action, res.Reason, f)
		}
	}
	return res
}

// Probe, Recurring and Depth10 are the monitor flavours.
var (
	Probe     = []string{}
	Recurring = []string{"OCF_RESKEY_CRM_meta_interval=10000"}
	Depth10   = []string{"OCF_RESKEY_CRM_meta_interval=60000", "OCF_CHECK_LEVEL=10"}
)

// RunOCFTester runs ocf-tester on the agent with the resource's parameters
// and fails the test unless it passes every test without warnings.
func (e Env) RunOCFTester(t testing.TB, bin string) string {
	t.Helper()
	if _, err := os.Stat(OCFTester); err != nil {
		t.Fatalf("%v: install resource-agents (make deps)", err)
	}
	args := []string{"-n", e.Instance}
	for k, v := range e.Params {
		args = append(args, "-o", k+"="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, OCFTester, append(args, bin)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	out, err := cmd.CombinedOutput()
	t.Logf("ocf-tester %s:\n%s", strings.Join(args, " "), out)
	if err != nil || !strings.Contains(string(out), bin+" passed all tests") {
		t.Fatalf("ocf-tester failed (%v)", err)
	}
	if strings.Contains(string(out), "WARN") {
		t.Fatalf("ocf-tester warned")
	}
	return string(out)
}

// WriteFile writes a file or fails the test.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Translations returns a configuration of n translations, QinQ
// qtrunk 100.(1..n) <-> VLAN vtrunk (1..n), as one range.
func Translations(n int) string {
	if n == 1 {
		return "[[translation]]\nname = \"t\"\na = { parent = \"qtrunk\", outer = 100, inner = 1 }\nb = { parent = \"vtrunk\", vlan = 1 }\n"
	}
	return fmt.Sprintf("[[translation]]\nname = \"t\"\na = { parent = \"qtrunk\", outer = 100, inner = \"1-%d\" }\nb = { parent = \"vtrunk\", vlan = \"1-%d\" }\n", n, n)
}
