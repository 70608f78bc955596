package config

// PortNames returns the names of the translations' bridge ports (the
// innermost link of each end), each once, in file order: the links the
// standby guard must hold.
func (c *Config) PortNames() []string {
	seen := make(map[string]bool, 2*len(c.Translations))
	var out []string
	for _, t := range c.Translations {
		for _, e := range [2]End{t.A, t.B} {
			links := e.Links()
			if p := links[len(links)-1]; !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}
