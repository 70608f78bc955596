package plan

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

// Op is what a step does to a link.
type Op int

const (
	Create   Op = iota // the link is missing
	Recreate           // an attribute the kernel cannot change drifted: delete, create
	Modify             // fix attributes in place
	Delete             // an owned link the configuration no longer has
)

func (o Op) String() string {
	return [...]string{"create", "recreate", "modify", "delete"}[o]
}

// Change is one attribute that differs.
type Change struct {
	Attr Attr
	Have string
	Want string
}

func (c Change) String() string { return fmt.Sprintf("%s %s -> %s", c.Attr, c.Have, c.Want) }

// Step is one link's change.
type Step struct {
	Op      Op
	Link    Link      // the wanted link (not for Delete)
	Have    *Observed // the kernel's link (not for Create)
	Changes []Change  // Recreate: the immutable drift; Modify: what to fix
	Reason  string    // Delete, Recreate: why
}

// Name is the link the step is about.
func (s Step) Name() string {
	if s.Op == Delete {
		return s.Have.Name
	}
	return s.Link.Name
}

// Has reports whether the step changes attribute attr.
func (s Step) Has(attr Attr) bool {
	for _, c := range s.Changes {
		if c.Attr == attr {
			return true
		}
	}
	return false
}

// Plan is the ordered list of steps that converges the kernel: deletions
// first (they free names and VLAN slots), then creations and modifications
// in the wanted links' order (parents before children, bridges before ports).
type Plan struct {
	Steps []Step
	// Foreign links apply leaves alone; plan, check and the bridge agent's
	// monitor report them.
	Foreign []Foreign
	// The tc datapath: the trunks to bind to the guard's trunk block, its
	// filters' steps, and the trunks to unbind (none of our filters is left
	// for them). Set by the caller (bridgectl.Manager), empty for a
	// configuration that has none and a kernel that has none left.
	Bind    []string
	Filters []FilterStep
	Unbind  []string
	// Trunk settings the tc datapath needs, or puts back (see
	// ComputeSettings); and what it cannot set, for the operator.
	Settings []SettingStep
	Warnings []string
}

// Empty reports whether apply has nothing to change.
func (p *Plan) Empty() bool {
	return len(p.Steps) == 0 && len(p.Bind) == 0 && len(p.Filters) == 0 && len(p.Unbind) == 0 && len(p.Settings) == 0
}

// Clean reports whether the kernel is converged and nothing foreign is in
// the way: what check exits 0 for.
func (p *Plan) Clean() bool { return p.Empty() && len(p.Foreign) == 0 }

// Count returns how many link steps do op.
func (p *Plan) Count(op Op) int {
	n := 0
	for _, s := range p.Steps {
		if s.Op == op {
			n++
		}
	}
	return n
}

// CountFilters returns how many filter steps do op.
func (p *Plan) CountFilters(op Op) int {
	n := 0
	for _, s := range p.Filters {
		if s.Op == op {
			n++
		}
	}
	return n
}

