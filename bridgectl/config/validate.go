package config

import "fmt"

// stackKey identifies a link: a parent and a tag stack. Unlike Stack it is
// comparable, so it can key maps.
type stackKey struct {
	parent string
	n      int
	tags   [2]Tag
}

func keyOf(parent string, tags []Tag) stackKey {
	k := stackKey{parent: parent, n: len(tags)}
	copy(k.tags[:], tags)
	return k
}

// String returns the stack as Stack.String does.
func (k stackKey) String() string {
	return Stack{Parent: k.parent, Tags: k.tags[:k.n]}.String()
}

// role is what a name or stack belongs to: end a or b of a translation, or
// its bridge.
type role byte

const (
	roleA      role = 'a'
	roleB      role = 'b'
	roleBridge role = 'r'
)

// ref is a role of one expanded translation.
type ref struct {
	t    int // index into the expansion
	role role
}

// pairKey identifies a reported problem between two roles of two specs, so
// that a problem repeating at every position of a range is reported once.
type pairKey struct {
	kind  string
	spec1 int
	role1 role
	spec2 int
	role2 role
	extra string // e.g. the name clashing with a parent
}

// checker holds what the cross checks share.
type checker struct {
	p        *parser
	x        expansion
	specs    []spec
	reported map[pairKey]bool
}

// once reports whether the problem kind between a and b (b the later one)
// is new, and records it.
func (c *checker) once(kind string, a, b ref, extra string) bool {
	k := pairKey{kind, c.x.origin[a.t], a.role, c.x.origin[b.t], b.role, extra}
	if c.reported[k] {
		return false
	}
	c.reported[k] = true
	return true
}

func (c *checker) end(r ref) *End {
	if r.role == roleA {
		return &c.x.ts[r.t].A
	}
	return &c.x.ts[r.t].B
}

// describe names a role for messages, with its line.
func (c *checker) describe(r ref) string {
	t := &c.x.ts[r.t]
	name := fmt.Sprintf("translation %q", t.Name)
	if t.Source == "" {
		name = "the unnamed translation"
	}
	if r.role == roleBridge {
		return fmt.Sprintf("the bridge of %s (%s)", name, c.specs[c.x.origin[r.t]].bridgePos)
	}
	return fmt.Sprintf("end %c of %s (%s)", r.role, name, c.end(r).Pos)
}

// checkStacks reports ends that would need the same link twice: two ends
// with the same tag stack on a parent (one bridge port cannot join two
// bridges), or one end's stack a strict prefix of another's (a link cannot
// be both a bridge port and the lower device of a QinQ inner link).
// Sharing an S-tag link between QinQ ends is fine: only bridge ports are
// exclusive.
func (p *parser) checkStacks(x expansion, specs []spec) {
	c := &checker{p: p, x: x, specs: specs, reported: map[pairKey]bool{}}
	ports := make(map[stackKey]ref, 2*len(x.ts))  // bridge port stack → first end
	lowers := make(map[stackKey]ref, 2*len(x.ts)) // S-tag link stack → first QinQ end on it
	for ti := range x.ts {
		for _, r := range []ref{{ti, roleA}, {ti, roleB}} {
			e := c.end(r)
			k := keyOf(e.Parent, e.Tags)
			if first, dup := ports[k]; dup {
				c.duplicate(first, r, k)
			} else {
				ports[k] = r
			}
			if len(e.Tags) == 1 {
				if first, ok := lowers[k]; ok && c.once("overlap", first, r, "") {
					p.errorf(e.Pos, "%c: tag stack %s is the outer link of %s, %s; it cannot also be a bridge port",
						r.role, k, c.end(first).Stack, c.describe(first))
				}
				continue
			}
			outer := keyOf(e.Parent, e.Tags[:1])
			if first, ok := ports[outer]; ok && c.once("overlap", first, r, "") {
				p.errorf(e.Pos, "%c: tag stack %s needs %s as its outer link, but that is the bridge port of %s",
					r.role, k, outer, c.describe(first))
			}
			if _, ok := lowers[outer]; !ok {
				lowers[outer] = r
			}
		}
	}
}

// duplicate reports end r reusing the bridge port k of end first.
func (c *checker) duplicate(first, r ref, k stackKey) {
	if !c.once("duplicate", first, r, "") {
		return
	}
	at := c.end(r).Pos
	if c.x.origin[first.t] == c.x.origin[r.t] && first.role == r.role {
		// A single id on an end of a ranged translation: the same port at
		// every position.
		c.p.errorf(at, "%c: tag stack %s repeats at positions %d and %d of the range; this end needs a ranged id too",
			r.role, k, c.x.ts[first.t].Index, c.x.ts[r.t].Index)
		return
	}
	c.p.errorf(at, "%c: duplicate tag stack %s, also used by %s", r.role, k, c.describe(first))
}

// checkNames reports generated names that are not unique or that equal a
// parent interface's name; the planner identifies links by name, so either
// would make it confuse two links.
func (p *parser) checkNames(x expansion, specs []spec) {
	c := &checker{p: p, x: x, specs: specs, reported: map[pairKey]bool{}}
	parents := map[string]Pos{}
	for i := range x.ts {
		for _, e := range []*End{&x.ts[i].A, &x.ts[i].B} {
			if _, ok := parents[e.Parent]; !ok {
				parents[e.Parent] = e.Pos
			}
		}
	}
	type owner struct {
		ref
		key stackKey // the link's identity; zero for bridges
	}
	owners := make(map[string]owner, 4*len(x.ts))
	names := namer{}
	// what describes the owner of a name for messages. It is only called
	// for a clash: formatting it for every link would cost more than the
	// checks.
	what := func(o owner) string {
		switch {
		case o.role != roleBridge:
			return fmt.Sprintf("%c: link %s: generated name", o.role, o.key)
		case specs[x.origin[o.t]].bridge != "":
			return "bridge: name"
		}
		return "bridge: generated name"
	}
	// claim gives name to o, reporting a clash with a parent or an earlier
	// owner at at.
	claim := func(name string, o owner, at Pos) {
		if pp, ok := parents[name]; ok && c.once("parent", o.ref, o.ref, name) {
			p.errorf(at, "%s %q is also the name of a parent interface (%s)", what(o), name, pp)
		}
		first, taken := owners[name]
		switch {
		case !taken:
			owners[name] = o
		case o.role != roleBridge && first.role != roleBridge && first.key == o.key:
			// The same link again: an S-tag link shared by QinQ ends.
		case c.once("name", first.ref, o.ref, ""):
			p.errorf(at, "%s %q is also the name of %s", what(o), name, c.describe(first.ref))
		}
	}
	for ti := range x.ts {
		t := &x.ts[ti]
		for _, r := range []ref{{ti, roleA}, {ti, roleB}} {
			e := c.end(r)
			for i := range e.Tags {
				k := keyOf(e.Parent, e.Tags[:i+1])
				claim(names.link(e.Parent, e.Tags[:i+1]), owner{r, k}, e.Pos)
			}
		}
		if t.Bridge != "" {
			claim(t.Bridge, owner{ref: ref{ti, roleBridge}}, specs[x.origin[ti]].bridgePos)
		}
	}
}
