package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// BurntSushi/toml v1.6 keeps the position of each key only privately, and
// even there by dotted name, so all [[translation]] entries share one slot.
// Its public API gives positions for syntax errors only. keyLines fills the
// gap: after the library has accepted a document, a small scanner walks the
// same text again and notes the line each key is defined on, indexing the
// entries of arrays of tables, so errors can point at the offending key.

// Key paths: components joined by sepKey, array entries by sepIndex and the
// index. Both separators are control characters, which TOML keys can only
// contain through escapes no sane configuration uses.
const (
	sepKey   = "\x1f"
	sepIndex = "\x1e"
)

// child returns the path of key k in the table at path p.
func child(p, k string) string { return p + sepKey + k }

// elem returns the path of entry i of the array at path p.
func elem(p string, i int) string { return p + sepIndex + strconv.Itoa(i) }

// keyLines maps key paths to the line each key is first defined on.
type keyLines map[string]int

// line returns the line of path p, or of its nearest ancestor the scanner
// knows: a slightly too coarse line beats none.
func (kl keyLines) line(p string) int {
	for {
		if n, ok := kl[p]; ok {
			return n
		}
		i := strings.LastIndexAny(p, sepKey+sepIndex)
		if i < 0 {
			return 1
		}
		p = p[:i]
	}
}

// scanKeyLines indexes the keys of src, a document the TOML library has
// already accepted. It trusts that: on invalid input it still terminates
// without panicking, but its lines are then only approximate.
func scanKeyLines(src string) keyLines {
	// Skip byte order marks as the library does (a UTF-16 one too: it then
	// rejects the NUL bytes of real UTF-16, but not "\xfe\xffa=1").
	for _, bom := range []string{"\ufeff", "\xff\xfe", "\xfe\xff"} {
		if s, ok := strings.CutPrefix(src, bom); ok {
			src = s
			break
		}
	}
	sc := &scanner{s: src, line: 1, lines: keyLines{}, aot: map[string]int{}}
	table := "" // path of the table the key/value lines belong to
	for {
		sc.skipSpace(true)
		if sc.eof() {
			break
		}
		start := sc.i
		switch {
		case strings.HasPrefix(sc.s[sc.i:], "[["):
			sc.i += 2
			table = sc.arrayHeader(sc.keys())
		case sc.s[sc.i] == '[':
			sc.i++
			table = sc.resolve(sc.keys())
		default:
			sc.keyValue(table)
		}
		// Skip the header's closing brackets, or whatever the value left.
		for !sc.eof() && sc.s[sc.i] != '\n' && sc.s[sc.i] != '#' {
			sc.i++
		}
		if sc.i == start {
			sc.i++ // cannot happen on valid TOML; guarantees progress
		}
	}
	return sc.lines
}

type scanner struct {
	s     string
	i     int // read offset in s
	line  int // line of s[i]
	lines keyLines
	aot   map[string]int // path of each array of tables → entries so far
}

func (sc *scanner) eof() bool { return sc.i >= len(sc.s) }

// mark records the current line for path p unless it is known already: a
// table defined by several dotted keys belongs to the first of them.
func (sc *scanner) mark(p string) {
	if _, ok := sc.lines[p]; !ok {
		sc.lines[p] = sc.line
	}
}

// skipSpace skips blanks and comments, and newlines if nl is set.
func (sc *scanner) skipSpace(nl bool) {
	for !sc.eof() {
		switch c := sc.s[sc.i]; {
		case c == ' ' || c == '\t' || c == '\r':
			sc.i++
		case c == '\n' && nl:
			sc.i++
			sc.line++
		case c == '#' && nl:
			for !sc.eof() && sc.s[sc.i] != '\n' {
				sc.i++
			}
		default:
			return
		}
	}
}

// keys reads a dotted key, e.g. `a.parent` or `"a b".'c'`.
func (sc *scanner) keys() []string {
	var keys []string
	for {
		sc.skipSpace(false)
		if sc.eof() {
			return keys
		}
		switch sc.s[sc.i] {
		case '"', '\'':
			keys = sc.keysFromString(keys)
		default:
			j := sc.i
			for j < len(sc.s) && isBareKeyChar(sc.s[j]) {
				j++
			}
			if j == sc.i {
				return keys
			}
			keys = append(keys, sc.s[sc.i:j])
			sc.i = j
		}
		sc.skipSpace(false)
		if sc.eof() || sc.s[sc.i] != '.' {
			return keys
		}
		sc.i++
	}
}

