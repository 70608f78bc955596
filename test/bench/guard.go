package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The guard's benchmark: promotion (the agent's promote, which reads no
// configuration) and `tcguard unblock` (which validates the file first
// unless it is byte for byte the one applied, then reads only the block
// from the applied record) must cost about the same whatever the number of
// translations. Two namespaces are measured alternately: ns rebuilt with n
// translations (2n bridge ports bound to the block) and nsOne with one.
const (
	nsOne       = "qbbench1"
	guardBlock  = "29026" // the configuration's default [guard] block
	guardRounds = 15      // measurements of each kind, alternated; medians reported
)

// setupGuardNS is setupNS for any namespace: trunks q0 and v0, peers up.
func setupGuardNS(name string) {
	_ = exec.Command("ip", "netns", "del", name).Run()
	must("ip", "netns", "add", name)
	must("ip", "-n", name, "link", "add", "q0", "type", "veth", "peer", "name", "q0p")
	must("ip", "-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v0p")
	for _, l := range []string{"lo", "q0", "q0p", "v0", "v0p"} {
		must("ip", "-n", name, "link", "set", l, "up")
	}
}

func benchGuard() []row {
	tcg := filepath.Join(*bin, "tcguard")
	bctl := filepath.Join(*bin, "bridgectl")
	state := filepath.Join(*work, "state")
	full, one := writeConfig(*n), writeConfig(1)
	setupGuardNS(ns)
	setupGuardNS(nsOne)
	measure(bctl, "apply", "-c", full, "--netns", ns, "--state-dir", state)
	measure(bctl, "apply", "-c", one, "--netns", nsOne, "--state-dir", state)
	guard := func(op, cfg, netns string) run {
		return measure(tcg, op, "-c", cfg, "--netns", netns, "--state-dir", state)
	}
	status := func(cfg, netns string) string {
		return guardState(tcg, "-c", cfg, "--netns", netns, "--state-dir", state)
	}
	for _, c := range []struct{ cfg, netns string }{{full, ns}, {one, nsOne}} {
		if s := status(c.cfg, c.netns); s != "blocked" {
			fatalf("guard of %s after apply: %s, want blocked", c.netns, s)
		}
	}
	// The reference: what an operator types to open the guard by hand (its
	// shared action's index is the block's).
	tcOpen := []string{"-n", ns, "actions", "change", "action", "gact", "pipe", "index", guardBlock}

	var unblockN, unblockOne, blockN, blockOne, ref []time.Duration
	for r := range guardRounds {
		unblockN = append(unblockN, guard("unblock", full, ns).wall)
		if r == 0 {
			if s := status(full, ns); s != "open" {
				fatalf("tcguard unblock left %s %s", ns, s)
			}
		}
		blockN = append(blockN, guard("block", full, ns).wall)
		unblockOne = append(unblockOne, guard("unblock", one, nsOne).wall)
		blockOne = append(blockOne, guard("block", one, nsOne).wall)
		ref = append(ref, measure("tc", tcOpen...).wall)
		if r == 0 {
			// The action passes (nobody recorded an intent to open).
			if s := status(full, ns); s != "unguarded" {
				fatalf("tc %s left the guard %s, want unguarded", strings.Join(tcOpen, " "), s)
			}
		}
		guard("block", full, ns)
	}
	for _, c := range []struct{ cfg, netns string }{{full, ns}, {one, nsOne}} {
		if s := status(c.cfg, c.netns); s != "blocked" {
			fatalf("guard of %s after the rounds: %s, want blocked", c.netns, s)
		}
	}
	uN, uOne, bN, bOne, tcRef := median(unblockN), median(unblockOne), median(blockN), median(blockOne), median(ref)
	pN, pOne := benchPromote(full, one, state)

	// The per-interface anchor: without a shared block, opening means
	// deleting one filter per port. Rebuild ns's ports that way (not
	// measured), then delete every filter with one tc command per port, in
	// one tc -batch process (the cheapest way to send them).
	ports := 2 * *n
	var setup, del strings.Builder
	for i := 1; i <= *n; i++ {
		for _, p := range []string{fmt.Sprintf("q0.s100.%d", i), fmt.Sprintf("v0.%d", i)} {
			fmt.Fprintf(&setup, "qdisc del dev %s clsact\nqdisc add dev %s clsact\n", p, p)
			fmt.Fprintf(&setup, "filter add dev %s ingress pref 1 handle 1 protocol all matchall action drop\n", p)
			fmt.Fprintf(&del, "filter del dev %s ingress pref 1 handle 1 protocol all matchall\n", p)
		}
	}
	measure("tc", "-n", ns, "-batch", writeFile("guard-perport-setup.tc", setup.String()))
	perPort := measure("tc", "-n", ns, "-batch", writeFile("guard-perport-del.tc", del.String()))

	// Leftovers: the kernel deletes the namespaces' links in the background.
	_ = exec.Command("ip", "netns", "del", nsOne).Run()

	return []row{
		{fmt.Sprintf("tcguard unblock, %d translations", *n), msecs(uN), "same, 1 translation " + msecs(uOne), ratio(uN, uOne), "≤ 1.2"},
		{fmt.Sprintf("tcguard unblock, %d", *n), msecs(uN), "tc actions change action gact pipe index " + guardBlock + " (one command) " + msecs(tcRef), ratio(uN, tcRef), ""},
		{fmt.Sprintf("tcguard block, %d translations", *n), msecs(bN), "same, 1 translation " + msecs(bOne), ratio(bN, bOne), ""},
		{fmt.Sprintf("ocf:qinqbridge:tcguard promote, %d translations", *n), msecs(pN), "same, 1 translation " + msecs(pOne), ratio(pN, pOne), "≤ 1.2"},
		{fmt.Sprintf("anchor: unblock, %d", *n), msecs(uN), fmt.Sprintf("per-port filters: tc -batch, one filter del per port (%d) %s", ports, secs(perPort.wall)), ratio(uN, perPort.wall), ""},
	}
}

