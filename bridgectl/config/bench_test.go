package config

import (
	"testing"
	"time"
)

// wide is a config whose ranges expand to 4094 translations, the most one
// QinQ S-tag or one VLAN trunk can carry; its parents are long enough for
// the hashed name form.
const wide = `
[guard]
block = 7

[[translation]]
name = "all"
a = { parent = "enp129s0f1np1", outer = 100, inner = "1-4094" }
b = { parent = "enp129s0f0np0", vlan = "1-4094" }
`

func BenchmarkParse4094(b *testing.B) {
	data := []byte(wide)
	b.ReportAllocs()
	for b.Loop() {
		cfg, err := Parse("bench.toml", data)
		if err != nil || len(cfg.Translations) != 4094 {
			b.Fatal(err)
		}
	}
}

func BenchmarkDigest4094(b *testing.B) {
	cfg, err := Parse("bench.toml", []byte(wide))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		cfg.Digest()
	}
}

// TestParse4094Budget guards the requirement that a 4094-wide file parses
// well under 50 ms. The limit is generous (race detector, slow CI) so that
// only a complexity regression, say a quadratic check, trips it.
func TestParse4094Budget(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	r := testing.Benchmark(BenchmarkParse4094)
	if per := time.Duration(r.NsPerOp()); per > 250*time.Millisecond {
		t.Errorf("Parse of 4094 translations takes %v", per)
	}
}
