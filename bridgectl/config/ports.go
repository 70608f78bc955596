package config

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
