package ocf

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const ocfTester = "/usr/sbin/ocf-tester"

// TestOCFTester runs resource-agents' own compliance test against the
// example agent: meta-data as nobody and against the DTD, validate-all,
// probes, start/stop idempotence, promote/demote sequences, notify.
func TestOCFTester(t *testing.T) {
	requireFile(t, ocfTester, "resource-agents")
	requireFile(t, xmllnt, "libxml2-utils") // ocf-tester validates with it
	agent := exampleAgent(t)

	// ocf-tester runs `su nobody -c "<agent> meta-data"`: every directory
	// on the way to the binary must be searchable by others.
	for dir := filepath.Dir(agent); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			t.Fatalf("%s is not searchable by nobody (mode %v); set TMPDIR to a world-searchable directory", dir, fi.Mode().Perm())
		}
		if dir == "/" {
			break
		}
	}
	if os.Geteuid() != 0 {
		t.Log("not root: ocf-tester cannot check that meta-data works as nobody")
	}

	run := func(t *testing.T, extraEnv ...string) string {
		state := filepath.Join(t.TempDir(), "state")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, ocfTester, "-n", "ex", "-o", "state="+state, agent)
		// ocf-tester falls back to /usr/lib/ocf for OCF_ROOT; crm_attribute
		// is found in /usr/sbin and fails without a cluster, which the
		// agent tolerates.
		cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}, extraEnv...)
		out, err := cmd.CombinedOutput()
		t.Logf("ocf-tester output:\n%s", out)
		if _, serr := os.Stat(state); err == nil && !os.IsNotExist(serr) {
			t.Errorf("state file left behind after the final stop: %v", serr)
		}
		if err != nil {
			return string(out) + "\n" + err.Error()
		}
		return string(out)
	}

	t.Run("passes", func(t *testing.T) {
		out := run(t)
		if !strings.Contains(out, agent+" passed all tests") {
			t.Errorf("ocf-tester did not pass")
		}
		if os.Geteuid() == 0 && strings.Contains(out, "WARN") {
			t.Errorf("ocf-tester warned as root")
		}
	})

	// The reason for the dialect switch: the same agent, asked for its
	// meta-data by a caller that announces OCF 1.1 as Pacemaker 2.1 does,
	// lists reload-agent and fails ocf-tester's DTD check.
	t.Run("OCF 1.1 meta-data fails it", func(t *testing.T) {
		out := run(t, "OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=1")
		if !strings.Contains(out, "does not conform to ra-api-1.dtd") {
			t.Errorf("ocf-tester accepted OCF 1.1 meta-data; the dialect switch may no longer be needed")
		}
	})
}
