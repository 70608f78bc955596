package plan

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
)

// The tc datapath (config.TCDatapath) builds no link: each direction of a
// translation is one flower filter in the guard's trunk block, matching
// the frames of one end by their trunk and tags, rewriting the tags to the
// other end's, passing the guard's action, and redirecting the frames out
// of the other end's trunk. The kernel needs one flower instance (a
// priority) per protocol of the outer tag.
const (
	FilterPrioDot1Q  uint16 = 10 // outer tag 802.1Q
	FilterPrioDot1AD uint16 = 11 // outer tag 802.1ad
)

// FilterPrio is the priority of the filters whose frames' outer tag has
// protocol p.
func FilterPrio(p config.Proto) uint16 {
	if p == config.Dot1AD {
		return FilterPrioDot1AD
	}
	return FilterPrioDot1Q
}

// Filter is one direction of a translation in the tc datapath, or of a
// pass-through (Pass set; either datapath).
type Filter struct {
	Translation string // its translation's name; observed: from the wanted filter of the same key
	// Pass is the protocol a pass-through filter passes (config.ProtoLACP);
	// "" for a translation filter. In and Out are then the trunks, no tags.
	Pass   string
	In     config.Stack
	Out    config.Stack
	Prio   uint16 // FilterPrio of its outer tag's protocol
	Handle uint32 // the kernel's handle; for a filter to create, assigned by ComputeFilters
	// Guard is the block of the guard whose action is among its actions,
	// before the redirect: its translation's group's; 0 for none.
	Guard  uint32
	SkipHW bool // skip_hw: no NIC may take over (and bypass the guard)

	// Counters of an observed filter, read only by status. The kernel
	// counts an action's bytes as the frame's length when tc ingress saw
	// it, also after the tags are rewritten (verified in the testbed:
	// MatchedBytes and Bytes grow alike).
	Matched      uint64 // frames the filter took (its first action's count)
	MatchedBytes uint64 // their bytes
	Forwarded    uint64 // frames redirected (the redirect's count)
	Bytes        uint64 // bytes redirected
}

// Key is what tells filters apart: the trunk and tags of the frames it
// takes (the kernel refuses a second filter with the same match).
func (f Filter) Key() string {
	if f.Pass != "" {
		return f.In.Parent + " " + f.Pass
	}
	return f.In.String()
}

func (f Filter) String() string {
	if f.Pass != "" {
		return fmt.Sprintf("%s -> %s (%s)", f.In.Parent, f.Out.String(), f.Pass)
	}
	return f.In.String() + " -> " + f.Out.String()
}

// kind names f in plans and drift reports.
func (f Filter) kind() string {
	if f.Pass != "" {
		return "passthrough"
	}
	return "filter"
}

// FilterStep is one filter's change.
type FilterStep struct {
	Op      Op      // Create, Modify (replaced in place) or Delete
	Want    Filter  // not for Delete
	Have    *Filter // not for Create
	Changes []Change
	Reason  string // Delete: why
}

// DesiredFilters returns the filters cfg wants, two per translation (a to
// b, then b to a), and the trunks they need bound, sorted. A trunk must
// exist and carry what the other end sends: mirred does not check MTUs, so
// a frame too long for the out trunk would be dropped by its driver.
func DesiredFilters(cfg *config.Config, st *State) ([]Filter, []string, error) {
	var out []Filter
	var errs []error
	trunks := map[string]bool{}
	missing := map[string]bool{}
	// MTU refusals, one per reason (a range repeats one for each of its
	// translations), in file order, with how often each came.
	var shortWhy []string
	short := map[string]int{}
	for _, t := range cfg.Translations {
		ok := true
		for _, e := range []config.End{t.A, t.B} {
			if st.ByName[e.Parent] == nil {
				ok = false
				if !missing[e.Parent] {
					missing[e.Parent] = true
					errs = append(errs, &MissingParentError{Parent: e.Parent, Pos: e.Pos.String()})
				}
			}
		}
		if !ok {
			continue
		}
		if at, why := filterMTU(t, st); why != "" {
			if short[why]++; short[why] == 1 {
				shortWhy = append(shortWhy, why)
				errs = append(errs, fmt.Errorf("%s: translation %s: %s", at, t.Name, why))
			}
			continue
		}
		trunks[t.A.Parent], trunks[t.B.Parent] = true, true
		for _, d := range [2][2]config.Stack{{t.A.Stack, t.B.Stack}, {t.B.Stack, t.A.Stack}} {
			out = append(out, Filter{Translation: t.Name, In: d[0], Out: d[1], Prio: FilterPrio(d[0].Tags[0].Proto), Guard: cfg.BlockOf(t.Group), SkipHW: true})
		}
	}
	for _, why := range shortWhy {
		if n := short[why]; n > 1 {
			errs = append(errs, fmt.Errorf("%d more translations: %s", n-1, why))
		}
	}
	errs = append(errs, overlaps(out)...)
	if len(errs) > 0 {
		return nil, nil, joinErrors(errs)
	}
	return out, slices.Sorted(maps.Keys(trunks)), nil
}

