package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The benchmark topology: a namespace with a QinQ trunk q0 and a VLAN trunk
// v0 (veths, peers up so ports get carrier), and n QinQ 100.i <-> VLAN i
// translations.
const ns = "qbbench"

func setupNS() {
	_ = exec.Command("ip", "netns", "del", ns).Run() // leftovers of an earlier run, if any
	must("ip", "netns", "add", ns)
	must("ip", "-n", ns, "link", "add", "q0", "type", "veth", "peer", "name", "q0p")
	must("ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v0p")
	for _, l := range []string{"lo", "q0", "q0p", "v0", "v0p"} {
		must("ip", "-n", ns, "link", "set", l, "up")
	}
}

func writeConfig(count int) string { return writeConfigOf("", count) }

// writeConfigOf writes writeConfig's translations in a datapath ("": the
// default, no key).
func writeConfigOf(datapath string, count int) string {
	path := filepath.Join(*work, fmt.Sprintf("bench-%s%d.toml", datapath, count))
	var key string
	if datapath != "" {
		key = fmt.Sprintf("datapath = %q\n", datapath)
	}
	cfg := key + fmt.Sprintf(`[bridge]
ageing = 300

[[translation]]
name = "bulk"
a = { parent = "q0", outer = 100, inner = "1-%d" }
b = { parent = "v0", vlan = "1-%d" }
`, count, count)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		fatalf("%v", err)
	}
	return path
}

// The links bridgectl makes for translation i, and what `ip` must do for the
// same result: the same kernel operations, one command each.
func bridgeName(i int) string { return fmt.Sprintf("br-bulk.%d", i) }

func ipBatchCreate(count int, withGuard bool) (links, tc string) {
	var b, t strings.Builder
	fmt.Fprintf(&b, "link add link q0 name q0.s100 group 29026 type vlan proto 802.1ad id 100 loose_binding on\n")
	fmt.Fprintf(&b, "link set q0.s100 addrgenmode none alias \"qinqbridge s-tag\"\n")
	for i := 1; i <= count; i++ {
		br := bridgeName(i)
		fmt.Fprintf(&b, "link add name %s group 29026 mtu 1496 type bridge stp_state 0 mcast_snooping 0 ageing_time 30000 group_fwd_mask 0xfff8\n", br)
		fmt.Fprintf(&b, "link set %s addrgenmode none alias \"qinqbridge bulk.%d\"\n", br, i)
		fmt.Fprintf(&b, "link add link q0.s100 name q0.s100.%d group 29026 mtu 1496 master %s type vlan id %d loose_binding on\n", i, br, i)
		fmt.Fprintf(&b, "link set q0.s100.%d addrgenmode none alias \"qinqbridge bulk.%d a\"\n", i, i)
		fmt.Fprintf(&b, "link add link v0 name v0.%d group 29026 mtu 1496 master %s type vlan id %d loose_binding on\n", i, br, i)
		fmt.Fprintf(&b, "link set v0.%d addrgenmode none alias \"qinqbridge bulk.%d b\"\n", i, i)
		if withGuard {
			fmt.Fprintf(&t, "qdisc add dev q0.s100.%d ingress_block 29026 egress_block 29027 clsact\n", i)
			if i == 1 {
				for _, block := range []int{29026, 29027} {
					fmt.Fprintf(&t, "filter add block %d pref 1 handle 1 protocol all matchall action gact drop index 29026\n", block)
				}
			}
			fmt.Fprintf(&t, "qdisc add dev v0.%d ingress_block 29026 egress_block 29027 clsact\n", i)
		}
	}
	// Up after the guard is in place, parents first.
	var u strings.Builder
	fmt.Fprintf(&u, "link set q0.s100 up\n")
	for i := 1; i <= count; i++ {
		fmt.Fprintf(&u, "link set %s up\nlink set q0.s100.%d up\nlink set v0.%d up\n", bridgeName(i), i, i)
	}
	return b.String() + "\x00" + u.String(), t.String()
}

func ipBatchDelete(count int) string {
	var b strings.Builder
	for i := 1; i <= count; i++ {
		fmt.Fprintf(&b, "link del q0.s100.%d\nlink del v0.%d\nlink del %s\n", i, i, bridgeName(i))
	}
	b.WriteString("link del q0.s100\n")
	return b.String()
}

func writeFile(name, s string) string {
	p := filepath.Join(*work, name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		fatalf("%v", err)
	}
	return p
}

// reference creates the translations with ip -batch and tc -batch and
// returns the total wall time.
func reference(count int) run {
	both, tcb := ipBatchCreate(count, true)
	parts := strings.SplitN(both, "\x00", 2)
	r1 := measure("ip", "-n", ns, "-batch", writeFile("create.ip", parts[0]))
	r2 := measure("tc", "-n", ns, "-batch", writeFile("guard.tc", tcb))
	r3 := measure("ip", "-n", ns, "-batch", writeFile("up.ip", parts[1]))
	return run{wall: r1.wall + r2.wall + r3.wall}
}

