package main

import (
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

var tcOnly = flag.Bool("tcpath", false, "only the tc datapath's apply, down and promotion against the bridge datapath's")

// benchTCPath measures the tc datapath against the bridge datapath in the
// same boot (issue 14's goals): a full apply of n translations, down, and
// `tcguard unblock` at n against one. Each datapath has namespaces of its
// own with the same trunks; the QinQ trunk's MTU carries the VLAN side's
// frames with their S-tag, as the tc datapath requires.
func benchTCPath() []row {
	bctl, tcg := filepath.Join(*bin, "bridgectl"), filepath.Join(*bin, "tcguard")
	state := filepath.Join(*work, "state-tcpath")
	nsBridge, nsTC, nsTCOne := "qbtcb", "qbtct", "qbtct1"
	for _, name := range []string{nsBridge, nsTC, nsTCOne} {
		setupGuardNS(name)
		must("ip", "-n", name, "link", "set", "q0", "mtu", "1504")
		must("ip", "-n", name, "link", "set", "q0p", "mtu", "1504")
	}
	bridgeCfg, tcCfg, tcOne := writeConfig(*n), writeConfigOf("tc", *n), writeConfigOf("tc", 1)
	on := func(sub, cfg, netns string) []string {
		return []string{sub, "-c", cfg, "--netns", netns, "--state-dir", state}
	}
	bApply := measure(bctl, on("apply", bridgeCfg, nsBridge)...)
	tApply := measure(bctl, on("apply", tcCfg, nsTC)...)
	measure(bctl, on("apply", tcOne, nsTCOne)...)
	measure(bctl, on("check", tcCfg, nsTC)...) // converged, or this fails

	var uN, uOne []time.Duration
	for r := range guardRounds {
		uN = append(uN, measure(tcg, on("unblock", tcCfg, nsTC)...).wall)
		uOne = append(uOne, measure(tcg, on("unblock", tcOne, nsTCOne)...).wall)
		if r == 0 {
			if s := guardState(tcg, "-c", tcCfg, "--netns", nsTC, "--state-dir", state); s != "open" {
				fatalf("tcguard unblock left %s %s", nsTC, s)
			}
		}
		measure(tcg, on("block", tcCfg, nsTC)...)
		measure(tcg, on("block", tcOne, nsTCOne)...)
	}
	tDown := measure(bctl, on("down", tcCfg, nsTC)...)
	bDown := measure(bctl, on("down", bridgeCfg, nsBridge)...)
	for _, name := range []string{nsBridge, nsTC, nsTCOne} {
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
	return []row{
		{fmt.Sprintf("tc datapath: apply, %d translations (full)", *n), secs(tApply.wall), "bridge datapath " + secs(bApply.wall), ratio(tApply.wall, bApply.wall), "≤ 0.1"},
		{fmt.Sprintf("tc datapath: down, %d", *n), secs(tDown.wall), "bridge datapath " + secs(bDown.wall), ratio(tDown.wall, bDown.wall), "≤ 0.05"},
		{fmt.Sprintf("tc datapath: tcguard unblock, %d", *n), msecs(median(uN)), "same, 1 translation " + msecs(median(uOne)), ratio(median(uN), median(uOne)), "≤ 1.2"},
	}
}
