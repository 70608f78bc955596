// Package roff writes man(7) pages: the handful of macros the generated
// pages of qinqbridge need (bridgectl and tcguard from their CLI
// definitions, the OCF agents from their tables), with every string escaped
// so that no help text can turn into a roff request.
package roff

import (
	"fmt"
	"io"
	"strings"
)

// Page accumulates a man page; Bytes or WriteTo give the result.
type Page struct {
	b strings.Builder
}

// Escape makes s safe as roff text: backslashes and hyphens (which roff
// would otherwise print as typographic hyphens, breaking copy-pasted
// options) are escaped, non-ASCII runes become \[uXXXX] (groff reads its
// input as Latin-1 unless told otherwise), and a line starting with "." or
// "'" gets a zero-width \& so that it is not taken as a request.
func Escape(s string) string {
	var b strings.Builder
	lineStart := true
	for _, r := range s {
		if lineStart && (r == '.' || r == '\'') {
			b.WriteString(`\&`)
		}
		lineStart = r == '\n'
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r == '\t':
			b.WriteString("        ")
		case r > 0x7e:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		case r < 0x20 && r != '\n':
			// Control characters have no business in a man page.
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Bold and Italic return s escaped in that font, for Tagged and Line.
func Bold(s string) string   { return `\fB` + Escape(s) + `\fR` }
func Italic(s string) string { return `\fI` + Escape(s) + `\fR` }

// arg escapes a request's or macro's argument, quoted if it must be.
func arg(s string) string {
	s = strings.ReplaceAll(Escape(s), `"`, `\(dq`)
	if s == "" || strings.ContainsAny(s, " \t") {
		return `"` + s + `"`
	}
	return s
}

func (p *Page) request(name string, args ...string) {
	p.b.WriteString("." + name)
	for _, a := range args {
		p.b.WriteString(" " + arg(a))
	}
	p.b.WriteByte('\n')
}

// Title starts the page: .TH with the name in capitals, as man pages spell
// it. No date, so that the page is reproducible.
func (p *Page) Title(name string, section int, source, manual string) {
	p.b.WriteString(`.\" Generated; do not edit.` + "\n")
	p.request("TH", strings.ToUpper(name), fmt.Sprint(section), "", source, manual)
	// Left-adjusted and unhyphenated: options, paths and commands are
	// copied from man pages and must read as they are typed.
	p.request("nh")
	p.request("ad", "l")
}

// Section starts a section (.SH), e.g. "DESCRIPTION".
func (p *Page) Section(title string) { p.request("SH", title) }

// Subsection starts a subsection (.SS).
func (p *Page) Subsection(title string) { p.request("SS", title) }

// Line writes one line of ready roff (built with Escape, Bold, Italic),
// filled with the text around it.
func (p *Page) Line(roff string) {
	p.b.WriteString(roff)
	p.b.WriteByte('\n')
}

// NewParagraph starts a paragraph (.PP), for Text that follows other text.
func (p *Page) NewParagraph() { p.request("PP") }

// Para starts a paragraph and writes text, filled.
func (p *Page) Para(text string) {
	p.request("PP")
	p.fill(text)
}

// Tagged writes a tagged paragraph (.TP): tag is ready roff (built with
// Escape, Bold, Italic), text is filled below it, indented.
func (p *Page) Tagged(tag, text string) {
	p.request("TP")
	p.Line(tag)
	p.fill(text)
}

// Text writes help text as it is written for a terminal: blank lines
// separate paragraphs, the lines of a paragraph are filled, and lines
// indented by at least two spaces (examples, tables) are kept as they are,
// in an indented literal block. Within a tagged paragraph, the first
// paragraph continues the tag's text.
func (p *Page) Text(text string) {
	for i, block := range strings.Split(strings.Trim(text, "\n"), "\n\n") {
		if i > 0 {
			p.request("PP")
		}
		p.block(block, false)
	}
}

// IndentedText is Text inside a tagged paragraph: it keeps the indentation
// of the tag's text across paragraphs.
func (p *Page) IndentedText(text string) {
	for i, block := range strings.Split(strings.Trim(text, "\n"), "\n\n") {
		if i > 0 {
			p.request("IP")
		}
		p.block(block, true)
	}
}

// block writes one paragraph of help text: runs of ordinary lines filled,
// runs of indented lines literal (indented relative to a tagged
// paragraph's text if tagged).
func (p *Page) block(block string, tagged bool) {
	var prose, literal []string
	flush := func() {
		if len(prose) > 0 {
			p.fill(strings.Join(prose, "\n"))
			prose = nil
		}
		if len(literal) > 0 {
			if tagged {
				p.request("RS") // .RS alone: to the tagged paragraph's indentation
			}
			p.Literal(literal)
			if tagged {
				p.request("RE")
			}
			literal = nil
		}
	}
	for _, line := range strings.Split(block, "\n") {
		if strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "\t") {
			if len(prose) > 0 {
				flush()
			}
			literal = append(literal, line)
			continue
		}
		if len(literal) > 0 {
			flush()
		}
		if strings.TrimSpace(line) != "" {
			prose = append(prose, line)
		}
	}
	flush()
}

// Literal writes lines unfilled, indented, as they are: examples.
func (p *Page) Literal(lines []string) {
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	p.request("RS", "4")
	p.request("nf")
	for _, l := range lines {
		if len(l) >= indent && indent > 0 {
			l = l[indent:]
		}
		p.Line(Escape(strings.TrimRight(l, " \t")))
	}
	p.request("fi")
	p.request("RE")
}

// fill writes text to be filled: its lines without leading blanks (which
// would break the line in roff) and without empty lines (which would
// insert vertical space).
func (p *Page) fill(text string) {
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			p.Line(Escape(l))
		}
	}
}

// Bytes returns the page.
func (p *Page) Bytes() []byte { return []byte(p.b.String()) }

// WriteTo writes the page to w.
func (p *Page) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, p.b.String())
	return int64(n), err
}
