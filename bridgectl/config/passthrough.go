package config

import (
	"slices"
	"strings"
)

// ProtoLACP is the one protocol a pass-through carries for now: the slow
// protocols (EtherType 0x8809 to 01:80:c2:00:00:02), LACPDUs and markers.
const ProtoLACP = "lacp"

// Passthrough is a trunk pair across which link-local frames of the named
// protocols cross, untouched, while its group's guard is open: the
// translator is then one "fiber" of the switches' bundles.
type Passthrough struct {
	A, B      string   // the trunks, as written
	Protocols []string // ProtoLACP
	// Carrier asks for carrier propagation between A and B (package
	// bridgectl/carrier; bridgectl watch, bridgectl carrier and the bridge
	// agent run it).
	Carrier bool
	Group   string // its guard's group: DefaultGroup if the table names none
	Pos     Pos    // the [[passthrough]] header
}

// String returns e.g. "eth0 <-> eth1 (lacp)".
func (p Passthrough) String() string {
	return p.A + " <-> " + p.B + " (" + strings.Join(p.Protocols, ", ") + ")"
}

var passthroughKeys = []string{"a", "b", "protocols", "carrier", "group"}

// passthroughs decodes the [[passthrough]] tables; the checks against the
// translations come later (checkPassthroughs).
func (p *parser) passthroughs(doc map[string]any) []Passthrough {
	v, ok := doc["passthrough"]
	if !ok {
		return nil
	}
	path := child("", "passthrough")
	list, ok := v.([]map[string]any)
	if !ok {
		p.errorf(p.pos(path), "passthrough: must be an array of tables ([[passthrough]]), not %s", typeName(v))
		return nil
	}
	var out []Passthrough
	for i, t := range list {
		at := elem(path, i)
		pt := Passthrough{Pos: p.pos(at)}
		p.unknownKeys(t, at, "passthrough.", passthroughKeys)
		before := len(p.errs)
		for _, side := range []struct {
			k   string
			dst *string
		}{{"a", &pt.A}, {"b", &pt.B}} {
			name, ok := p.str(t, at, side.k, "passthrough."+side.k)
			switch {
			case !ok:
				if _, present := t[side.k]; !present {
					p.errorf(pt.Pos, "passthrough: %s is required: a trunk, e.g. %s = \"eth0\"", side.k, side.k)
				}
			case checkIfname(name) != "":
				p.errorf(p.pos(child(at, side.k)), "passthrough.%s: %q is not a valid interface name: %s", side.k, name, checkIfname(name))
			default:
				*side.dst = name
			}
		}
		if pt.A != "" && pt.A == pt.B {
			p.errorf(p.pos(child(at, "b")), "passthrough: a and b are both %q: a pair needs two trunks", pt.A)
		}
		// A pair with valid trunks is checked against the translations
		// even if its other keys are wrong: every error at once.
		pairOK := len(p.errs) == before
		pt.Protocols = p.protocols(t, at, pt.Pos)
		if c, present := t["carrier"]; present {
			b, isBool := c.(bool)
			if !isBool {
				p.errorf(p.pos(child(at, "carrier")), "passthrough.carrier: must be true or false, not %s", typeName(c))
			}
			pt.Carrier = b
		}
		pt.Group = p.groupOf(t, at, p.declaredNames())
		if pairOK {
			out = append(out, pt)
		}
	}
	return out
}

// protocols decodes a pass-through's protocols: a non-empty list of known
// names, each once.
func (p *parser) protocols(t map[string]any, path string, header Pos) []string {
	v, present := t["protocols"]
	if !present {
		p.errorf(header, "passthrough: protocols is required, e.g. protocols = [%q]", ProtoLACP)
		return nil
	}
	at := p.pos(child(path, "protocols"))
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		p.errorf(at, "passthrough.protocols: must be a non-empty array of strings like [%q]", ProtoLACP)
		return nil
	}
	var out []string
	for _, e := range list {
		s, isStr := e.(string)
		switch {
		case !isStr:
			p.errorf(at, "passthrough.protocols: entries must be strings, not %s", typeName(e))
		case s != ProtoLACP:
			// STP, LLDP and pause are link-local to the translator's own
			// links: passing them would join the two switches' spanning
			// trees or neighbour tables through a box that is not a wire.
			p.errorf(at, "passthrough.protocols: %q is not supported: only %q (slow protocols: LACP and its markers) may cross; STP, LLDP and pause stay link-local", s, ProtoLACP)
		case slices.Contains(out, s):
			p.errorf(at, "passthrough.protocols: %q is listed twice", s)
		default:
			out = append(out, s)
		}
	}
	return out
}

// checkPassthroughs checks the pairs against the translations: each pair's
// trunks are the two sides of at least one translation; every translation
// on either trunk is in the pair's group (the group's guard opens the
// slow protocols of those trunks, so it must be the one that forwards
// their translations); a trunk is in one pair at most.
func (p *parser) checkPassthroughs(cfg *Config) {
	type trunkInfo struct {
		groups []string // groups of the translations on it, in file order
		first  map[string]string
	}
	trunks := map[string]*trunkInfo{}
	sides := map[[2]string]bool{}
	for _, t := range cfg.Translations {
		sides[[2]string{t.A.Parent, t.B.Parent}] = true
		sides[[2]string{t.B.Parent, t.A.Parent}] = true
		for _, parent := range []string{t.A.Parent, t.B.Parent} {
			ti := trunks[parent]
			if ti == nil {
				ti = &trunkInfo{first: map[string]string{}}
				trunks[parent] = ti
			}
			if _, seen := ti.first[t.Group]; !seen {
				ti.first[t.Group] = t.Source
				ti.groups = append(ti.groups, t.Group)
			}
		}
	}
	inPair := map[string]Pos{}
	for _, pt := range cfg.Passthroughs {
		if !sides[[2]string{pt.A, pt.B}] {
			p.errorf(pt.Pos, "passthrough %s <-> %s: no translation has these two trunks as its ends' parents (a = { parent = %q, ... }, b = { parent = %q, ... } or the reverse)",
				pt.A, pt.B, pt.A, pt.B)
		}
		for _, trunk := range []string{pt.A, pt.B} {
			if first, dup := inPair[trunk]; dup {
				p.errorf(pt.Pos, "passthrough %s <-> %s: trunk %s is already in the pair at %s; a trunk's slow protocols can cross to one other trunk only",
					pt.A, pt.B, trunk, first)
				continue
			}
			inPair[trunk] = pt.Pos
			ti := trunks[trunk]
			if ti == nil {
				continue
			}
			for _, g := range ti.groups {
				if g != pt.Group {
					p.errorf(pt.Pos, "passthrough %s <-> %s is in group %q, but trunk %s carries translation %q of group %q: the guard that passes a trunk's LACP must be the one that forwards all its translations",
						pt.A, pt.B, pt.Group, trunk, ti.first[g], g)
					break
				}
			}
		}
	}
}
