// Package clidoctest holds the documentation checks every qinqbridge CLI's
// tests run: each command's --help has an example, and the man page covers
// every command and renders without a groff warning.
package clidoctest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/qinqbridge/qinqbridge/internal/roff/rofftest"
)

// Commands returns the space-separated paths ("completion bash") of every
// visible command of a fresh app, subcommands included.
func Commands(newApp func() *cli.App) []string {
	var out []string
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			out = append(out, prefix+c.Name)
			walk(prefix+c.Name+" ", c.Subcommands)
		}
	}
	walk("", newApp().Commands)
	return out
}

func run(t *testing.T, newApp func() *cli.App, args ...string) string {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	app.ErrWriter = &out
	if err := app.Run(append([]string{app.Name}, args...)); err != nil {
		t.Fatalf("%s %s: %v\n%s", app.Name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// HelpExamples checks that the program's --help and every visible
// command's --help show an example: a line "Example..." followed by a line
// that runs the program (or the example on the same line).
func HelpExamples(t *testing.T, newApp func() *cli.App) {
	name := newApp().Name
	for _, cmd := range append([]string{""}, Commands(newApp)...) {
		args := strings.Fields(cmd)
		help := run(t, newApp, append(args, "--help")...)
		_, after, ok := strings.Cut(help, "Example")
		if !ok || !strings.Contains(after, name+" ") {
			t.Errorf("%s %s --help has no example:\n%s", name, cmd, help)
		}
	}
}

// Man checks the output of the program's hidden "man" command: a page that
// groff renders without a warning and that describes every visible
// command. It returns the rendered text.
func Man(t *testing.T, newApp func() *cli.App) string {
	name := newApp().Name
	page := run(t, newApp, "man")
	out := rofftest.Render(t, []byte(page))
	for _, cmd := range Commands(newApp) {
		if !strings.Contains(out, name+" "+cmd+"\n") {
			t.Errorf("the man page of %s has no section for %q:\n%s", name, cmd, out)
		}
	}
	return out
}
