//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"testing"
)

// groupsFile has two groups on the same trunks: east (block 5000) and the
// default one.
const groupsFile = `
[[group]]
name = "east"
block = 5000

[[translation]]
name = "e"
group = "east"
a = { parent = "q0", outer = 100, inner = 200 }
b = { parent = "v0", vlan = 300 }

[[translation]]
name = "d"
a = { parent = "q0", outer = 101, inner = 5 }
b = { parent = "v0", vlan = 400 }
`

// groupStatuses runs tcguard status --json and returns each group's.
func (e *bcEnv) groupStatuses(t *testing.T, cfg string) map[string]guardStatus {
	t.Helper()
	r := e.exec(t, "tcguard", "status", "--json", "-c", cfg)
	if r.code != 0 && r.code != 1 {
		t.Fatalf("tcguard status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var s struct {
		Groups []struct {
			Group string `json:"group"`
			guardStatus
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("tcguard status --json: %v\n%s", err, r.stdout)
	}
	out := map[string]guardStatus{}
	for _, g := range s.Groups {
		out[g.Group] = g.guardStatus
	}
	return out
}

// Each group forwards only when its own guard is open, in both datapaths:
// with east open and the default group blocked, east's frames cross both
// ways with their tags rewritten while the default group's are dropped and
// counted by its guard; opening the default group lets the same frames
// cross (the positive control); tcguard block without --group blocks both.
func TestGroupsFrames(t *testing.T) {
	for _, datapath := range []string{"bridge", "tc"} {
		t.Run(datapath, func(t *testing.T) {
			e := newBCEnv(t)
			for _, l := range []string{"q0", "q0p"} {
				if err := e.ns.Link.LinkSetMTU(e.link(t, l), 1504); err != nil {
					t.Fatal(err)
				}
			}
			cfg := e.write(t, "groups.toml", fmt.Sprintf("datapath = %q\n", datapath)+groupsFile)
			e.downAtCleanup(t)
			e.bridgectl(t, 0, "apply", "-c", cfg)
			e.bridgectl(t, 0, "check", "-c", cfg)
			e.must(t, "tcguard", "--group", "east", "unblock", "-c", cfg)
			st := e.groupStatuses(t, cfg)
			if st["east"].State != "open" || st["default"].State != "blocked" || st["east"].Block != 5000 {
				t.Fatalf("after east's unblock: %+v", st)
			}
			q, v := e.wire(t, "q0p"), e.wire(t, "v0p")
			cross(t, q, qinq(100, 200), v, dot1q(300))
			cross(t, v, dot1q(300), q, qinq(100, 200))

			// The default group's frames: dropped by its guard, counted.
			base := st["default"].DroppedPackets
			var blocked []string
			blocked = append(blocked, q.send(t, qinq(101, 5)), v.send(t, dot1q(400)))
			guardWait(t, "the default group's guard drops its frames", func() bool {
				return e.groupStatuses(t, cfg)["default"].DroppedPackets-base >= 2
			})
			if d := e.groupStatuses(t, cfg)["default"].DroppedPackets - base; d != 2 {
				t.Fatalf("the default group's guard dropped %d frames, 2 sent", d)
			}
			// A frame of east sent after them arrives with none of them before it.
			for _, o := range cross(t, q, qinq(100, 200), v, dot1q(300)) {
				for _, b := range blocked {
					if len(o) >= len(b) && o[:len(b)] == b {
						t.Fatalf("a frame of the blocked group crossed: %q", o)
					}
				}
			}

			e.must(t, "tcguard", "--group", "default", "unblock", "-c", cfg)
			cross(t, q, qinq(101, 5), v, dot1q(400))
			cross(t, v, dot1q(400), q, qinq(101, 5))

			e.must(t, "tcguard", "block", "-c", cfg)
			for name, s := range e.groupStatuses(t, cfg) {
				if s.State != "blocked" {
					t.Fatalf("after tcguard block: group %s %s", name, s.State)
				}
			}
		})
	}
}
