package config

import (
	"fmt"
	"strconv"
	"strings"
)

// spec is one translation as written, before range expansion.
type spec struct {
	pos       Pos    // the [[translation]] header
	name      string // as written, even if invalid (then namesOK is false)
	bridge    string // override; "" if none
	bridgePos Pos    // the bridge key, or the header without one
	group     string // DefaultGroup if the translation names none
	a, b      endSpec
	n         int  // positions: the common length of its ranges, 1 without
	ranged    bool // some id is written as a range "N-M"
	stacksOK  bool // ends valid and range lengths agree: it can be expanded
	namesOK   bool // name and bridge valid too: its bridge names exist
}

// endSpec is one end as written.
type endSpec struct {
	side               string // "a" or "b"
	pos                Pos
	parent             string
	qinq               bool
	proto              Proto // of the outer tag, for QinQ
	vlan, outer, inner idSpec
	mtu                int
	mtuPos             Pos
}

// idSpec is one id field: first, or first..first+n-1 for a range.
type idSpec struct {
	set    bool
	first  int
	n      int
	ranged bool   // written "N-M" (even if N == M)
	label  string // e.g. "a.inner"
	pos    Pos
}

// at returns the id at position i (0-based): a single id repeats.
func (r idSpec) at(i int) uint16 {
	if r.n == 1 {
		return uint16(r.first)
	}
	return uint16(r.first + i)
}

// translation checks one [[translation]] table at path.
func (p *parser) translation(t map[string]any, path string) spec {
	s := spec{pos: p.pos(path), n: 1}
	s.bridgePos = s.pos
	p.unknownKeys(t, path, "translation.", translationKeys)

	s.group = p.groupOf(t, path, p.declaredNames())
	before := len(p.errs)
	p.name(t, path, &s)
	if v, ok := p.str(t, path, "bridge", "bridge"); ok {
		s.bridge, s.bridgePos = v, p.pos(child(path, "bridge"))
		if why := checkIfname(v); why != "" {
			p.errorf(s.bridgePos, "bridge: %q is not a valid interface name: %s", v, why)
		}
	}
	namesOK := len(p.errs) == before

	before = len(p.errs)
	var okA, okB bool
	s.a, okA = p.end(t, path, "a")
	s.b, okB = p.end(t, path, "b")
	if okA && okB {
		p.rangeLengths(&s)
	}
	s.stacksOK = okA && okB && len(p.errs) == before

	if s.a.mtu != 0 && s.b.mtu != 0 && s.a.mtu != s.b.mtu {
		p.errorf(s.b.mtuPos, "mtu differs between the ends: a.mtu = %d, b.mtu = %d; the bridge would drop frames larger than the smaller", s.a.mtu, s.b.mtu)
	}

	// A ranged override gets ".POS" appended; the last position is longest.
	if s.bridge != "" && s.ranged && s.stacksOK && namesOK {
		last := s.bridge + "." + strconv.Itoa(s.n)
		if why := checkIfname(last); why != "" {
			p.errorf(s.bridgePos, "bridge: %q (the name at position %d) is not a valid interface name: %s", last, s.n, why)
			namesOK = false
		}
	}
	s.namesOK = namesOK && s.stacksOK
	return s
}

