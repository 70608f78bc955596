package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A sample's context is whom its CPU worked for: the innermost frame of
// its call chain that belongs to a context decides. cpu-clock is a timer:
// it cannot sample where interrupts are off, and a sample due there is
// taken where they come back on, mostly in handle_softirqs after an
// interrupt (on the translator's CPU: the generator's RPS IPIs, which wake
// it from idle).
var contexts = []group{
	{backlog, []string{"process_backlog"}},
	{"sink, NAPI", []string{"veth_poll"}},
	{"generator", []string{"__sys_sendmmsg", "__x64_sys_sendmmsg", "packet_sendmsg", "packet_snd"}},
	{"softirq loop", []string{"net_rx_action", "__napi_poll", "do_softirq", "run_ksoftirqd"}},
	{"scheduler", []string{"finish_task_switch", "__schedule", "schedule", "schedule_idle", "preempt_schedule*", "__cond_resched"}},
	{"interrupts, irqs-off time", []string{"handle_softirqs", "__do_softirq", "asm_sysvec_*", "sysvec_*", "asm_common_interrupt", "common_interrupt"}},
	{"idle", []string{"native_safe_halt", "default_idle*", "amd_e400_idle", "arch_cpu_idle*", "do_idle", "cpu_startup_entry", "cpuidle_*", "acpi_idle_*", "poll_idle"}},
}

// The backlog of the translator's CPU receives what the generator sends to
// the translator's trunks (RPS) and, in the kernel of the testbed, what the
// translator sends to the sinks too: veth takes its NAPI path only for
// frames from a device without TSO (veth_skb_is_eligible_for_gro), and the
// trunks have TSO. A backlog sample is the translator's when a frame of
// its call chain forwards (a part of a datapath only a translator runs),
// the sink's when none does and one drops or frees the frame (only the
// sink frees frames), and either's otherwise (the receive path's core,
// __netif_receive_skb_core and the untagging, that both run, once per
// frame and, in the bridge datapath, once more per VLAN device).
const backlog = "backlog"

// translatorParts: the innermost frame that belongs to a part decides, but
// the out hop comes first: the transmit to the out trunk, which is the
// same in every datapath (and on a real NIC its driver's).
var translatorParts = []group{
	{"bridge (FDB, forwarding)", []string{"br_*", "__br_*", "nbp_*", "fdb_*"}},
	{"VLAN devices", []string{"vlan_*", "__vlan_*"}},
	{"to the VLAN device (dev_queue_xmit)", []string{"__dev_queue_xmit", "dev_queue_xmit*", "dev_hard_start_xmit", "validate_xmit_*",
		"netif_skb_features", "passthru_features_check", "skb_network_protocol"}},
	{"flower (dissect, mask lookup)", []string{"fl_*", "__skb_flow_dissect", "skb_flow_dissect*", "rhashtable_*"}},
	{"act_vlan", []string{"tcf_vlan_*", "skb_vlan_push", "skb_vlan_pop", "__skb_vlan_pop"}},
	{"act_mirred", []string{"tcf_mirred_*"}},
	{"gact (the guard's action)", []string{"tcf_gact_act"}},
	{"tc core (classify, action loop, matchall)", []string{"sch_handle_ingress", "sch_handle_egress", "tcf_classify", "__tcf_classify", "tcf_action_exec", "mall_classify"}},
}

const outHop = "out hop (dev_queue_xmit, veth, netif_rx)"

// outHopCallers call (__)dev_queue_xmit for the out trunk.
var outHopCallers = []string{"tcf_mirred_act", "tcf_mirred_forward", "vlan_dev_hard_start_xmit"}

var (
	// forwarding is the parts only a translator runs: the sink runs
	// matchall and gact too.
	forwarding = translatorParts[:len(translatorParts)-2]
	dropping   = []group{{"", []string{"tcf_gact_act", "kfree_skb*", "__kfree_skb", "consume_skb", "skb_release_*", "skb_free_head",
		"sock_wfree", "kmem_cache_free", "kfree", "__slab_free"}}}
)

// generatorComm is the generator's process name, ours, as perf shows it.
var generatorComm = filepath.Base(os.Args[0])

const (
	translatorGroup = "backlog: translator: "
	sinkGroup       = "backlog: sink (classify, drop, free)"
	eitherGroup     = "backlog: receive core, translator or sink"
)

// group is a name and the functions that belong to it (name* for a prefix).
type group struct {
	name  string
	funcs []string
}

func (g group) has(fn string) bool {
	for _, f := range g.funcs {
		if p, ok := strings.CutSuffix(f, "*"); ok && strings.HasPrefix(fn, p) || f == fn {
			return true
		}
	}
	return false
}