// filterMTU checks that each end's trunk carries what the other sends: a
// frame of the most payload one end's trunk carries under its tags must
// fit the other's under its own (one tag is free of the MTU, each further
// one costs 4 bytes), and an end's `mtu` must fit both. It returns where
// and why not, or "".
func filterMTU(t config.Translation, st *State) (config.Pos, string) {
	for _, x := range [2][2]config.End{{t.A, t.B}, {t.B, t.A}} {
		in, out := x[0], x[1]
		cin, cout := capacity(in, st.ByName[in.Parent].MTU), capacity(out, st.ByName[out.Parent].MTU)
		if in.MTU != 0 {
			if in.MTU > cin {
				return in.Pos, fmt.Sprintf("mtu %d is more than %s (mtu %d) can carry with %d tags (%d)",
					in.MTU, in.Parent, st.ByName[in.Parent].MTU, len(in.Tags), cin)
			}
			cin = in.MTU
		}
		if len(out.Tags) > len(in.Tags) && cout < cin {
			return out.Pos, fmt.Sprintf("trunk %s (mtu %d) carries %d bytes under %d tags, less than %s sends (%d): raise %s's mtu to %d",
				out.Parent, st.ByName[out.Parent].MTU, cout, len(out.Tags), in.Parent, cin, out.Parent, st.ByName[out.Parent].MTU+cin-cout)
		}
		if in.MTU != 0 && cout < in.MTU {
			return in.Pos, fmt.Sprintf("mtu %d is more than %s (mtu %d) can carry with %d tags (%d)",
				in.MTU, out.Parent, st.ByName[out.Parent].MTU, len(out.Tags), cout)
		}
	}
	return config.Pos{}, ""
}

// overlaps refuses two filters that would take the same frames: the same
// trunk and tags, or a single tag that is the outer tag of another end's
// two (flower would pick one of them by the order of its masks).
func overlaps(fs []Filter) []error {
	var errs []error
	byKey := map[string]Filter{}
	for _, f := range fs {
		if g, dup := byKey[f.Key()]; dup {
			errs = append(errs, fmt.Errorf("translations %s and %s both take the frames of %s", g.Translation, f.Translation, f.Key()))
			continue
		}
		byKey[f.Key()] = f
	}
	for _, f := range fs {
		if len(f.In.Tags) != 2 {
			continue
		}
		outer := config.Stack{Parent: f.In.Parent, Tags: f.In.Tags[:1]}
		if g, ok := byKey[outer.String()]; ok {
			errs = append(errs, fmt.Errorf("translation %s takes the frames of %s whole, translation %s those of %s inside it: in the tc datapath one trunk and tag cannot be both",
				g.Translation, outer, f.Translation, f.Key()))
		}
	}
	return errs
}

// ComputeFilters compares the wanted filters with the kernel's (ours: every
// filter at the datapath's priorities in the trunk block) and returns the
// steps, deletions first. Filters are matched by Key; a filter to create
// gets the lowest handle free at its priority.
func ComputeFilters(want []Filter, have []Filter) []FilterStep {
	haveBy := make(map[string]*Filter, len(have))
	used := map[uint16]map[uint32]bool{}
	for i := range have {
		h := &have[i]
		haveBy[h.Key()] = h
		if used[h.Prio] == nil {
			used[h.Prio] = map[uint32]bool{}
		}
		used[h.Prio][h.Handle] = true
	}
	wanted := make(map[string]bool, len(want))
	var rest []FilterStep
	next := map[uint16]uint32{}
	for _, w := range want {
		wanted[w.Key()] = true
		h := haveBy[w.Key()]
		if h == nil {
			p := w.Prio
			n := next[p] + 1
			for used[p][n] {
				n++
			}
			next[p], w.Handle = n, n
			rest = append(rest, FilterStep{Op: Create, Want: w})
			continue
		}
		w.Handle = h.Handle
		if c := filterChanges(w, h); len(c) > 0 {
			rest = append(rest, FilterStep{Op: Modify, Want: w, Have: h, Changes: c})
		}
	}
	var deletes []FilterStep
	for i := range have {
		if h := &have[i]; !wanted[h.Key()] {
			deletes = append(deletes, FilterStep{Op: Delete, Have: h, Reason: "not in the configuration"})
		}
	}
	slices.SortFunc(deletes, func(a, b FilterStep) int {
		return cmp.Or(cmp.Compare(a.Have.Prio, b.Have.Prio), cmp.Compare(a.Have.Handle, b.Have.Handle))
	})
	return append(deletes, rest...)
}

// blockName names a filter's guard in a change: its block, or none.
func blockName(b uint32) string {
	if b == 0 {
		return "none"
	}
	return fmt.Sprintf("block %d", b)
}

func filterChanges(w Filter, h *Filter) []Change {
	var c []Change
	if w.Out.String() != h.Out.String() {
		c = append(c, Change{AttrOut, h.Out.String(), w.Out.String()})
	}
	if h.Guard != w.Guard {
		c = append(c, Change{AttrGuard, blockName(h.Guard), blockName(w.Guard)})
	}
	if !h.SkipHW {
		c = append(c, Change{AttrSkipHW, "off", "on"})
	}
	return c
}
