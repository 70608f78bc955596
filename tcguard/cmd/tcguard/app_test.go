package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// These tests run on any host: nothing here reaches a kernel (commands that
// would are pointed at a namespace that does not exist).

const oneTranslation = `
[[translation]]
name = "t"
a = { parent = "eth0", outer = 100, inner = 200 }
b = { parent = "eth1", vlan = 300 }
`

// Every command's help has examples.
func TestHelpExamples(t *testing.T) {
	for _, cmd := range []string{"", "block", "unblock", "status"} {
		app := newApp()
		var out bytes.Buffer
		app.Writer = &out
		args := []string{"tcguard"}
		if cmd != "" {
			args = append(args, cmd)
		}
		if err := app.Run(append(args, "--help")); err != nil {
			t.Fatalf("%s --help: %v", cmd, err)
		}
		h := out.String()
		if !strings.Contains(h, "Examples:") || !strings.Contains(h, "   tcguard "+cmd) {
			t.Errorf("help of %q has no example:\n%s", cmd, h)
		}
		if strings.Contains(h, "state-dir") {
			t.Errorf("help of %q shows the hidden --state-dir", cmd)
		}
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.toml", oneTranslation)
	badGuard := write("bad-guard.toml", "[guard]\nblock = 0\n"+oneTranslation)
	badTranslation := write("bad-translation.toml", "[guard]\nblock = 7\n[[translation]]\nname = \"t\"\n")
	const nons = "qb-no-such-netns"
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"--help"}, exitOK},
		{[]string{"status", "--help"}, exitOK},
		{[]string{"no-such-command"}, exitError},
		{[]string{"block", "--no-such-flag"}, exitError},
		{[]string{"block", "-c", filepath.Join(dir, "missing.toml"), "--netns", nons}, exitError},
		{[]string{"unblock", "-c", badGuard, "--netns", nons}, exitError},
		{[]string{"status", "-c", badTranslation, "--netns", nons}, exitError},
		// Every verb validates the whole file unless it is the applied
		// one (load_test.go checks that they stop there).
		{[]string{"unblock", "-c", badTranslation, "--netns", nons}, exitError},
		{[]string{"block", "-c", badTranslation, "--netns", nons}, exitError},
		// Flags before the subcommand work too.
		{[]string{"-c", good, "--netns", nons, "block"}, exitError},
	} {
		if got := run(append([]string{"tcguard"}, c.args...)); got != c.want {
			t.Errorf("tcguard %s: exit %d, want %d", strings.Join(c.args, " "), got, c.want)
		}
	}
}

func TestReport(t *testing.T) {
	names := map[int]string{10: "eth0.s100.1", 11: "eth1.1", 12: "eth0.s100.2", 13: "eth1.2", 99: "other"}
	ports := []int{10, 11, 12, 13}
	for _, c := range []struct {
		name     string
		s        tcguard.Status
		ok       bool
		problems int
	}{
		{"blocked", tcguard.Status{State: tcguard.Blocked, Dropping: true, Armed: true, Bound: []int{10, 11, 12, 13, 99}, DroppedPackets: 5}, true, 0},
		{"open", tcguard.Status{State: tcguard.Opened, Marker: true, Armed: true, Bound: ports}, true, 0},
		{"interrupted", tcguard.Status{State: tcguard.Interrupted, Marker: true, Dropping: true, Armed: true, Bound: ports}, false, 1},
		{"unguarded", tcguard.Status{State: tcguard.Unguarded, Armed: true, Bound: ports}, false, 1},
		{"unbound and foreign", tcguard.Status{State: tcguard.Blocked, Dropping: true, Armed: true, Bound: []int{10, 12}, Unbound: []int{13}, Foreign: []int{11}}, false, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newReport(c.s, config.Group{Name: "default", Block: 7}, "lab", 6, ports, names)
			if r.OK != c.ok || len(r.Problems) != c.problems || r.State != c.s.State.String() {
				t.Fatalf("report %+v", r)
			}
			if r.PortsExpected != 4 || r.PortsConfigured != 6 || r.BoundTotal != len(c.s.Bound) {
				t.Fatalf("report counts %+v", r)
			}
			if c.name == "blocked" && (r.PortsBound != 4 || r.DroppedPackets != 5) {
				t.Fatalf("report %+v", r)
			}
			if c.name == "unbound and foreign" && (!slices.Equal(r.Unbound, []string{"eth1.2"}) || !slices.Equal(r.Foreign, []string{"eth1.1"}) || r.PortsBound != 2) {
				t.Fatalf("report %+v", r)
			}
		})
	}
}