// keysFromString appends a quoted key to keys.
func (sc *scanner) keysFromString(keys []string) []string {
	start := sc.i
	sc.str()
	raw := sc.s[start:sc.i]
	if len(raw) >= 2 && raw[0] == '\'' {
		return append(keys, raw[1:len(raw)-1])
	}
	if len(raw) >= 2 {
		return append(keys, unescape(raw[1:len(raw)-1]))
	}
	return append(keys, raw)
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// resolve returns the path of a [table] header's keys and marks the tables
// on the way. A key naming an array of tables means its latest entry, as
// in TOML's `[[translation]]` followed by `[translation.a]`.
func (sc *scanner) resolve(keys []string) string {
	p := ""
	for _, k := range keys {
		p = child(p, k)
		if n, ok := sc.aot[p]; ok {
			p = elem(p, n-1)
		}
		sc.mark(p)
	}
	return p
}

// arrayHeader handles `[[a.b]]`: a new entry of the array of tables a.b.
func (sc *scanner) arrayHeader(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	p := child(sc.resolve(keys[:len(keys)-1]), keys[len(keys)-1])
	sc.mark(p)
	n := sc.aot[p]
	sc.aot[p] = n + 1
	p = elem(p, n)
	sc.mark(p)
	return p
}

// keyValue handles `a.b = value` in the table at path table.
func (sc *scanner) keyValue(table string) {
	p := table
	for _, k := range sc.keys() {
		p = child(p, k)
		sc.mark(p)
	}
	sc.skipSpace(false)
	if sc.eof() || sc.s[sc.i] != '=' {
		return
	}
	sc.i++
	sc.skipSpace(false)
	sc.value(p)
}

// value skips one value, indexing the keys of inline tables in it.
func (sc *scanner) value(p string) {
	if sc.eof() {
		return
	}
	switch sc.s[sc.i] {
	case '"', '\'':
		sc.str()
	case '[':
		sc.i++
		for n := 0; ; {
			sc.skipSpace(true)
			if sc.eof() {
				return
			}
			switch sc.s[sc.i] {
			case ']':
				sc.i++
				return
			case ',':
				sc.i++
			default:
				start := sc.i
				e := elem(p, n)
				if sc.s[sc.i] == '{' {
					sc.mark(e)
				}
				sc.value(e)
				n++
				if sc.i == start {
					sc.i++
				}
			}
		}
	case '{':
		sc.i++
		for {
			sc.skipSpace(true) // TOML 1.1 allows newlines in inline tables
			if sc.eof() {
				return
			}
			switch sc.s[sc.i] {
			case '}':
				sc.i++
				return
			case ',':
				sc.i++
			default:
				start := sc.i
				sc.keyValue(p)
				if sc.i == start {
					sc.i++
				}
			}
		}
	default:
		// Numbers, booleans, dates: nothing in them can end a line or a
		// container, but a date may contain a space.
		for !sc.eof() && !strings.ContainsRune(",]}#\r\n", rune(sc.s[sc.i])) {
			sc.i++
		}
	}
}

// str skips a string of any of TOML's four kinds, counting its newlines.
func (sc *scanner) str() {
	q := sc.s[sc.i]
	triple := strings.Repeat(string(q), 3)
	if strings.HasPrefix(sc.s[sc.i:], triple) {
		sc.i += 3
		for !sc.eof() {
			switch c := sc.s[sc.i]; {
			case c == '\\' && q == '"':
				sc.i++
				if !sc.eof() && sc.s[sc.i] == '\n' {
					sc.line++
				}
				sc.i++
			case c == '\n':
				sc.line++
				sc.i++
			case strings.HasPrefix(sc.s[sc.i:], triple):
				// Up to two more quotes belong to the content: `""""a"""""`.
				sc.i += 3
				for k := 0; k < 2 && !sc.eof() && sc.s[sc.i] == q; k++ {
					sc.i++
				}
				return
			default:
				sc.i++
			}
		}
		return
	}
	sc.i++
	for !sc.eof() && sc.s[sc.i] != q && sc.s[sc.i] != '\n' {
		if sc.s[sc.i] == '\\' && q == '"' && sc.i+1 < len(sc.s) && sc.s[sc.i+1] != '\n' {
			sc.i++
		}
		sc.i++
	}
	if !sc.eof() && sc.s[sc.i] == q {
		sc.i++
	}
}

// unescape decodes the escapes of a TOML basic string, so quoted keys match
// the decoded document's keys.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		hex := 0
		switch s[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case 'x':
			hex = 2
		case 'u':
			hex = 4
		case 'U':
			hex = 8
		default: // \" and \\
			b.WriteByte(s[i])
		}
		if hex > 0 && i+hex < len(s) {
			r, err := strconv.ParseUint(s[i+1:i+1+hex], 16, 32)
			if err == nil && utf8.ValidRune(rune(r)) {
				b.WriteRune(rune(r))
			}
			i += hex
		}
	}
	return b.String()
}
