package plan

import (
	"fmt"
	"sort"
	"strings"
)

// Foreign is a link bridgectl never changes or deletes but reports, because
// it is in the way of a guarantee: it sits in bridgectl's device group
// without the mark (an admin's link that a careless `down` would have
// deleted), or it is a port of a translation bridge (it forwards through
// the translation whatever the guard does to bridgectl's ports).
type Foreign struct {
	Link   *Observed
	Bridge string // the translation bridge it is a port of, if any
}

// String says what the link is, why it is reported and how to resolve it.
func (f Foreign) String() string {
	o := f.Link
	var why []string
	if o.InGroup() {
		why = append(why, fmt.Sprintf("in group qinqbridge (%d) but not marked as bridgectl's (alias %q): never changed or deleted by bridgectl; take it out with: ip link set %s group default", o.Group, o.Alias, o.Name))
	}
	if f.Bridge != "" {
		why = append(why, fmt.Sprintf("port of translation bridge %s: it forwards through the translation; bridgectl never releases it: ip link set %s nomaster", f.Bridge, o.Name))
	}
	return fmt.Sprintf("%s: foreign %s, %s", o.Name, kindOf(o), strings.Join(why, "; "))
}

// Short names the link and why it is reported, for space-bound reasons.
func (f Foreign) Short() string {
	var why []string
	if f.Link.InGroup() {
		why = append(why, "in group qinqbridge")
	}
	if f.Bridge != "" {
		why = append(why, "port of "+f.Bridge)
	}
	return f.Link.Name + " (" + strings.Join(why, ", ") + ")"
}

// ForeignInGroups lists the links in bridgectl's device groups that are
// not marked as bridgectl's, for `down`, which reads no configuration and
// so adopts nothing.
func ForeignInGroups(st *State) []Foreign {
	return foreignLinks(st, nil)
}

// foreignLinks lists the links to report: unmarked links in bridgectl's
// groups that the configuration does not want (a wanted one is adopted or
// refused by Compute), and links not ours enslaved to a bridge of ours.
func foreignLinks(st *State, wanted map[string]bool) []Foreign {
	ours := func(o *Observed) bool { return o.Owned() || o.InGroup() && wanted[o.Name] }
	var out []Foreign
	for _, o := range st.ByIndex {
		if ours(o) {
			continue
		}
		f := Foreign{Link: o}
		if m := st.ByIndex[o.MasterIndex]; o.MasterIndex != 0 && m != nil && m.Kind == string(Bridge) && ours(m) {
			f.Bridge = m.Name
		}
		if o.InGroup() || f.Bridge != "" {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Link.Index < out[j].Link.Index })
	return out
}

// adoptable reports whether have, in bridgectl's group without the mark,
// is taken as bridgectl's link w: it has w's name (checked by the caller),
// kind and VLAN identity, so that nothing but its alias and mutable
// attributes differ. That is what a run killed between a link's create and
// its alias leaves; an admin's link that matches it exactly in our group is
// the very link bridgectl would make, and adopting it changes no traffic.
func adoptable(w Link, have *Observed, st *State, gone map[string]bool) bool {
	return have.InGroup() && have.Alias == "" && have.Kind == string(w.Kind) && len(immutable(w, have, st, gone)) == 0
}
