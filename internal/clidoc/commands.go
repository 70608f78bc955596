package clidoc

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// ManCommand is the hidden "man" command: it prints the program's man page
// (section 8 for the qinqbridge tools). `make man` writes bin/man/ with it.
func ManCommand(section int, seeAlso ...string) *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print this program's man page (roff)",
		Hidden: true,
		Action: func(c *cli.Context) error {
			_, err := c.App.Writer.Write(manPage(c.App, section, seeAlso))
			return err
		},
	}
}

// CompletionCommand is the "completion" command: "completion bash" prints
// the bash completion script of prog.
func CompletionCommand(prog string) *cli.Command {
	return &cli.Command{
		Name:  "completion",
		Usage: "print a shell completion script",
		Description: "Only bash for now.\n\nExample:\n" +
			"   source <(" + prog + " completion bash)",
		// No "help" subcommand: it would be offered as a shell.
		HideHelpCommand: true,
		Subcommands: []*cli.Command{{
			Name:  "bash",
			Usage: "print the bash completion script",
			Description: "Completes commands, flags, namespace names after --netns and file names after flags that\n" +
				"take a file, by asking the program itself for the words (it runs no command to do so).\n" +
				"The qinqbridge package (and make install) installs it in /usr/share/bash-completion/completions.\n\n" +
				"Example, for the current shell:\n" +
				"   source <(" + prog + " completion bash)",
			Action: func(c *cli.Context) error {
				_, err := fmt.Fprint(c.App.Writer, bashCompletion(c.App))
				return err
			},
		}},
	}
}
