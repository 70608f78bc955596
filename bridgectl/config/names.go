package config

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"
)

// maxIfname is the longest Linux interface name: IFNAMSIZ (16) less the NUL.
const maxIfname = 15

// b32 is lower-case-able base32 without padding: only [a-z2-7] in names,
// which are valid everywhere an interface name is.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// hashPrefix returns the first n characters of lower-case base32(sha256(s)).
func hashPrefix(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	h := strings.ToLower(b32.EncodeToString(sum[:]))
	return h[:max(0, min(n, len(h)))]
}

// linkSuffix returns the part of a link name the tags contribute: for each
// tag "." plus "s" for an S-tag plus the id, e.g. ".s100.200".
func linkSuffix(tags []Tag) string {
	b := make([]byte, 0, 12)
	for _, t := range tags {
		b = append(b, '.')
		if t.Proto == Dot1AD {
			b = append(b, 's')
		}
		b = strconv.AppendUint(b, uint64(t.ID), 10)
	}
	return string(b)
}

// linkName returns the name of the link carrying tags (outermost first) on
// parent: the parent's name plus the tag suffix, e.g. "eth0.s100.200". When
// that exceeds 15 bytes the parent's name is replaced by "q" and a prefix of
// the base32 sha256 of it, as long as fits. The name depends only on the
// link's own identity, so adding or removing other translations never
// renames a link, and every node derives the same name.
func linkName(parent string, tags []Tag) string {
	return namer(nil).link(parent, tags)
}

// bridgeName returns the generated bridge name of translation name at
// position index (0 for a single translation): "br-NAME" or "br-NAME.POS" if
// that fits, else "br_" and a hash. The "_" cannot appear in a readable
// form, so the hashed names never collide with those.
func bridgeName(name string, index int) string {
	s := "br-" + name
	if index > 0 {
		s += "." + strconv.Itoa(index)
	}
	if len(s) <= maxIfname {
		return s
	}
	return "br_" + hashPrefix(name+"#"+strconv.Itoa(index), 12)
}

// checkIfname returns why name is not a valid Linux interface name, or "".
// It follows the kernel's dev_valid_name, and also refuses '%' (the kernel
// would take the name as a template like "eth%d" and pick another) and
// control characters (legal, but unreadable in every tool's output).
func checkIfname(name string) string {
	switch {
	case name == "":
		return "it is empty"
	case len(name) > maxIfname:
		return fmt.Sprintf("it is %d bytes long, more than %d", len(name), maxIfname)
	case name == "." || name == "..":
		return "it is reserved"
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '/' || c == ':' || c == '%':
			return fmt.Sprintf("it contains %q", c)
		case c == ' ' || c >= '\t' && c <= '\r' || c == 0xa0: // the kernel's isspace()
			return "it contains whitespace"
		case c < 0x20 || c == 0x7f:
			return "it contains a control character"
		}
	}
	return ""
}

// namer computes link names for linkName, caching the hash of each long
// parent: with thousands of links on one long parent, that is most of the
// work.
type namer map[string]string

func (nm namer) link(parent string, tags []Tag) string {
	suffix := linkSuffix(tags)
	if len(parent)+len(suffix) <= maxIfname {
		return parent + suffix
	}
	h, ok := nm[parent]
	if !ok {
		h = hashPrefix(parent, 64)
		if nm != nil {
			nm[parent] = h
		}
	}
	return "q" + h[:max(0, maxIfname-len(suffix)-1)] + suffix
}
