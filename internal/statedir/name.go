package statedir

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadNetNS means a string cannot name a network namespace. Every entry
// point — the CLIs' --netns, the agents' netns parameter, bridgectl.Open —
// checks names with CheckNetNS, so "../x" can never reach a path.
var ErrBadNetNS = errors.New("not a network namespace name")

// CurrentNS is the name of the state directory of the caller's own
// namespace (netns ""). A namespace of that name would share it, so the
// name is reserved.
const CurrentNS = "default"

// maxName is the longest file name Linux accepts (NAME_MAX), and so the
// longest name under /run/netns.
const maxName = 255

// CheckNetNS checks that name can be a file name under /run/netns and a
// state directory of its own: not empty, at most 255 bytes, no '/' or NUL,
// not "." or "..", no leading '-' (an option to ip(8)), and not CurrentNS.
// "" (the caller's own namespace) is the caller's business: it is refused
// here.
func CheckNetNS(name string) error {
	var why string
	switch {
	case name == "":
		why = "empty"
	case len(name) > maxName:
		why = fmt.Sprintf("longer than %d bytes", maxName)
	case strings.ContainsAny(name, "/\x00"):
		why = "contains '/' or NUL"
	case name == "." || name == "..":
		why = "a directory reference"
	case strings.HasPrefix(name, "-"):
		why = "starts with '-'"
	case name == CurrentNS:
		why = "reserved for the state of the current namespace"
	default:
		return nil
	}
	return fmt.Errorf("netns %q: %w (%s)", name, ErrBadNetNS, why)
}
