package kernel

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

// Guard binds bridge ports to the standby guard. Apply calls it for every
// new or unbound port after the port exists and before it is set up, so a
// port never comes up unguarded. On error it also returns the ports that
// failed one by one (a foreign qdisc on the port): Apply sets those down and
// goes on with the others; an error without ports failed them all.
// bridgectl adapts *tcguard.Guard to it.
type Guard interface {
	// Bind binds the ports to the guard of block (their translations'
	// group's).
	Bind(block uint32, ifindexes []int) (unbound []int, err error)
}

// PhaseError says which phase of Apply failed; the phases before it are done.
type PhaseError struct {
	Phase string
	Err   error
}

func (e *PhaseError) Error() string { return e.Phase + ": " + e.Err.Error() }
func (e *PhaseError) Unwrap() error { return e.Err }

// Apply executes p against the kernel state st it was computed from.
//
// Order matters for safety: links are created down; ports are bound to the
// guard before anything is set up; deletions go first so that names and
// VLAN slots are free. Every phase is idempotent given a fresh plan, so a
// run killed at any point converges when re-run.
func Apply(l Links, p *plan.Plan, st *plan.State, g Guard) (plan.Result, error) {
	var res plan.Result
	index := map[string]int{} // links by name after this apply
	gone := map[string]bool{}
	for name, o := range st.ByName {
		index[name] = o.Index
	}
	next := 1
	for i := range st.ByIndex {
		next = max(next, i+1)
	}
	var rescue, creates, modifies []Request
	var doomed []*plan.Observed
	var ups []int              // links to set up
	bind := map[uint32][]int{} // ports to bind, by guard block
	var bindOrder []uint32
	for _, s := range p.Steps {
		switch s.Op {
		case plan.Delete, plan.Recreate:
			gone[s.Name()] = true
			doomed = append(doomed, s.Have)
		case plan.Modify:
			if s.Has(plan.AttrGroup) && s.Have.Group == defaults.DoomedGroup {
				// Wanted but left marked for deletion by an interrupted
				// run: take it back before the group delete.
				rescue = append(rescue, set(s.Have.Index, Attrs{Group: defaults.OwnerGroup}, "keep "+s.Link.Name))
			}
		}
	}
	for _, s := range p.Steps {
		if s.Op == plan.Delete {
			continue
		}
		l := s.Link
		if s.Op == plan.Create || s.Op == plan.Recreate {
			idx := next
			next++
			index[l.Name] = idx
			c := Request{Op: OpCreate, Index: idx, Name: l.Name, Kind: l.Kind, What: "create " + l.Name,
				Attrs: Attrs{Group: defaults.OwnerGroup, MTU: l.MTU}}
			switch l.Kind {
			case plan.VLAN:
				c.VLAN = VLAN{Parent: index[l.Parent], Proto: l.Proto, ID: l.ID}
				if l.Master != "" {
					c.Attrs.Master = ptr(index[l.Master])
				}
			case plan.Bridge:
				c.Attrs.Bridge = bridgeSettings(l)
			}
			// The alias is the second ownership mark (plan.Mark): joined
			// to the create so that no kill leaves the link without it.
			creates = append(creates, c.joined(),
				set(idx, Attrs{NoAddresses: true, Alias: l.Alias}, "configure "+l.Name))
			if l.Port {
				bindOrder = addBind(bind, bindOrder, l.GuardBlock, idx)
			}
			ups = append(ups, idx)
			continue
		}
		// Modify.
		idx := s.Have.Index
		var a Attrs
		for _, ch := range s.Changes {
			switch ch.Attr {
			case plan.AttrGroup:
				a.Group = defaults.OwnerGroup
			case plan.AttrMTU:
				a.MTU = l.MTU
			case plan.AttrMaster:
				a.Master = ptr(index[l.Master]) // 0 releases
			case plan.AttrAlias:
				a.Alias = l.Alias
			case plan.AttrAddrGenMode:
				a.NoAddresses = true
			case plan.AttrSTP, plan.AttrMcastSnooping, plan.AttrAgeing, plan.AttrGroupFwdMask:
				a.Bridge = bridgeSettings(l)
			case plan.AttrGuard:
				bindOrder = addBind(bind, bindOrder, l.GuardBlock, idx)
			case plan.AttrUp:
				ups = append(ups, idx)
			default:
				return res, fmt.Errorf("modify %s: cannot change %s in place", l.Name, ch.Attr)
			}
		}
		if a != (Attrs{}) {
			modifies = append(modifies, set(idx, a, "modify "+l.Name+" ("+changeNames(s.Changes)+")"))
		}
	}

	run := func(phase string, reqs []Request) error {
		if len(reqs) == 0 {
			return nil
		}
		n, err := l.Exec(reqs)
		if err != nil {
			return &PhaseError{Phase: fmt.Sprintf("%s (%d of %d requests done)", phase, n, len(reqs)), Err: err}
		}
		return nil
	}
	if err := run("keep wanted links", rescue); err != nil {
		return res, err
	}
	// A foreign link in DoomedGroup (the plan reports it) must survive
	// the delete: deleteLinks then deletes ours one by one.
	if err := run("delete", deleteLinks(doomed, foreignIn(p, defaults.DoomedGroup))); err != nil {
		return res, err
	}
	res.Deleted = p.Count(plan.Delete)
	if err := run("create", creates); err != nil {
		return res, err
	}
	res.Created, res.Recreated = p.Count(plan.Create), p.Count(plan.Recreate)
	if err := run("modify", modifies); err != nil {
		return res, err
	}
	res.Modified = p.Count(plan.Modify)
	names := make(map[int]string, len(index))
	for name, i := range index {
		names[i] = name
	}
	var unguarded error
	failed := map[int]bool{}
	for _, block := range bindOrder {
		if g == nil {
			return res, &PhaseError{Phase: "guard", Err: fmt.Errorf("%d ports to bind and no guard: refusing to set them up unguarded", len(bind[block]))}
		}
		if ports, err := g.Bind(block, bind[block]); err != nil {
			if len(ports) == 0 {
				return res, &PhaseError{Phase: "guard", Err: err}
			}
			// A port that cannot be bound (a foreign qdisc on its
			// ingress) must not forward: it is set down, and stays out
			// of the up phase; the other ports go on.
			if derr := run("guard: set unbindable ports down", setDown(ports, names)); derr != nil {
				return res, errors.Join(&PhaseError{Phase: "guard", Err: err}, derr)
			}
			var left []string
			for _, p := range ports {
				failed[p] = true
				left = append(left, names[p])
			}
			unguarded = errors.Join(unguarded, &PhaseError{Phase: "guard", Err: fmt.Errorf("%w\n(left down: %s)", err, strings.Join(left, ", "))})
		}
	}
	var upReqs []Request
	for _, i := range ups {
		if !failed[i] {
			upReqs = append(upReqs, Request{Op: OpUp, Index: i, What: "set " + names[i] + " up"})
		}
	}
	if err := run("up", upReqs); err != nil {
		return res, err
	}
	return res, unguarded
}

