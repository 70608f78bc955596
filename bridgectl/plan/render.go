package plan

import (
	"fmt"
	"io"
	"strings"
)

// Write prints the plan as a readable diff, one line per step, one line
// per foreign link left alone ("!"), then a summary line.
func (p *Plan) Write(w io.Writer) error {
	var b strings.Builder
	for _, s := range p.Steps {
		switch s.Op {
		case Create:
			fmt.Fprintf(&b, "+ %s: create %s\n", s.Link.Name, describe(s.Link))
		case Recreate:
			fmt.Fprintf(&b, "± %s: recreate, %s: %s\n", s.Link.Name, s.Reason, changes(s.Changes))
		case Modify:
			fmt.Fprintf(&b, "~ %s: %s\n", s.Link.Name, changes(s.Changes))
		case Delete:
			fmt.Fprintf(&b, "- %s: delete %s, %s\n", s.Have.Name, kindOf(s.Have), s.Reason)
		}
		if b.Len() > 64<<10 {
			if _, err := io.WriteString(w, b.String()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	for _, f := range p.Foreign {
		fmt.Fprintf(&b, "! %s\n", f)
	}
	fmt.Fprintf(&b, "%d to create, %d to recreate, %d to modify, %d to delete",
		p.Count(Create), p.Count(Recreate), p.Count(Modify), p.Count(Delete))
	if n := len(p.Foreign); n > 0 {
		fmt.Fprintf(&b, "; %d foreign left alone", n)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteDrift prints one line per drifted attribute — name, attribute, have,
// want — and one per foreign link in the way of a guarantee ("NAME:
// foreign ..."), the way `bridgectl check` reports them.
func (p *Plan) WriteDrift(w io.Writer) error {
	var b strings.Builder
	for _, s := range p.Steps {
		switch s.Op {
		case Create:
			fmt.Fprintf(&b, "%s: exists: have absent, want %s\n", s.Link.Name, describe(s.Link))
		case Delete:
			fmt.Fprintf(&b, "%s: exists: have %s, want absent (%s)\n", s.Have.Name, kindOf(s.Have), s.Reason)
		default:
			for _, c := range s.Changes {
				fmt.Fprintf(&b, "%s: %s: have %s, want %s\n", s.Link.Name, c.Attr, c.Have, c.Want)
			}
		}
		if b.Len() > 64<<10 {
			if _, err := io.WriteString(w, b.String()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	for _, f := range p.Foreign {
		fmt.Fprintf(&b, "%s\n", f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func describe(l Link) string {
	switch l.Kind {
	case VLAN:
		s := fmt.Sprintf("vlan %s %d on %s", l.Proto, l.ID, l.Parent)
		if l.Master != "" {
			s += ", port of " + l.Master
		}
		return fmt.Sprintf("%s (mtu %d)", s, l.MTU)
	default:
		return fmt.Sprintf("%s (mtu %d)", l.Kind, l.MTU)
	}
}

func changes(cs []Change) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return strings.Join(parts, "; ")
}
