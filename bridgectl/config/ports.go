package config

import "slices"

// GuardedNames returns the names of the devices the standby guard must
// hold, each once, in file order: in the bridge datapath the translations'
// bridge ports (the innermost link of each end), in the tc datapath their
// trunks (each end's parent), whose ingress carries the translation
// filters. With group, those of that group's translations only ("": every
// group's).
func (c *Config) GuardedNames(group string) []string {
	seen := make(map[string]bool, 2*len(c.Translations))
	var out []string
	for _, t := range c.Translations {
		if group != "" && t.Group != group {
			continue
		}
		for _, e := range [2]End{t.A, t.B} {
			name := e.Parent
			if c.Datapath != TCDatapath {
				links := e.Links()
				name = links[len(links)-1]
			}
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	return out
}

// Trunks are the parents of group's translations ("": every group's),
// sorted, each once.
func (c *Config) Trunks(group string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range c.Translations {
		if group != "" && t.Group != group {
			continue
		}
		for _, p := range [2]string{t.A.Parent, t.B.Parent} {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// SharedTrunks are the trunks of group's translations that carry another
// group's translations too, sorted: taking them down (a switch flush)
// would cut those.
func (c *Config) SharedTrunks(group string) []string {
	mine := map[string]bool{}
	for _, p := range c.Trunks(group) {
		mine[p] = true
	}
	var out []string
	for _, g := range c.Groups {
		if g.Name == group {
			continue
		}
		for _, p := range c.Trunks(g.Name) {
			if mine[p] && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}
