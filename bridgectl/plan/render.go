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
	for _, s := range p.Settings {
		fmt.Fprintf(&b, "~ trunk %s: %s\n", s.Trunk, s)
	}
	for _, t := range p.Bind {
		fmt.Fprintf(&b, "+ trunk %s: bind its ingress to the guard's trunk block\n", t)
	}
	for _, s := range p.Filters {
		switch s.Op {
		case Create:
			fmt.Fprintf(&b, "+ filter %s: create (translation %s)\n", s.Want, s.Want.Translation)
		case Modify:
			fmt.Fprintf(&b, "~ filter %s: %s\n", s.Want.Key(), changes(s.Changes))
		case Delete:
			fmt.Fprintf(&b, "- filter %s: delete, %s\n", s.Have, s.Reason)
		}
	}
	for _, t := range p.Unbind {
		fmt.Fprintf(&b, "- trunk %s: unbind (no translation filter left)\n", t)
	}
	for _, f := range p.Foreign {
		fmt.Fprintf(&b, "! %s\n", f)
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "! %s\n", w)
	}
	fmt.Fprintf(&b, "%d to create, %d to recreate, %d to modify, %d to delete",
		p.Count(Create), p.Count(Recreate), p.Count(Modify), p.Count(Delete))
	if n := len(p.Filters) + len(p.Bind) + len(p.Unbind); n > 0 {
		fmt.Fprintf(&b, "; filters: %d to create, %d to modify, %d to delete; trunks: %d to bind, %d to unbind",
			p.CountFilters(Create), p.CountFilters(Modify), p.CountFilters(Delete), len(p.Bind), len(p.Unbind))
	}
	if n := len(p.Settings); n > 0 {
		fmt.Fprintf(&b, "; trunk settings: %d to change", n)
	}
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
	for _, s := range p.Settings {
		fmt.Fprintf(&b, "trunk %s: %s: have %s, want %s", s.Trunk, s.Setting, onOff(s.Have), onOff(s.Want))
		if s.Restore {
			b.WriteString(" (bridgectl changed it; no translation needs it now)")
		}
		b.WriteString("\n")
	}
	for _, t := range p.Bind {
		fmt.Fprintf(&b, "trunk %s: guard: have unbound, want bound\n", t)
	}
	for _, s := range p.Filters {
		switch s.Op {
		case Create:
			fmt.Fprintf(&b, "filter %s: exists: have absent, want -> %s\n", s.Want.Key(), s.Want.Out)
		case Delete:
			fmt.Fprintf(&b, "filter %s: exists: have -> %s, want absent (%s)\n", s.Have.Key(), s.Have.Out, s.Reason)
		default:
			for _, c := range s.Changes {
				fmt.Fprintf(&b, "filter %s: %s: have %s, want %s\n", s.Want.Key(), c.Attr, c.Have, c.Want)
			}
		}
	}
	for _, t := range p.Unbind {
		fmt.Fprintf(&b, "trunk %s: guard: have bound, want unbound\n", t)
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
