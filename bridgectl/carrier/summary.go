package carrier

import (
	"fmt"
	"strings"
)

// Summary describes the pairs once plan is carried out, for the status an
// operator reads (systemd's STATUS=): e.g. "eth0<->eth1 (guard open):
// eth0 no carrier, eth1 down by carrier propagation".
func Summary(pairs []Pair, links map[string]Link, plan Plan) string {
	if len(pairs) == 0 {
		return "no pass-through with carrier = true"
	}
	state := map[string]string{}
	for _, d := range plan.After {
		state[d.Trunk] = "down by carrier propagation"
	}
	for _, d := range plan.Ups {
		state[d.Trunk] = "set up again"
	}
	var out []string
	for _, p := range pairs {
		guard := "blocked"
		if p.Open {
			guard = "open"
		}
		out = append(out, fmt.Sprintf("%s<->%s (guard %s): %s %s, %s %s", p.A, p.B, guard,
			p.A, describe(links[p.A], state[p.A]), p.B, describe(links[p.B], state[p.B])))
	}
	return strings.Join(out, "; ")
}

func describe(l Link, ours string) string {
	switch {
	case !l.Exists:
		return "missing"
	case ours != "":
		return ours
	case l.Held:
		return "held by a renegotiation kick"
	case !l.Up:
		return "down"
	case l.OperUp:
		return "up"
	case l.Recovering:
		return "recovering"
	}
	return "no carrier"
}
