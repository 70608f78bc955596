package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

// Parse decodes, validates and expands a configuration; file names it in
// positions. Every problem is reported at once, as Errors sorted by line.
func Parse(file string, data []byte) (*Config, error) {
	if len(data) > maxFileSize {
		return nil, tooLarge(file, int64(len(data)))
	}
	src := string(data)
	// The document is decoded generically rather than into structs: struct
	// decoding stops at the first type mismatch, and ids are integers or
	// strings. Checking the generic tree by hand reports every wrong type
	// and unknown key at once, each at its key's line.
	var doc map[string]any
	if _, err := toml.Decode(src, &doc); err != nil {
		return nil, Errors{syntaxError(file, err)}
	}
	p := &parser{file: file, lines: scanKeyLines(src), names: map[string]Pos{}}
	cfg, specs := p.document(doc)
	if p.positions > maxTranslations {
		// Reported at the translation that passed the limit; expanding
		// would allocate for every position.
		return nil, p.sorted()
	}
	x := expand(specs)
	cfg.Translations = x.ts
	p.checkStacks(x, specs)
	p.checkNames(x, specs)
	p.resolveGroups(cfg, p.declared, p.guardPos)
	p.checkPassthroughs(cfg)
	if len(p.errs) > 0 {
		return nil, p.sorted()
	}
	return cfg, nil
}

// sorted returns the errors sorted by line.
func (p *parser) sorted() Errors {
	slices.SortStableFunc(p.errs, func(a, b Error) int { return a.Pos.Line - b.Pos.Line })
	return p.errs
}

// syntaxError turns the TOML library's error into ours.
func syntaxError(file string, err error) Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return Error{Pos{file, max(1, pe.Position.Line)}, "syntax error: " + pe.Message}
	}
	return Error{Pos{file, 1}, err.Error()}
}

// parser turns the decoded document into specs, collecting errors.
type parser struct {
	file  string
	lines keyLines
	errs  Errors
	names map[string]Pos // translation name → its name key, for duplicates
	// declared are the [[group]] tables; guardPos is where the default
	// group's block comes from ([guard] block, or the file).
	declared    []Group
	declaredSet map[string]bool
	guardPos    Pos
	guardFlush  SwitchFlush // [guard] switch_flush_ms
	// positions is the number of translations the specs decoded so far
	// expand to, checked against maxTranslations before expansion.
	positions int
}

// pos returns the position of the key at path.
func (p *parser) pos(path string) Pos { return Pos{p.file, p.lines.line(path)} }

func (p *parser) errorf(at Pos, format string, args ...any) {
	p.errs = append(p.errs, Error{at, fmt.Sprintf(format, args...)})
}

// Limits of the fields.
const (
	maxName   = 32
	minID     = 1
	maxID     = 4094 // 0 and 4095 are reserved by 802.1Q
	minMTU    = 68   // IPv4's minimum, the kernel's floor for most devices
	maxMTU    = 65535
	maxAgeing = 1000000
)

// The keys each table may have.
var (
	topKeys         = []string{"datapath", "translation", "guard", "bridge", "group", "passthrough"}
	guardKeys       = []string{"block", "switch_flush_ms"}
	bridgeKeys      = []string{"ageing"}
	translationKeys = []string{"name", "a", "b", "bridge", "group"}
	endKeys         = []string{"parent", "vlan", "outer", "inner", "outer_proto", "mtu"}
)

