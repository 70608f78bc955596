//go:build integration

package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/qinqbridge/qinqbridge/test/testbed"
)

// everyKind is one translation of each kind the contract names, on trunks
// q0 (QinQ), v0 and w0 (802.1Q); bulkRange, with the range's last inner
// tag and VLAN id, a ranged one (translations bulk.1 ... bulk.N: QinQ
// 101.i <-> VLAN 2000+i).
const (
	everyKind = `
[[translation]]
name = "vps-bm"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }

[[translation]]
name = "zones"
a = { parent = "v0", vlan = 100 }
b = { parent = "w0", vlan = 200 }

[[translation]]
name = "dot1q-outer"
a = { parent = "q0", outer = 500, outer_proto = "802.1Q", inner = 600 }
b = { parent = "v0", vlan = 700 }

[[translation]]
name = "qinq-qinq"
a = { parent = "q0", outer = 102, inner = 7 }
b = { parent = "w0", outer = 103, inner = 8 }
`
	bulkRange = `
[[translation]]
name = "bulk"
a = { parent = "q0", outer = 101, inner = "1-%d" }
b = { parent = "w0", vlan = "2001-%d" }
`
)

// Real frames through translations that bridgectl apply built from one
// file: each kind of translation the contract names, both ways, checking
// the tag bytes on the wire. Trunks: q0 (QinQ), v0 and w0 (802.1Q), their
// peers the switches. The range has QB_BC_RANGE positions (default 1000);
// a sample of them is checked, first and last included.
func TestBridgectlFrames(t *testing.T) {
	n := guardEnvInt(t, "QB_BC_RANGE", 1000)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("QB_BC_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("QB_BC_SEED=%q", v)
		}
		seed = s
	}
	t.Logf("QB_BC_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	e := newBCEnv(t)
	e.ns.Veth(t, "w0", "w0p")
	cfg := e.write(t, "frames.toml", everyKind+fmt.Sprintf(bulkRange, n, 2000+n))
	e.downAtCleanup(t)
	r := e.bridgectl(t, 0, "apply", "-c", cfg)
	t.Logf("apply of %d translations: %v: %s", 4+n, r.took, firstLine(r.stdout))
	e.bridgectl(t, 0, "check", "-c", cfg)
	// Ports come up blocked by the standby guard: open it.
	e.guard(t, "unblock", cfg)

	q, v, w := e.wire(t, "q0p"), e.wire(t, "v0p"), e.wire(t, "w0p")
	type end struct {
		wire *bcWire
		tags []testbed.Tag
		port string // the bridge port behind it
	}
	cases := []struct {
		name string
		a, b end
	}{
		{"qinq-100.200-vlan-300", end{q, qinq(100, 200), "q0.s100.200"}, end{v, dot1q(300), "v0.300"}},
		{"vlan-100-vlan-200", end{v, dot1q(100), "v0.100"}, end{w, dot1q(200), "w0.200"}},
		{"outer-802.1Q-500.600-vlan-700", end{q, dot1q(500, 600), "q0.500.600"}, end{v, dot1q(700), "v0.700"}},
		{"qinq-102.7-qinq-103.8", end{q, qinq(102, 7), "q0.s102.7"}, end{w, qinq(103, 8), "w0.s103.8"}},
	}
	positions := []int{1, 2, n / 2, n - 1, n}
	for range 3 {
		positions = append(positions, 1+rng.IntN(n))
	}
	slices.Sort(positions)
	rangeFirst := len(cases) // position 1 of the range
	for _, i := range slices.Compact(positions) {
		cases = append(cases, struct {
			name string
			a, b end
		}{fmt.Sprintf("range-%d-of-%d", i, n),
			end{q, qinq(101, uint16(i)), fmt.Sprintf("q0.s101.%d", i)},
			end{w, dot1q(uint16(2000 + i)), fmt.Sprintf("w0.%d", 2000+i)}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.waitOperUp(t, []string{c.a.port, c.b.port})
			cross(t, c.a.wire, c.a.tags, c.b.wire, c.b.tags)
			cross(t, c.b.wire, c.b.tags, c.a.wire, c.a.tags)
			t.Logf("%s %v <-> %s %v", c.a.wire.name, c.a.tags, c.b.wire.name, c.b.tags)
		})
	}

	// Tags no translation has stay out, including the right ids under the
	// wrong outer protocol. Each is dropped where its VLAN lookup fails.
	first, vpsBM := cases[rangeFirst], cases[0]
	for _, c := range []struct {
		name     string
		from     *bcWire
		tags     []testbed.Tag
		dropAt   string
		to       *bcWire
		marker   []testbed.Tag
		markerTo []testbed.Tag
	}{
		{"qinq-past-the-range", q, qinq(101, uint16(n+1)), "q0.s101", w, first.a.tags, first.b.tags},
		{"vlan-before-the-range", w, dot1q(2000), "w0", q, first.b.tags, first.a.tags},
		{"vlan-past-the-range", w, dot1q(uint16(2001 + n)), "w0", q, first.b.tags, first.a.tags},
		{"qinq-other-inner", q, qinq(100, 201), "q0.s100", v, vpsBM.a.tags, vpsBM.b.tags},
		{"vlan-other-id", v, dot1q(301), "v0", q, vpsBM.b.tags, vpsBM.a.tags},
		{"qinq-outer-802.1Q-instead-of-802.1ad", q, dot1q(100, 200), "q0", v, vpsBM.a.tags, vpsBM.b.tags},
		{"qinq-outer-802.1ad-instead-of-802.1Q", q, qinq(500, 600), "q0", v, vpsBM.a.tags, vpsBM.b.tags},
	} {
		t.Run("untranslated-"+c.name, func(t *testing.T) {
			e.noCross(t, c.from, c.tags, c.dropAt, c.to, c.marker, c.markerTo)
			t.Logf("%s %v: dropped on %s, did not reach %s", c.from.name, c.tags, c.dropAt, c.to.name)
		})
	}
}