// innermost is the first group, of the frames from the innermost out, that
// has one of them.
func innermost(frames []string, groups []group) (string, bool) {
	for _, fn := range frames {
		for _, g := range groups {
			if g.has(fn) {
				return g.name, true
			}
		}
	}
	return "", false
}

// groupSamples counts the samples of data by CPU and group, and writes
// their folded call chains to folded.
func groupSamples(data, folded string) map[int]map[string]int {
	cmd := exec.Command("perf", "script", "-i", data, "-F", "comm,tid,cpu,ip,sym")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fatalf("%v", err)
	}
	if err := cmd.Start(); err != nil {
		fatalf("perf script: %v", err)
	}
	counts, chains, err := countSamples(out)
	if err := errors.Join(err, cmd.Wait()); err != nil {
		fatalf("perf script: %v\n%s", err, stderr.String())
	}
	var b strings.Builder
	for _, chain := range slices.Sorted(maps.Keys(chains)) {
		fmt.Fprintf(&b, "%s %d\n", chain, chains[chain])
	}
	if err := os.WriteFile(folded, []byte(b.String()), 0o644); err != nil {
		fatalf("%v", err)
	}
	return counts
}

// countSamples reads perf script's samples (a header "comm tid [cpu]",
// one "address symbol" line per frame from the innermost, a blank line)
// and counts them by CPU and group, and by folded call chain.
func countSamples(r io.Reader) (counts map[int]map[string]int, chains map[string]int, err error) {
	counts, chains = map[int]map[string]int{}, map[string]int{}
	var header string
	var frames []string
	add := func() error {
		if header == "" {
			return nil
		}
		cpu, comm, err := sampleCPU(header)
		if err != nil {
			return err
		}
		if counts[cpu] == nil {
			counts[cpu] = map[string]int{}
		}
		g := classify(comm, cpu, frames)
		counts[cpu][g]++
		chain := []string{fmt.Sprintf("cpu %d", cpu), g, comm}
		for i := len(frames) - 1; i >= 0; i-- {
			chain = append(chain, frames[i])
		}
		chains[strings.Join(chain, ";")]++
		header, frames = "", frames[:0]
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if err := add(); err != nil {
				return nil, nil, err
			}
		case line[0] == '\t':
			if f := strings.Fields(line); len(f) >= 2 {
				frames = append(frames, baseName(f[1]))
			}
		default:
			header = line
		}
	}
	return counts, chains, errors.Join(sc.Err(), add())
}

// sampleCPU reads "comm tid [cpu]" (a comm can have spaces).
func sampleCPU(header string) (cpu int, comm string, err error) {
	i, j := strings.LastIndexByte(header, '['), strings.LastIndexByte(header, ']')
	if i < 0 || j < i {
		return 0, "", fmt.Errorf("no CPU in %q", header)
	}
	if cpu, err = strconv.Atoi(header[i+1 : j]); err != nil {
		return 0, "", fmt.Errorf("CPU in %q: %w", header, err)
	}
	f := strings.Fields(header[:i])
	return cpu, strings.Join(f[:max(len(f)-1, 0)], " "), nil
}

// baseName drops a kernel symbol's compiler suffix (.isra.0,
// .constprop.0, .part.0, .cold).
func baseName(sym string) string {
	for _, suffix := range []string{".isra.", ".constprop.", ".part.", ".cold"} {
		if i := strings.Index(sym, suffix); i > 0 {
			sym = sym[:i]
		}
	}
	return sym
}

// classify is a sample's group: its context, and within the backlog whose
// work it is. What has no context is the generator's when it is the
// generator's process on its CPU (its loop, the system call's entry and
// exit), other work otherwise.
func classify(comm string, cpu int, frames []string) string {
	ctx, ok := innermost(frames, contexts)
	_, forwards := innermost(frames, forwarding)
	_, drops := innermost(frames, dropping)
	switch {
	case !ok && cpu == genCPU && comm == generatorComm:
		return "generator"
	case !ok:
		return "other"
	case ctx != backlog:
		return ctx
	case forwards && outHopIn(frames):
		return translatorGroup + outHop
	case forwards:
		part, _ := innermost(frames, translatorParts)
		return translatorGroup + part
	case drops:
		return sinkGroup
	}
	return eitherGroup
}

// outHopIn: the chain transmits to the out trunk.
func outHopIn(frames []string) bool {
	for i := 0; i+1 < len(frames); i++ {
		if strings.TrimPrefix(frames[i], "__") == "dev_queue_xmit" && slices.Contains(outHopCallers, frames[i+1]) {
			return true
		}
	}
	return false
}
