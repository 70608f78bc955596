// Package configtest reads the expectations of the bad configurations in
// bridgectl/config/testdata/bad, for the parser's tests and the kernel tests
// that run the CLI on the same files.
package configtest

import (
	"fmt"
	"strconv"
	"strings"
)

// Want is one error a bad file announces: at Line, a message containing Sub.
type Want struct {
	Line int
	Sub  string
}

// Wants reads the leading "# want: LINE: SUBSTRING" lines of a bad file.
func Wants(data []byte) ([]Want, error) {
	var ws []Want
	for _, l := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(l, "# want: ")
		if !ok {
			break
		}
		num, sub, ok := strings.Cut(rest, ": ")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("malformed want line %q", l)
		}
		ws = append(ws, Want{n, sub})
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("no # want: lines")
	}
	return ws, nil
}