// name checks the name of translation s: required, [a-z0-9-], 1..32
// characters (it becomes part of bridge names and aliases), unique.
func (p *parser) name(t map[string]any, path string, s *spec) {
	if _, present := t["name"]; !present {
		p.errorf(s.pos, "translation: name is required")
		return
	}
	at := p.pos(child(path, "name"))
	name, ok := p.str(t, path, "name", "name")
	// Even a bad name names the translation in messages about its ends;
	// only valid ones make bridge names (namesOK).
	s.name = name
	switch {
	case !ok:
		return
	case name == "":
		p.errorf(at, "name: must not be empty")
		return
	case len(name) > maxName:
		p.errorf(at, "name %q: %d characters, more than %d", name, len(name), maxName)
		return
	case strings.TrimLeft(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "":
		p.errorf(at, "name %q: only a-z, 0-9 and '-' are allowed", name)
		return
	}
	if first, dup := p.names[name]; dup {
		p.errorf(at, "name %q is already used at %s", name, first)
		return
	}
	p.names[name] = at
}

// end checks end side ("a" or "b") of the translation at path. ok reports
// whether it is complete and valid, so that it can be expanded.
func (p *parser) end(t map[string]any, path, side string) (e endSpec, ok bool) {
	e.side = side
	v, present := t[side]
	if !present {
		p.errorf(p.pos(path), "translation: end %s is required, e.g. %s = { parent = \"eth0\", vlan = 100 }", side, side)
		return e, false
	}
	path = child(path, side)
	e.pos = p.pos(path)
	et, isTable := v.(map[string]any)
	if !isTable {
		p.errorf(e.pos, "%s: must be a table like { parent = \"eth0\", vlan = 100 }, not %s", side, typeName(v))
		return e, false
	}
	p.unknownKeys(et, path, "translation."+side+".", endKeys)
	before := len(p.errs)
	at := func(k string) Pos { return p.pos(child(path, k)) }

	if parent, isStr := p.str(et, path, "parent", side+".parent"); isStr {
		if why := checkIfname(parent); why != "" {
			p.errorf(at("parent"), "%s.parent: %q is not a valid interface name: %s", side, parent, why)
		}
		e.parent = parent
	} else if _, present := et["parent"]; !present {
		p.errorf(e.pos, "%s: parent is required", side)
	}

	e.vlan = p.ids(et, path, "vlan", side)
	e.outer = p.ids(et, path, "outer", side)
	e.inner = p.ids(et, path, "inner", side)
	// Which tags an end has follows from the keys present, valid or not, so
	// a bad id gives one error, not a second about a missing key.
	_, hasVlan := et["vlan"]
	_, hasOuter := et["outer"]
	_, hasInner := et["inner"]
	switch {
	case hasVlan && (hasOuter || hasInner):
		p.errorf(at("vlan"), "%s: vlan (one 802.1Q tag) cannot be combined with outer/inner (QinQ)", side)
	case hasVlan:
	case hasOuter && !hasInner:
		p.errorf(at("outer"), "%s: outer needs inner (for one 802.1Q tag use vlan)", side)
	case hasInner && !hasOuter:
		p.errorf(at("inner"), "%s: inner needs outer", side)
	case !hasOuter:
		p.errorf(e.pos, "%s: needs vlan, or outer and inner", side)
	}
	e.qinq = hasOuter

	e.proto = Dot1AD
	if s, isStr := p.str(et, path, "outer_proto", side+".outer_proto"); isStr {
		switch {
		case strings.EqualFold(s, "802.1ad"):
		case strings.EqualFold(s, "802.1q"):
			e.proto = Dot1Q
		default:
			p.errorf(at("outer_proto"), "%s.outer_proto: %q is neither \"802.1ad\" nor \"802.1Q\"", side, s)
		}
	}
	if _, has := et["outer_proto"]; has && !hasOuter {
		p.errorf(at("outer_proto"), "%s: outer_proto is only allowed together with outer", side)
	}

	if n, ok := p.integer(et, path, "mtu", side+".mtu", minMTU, maxMTU); ok {
		e.mtu, e.mtuPos = int(n), at("mtu")
	}
	return e, len(p.errs) == before
}

// ids decodes id field k of an end: an integer, or a string "N" or "N-M".
func (p *parser) ids(et map[string]any, path, k, side string) idSpec {
	r := idSpec{label: side + "." + k, pos: p.pos(child(path, k))}
	v, present := et[k]
	if !present {
		return r
	}
	switch v := v.(type) {
	case int64:
		if v < minID || v > maxID {
			p.errorf(r.pos, "%s: %d is out of range %d..%d", r.label, v, minID, maxID)
			return r
		}
		r.first, r.n = int(v), 1
	case string:
		first, last, ranged, msg := parseRange(v)
		if msg != "" {
			p.errorf(r.pos, "%s: %s", r.label, msg)
			return r
		}
		r.first, r.n, r.ranged = first, last-first+1, ranged
	default:
		p.errorf(r.pos, "%s: must be an integer or a string like \"1-1000\", not %s", r.label, typeName(v))
		return r
	}
	r.set = true
	return r
}

// parseRange parses "N" or "N-M". msg says what is wrong, if anything.
func parseRange(s string) (first, last int, ranged bool, msg string) {
	lo, hi, ranged := strings.Cut(s, "-")
	if !ranged {
		hi = lo
	}
	a, okA := number(lo)
	b, okB := number(hi)
	switch {
	case !okA || !okB:
		return 0, 0, false, fmt.Sprintf("%q is neither an id nor a range like \"1-1000\"", s)
	case a < minID || a > maxID:
		return 0, 0, false, fmt.Sprintf("%s is out of range %d..%d", lo, minID, maxID)
	case b < minID || b > maxID:
		return 0, 0, false, fmt.Sprintf("%s is out of range %d..%d", hi, minID, maxID)
	case a > b:
		return 0, 0, false, fmt.Sprintf("range %q is reversed", s)
	}
	return a, b, ranged, ""
}

// number parses decimal digits, saturating far above any valid id so that
// "99999999999999999999" is out of range rather than malformed.
func number(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int(c-'0'), 1<<20)
	}
	return n, true
}

// rangeLengths sets s.n and s.ranged. Ranged fields (more than one id) must
// agree in length; single ids repeat at every position.
func (p *parser) rangeLengths(s *spec) {
	var first *idSpec
	for _, f := range []*idSpec{&s.a.vlan, &s.a.outer, &s.a.inner, &s.b.vlan, &s.b.outer, &s.b.inner} {
		if !f.set {
			continue
		}
		s.ranged = s.ranged || f.ranged
		switch {
		case f.n == 1:
		case first == nil:
			first = f
			s.n = f.n
		case f.n != first.n:
			p.errorf(f.pos, "range lengths differ: %s has %d ids, %s has %d", first.label, first.n, f.label, f.n)
		}
	}
}