// Compute compares the wanted links with the kernel's and returns the plan.
// It refuses — with an error naming each one, and no plan — when a foreign
// link is in the way: a wanted name taken by a link bridgectl did not
// create (and cannot adopt, see adoptable), or a VLAN slot (parent,
// protocol, id) held by one. The kernel would reject a second VLAN in the
// same slot whatever its name. Foreign links not in the way are listed in
// the plan's Foreign when they need an operator (see foreignLinks).
func Compute(want []Link, st *State) (*Plan, error) {
	var errs []error
	wanted := make(map[string]bool, len(want))
	for _, w := range want {
		wanted[w.Name] = true
	}
	// slots indexes existing VLANs by (parent index, protocol, id).
	type slot struct {
		parent int
		proto  uint16
		id     uint16
	}
	slots := make(map[slot]*Observed)
	for _, o := range st.ByName {
		if o.Kind == string(VLAN) {
			slots[slot{o.ParentIndex, uint16(o.Proto), o.ID}] = o
		}
	}

	p := &Plan{}
	var deletes, rest []Step
	gone := map[string]bool{} // links this plan deletes or recreates
	for _, w := range want {
		have := st.ByName[w.Name]
		if have != nil && !have.Owned() && !adoptable(w, have, st, gone) {
			if have.InGroup() {
				errs = append(errs, fmt.Errorf("%s: a link of that name is in group qinqbridge but not marked as bridgectl's (foreign, kind %q, alias %q); rename or remove it", w.Name, kindOf(have), have.Alias))
				continue
			}
			errs = append(errs, fmt.Errorf("%s: a link of that name exists and was not created by bridgectl (foreign, kind %q); rename or remove it", w.Name, kindOf(have)))
			continue
		}
		if w.Kind == VLAN {
			// A slot held by a link of ours under another name is freed
			// first: that link is an orphan (deleted) or wanted with
			// another identity (recreated). A foreign holder is an error.
			if parent := st.ByName[w.Parent]; parent != nil && !gone[w.Parent] {
				if o := slots[slot{parent.Index, uint16(w.Proto), w.ID}]; o != nil && o.Name != w.Name && !o.Owned() {
					errs = append(errs, fmt.Errorf("%s: foreign link %s already holds %s %d on %s; the kernel allows one VLAN per protocol and id on a parent", w.Name, o.Name, w.Proto, w.ID, w.Parent))
					continue
				}
			}
		}
		if have == nil {
			rest = append(rest, Step{Op: Create, Link: w})
			continue
		}
		if imm := immutable(w, have, st, gone); len(imm) > 0 {
			gone[w.Name] = true
			reason := "the kernel cannot change " + attrs(imm)
			for _, c := range imm {
				if c.Attr == AttrParent && c.Have == c.Want {
					reason = "its parent " + c.Want + " is recreated"
				}
				if c.Attr == AttrGuard {
					reason = "its translation changed group: a port is bound to its group's guard when it is created"
				}
			}
			rest = append(rest, Step{Op: Recreate, Link: w, Have: have, Changes: imm, Reason: reason})
			continue
		}
		if mut := mutable(w, have, st, gone); len(mut) > 0 {
			rest = append(rest, Step{Op: Modify, Link: w, Have: have, Changes: mut})
		}
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	var orphans []*Observed
	for _, o := range st.ByName {
		if o.Owned() && !wanted[o.Name] {
			orphans = append(orphans, o)
		}
	}
	sort.Slice(orphans, func(i, j int) bool { return orphans[i].Index < orphans[j].Index })
	for _, o := range orphans {
		deletes = append(deletes, Step{Op: Delete, Have: o, Reason: "not in the configuration"})
	}
	p.Steps = append(deletes, rest...)
	p.Foreign = foreignLinks(st, wanted)
	return p, nil
}

// immutable lists the drift only a delete and create can fix.
func immutable(w Link, have *Observed, st *State, gone map[string]bool) []Change {
	var c []Change
	if have.Kind != string(w.Kind) {
		c = append(c, Change{AttrKind, kindOf(have), string(w.Kind)})
		return c
	}
	if w.Kind != VLAN {
		return nil
	}
	if p := st.Name(have.ParentIndex); p != w.Parent {
		c = append(c, Change{AttrParent, orNone(p), w.Parent})
	} else if gone[p] {
		c = append(c, Change{AttrParent, p, p})
	}
	if have.Proto != w.Proto {
		c = append(c, Change{AttrProtocol, have.Proto.String(), w.Proto.String()})
	}
	if have.ID != w.ID {
		c = append(c, Change{AttrID, strconv.Itoa(int(have.ID)), strconv.Itoa(int(w.ID))})
	}
	// A port bound to another group's guard: its qdisc cannot be rebound
	// in place without a moment unguarded, and a new port comes up bound.
	if w.Port && have.BoundBlock != 0 && have.BoundBlock != w.GuardBlock {
		c = append(c, Change{AttrGuard, "block " + strconv.FormatUint(uint64(have.BoundBlock), 10), "block " + strconv.FormatUint(uint64(w.GuardBlock), 10)})
	}
	return c
}

// mutable lists the drift fixed in place.
func mutable(w Link, have *Observed, st *State, gone map[string]bool) []Change {
	var c []Change
	add := func(attr Attr, h, x any) { c = append(c, Change{attr, fmt.Sprint(h), fmt.Sprint(x)}) }
	if have.Group != defaults.OwnerGroup {
		add(AttrGroup, have.Group, defaults.OwnerGroup)
	}
	if w.MTU != 0 && have.MTU != w.MTU {
		add(AttrMTU, have.MTU, w.MTU)
	}
	if w.Master != "" {
		if m := st.Name(have.MasterIndex); m != w.Master || gone[m] {
			add(AttrMaster, orNone(m), w.Master)
		}
	} else if have.MasterIndex != 0 {
		add(AttrMaster, st.Name(have.MasterIndex), "none")
	}
	if w.Kind == Bridge {
		if have.STP {
			add(AttrSTP, "on", "off")
		}
		if have.McastSnoop {
			add(AttrMcastSnooping, "on", "off")
		}
		if have.Ageing != w.Ageing {
			add(AttrAgeing, have.Ageing, w.Ageing)
		}
		if have.GroupFwdMask != GroupFwdMask {
			add(AttrGroupFwdMask, fmt.Sprintf("%#x", have.GroupFwdMask), fmt.Sprintf("%#x", GroupFwdMask))
		}
	}
	if have.Alias != w.Alias {
		add(AttrAlias, strconv.Quote(have.Alias), strconv.Quote(w.Alias))
	}
	if !have.AddrGenNone {
		add(AttrAddrGenMode, "eui64", "none")
	}
	if w.Port && !have.Bound {
		add(AttrGuard, "unbound", "bound")
	}
	if !have.Up {
		add(AttrUp, "down", "up")
	}
	return c
}

func kindOf(o *Observed) string {
	if o.Kind == "" {
		return "device"
	}
	return o.Kind
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func attrs(cs []Change) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Attr.String()
	}
	return strings.Join(names, ", ")
}

func joinErrors(errs []error) error { return errors.Join(errs...) }
