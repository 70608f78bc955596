package config

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// digestVersion starts the digested text; bump it when the encoding below
// changes meaning, so old and new digests never match by accident.
const digestVersion = "qinqbridge-config-1\n"

// Digest returns a hex sha256 over the semantic content of the config: the
// expanded translations with their names, bridges, tags and MTUs, and the
// guard and bridge options. Comments, layout, key order, positions, the
// file name and the order of the translations (they are identified by
// their unique names) do not count, so it changes exactly when applying
// the file could give a different result.
func (c *Config) Digest() string {
	order := make([]int, len(c.Translations))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		return strings.Compare(c.Translations[i].Name, c.Translations[j].Name)
	})

	h := sha256.New()
	b := make([]byte, 0, 256)
	b = append(b, digestVersion...)
	b = append(b, "guard.block "...)
	b = strconv.AppendUint(b, uint64(c.Guard.Block), 10)
	b = append(b, "\nbridge.ageing "...)
	b = strconv.AppendInt(b, int64(c.Bridge.Ageing), 10)
	b = append(b, '\n')
	if c.Datapath == TCDatapath {
		// Only then: the digests of files from before the key stay.
		b = append(b, "datapath tc\n"...)
	}
	for _, g := range c.Groups {
		if g.SwitchFlush.Set {
			// Only then: files without the key keep their digests. In the
			// digest so that a change re-applies and re-records the file,
			// which the agent reads it from.
			b = append(b, "group "...)
			b = strconv.AppendQuote(b, g.Name)
			b = append(b, " switch_flush_ms "...)
			b = strconv.AppendInt(b, int64(g.SwitchFlush.Ms), 10)
			b = append(b, '\n')
		}
		if g.Name == DefaultGroup {
			continue // its block is guard.block's; files without groups keep their digests
		}
		b = append(b, "group "...)
		b = strconv.AppendQuote(b, g.Name)
		b = append(b, " block "...)
		b = strconv.AppendUint(b, uint64(g.Block), 10)
		b = append(b, '\n')
	}
	// Pass-throughs only when present: files without them keep their
	// digests. A pair is the same pair either way round and in any order.
	var pairs []string
	for _, pt := range c.Passthroughs {
		x, y := pt.A, pt.B
		if y < x {
			x, y = y, x
		}
		l := strconv.Quote(x) + " " + strconv.Quote(y)
		for _, proto := range pt.Protocols {
			l += " " + strconv.Quote(proto)
		}
		l += " carrier " + strconv.FormatBool(pt.Carrier) + " group " + strconv.Quote(pt.Group)
		pairs = append(pairs, l)
	}
	slices.Sort(pairs)
	for _, l := range pairs {
		b = append(b, "passthrough "...)
		b = append(b, l...)
		b = append(b, '\n')
	}
	for _, i := range order {
		t := &c.Translations[i]
		// Strings are quoted so that no name can imitate a field boundary.
		b = append(b, "translation "...)
		b = strconv.AppendQuote(b, t.Name)
		b = append(b, " bridge "...)
		b = strconv.AppendQuote(b, t.Bridge)
		b = appendEnd(b, " a ", t.A)
		b = appendEnd(b, " b ", t.B)
		if t.Group != DefaultGroup {
			b = append(b, " group "...)
			b = strconv.AppendQuote(b, t.Group)
		}
		b = append(b, '\n')
		h.Write(b)
		b = b[:0]
	}
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func appendEnd(b []byte, label string, e End) []byte {
	b = append(b, label...)
	b = strconv.AppendQuote(b, e.Parent)
	for _, t := range e.Tags {
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(t.Proto), 16)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(t.ID), 10)
	}
	b = append(b, " mtu "...)
	return strconv.AppendInt(b, int64(e.MTU), 10)
}