func benchBridgectl() []row {
	bctl := filepath.Join(*bin, "bridgectl")
	state := filepath.Join(*work, "state")
	cfg := writeConfig(*n)
	args := func(sub string) []string {
		return []string{sub, "-c", cfg, "--netns", ns, "--state-dir", state}
	}
	setupNS()
	ref := reference(*n)
	if *quick {
		// Leave the reference's links where they are (deleting them takes
		// longer than everything else) and apply in a namespace of its own.
		rows := quickRows(*bin, "", "qbbench2", ref, cfg, state)
		if *before != "" {
			rows = append(rows, quickRows(*before, "before: ", "qbbench3", ref, cfg, filepath.Join(*work, "state-before"))...)
		}
		return rows
	}
	refDel := measure("ip", "-n", ns, "-batch", writeFile("delete.ip", ipBatchDelete(*n)))

	full, noop, check := applyRuns(bctl, args)
	down := measure(bctl, args("down")...)

	// The anchor: one ip process per operation, as shell agents do.
	small := writeConfig(*anchor)
	perOp := anchorPerProcess(*anchor)
	measure("ip", "-n", ns, "-batch", writeFile("delete-anchor.ip", ipBatchDelete(*anchor)))
	smallApply := measure(bctl, "apply", "-c", small, "--netns", ns, "--state-dir", state)
	measure(bctl, "down", "--netns", ns, "--state-dir", state)

	return append(applyRows("", ref, full, noop, check),
		row{fmt.Sprintf("down, %d", *n), secs(down.wall), "ip -batch link del " + secs(refDel.wall), ratio(down.wall, refDel.wall), "≤ 1.0"},
		row{fmt.Sprintf("anchor: apply, %d", *anchor), secs(smallApply.wall), fmt.Sprintf("one ip process per operation %s", secs(perOp.wall)), ratio(smallApply.wall, perOp.wall), ""},
	)
}

// applyRuns measures the full apply, then no-op applies and checks: the
// median of three each, alternated (the first runs right after the full
// apply, while the kernel still finishes its deferred work on the new
// devices).
func applyRuns(bctl string, args func(string) []string) (full, noop, check run) {
	full = measure(bctl, args("apply")...)
	var noops, checks []time.Duration
	for range 3 {
		noops = append(noops, measure(bctl, args("apply")...).wall)
		checks = append(checks, measure(bctl, args("check")...).wall)
	}
	return full, run{wall: median(noops)}, run{wall: median(checks)}
}

func applyRows(label string, ref, full, noop, check run) []row {
	rows := []row{
		{fmt.Sprintf("apply, %d translations (full)", *n), secs(full.wall), "ip -batch + tc -batch, same operations " + secs(ref.wall), ratio(full.wall, ref.wall), "≤ 1.1"},
		{fmt.Sprintf("apply, %d, no changes (median of 3)", *n), secs(noop.wall), "full apply " + secs(full.wall), ratio(noop.wall, full.wall), "≤ 0.03"},
		{fmt.Sprintf("check, %d (median of 3)", *n), secs(check.wall), "full apply " + secs(full.wall), ratio(check.wall, full.wall), "≤ 0.03"},
		{fmt.Sprintf("apply peak RSS, %d", *n), fmt.Sprintf("%.1f MB", float64(full.maxKB)/1024), "50 MB", float64(full.maxKB) / 1024 / 50, "≤ 1.0"},
	}
	for i := range rows {
		rows[i].what = label + rows[i].what
	}
	return rows
}

// quickRows applies with the binaries in dir in a namespace of its own
// (ns2) with the same trunks, then measures tcguard unblock there against
// one translation (unblockRows). label prefixes the rows.
func quickRows(dir, label, ns2 string, ref run, cfg, state string) []row {
	setupGuardNS(ns2)
	bctl := filepath.Join(dir, "bridgectl")
	full, noop, check := applyRuns(bctl, func(sub string) []string {
		return []string{sub, "-c", cfg, "--netns", ns2, "--state-dir", state}
	})
	return append(applyRows(label, ref, full, noop, check), unblockRows(dir, label, ns2, ns2+"-one", cfg, state)...)
}

// anchorPerProcess runs every operation of the reference as its own ip/tc
// process, as a shell resource agent would.
func anchorPerProcess(count int) run {
	both, tcb := ipBatchCreate(count, true)
	parts := strings.SplitN(both, "\x00", 2)
	var total run
	for _, batch := range []struct{ tool, lines string }{{"ip", parts[0]}, {"tc", tcb}, {"ip", parts[1]}} {
		for _, line := range strings.Split(strings.TrimSpace(batch.lines), "\n") {
			r := measure(batch.tool, append([]string{"-n", ns}, splitArgs(line)...)...)
			total.wall += r.wall
		}
	}
	return total
}

// splitArgs splits a batch line into arguments, honouring double quotes.
func splitArgs(line string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
