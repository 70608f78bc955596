package plan

import (
	"fmt"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
)

// tagAllowance is how many tag bytes the kernel lets a VLAN device add above
// its parent's MTU: one tag. Every further tag must come out of the MTU, or
// full-size frames are dropped on the trunk.
const tagBytes = 4

// capacity is the largest MTU a leaf of end e can have on a parent of MTU
// parentMTU: one tag is free, the others cost 4 bytes each.
func capacity(e config.End, parentMTU int) int {
	return parentMTU - tagBytes*(len(e.Tags)-1)
}

// MissingParentError is a parent interface the configuration names and the
// kernel does not have. Callers tell it apart: for a cluster agent a missing
// NIC means "cannot run here", not "broken configuration".
type MissingParentError struct {
	Parent string
	Pos    string // FILE:LINE of the end naming it
}

func (e *MissingParentError) Error() string {
	return fmt.Sprintf("%s: parent interface %s does not exist", e.Pos, e.Parent)
}

// Desired returns the links cfg wants, in creation order: S-tag links, then
// bridges, then bridge ports. MTUs depend on the parents' MTUs in st, so a
// missing parent is an error naming it.
func Desired(cfg *config.Config, st *State) ([]Link, error) {
	if cfg.Datapath == config.TCDatapath {
		return nil, nil // no link: DesiredFilters
	}
	var errs []error
	var stags, bridges, ports []Link
	seen := map[string]bool{}
	parentMTU := func(name string) (int, bool) {
		p := st.ByName[name]
		if p == nil {
			return 0, false
		}
		return p.MTU, true
	}
	missing := map[string]bool{}
	for _, t := range cfg.Translations {
		mtu := 0
		ok := true
		for _, e := range []config.End{t.A, t.B} {
			pm, found := parentMTU(e.Parent)
			if !found {
				if !missing[e.Parent] {
					missing[e.Parent] = true
					errs = append(errs, &MissingParentError{Parent: e.Parent, Pos: e.Pos.String()})
				}
				ok = false
				continue
			}
			c := capacity(e, pm)
			want := c
			if e.MTU != 0 {
				if e.MTU > c {
					errs = append(errs, fmt.Errorf("%s: translation %s: mtu %d is more than %s (mtu %d) can carry with %d tags (%d)", e.Pos, t.Name, e.MTU, e.Parent, pm, len(e.Tags), c))
					ok = false
				}
				want = e.MTU
			}
			if mtu == 0 || want < mtu {
				mtu = want
			}
		}
		if !ok {
			continue
		}
		bridges = append(bridges, Link{Name: t.Bridge, Kind: Bridge, MTU: mtu, Ageing: cfg.Bridge.Ageing, Alias: Mark + " " + t.Name})
		for _, se := range [2]struct {
			side string
			end  config.End
		}{{"a", t.A}, {"b", t.B}} {
			side, e := se.side, se.end
			names := e.Links()
			parent := e.Parent
			for i, tag := range e.Tags {
				l := Link{Name: names[i], Kind: VLAN, Parent: parent, Proto: tag.Proto, ID: tag.ID}
				if i == len(e.Tags)-1 {
					l.Master, l.MTU, l.Port = t.Bridge, mtu, true
					l.GuardBlock = cfg.BlockOf(t.Group)
					l.Alias = Mark + " " + t.Name + " " + side
					ports = append(ports, l)
				} else if !seen[l.Name] {
					seen[l.Name] = true
					pm, _ := parentMTU(e.Parent)
					l.MTU, l.Alias = pm, Mark+" s-tag"
					stags = append(stags, l)
				}
				parent = names[i]
			}
		}
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	out := make([]Link, 0, len(stags)+len(bridges)+len(ports))
	out = append(out, stags...)
	out = append(out, bridges...)
	return append(out, ports...), nil
}
