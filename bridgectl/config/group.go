package config

import (
	"hash/fnv"
	"math"
	"slices"
	"strings"
)

// DefaultGroup is the group of translations that name none. Its guard's
// block is [guard] block.
const DefaultGroup = "default"

// Group is a set of translations with a guard of their own: it forwards
// only on the node where that guard is open. Every node builds every
// group's translations; Pacemaker places the open guards.
type Group struct {
	Name string
	// Block is the guard's tc block; it uses Block+1 and Block+2 too
	// (tcguard's egress and trunk blocks).
	Block   uint32
	Derived bool // Block comes from the name (GroupBlock)
	Pos     Pos  // the [[group]] header; the file for an implicit default
	// SwitchFlush is the group's switch_flush_ms ([guard] switch_flush_ms
	// for the default group), for the tcguard agent.
	SwitchFlush SwitchFlush
}

// SwitchFlush is how long, in ms, the tcguard agent's demote takes a
// group's trunks down once its guard is blocked, so that the switches
// forget the hosts' addresses they learned behind this node (0: never).
// The agent's switch_flush_ms parameter, where the cluster sets it, wins.
// A group whose trunks carry another group's translations cannot have
// one: taking them down would cut that group on this node.
type SwitchFlush struct {
	Ms  int
	Set bool // the file sets it
	Pos Pos  // of the key
}

// MaxSwitchFlushMs is the longest switch flush: any switch sees a link go
// down within a second, and the agent's demote may have to hold the
// trunks down itself within its timeout.
const MaxSwitchFlushMs = 10000

// Derived blocks lie in [groupBlockBase, groupBlockBase+4*groupBlockSlots),
// four indexes apart, away from the default [guard] block and small
// hand-picked indexes.
const (
	groupBlockBase  = 1 << 30
	groupBlockSlots = 1 << 20
)

// GroupBlock is the block a group without a `block` key gets:
// 2^30 + 4 * (FNV-1a-32(name) mod 2^20). Deterministic, so that every node
// derives the same block from the same file.
func GroupBlock(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return groupBlockBase + 4*(h.Sum32()%groupBlockSlots)
}

var groupKeys = []string{"name", "block", "switch_flush_ms"}

// groups decodes the [[group]] tables.
func (p *parser) groups(doc map[string]any) []Group {
	v, ok := doc["group"]
	if !ok {
		return nil
	}
	path := child("", "group")
	list, ok := v.([]map[string]any)
	if !ok {
		p.errorf(p.pos(path), "group: must be an array of tables ([[group]]), not %s", typeName(v))
		return nil
	}
	var out []Group
	seen := map[string]Pos{}
	for i, t := range list {
		at := elem(path, i)
		g := Group{Pos: p.pos(at)}
		p.unknownKeys(t, at, "group.", groupKeys)
		name, ok := p.str(t, at, "name", "group.name")
		switch {
		case !ok:
			if _, present := t["name"]; !present {
				p.errorf(g.Pos, "group: name is required")
			}
			continue
		case name == "" || len(name) > maxName || strings.TrimLeft(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "":
			p.errorf(p.pos(child(at, "name")), "group name %q: 1 to %d characters of a-z, 0-9 and '-'", name, maxName)
			continue
		case name == DefaultGroup:
			p.errorf(p.pos(child(at, "name")), "group %q is implicit: its block is [guard] block", name)
			continue
		}
		if first, dup := seen[name]; dup {
			p.errorf(p.pos(child(at, "name")), "group %q is already declared at %s", name, first)
			continue
		}
		seen[name] = g.Pos
		g.Name = name
		if n, ok := p.integer(t, at, "block", "group.block", 1, math.MaxUint32-2); ok {
			g.Block = uint32(n)
		} else if _, present := t["block"]; !present {
			g.Block, g.Derived = GroupBlock(name), true
		}
		g.SwitchFlush = p.switchFlush(t, at, "group.switch_flush_ms")
		out = append(out, g)
	}
	return out
}

// resolveGroups gives cfg its groups: the default one if a translation is
// in it, then the declared ones in file order. A translation naming a group
// not declared, two groups whose blocks overlap (each uses three indexes),
// and a declared group no translation uses are errors.
func (p *parser) resolveGroups(cfg *Config, declared []Group, guardPos Pos) {
	used := map[string]bool{}
	for _, t := range cfg.Translations {
		used[t.Group] = true
	}
	// The default group always: its guard is [guard] block's, whose next
	// index but one is the tc datapath's block.
	gs := []Group{{Name: DefaultGroup, Block: cfg.Guard.Block, Pos: guardPos, SwitchFlush: p.guardFlush}}
	for _, g := range declared {
		if !used[g.Name] {
			p.errorf(g.Pos, "group %q: no translation is in it (add group = %q to one, or remove the group)", g.Name, g.Name)
		}
		gs = append(gs, g)
	}
	for i, g := range gs {
		for _, h := range gs[:i] {
			if g.Block <= h.Block+2 && h.Block <= g.Block+2 {
				how := "block"
				if g.Derived {
					how = "block derived from its name"
				}
				p.errorf(g.Pos, "group %q: its %s %d overlaps group %q's %d (a guard uses its block and the next two): set group.block",
					g.Name, how, g.Block, h.Name, h.Block)
			}
		}
	}
	cfg.Groups = gs
	for _, g := range gs {
		if shared := cfg.SharedTrunks(g.Name); g.SwitchFlush.Ms > 0 && len(shared) > 0 {
			p.errorf(g.SwitchFlush.Pos, "group %q: switch_flush_ms %d, but its trunks %s carry other groups' translations too: a flush would cut them on this node; set 0 (or give the group trunks of its own)",
				g.Name, g.SwitchFlush.Ms, strings.Join(shared, ", "))
		}
	}
}

// switchFlush decodes a switch_flush_ms key of table t at path.
func (p *parser) switchFlush(t map[string]any, path, what string) SwitchFlush {
	n, ok := p.integer(t, path, "switch_flush_ms", what, 0, MaxSwitchFlushMs)
	if !ok {
		return SwitchFlush{}
	}
	return SwitchFlush{Ms: int(n), Set: true, Pos: p.pos(child(path, "switch_flush_ms"))}
}

// Group returns the group called name, or nil.
func (c *Config) Group(name string) *Group {
	i := slices.IndexFunc(c.Groups, func(g Group) bool { return g.Name == name })
	if i < 0 {
		return nil
	}
	return &c.Groups[i]
}

// BlockOf is the guard block of the group called name: [guard] block for
// the default group (and for a name the file has not).
func (c *Config) BlockOf(name string) uint32 {
	if g := c.Group(name); g != nil {
		return g.Block
	}
	return c.Guard.Block
}

// groupOf checks a translation's group key; "" is the default group.
func (p *parser) groupOf(t map[string]any, path string, declared map[string]bool) string {
	name, ok := p.str(t, path, "group", "group")
	if !ok {
		return DefaultGroup
	}
	if name != DefaultGroup && !declared[name] {
		p.errorf(p.pos(child(path, "group")), "group %q is not declared: add [[group]] name = %q", name, name)
	}
	return name
}

// declaredNames is the set of declared group names.
func (p *parser) declaredNames() map[string]bool {
	if p.declaredSet == nil {
		p.declaredSet = map[string]bool{}
		for _, g := range p.declared {
			p.declaredSet[g.Name] = true
		}
	}
	return p.declaredSet
}
