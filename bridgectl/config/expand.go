package config

import "strconv"

// expansion is the expanded translations with, for each, the index of the
// spec it came from: the cross checks report once per pair of specs, not
// once per range position.
type expansion struct {
	ts     []Translation
	origin []int
}

// expand expands every spec that can be (stacksOK) position by position.
// Specs with errors are still expanded, so that the cross checks can report
// their problems in the same run.
func expand(specs []spec) expansion {
	total := 0
	for i := range specs {
		if specs[i].stacksOK {
			total += specs[i].n
		}
	}
	x := expansion{ts: make([]Translation, 0, total), origin: make([]int, 0, total)}
	for si := range specs {
		s := &specs[si]
		if !s.stacksOK {
			continue
		}
		// One backing array for all tags of the spec: 4094 positions would
		// otherwise cost 8188 small allocations.
		width := s.a.width() + s.b.width()
		tags := make([]Tag, s.n*width)
		for i := 0; i < s.n; i++ {
			t := Translation{Name: s.name, Source: s.name, Group: s.group, Pos: s.pos}
			if s.ranged {
				t.Index = i + 1
				t.Name = s.name + "." + strconv.Itoa(t.Index)
			}
			if s.namesOK {
				t.Bridge = s.bridgeName(t.Index)
			}
			own := tags[i*width : (i+1)*width : (i+1)*width]
			t.A = s.a.at(i, own[:s.a.width():s.a.width()])
			t.B = s.b.at(i, own[s.a.width():])
			x.ts = append(x.ts, t)
			x.origin = append(x.origin, si)
		}
	}
	return x
}

// width is the number of tags of the end.
func (e *endSpec) width() int {
	if e.qinq {
		return 2
	}
	return 1
}

// at returns the end at position i, its tags stored in tags.
func (e *endSpec) at(i int, tags []Tag) End {
	if e.qinq {
		tags[0] = Tag{e.proto, e.outer.at(i)}
		tags[1] = Tag{Dot1Q, e.inner.at(i)}
	} else {
		tags[0] = Tag{Dot1Q, e.vlan.at(i)}
	}
	return End{Stack: Stack{Parent: e.parent, Tags: tags}, MTU: e.mtu, Pos: e.pos}
}

// bridgeName returns the bridge of position index (0 if not ranged): the
// override, with ".POS" for ranges, or the generated name.
func (s *spec) bridgeName(index int) string {
	switch {
	case s.bridge == "":
		return bridgeName(s.name, index)
	case index > 0:
		return s.bridge + "." + strconv.Itoa(index)
	}
	return s.bridge
}
