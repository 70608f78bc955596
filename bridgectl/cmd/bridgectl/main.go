// Command bridgectl builds and keeps the subinterfaces and bridges of every
// qinqbridge translation: validate, plan, apply, check, status, down.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// Exit codes: 0 ok (in sync), 1 drift (check), 2 error or invalid input.
const (
	exitOK    = 0
	exitDrift = 1
	exitError = 2
)

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	app := newApp()
	code := exitOK
	app.ExitErrHandler = func(c *cli.Context, err error) {}
	if err := app.Run(args); err != nil {
		if ec, ok := err.(cli.ExitCoder); ok {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "bridgectl:", msg)
			}
			return ec.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "bridgectl:", err)
		return exitError
	}
	return code
}
