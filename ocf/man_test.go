package ocf

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/internal/roff/rofftest"
)

// The man page shows everything the table declares, renders warning-free,
// and is what the "man" action prints.
func TestWriteMan(t *testing.T) {
	a := goldenAgent()
	a.Provider = "qinqbridge"
	var page bytes.Buffer
	if err := a.WriteMan(&page); err != nil {
		t.Fatal(err)
	}
	out := rofftest.Squeeze(rofftest.Render(t, page.Bytes()))
	want := []string{
		"OCF_QINQBRIDGE_GOLDEN(7)", "ocf_qinqbridge_golden - Golden test agent",
		"ocf:qinqbridge:golden, version 2.3.4",
		"First line. Second line with <markup> & \"quotes\".",
		"(string, optional, default: /etc/qinqbridge/qinqbridge.toml, unique, unique with the group config)",
		"retries - Retries (integer 0 to 10, optional, default: 3, reloadable",
		"(string, required)",
		"timeout 20s, interval 10s, role Promoted",
		"timeout 30s, interval 60s, depth 10",
		"timeout 10s, OCF 1.1 only",
		"primitive p_golden ocf:qinqbridge:golden \\ params iface=VALUE \\ op start timeout=60s interval=0s \\",
		"op monitor interval=60s timeout=30s OCF_CHECK_LEVEL=10 \\",
		"clone ms_golden p_golden meta promotable=true promoted-max=1 interleave=true notify=true",
	}
	for _, p := range a.Params {
		want = append(want, p.Name+" - "+p.ShortDesc)
	}
	for _, act := range a.listedActions(OCF11) {
		want = append(want, " "+act.Name+" timeout "+duration(act.Timeout))
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("man page lacks %q:\n%s", w, out)
		}
	}

	var stdout, stderr bytes.Buffer
	if code := a.Exec([]string{"golden", ActionMan}, nil, &stdout, &stderr); code != 0 || !bytes.Equal(stdout.Bytes(), page.Bytes()) {
		t.Errorf("golden man: exit %d, stderr %q, same page: %v", code, stderr.String(), bytes.Equal(stdout.Bytes(), page.Bytes()))
	}
}

// A broken table gives no man page, as it gives no meta-data.
func TestWriteManChecksTable(t *testing.T) {
	a := goldenAgent()
	a.Params[0].ShortDesc = ""
	if err := a.WriteMan(&bytes.Buffer{}); err == nil {
		t.Fatal("WriteMan accepted a parameter without ShortDesc")
	}
}