// unblockRows measures `tcguard unblock` of the binaries in dir in netns,
// where n translations are applied, against nsOne, set up here with one,
// alternately (guardRounds each, medians). Both are left blocked.
func unblockRows(dir, label, netns, nsOne, full, state string) []row {
	tcg := filepath.Join(dir, "tcguard")
	one := writeConfig(1)
	setupGuardNS(nsOne)
	measure(filepath.Join(dir, "bridgectl"), "apply", "-c", one, "--netns", nsOne, "--state-dir", state)
	guard := func(op, cfg, netns string) run {
		return measure(tcg, op, "-c", cfg, "--netns", netns, "--state-dir", state)
	}
	var uN, uOne []time.Duration
	for r := range guardRounds {
		uN = append(uN, guard("unblock", full, netns).wall)
		uOne = append(uOne, guard("unblock", one, nsOne).wall)
		if r == 0 {
			for _, c := range []struct{ cfg, netns string }{{full, netns}, {one, nsOne}} {
				if s := guardState(tcg, "-c", c.cfg, "--netns", c.netns, "--state-dir", state); s != "open" {
					fatalf("tcguard unblock left %s %s", c.netns, s)
				}
			}
		}
		guard("block", full, netns)
		guard("block", one, nsOne)
	}
	_ = exec.Command("ip", "netns", "del", nsOne).Run()
	mN, mOne := median(uN), median(uOne)
	return []row{{fmt.Sprintf("%stcguard unblock, %d translations", label, *n), msecs(mN), "same, 1 translation " + msecs(mOne), ratio(mN, mOne), "≤ 1.2"}}
}

// guardState is the state `tcguard status --json` reports (exit 0 or 1).
func guardState(tcg string, args ...string) string {
	cmd := exec.Command(tcg, append([]string{"status", "--json"}, args...)...)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
		fatalf("tcguard status %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var s struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		fatalf("tcguard status --json: %v\n%s", err, out)
	}
	return s.State
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func msecs(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// benchPromote measures the promotable agent's promote action (process start
// to exit, as Pacemaker runs it) at n translations and at one, alternately;
// each round demotes again, unmeasured. Both namespaces are left blocked.
func benchPromote(full, one, state string) (time.Duration, time.Duration) {
	agent := filepath.Join(*bin, "ocf-tcguard")
	act := func(action, cfg, netns string) run {
		env := []string{"OCF_ROOT=/usr/lib/ocf", "OCF_RESOURCE_INSTANCE=p_guard:0",
			"OCF_RESKEY_config=" + cfg, "OCF_RESKEY_netns=" + netns, "OCF_RESKEY_state_dir=" + state,
			"OCF_RESKEY_CRM_meta_timeout=60000"}
		return measureEnv(env, nil, agent, action)
	}
	for _, c := range []struct{ cfg, netns string }{{full, ns}, {one, nsOne}} {
		act("start", c.cfg, c.netns)
	}
	var pN, pOne []time.Duration
	for range guardRounds {
		pN = append(pN, act("promote", full, ns).wall)
		act("demote", full, ns)
		pOne = append(pOne, act("promote", one, nsOne).wall)
		act("demote", one, nsOne)
	}
	return median(pN), median(pOne)
}
