// Package clidoc derives the documentation of the qinqbridge command-line
// tools (bridgectl, tcguard) from their urfave/cli definitions, the same
// source as --help: a man page (the hidden "man" command) and a bash
// completion script (the "completion" command).
//
// urfave/cli's own App.ToMan is not used: it leaves out each command's
// Description, where the examples, states and exit codes are, and reads the
// help text as Markdown, which reflows the examples.
package clidoc

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/qinqbridge/qinqbridge/internal/roff"
)

// manPage returns app's man page in the given section. seeAlso lists related
// pages as "name(section)".
func manPage(app *cli.App, section int, seeAlso []string) []byte {
	var p roff.Page
	p.Title(app.Name, section, "qinqbridge", manual(section))

	p.Section("NAME")
	p.Line(roff.Escape(app.Name + " - " + app.Usage))

	p.Section("SYNOPSIS")
	p.Line(roff.Bold(app.Name) + " [" + roff.Italic("global options") + "] " + roff.Italic("command") +
		" [" + roff.Italic("command options") + "]")

	if app.Description != "" {
		p.Section("DESCRIPTION")
		p.Text(app.Description)
	}

	global := map[string]bool{}
	if flags := app.VisibleFlags(); len(flags) > 0 {
		p.Section("GLOBAL OPTIONS")
		for _, f := range flags {
			writeFlag(&p, f)
			global[f.Names()[0]] = true
		}
	}

	if cmds := visible(app.Commands); len(cmds) > 0 {
		p.Section("COMMANDS")
		for _, c := range cmds {
			writeCommand(&p, app.Name, c, global)
		}
	}

	if len(seeAlso) > 0 {
		p.Section("SEE ALSO")
		refs := make([]string, len(seeAlso))
		for i, s := range seeAlso {
			name, sec, ok := strings.Cut(s, "(")
			if ok {
				refs[i] = roff.Bold(name) + "(" + roff.Escape(sec)
			} else {
				refs[i] = roff.Bold(s)
			}
		}
		p.Line(strings.Join(refs, ",\n"))
	}
	return p.Bytes()
}

// manual is the page header's manual name for a section, as man-pages(7)
// names them.
func manual(section int) string {
	switch section {
	case 1:
		return "User Commands"
	case 7:
		return "Miscellaneous Information Manual"
	case 8:
		return "System Administration"
	}
	return ""
}

func visible(cmds []*cli.Command) []*cli.Command {
	var out []*cli.Command
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

// writeCommand writes one command (and its subcommands) as a subsection:
// its usage line, description and the options that are not global ones.
func writeCommand(p *roff.Page, path string, c *cli.Command, global map[string]bool) {
	path += " " + c.Name
	title := path
	if len(c.Aliases) > 0 {
		title += " (" + strings.Join(c.Aliases, ", ") + ")"
	}
	p.Subsection(title)
	if c.UsageText != "" {
		p.Text(c.UsageText)
		p.NewParagraph()
	}
	p.Text(orDefault(c.Usage, c.Name))
	if c.Description != "" {
		p.NewParagraph()
		p.Text(c.Description)
	}
	var own []cli.Flag
	var shared []string
	for _, f := range c.VisibleFlags() {
		switch name := f.Names()[0]; {
		case name == "help":
		case global[name]:
			shared = append(shared, "--"+name)
		default:
			own = append(own, f)
		}
	}
	if len(own) > 0 {
		p.Para("Options:")
		for _, f := range own {
			writeFlag(p, f)
		}
	}
	if len(shared) > 0 {
		// Described once, under GLOBAL OPTIONS.
		p.Para("The global options " + strings.Join(shared, ", ") + " are accepted after the command too.")
	}
	for _, s := range visible(c.Subcommands) {
		writeCommand(p, path, s, global)
	}
}

// writeFlag writes a flag as --help shows it: its names, its value's
// placeholder (the `word` in back quotes in its usage), usage and default.
func writeFlag(p *roff.Page, f cli.Flag) {
	usage, takesValue, def := "", false, ""
	if d, ok := f.(cli.DocGenerationFlag); ok {
		usage, takesValue = d.GetUsage(), d.TakesValue()
		if takesValue {
			def = orDefault(d.GetDefaultText(), d.GetValue())
		}
	}
	placeholder, usage := unquoteUsage(usage)
	if takesValue && placeholder == "" {
		placeholder = "value"
	}
	names := make([]string, 0, len(f.Names()))
	for _, n := range f.Names() {
		if len(n) == 1 {
			names = append(names, roff.Bold("-"+n))
		} else {
			names = append(names, roff.Bold("--"+n))
		}
	}
	tag := strings.Join(names, ", ")
	if takesValue {
		tag += " " + roff.Italic(placeholder)
	}
	if def != "" && def != `""` {
		usage += fmt.Sprintf(" (default: %s)", strings.Trim(def, `"`))
	}
	p.Tagged(tag, usage)
}

// unquoteUsage returns the placeholder a flag's usage names in back quotes
// and the usage without the quotes, as urfave/cli's help does.
func unquoteUsage(usage string) (placeholder, unquoted string) {
	before, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return "", usage
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "", usage
	}
	return name, before + name + after
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