// addBind adds port idx to the ports to bind to block's guard.
func addBind(bind map[uint32][]int, order []uint32, block uint32, idx int) []uint32 {
	if _, ok := bind[block]; !ok {
		order = append(order, block)
	}
	bind[block] = append(bind[block], idx)
	return order
}

// setDown sets bridge ports down: a port that cannot be bound to the guard
// must not forward. A link that is gone (ENODEV) is down enough. names may
// lack a port (then its ifindex stands in).
func setDown(ifindexes []int, names map[int]string) []Request {
	var reqs []Request
	for _, i := range ifindexes {
		name := names[i]
		if name == "" {
			name = fmt.Sprintf("ifindex %d", i)
		}
		reqs = append(reqs, Request{Op: OpDown, Index: i, What: "set " + name + " down: not bound to the guard", Done: unix.ENODEV})
	}
	return reqs
}

// SetDown sets bridge ports down, by ifindex (see setDown).
func SetDown(l Links, ifindexes []int) error {
	_, err := l.Exec(setDown(ifindexes, nil))
	return err
}

// Down deletes every link bridgectl owns in st (a fresh read of the
// kernel), and nothing else: foreign links in bridgectl's groups are left
// where they are (see downRequests).
func Down(l Links, st *plan.State) error {
	_, err := l.Exec(downRequests(st))
	return err
}

func changeNames(cs []plan.Change) string {
	n := make([]string, len(cs))
	for i, c := range cs {
		n[i] = c.Attr.String()
	}
	return strings.Join(n, ", ")
}

// set is a request changing attributes of link index.
func set(index int, a Attrs, what string) Request {
	return Request{Op: OpSet, Index: index, Attrs: a, What: what}
}

func bridgeSettings(l plan.Link) *BridgeSettings {
	return &BridgeSettings{Ageing: l.Ageing, GroupFwdMask: plan.GroupFwdMask}
}

func ptr[T any](v T) *T { return &v }