// document checks the top level and returns the config with its options
// set, and the translations as written.
func (p *parser) document(doc map[string]any) (*Config, []spec) {
	cfg := &Config{File: p.file}
	cfg.Guard.Block = defaults.Block
	cfg.Bridge.Ageing = defaultAgeing
	cfg.Datapath = BridgeDatapath
	p.guardPos = Pos{File: p.file}
	p.unknownKeys(doc, "", "", topKeys)
	p.declared = p.groups(doc)
	cfg.Passthroughs = p.passthroughs(doc)
	if s, ok := p.str(doc, "", "datapath", "datapath"); ok {
		switch d := Datapath(s); d {
		case BridgeDatapath, TCDatapath:
			cfg.Datapath = d
		default:
			p.errorf(p.pos(child("", "datapath")), "datapath: %q is neither %q nor %q", s, BridgeDatapath, TCDatapath)
		}
	}

	if t, path := p.table(doc, "", "guard"); t != nil {
		p.unknownKeys(t, path, "guard.", guardKeys)
		// The guard uses the next two indexes too (tcguard's EgressBlock
		// and TrunkBlock).
		if n, ok := p.integer(t, path, "block", "guard.block", 1, math.MaxUint32-2); ok {
			cfg.Guard.Block = uint32(n)
			p.guardPos = p.pos(child(path, "block"))
		}
		p.guardFlush = p.switchFlush(t, path, "guard.switch_flush_ms")
	}
	if t, path := p.table(doc, "", "bridge"); t != nil {
		p.unknownKeys(t, path, "bridge.", bridgeKeys)
		if n, ok := p.integer(t, path, "ageing", "bridge.ageing", 0, maxAgeing); ok {
			cfg.Bridge.Ageing = time.Duration(n) * time.Second
		}
	}

	var specs []spec
	v, ok := doc["translation"]
	if !ok {
		return cfg, nil
	}
	path := child("", "translation")
	switch list := v.(type) {
	case []map[string]any: // [[translation]]
		specs = make([]spec, 0, len(list))
		for i, t := range list {
			specs = append(specs, p.count(p.translation(t, elem(path, i))))
		}
	case []any: // translation = [ {...}, ... ]
		for i, e := range list {
			t, ok := e.(map[string]any)
			if !ok {
				p.errorf(p.pos(elem(path, i)), "translation: entry %d must be a table, not %s", i+1, typeName(e))
				continue
			}
			specs = append(specs, p.count(p.translation(t, elem(path, i))))
		}
	default:
		p.errorf(p.pos(path), "translation: must be an array of tables ([[translation]]), not %s", typeName(v))
	}
	return cfg, specs
}

// count adds the positions of s to the file's total and reports the
// translation at which the total passes maxTranslations (once).
func (p *parser) count(s spec) spec {
	if !s.stacksOK { // never expanded
		return s
	}
	before := p.positions
	p.positions += s.n
	if before <= maxTranslations && p.positions > maxTranslations {
		p.errorf(s.pos, "translation %q: the file expands to %d translations up to here, more than the limit of %d (the ids of ranges count one translation each)",
			s.name, p.positions, maxTranslations)
	}
	return s
}

// unknownKeys reports the keys of t not in known; label prefixes them.
func (p *parser) unknownKeys(t map[string]any, path, label string, known []string) {
	var unknown []string
	for k := range t {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown) // map order is random; same-line errors must not be
	for _, k := range unknown {
		p.errorf(p.pos(child(path, k)), "unknown key %q (known: %s)", label+k, strings.Join(known, ", "))
	}
}

// table returns the table at key k of t and its path, or nil if absent or
// not a table (reported).
func (p *parser) table(t map[string]any, path, k string) (map[string]any, string) {
	path = child(path, k)
	v, ok := t[k]
	if !ok {
		return nil, path
	}
	tt, ok := v.(map[string]any)
	if !ok {
		p.errorf(p.pos(path), "%s: must be a table, not %s", k, typeName(v))
		return nil, path
	}
	return tt, path
}

// integer returns the integer at key k of t if present and in lo..hi;
// problems are reported under label.
func (p *parser) integer(t map[string]any, path, k, label string, lo, hi int64) (int64, bool) {
	v, ok := t[k]
	if !ok {
		return 0, false
	}
	at := p.pos(child(path, k))
	n, ok := v.(int64)
	switch {
	case !ok:
		p.errorf(at, "%s: must be an integer, not %s", label, typeName(v))
	case n < lo || n > hi:
		p.errorf(at, "%s: %d is out of range %d..%d", label, n, lo, hi)
	default:
		return n, true
	}
	return 0, false
}

// str returns the string at key k of t; ok is false if it is absent or not
// a string (reported).
func (p *parser) str(t map[string]any, path, k, label string) (string, bool) {
	v, ok := t[k]
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		p.errorf(p.pos(child(path, k)), "%s: must be a string, not %s", label, typeName(v))
	}
	return s, ok
}

// typeName names the TOML type of a decoded value, for messages.
func typeName(v any) string {
	switch v.(type) {
	case int64:
		return "integer"
	case float64:
		return "float"
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "table"
	case []any, []map[string]any:
		return "array"
	}
	return "datetime"
}
