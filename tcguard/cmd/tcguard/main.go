// Command tcguard opens and closes the standby guard of a qinqbridge node —
// one gact action shared by a matchall filter in each of the two tc blocks
// every bridge port is bound to —
// and reports its state: block, unblock, status.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit codes: 0 ok, 1 something is off (status only), 2 error or invalid
// input.
const (
	exitOK    = 0
	exitOff   = 1
	exitError = 2
)

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	app := newApp()
	app.ExitErrHandler = func(c *cli.Context, err error) {}
	if err := app.Run(args); err != nil {
		if ec, ok := err.(cli.ExitCoder); ok {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, prefixed(msg))
			}
			if code := ec.ExitCode(); code == exitOff || code == exitError {
				return code
			}
			return exitError // the CLI library's own codes (3: no such command)
		}
		fmt.Fprintln(os.Stderr, prefixed(err.Error()))
		return exitError
	}
	return exitOK
}

// prefixed puts "tcguard: " in front of a message unless the tcguard
// package already did.
func prefixed(msg string) string {
	if strings.HasPrefix(msg, "tcguard: ") {
		return msg
	}
	return "tcguard: " + msg
}
