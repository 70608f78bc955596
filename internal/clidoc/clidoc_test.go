package clidoc

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/qinqbridge/qinqbridge/internal/roff"
	"github.com/qinqbridge/qinqbridge/internal/roff/rofftest"
)

// sampleApp is shaped like bridgectl's: common flags before and after the
// command, a hidden flag, a hidden command, subcommands.
func sampleApp() *cli.App {
	common := func() []cli.Flag {
		return []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: "/etc/demo.toml", Usage: "configuration `FILE`"},
			&cli.StringFlag{Name: "netns", Usage: "network namespace `NAME`"},
			&cli.StringFlag{Name: "state-dir", Value: "/run/demo", Usage: "state `DIR`", Hidden: true},
		}
	}
	return &cli.App{
		Name:                 "democtl",
		Usage:                "a sample tool",
		Description:          "It does things.\n\nExamples:\n   democtl apply\n   democtl status --json",
		Flags:                common(),
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		Commands: []*cli.Command{
			{Name: "apply", Usage: "apply it", Flags: append(common(), &cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print every step"}),
				Description: "Lines: '+' create, '±' recreate.\n\nExample: democtl apply -v", Action: markAction},
			{Name: "status", Usage: "show it", Flags: append(common(), &cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
				&cli.DurationFlag{Name: "every", Usage: "repeat every `DURATION`"}),
				Action: markAction},
			ManCommand(8, "other(8)"),
			CompletionCommand("democtl"),
		},
	}
}

// markAction leaves a file "ACTION-RAN" in the working directory: the
// completion must never run a command.
func markAction(*cli.Context) error { return os.WriteFile("ACTION-RAN", nil, 0o644) }

// The test binary plays democtl when the completion test runs it.
func TestMain(m *testing.M) {
	if os.Getenv("CLIDOC_PLAY_DEMOCTL") == "1" {
		app := sampleApp()
		if err := app.Run(append([]string{"democtl"}, os.Args[1:]...)); err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMan(t *testing.T) {
	page := string(manPage(sampleApp(), 8, []string{"other(8)", "ocf_x_y(7)"}))
	out := rofftest.Render(t, []byte(page))
	for _, want := range []string{
		"democtl - a sample tool",
		"DESCRIPTION", "It does things.", "       democtl status --json",
		"GLOBAL OPTIONS", "--config, -c FILE", "(default: /etc/demo.toml)", "--netns NAME",
		"democtl apply", "apply it", "Lines: '+' create, '±' recreate.", "--verbose, -v", "print every step",
		"democtl status", "--json", "machine-readable output",
		"democtl completion", "democtl completion bash", "source <(democtl completion bash)",
		"other(8), ocf_x_y(7)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("man page lacks %q:\n%s", want, out)
		}
	}
	for _, hidden := range []string{"state-dir", "democtl man"} {
		if strings.Contains(out, hidden) {
			t.Errorf("man page shows the hidden %q", hidden)
		}
	}
	// The common flags are described once, under GLOBAL OPTIONS.
	if n := strings.Count(page, roff.Bold("--netns")); n != 1 {
		t.Errorf("--netns described %d times, want once", n)
	}
}

// The man command prints the page through the app, as `make man` runs it.
func TestManCommand(t *testing.T) {
	app := sampleApp()
	var out strings.Builder
	app.Writer = &out
	if err := app.Run([]string{"democtl", "man"}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), `.\" Generated`) || !strings.Contains(out.String(), ".TH DEMOCTL 8 ") {
		t.Fatalf("democtl man printed:\n%s", out.String())
	}
}

// The completion script, sourced in bash, completes what a user expects;
// the words come from the test binary playing democtl.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash not found")
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\nCLIDOC_PLAY_DEMOCTL=1 exec " + self + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "democtl"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "completion.bash")
	if err := os.WriteFile(script, []byte(bashCompletion(sampleApp())), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bash, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "lab.toml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		line string // words typed; the last one is being completed
		want []string
	}{
		{"democtl ", []string{"apply", "status", "completion"}},
		{"democtl st", []string{"status"}},
		{"democtl completion ", []string{"bash"}},
		{"democtl apply --v", []string{"--verbose"}},
		{"democtl apply --", []string{"--config", "--netns", "--verbose", "--help"}},
		{"democtl apply -", []string{"--config", "-c", "--netns", "--verbose", "-v", "--help", "-h"}},
		{"democtl apply -- ", nil}, // after "--": asking would run apply
		{"democtl status -- --j", nil},
		{"democtl -c la", []string{"lab.toml"}},
		{"democtl status --config la", []string{"lab.toml"}},
		{"democtl status --state-dir la", []string{"lab.toml"}},
		{"democtl status --every la", nil}, // a duration: no file names
	} {
		words := strings.Split(c.line, " ")
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		prog := "source " + script + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\n" +
			"COMP_CWORD=" + strconv.Itoa(len(words)-1) + "\n" +
			"_qinqbridge_democtl\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", c.line, err, out)
		}
		got := strings.Fields(string(out))
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("completing %q: got %q, want %q", c.line, got, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "ACTION-RAN")); err == nil {
			t.Fatalf("completing %q ran the command", c.line)
		}
	}
}
