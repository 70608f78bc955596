//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestInstalledPackage checks, in the VM where in-vm installed the .deb
// (make deb) with dpkg -i, that what an operator uses first works from the
// package: the agents and programs are the package's files, Pacemaker's
// tools describe the agents (crm ra info), man finds and renders every
// page, and bash completion loads. The cluster test uses the same install.
func TestInstalledPackage(t *testing.T) {
	if *datapath != "bridge" {
		t.Skip("checked in the bridge datapath's run: the package is the same")
	}
	if out, err := runCmd("dpkg-query", "-W", "-f=${Status}", "qinqbridge"); err != nil || out != "install ok installed" {
		t.Fatalf("qinqbridge is not installed (in-vm installs the .deb): %q %v", out, err)
	}
	// One query for all (each reads dpkg's whole database: seconds in TCG).
	files := []string{
		"/usr/sbin/bridgectl", "/usr/sbin/tcguard",
		"/usr/lib/ocf/resource.d/qinqbridge/bridge", "/usr/lib/ocf/resource.d/qinqbridge/tcguard",
		"/etc/qinqbridge/qinqbridge.toml",
	}
	out, err := runCmd("dpkg-query", append([]string{"-S"}, files...)...)
	owned := strings.Split(out, "\n")
	for _, f := range files {
		if !slices.Contains(owned, "qinqbridge: "+f) {
			t.Errorf("%s does not come from the package (dpkg-query -S: %v):\n%s", f, err, out)
		}
	}

	t.Run("crm ra info", func(t *testing.T) {
		for _, agent := range []string{"bridge", "tcguard"} {
			ra := "ocf:qinqbridge:" + agent
			out, err := runCmd("crm", "ra", "info", ra)
			if err != nil {
				t.Errorf("crm ra info %s: %v\n%s", ra, err, out)
				continue
			}
			if first, _, _ := strings.Cut(out, "\n"); !strings.HasSuffix(first, "("+ra+")") {
				t.Errorf("crm ra info %s: first line %q does not name the agent", ra, first)
			}
			md, err := runCmd("/usr/lib/ocf/resource.d/qinqbridge/"+agent, "meta-data")
			if err != nil {
				t.Fatalf("%s meta-data: %v", agent, err)
			}
			var meta struct {
				Parameters []struct {
					Name string `xml:"name,attr"`
				} `xml:"parameters>parameter"`
			}
			if err := xml.Unmarshal([]byte(md), &meta); err != nil || len(meta.Parameters) == 0 {
				t.Fatalf("%s meta-data: no parameters (%v)", agent, err)
			}
			for _, p := range meta.Parameters {
				if !strings.Contains(out, "\n"+p.Name+" (") {
					t.Errorf("crm ra info %s does not list parameter %s:\n%s", ra, p.Name, out)
				}
			}
		}
	})

	t.Run("man", func(t *testing.T) {
		for _, page := range []struct{ name, section string }{
			{"bridgectl", "8"}, {"tcguard", "8"},
			{"ocf_qinqbridge_bridge", "7"}, {"ocf_qinqbridge_tcguard", "7"},
		} {
			want := "/usr/share/man/man" + page.section + "/" + page.name + "." + page.section + ".gz"
			if out, err := runCmd("man", "-w", page.section, page.name); err != nil || out != want {
				t.Errorf("man -w %s %s = %q, %v; want %s", page.section, page.name, out, err, want)
			}
			out, err := runCmd("man", "-P", "cat", page.section, page.name)
			if err != nil || !strings.Contains(out, "NAME") || !strings.Contains(out, page.name+" - ") {
				t.Errorf("man %s %s: %v\n%s", page.section, page.name, err, out)
			}
		}
	})

	t.Run("bash completion", func(t *testing.T) {
		for _, prog := range []string{"bridgectl", "tcguard"} {
			out, err := runCmd("bash", "-c", `source "$1" && complete -p "$2"`, "bash",
				"/usr/share/bash-completion/completions/"+prog, prog)
			if err != nil || !strings.HasSuffix(out, " "+prog) {
				t.Errorf("bash completion for %s: %q %v", prog, out, err)
			}
		}
	})
}

// runCmd runs a command in the VM (outside the nodes) and returns its
// standard output, trimmed; an error carries its standard error. TCG makes
// crm's Python start in seconds, not milliseconds.
func runCmd(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%s: %w: %s", name, err, bytes.TrimSpace(ee.Stderr))
	}
	return strings.TrimSpace(string(out)), err
}
