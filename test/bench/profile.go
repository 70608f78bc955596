package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

// The data plane's profile (-profile DIR): where a translator's CPU time
// goes, per datapath and direction at 64 bytes, when a goal is missed.
// After the measured rounds, one more window per datapath and direction
// runs as the measured ones do, under `perf record -e cpu-clock -a -g`
// (TCG has no PMU; cpu-clock is a timer): the measured rounds never run
// under perf. perf starts with its events off and is switched on and off
// through its control FIFO right around the window, so the samples and
// the frames counted at the sink cover the same interval: a group's share
// of a CPU's samples, times the interval, over the frames forwarded, is
// its CPU time per frame.

var dpProfile = flag.String("profile", "", "data plane: after the measured rounds, profile one more window per datapath and direction at 64 B with perf, reports into this directory")

const (
	profileSize  = 64
	samplePeriod = 500 * time.Microsecond // of cpu-clock: 2 kHz per CPU
	topSymbols   = 25
)

// requirePerf fails early, before any measurement, when -profile cannot work.
func requirePerf() {
	if b, err := exec.Command("perf", "version").CombinedOutput(); err != nil {
		fatalf("-profile needs perf for this kernel (Debian: apt-get install linux-perf): %v\n%s", err, b)
	}
	if res := os.Getenv("QB_RESULTS"); res != "" {
		dir, _ := filepath.Abs(*dpProfile)
		if rel, err := filepath.Rel(res, dir); err != nil || strings.HasPrefix(rel, "..") {
			fatalf("-profile %s: not under the VM's results share %s, it would be lost with the VM", *dpProfile, res)
		}
	}
	if err := os.MkdirAll(*dpProfile, 0o755); err != nil {
		fatalf("-profile: %v", err)
	}
}

// recording is a perf record process whose events start off.
type recording struct {
	cmd      *exec.Cmd
	output   bytes.Buffer
	ctl, ack *os.File
	acks     *bufio.Reader
}

// startRecording starts perf on every CPU, writing to data. perf itself is
// pinned to the generator's CPU, off the translator's.
func startRecording(data string) *recording {
	r := &recording{}
	ctl, ack := data+".ctl", data+".ack"
	for _, fifo := range []string{ctl, ack} {
		os.Remove(fifo)
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			fatalf("perf control FIFO: %v", err)
		}
	}
	r.cmd = exec.Command("perf", "record", "-e", "cpu-clock", "-c", strconv.FormatInt(samplePeriod.Nanoseconds(), 10),
		"-a", "-g", "-D", "-1", "--control", "fifo:"+ctl+","+ack, "-o", data)
	r.cmd.Stdout, r.cmd.Stderr = &r.output, &r.output
	if err := r.cmd.Start(); err != nil {
		fatalf("perf record: %v", err)
	}
	var set unix.CPUSet
	set.Set(genCPU)
	if err := unix.SchedSetaffinity(r.cmd.Process.Pid, &set); err != nil {
		fatalf("pin perf to cpu %d: %v", genCPU, err)
	}
	// Read-write opens of a FIFO never wait for the other end.
	var err error
	if r.ctl, err = os.OpenFile(ctl, os.O_RDWR, 0); err != nil {
		fatalf("%v", err)
	}
	if r.ack, err = os.OpenFile(ack, os.O_RDWR, 0); err != nil {
		fatalf("%v", err)
	}
	r.acks = bufio.NewReader(r.ack)
	return r
}

// command sends perf a control command and waits for its acknowledgement
// (perf answers once it has started, "ack\n" and a NUL).
func (r *recording) command(c string) {
	if _, err := r.ctl.WriteString(c + "\n"); err != nil {
		fatalf("perf control %s: %v", c, err)
	}
	r.ack.SetReadDeadline(time.Now().Add(time.Minute))
	line, err := r.acks.ReadString('\n')
	if err != nil || strings.Trim(line, "\x00\n") != "ack" {
		fatalf("perf control %s: no acknowledgement (%q, %v)\n%s\nperf's threads:\n%s", c, line, err, r.output.String(), threadStacks(r.cmd.Process.Pid))
	}
}

// threadStacks is where each thread of process pid is in the kernel.
func threadStacks(pid int) string {
	var b strings.Builder
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, t := range tasks {
		status, _ := os.ReadFile(filepath.Join(t, "status"))
		stack, _ := os.ReadFile(filepath.Join(t, "stack"))
		_, state, _ := strings.Cut(string(status), "State:")
		state, _, _ = strings.Cut(state, "\n")
		fmt.Fprintf(&b, "%s%s\n%s", t, state, stack)
	}
	return b.String()
}

func (r *recording) enable()  { r.command("enable") }
func (r *recording) disable() { r.command("disable") }

// stop ends perf, which writes the data file out.
func (r *recording) stop() {
	if _, err := r.ctl.WriteString("stop\n"); err != nil {
		fatalf("perf control stop: %v", err)
	}
	if err := r.cmd.Wait(); err != nil {
		fatalf("perf record: %v\n%s", err, r.output.String())
	}
	r.ctl.Close()
	r.ack.Close()
	os.Remove(r.ctl.Name())
	os.Remove(r.ack.Name())
}

// profiled is one profiled window.
type profiled struct {
	what   string // datapath, direction
	rate   rate
	frames float64
	// samples by CPU, then by group (context, or context: part)
	samples map[int]map[string]int
}

// profileForwarding measures dp in direction d at 64 bytes once more under
// perf, writes perf's top symbols of the translator's CPU and every call
// chain with its count (folded, as flame graph tools read them: "cpu N;
// group;comm;outermost;...;innermost count") into the profile directory
// and returns the samples grouped.
func profileForwarding(dp datapath, d direction) profiled {
	name := fmt.Sprintf("%s-%s-%dB", dp.name, strings.ReplaceAll(d.String(), "->", "-to-"), profileSize)
	data := filepath.Join(*work, name+".perf.data")
	rec := startRecording(data)
	r := measureForwarding(dp, d, profileSize, false, rec)
	rec.stop()
	p := profiled{what: fmt.Sprintf("%s, %s", dp.name, d), rate: r, frames: r.forwarded * r.seconds}
	p.samples = groupSamples(data, filepath.Join(*dpProfile, name+".folded"))
	writeTopSymbols(data, filepath.Join(*dpProfile, name+".txt"), p)
	return p
}

// writeTopSymbols writes perf report's top symbols (self time) of the
// translator's CPU, under a line with the window's figures.
func writeTopSymbols(data, file string, p profiled) {
	cmd := exec.Command("perf", "report", "-i", data, "--no-children", "--sort", "symbol", "--stdio", "-g", "none",
		"--cpu", strconv.Itoa(translatorCPU))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		fatalf("perf report: %v\n%s", err, stderr.String())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s, %d B: %.0f frames forwarded in %.2f s (%s), translator CPU busy %.0f%%\n",
		p.what, profileSize, p.frames, p.rate.seconds, kfps(p.rate.forwarded), 100*p.rate.translatorBusy)
	fmt.Fprintf(&b, "# perf report --no-children --sort symbol --stdio -g none --cpu %d (the translator's CPU), top %d; one sample = %v of CPU\n",
		translatorCPU, topSymbols, samplePeriod)
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if n == topSymbols {
			break
		}
		// perf prints an IPC column that cpu-clock cannot fill.
		line = strings.TrimRight(strings.TrimRight(line, " -"), " ")
		if line != "" && !strings.HasPrefix(line, "#") {
			b.WriteString(line + "\n")
			n++
		}
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		fatalf("%v", err)
	}
}

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

// writeProfileSummary writes, for each CPU, each group's share of the
// samples and that share of the CPU's time per frame forwarded (the
// window over the frames: samples a timer could not take, where interrupts
// stayed off or the host did not run the VM, count as the rest did), one
// column per profiled window; to the profile directory and stdout.
func writeProfileSummary(ps []profiled) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Data-plane profile, %d B frames, %d flows: per group, its share of a CPU's samples (and that share of the CPU's time per frame forwarded, µs).\n", profileSize, *dpFlows)
	fmt.Fprintf(&b, "perf record -e cpu-clock -c %d -a -g over one window of %v per column; one sample = %v of one CPU.\n\n",
		samplePeriod.Nanoseconds(), *dpWindow, samplePeriod)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\t")
	for _, p := range ps {
		fmt.Fprintf(w, "%s\t", p.what)
	}
	fmt.Fprintf(w, "\n")
	line := func(label string, cell func(p profiled) string) {
		fmt.Fprintf(w, "%s\t", label)
		for _, p := range ps {
			fmt.Fprintf(w, "%s\t", cell(p))
		}
		fmt.Fprintf(w, "\n")
	}
	line("forwarded (kfps)", func(p profiled) string { return fmt.Sprintf("%.1f", p.rate.forwarded/1000) })
	line("translator CPU busy, /proc/stat (µs/frame)", func(p profiled) string {
		return fmt.Sprintf("%.0f%% (%.2f)", 100*p.rate.translatorBusy, p.rate.translatorBusy*1e6/p.rate.forwarded)
	})
	cell := func(cpu int, keep func(string) bool) func(p profiled) string {
		return func(p profiled) string {
			share, us := p.perFrame(cpu, keep)
			if share == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f%% (%.2f)", 100*share, us)
		}
	}
	for _, cpu := range []int{translatorCPU, genCPU} {
		fmt.Fprintf(w, "CPU %d%s\t\n", cpu, map[int]string{translatorCPU: " (translator, sinks)", genCPU: " (generator, perf)"}[cpu])
		line("  samples, of the window's", func(p profiled) string {
			n := p.count(cpu, func(string) bool { return true })
			return fmt.Sprintf("%d (%.0f%%)", n, 100*float64(n)*samplePeriod.Seconds()/p.rate.seconds)
		})
		line("  busy (all but idle)", cell(cpu, func(g string) bool { return g != "idle" }))
		if cpu == translatorCPU {
			line("  translation work (the translator's but the out hop)", cell(cpu, isTranslation))
		}
		for _, g := range profileGroups(ps, cpu) {
			line("  "+g, cell(cpu, func(h string) bool { return h == g }))
		}
	}
	// The generator's work per frame is the same in every column: the
	// translation work in its units compares windows that TCG ran at
	// different speeds (the host's other load).
	line("translation work / the generator's per frame", func(p profiled) string {
		_, t := p.perFrame(translatorCPU, isTranslation)
		_, g := p.perFrame(genCPU, func(h string) bool { return h == "generator" })
		return fmt.Sprintf("%.3f", t/g)
	})
	w.Flush()
	os.Stdout.Write(b.Bytes())
	if err := os.WriteFile(filepath.Join(*dpProfile, "summary.txt"), b.Bytes(), 0o644); err != nil {
		fatalf("%v", err)
	}
}

// isTranslation: the translator's work but the out hop, what the datapath
// adds to a bare transmit.
func isTranslation(g string) bool {
	return strings.HasPrefix(g, translatorGroup) && g != translatorGroup+outHop
}

// count is the samples on cpu in the groups keep keeps.
func (p profiled) count(cpu int, keep func(group string) bool) (n int) {
	for g, k := range p.samples[cpu] {
		if keep(g) {
			n += k
		}
	}
	return n
}

// perFrame is the share of cpu's samples in the groups keep keeps, and
// that share of the window per frame forwarded, in µs.
func (p profiled) perFrame(cpu int, keep func(group string) bool) (share, us float64) {
	if all := p.count(cpu, func(string) bool { return true }); all > 0 {
		share = float64(p.count(cpu, keep)) / float64(all)
	}
	return share, share * 1e6 / p.rate.forwarded
}

// profileGroups is the groups seen on cpu, in the order of contexts and
// parts.
func profileGroups(ps []profiled, cpu int) []string {
	var order []string
	for _, part := range translatorParts {
		order = append(order, translatorGroup+part.name)
	}
	order = append(order, translatorGroup+outHop, sinkGroup, eitherGroup)
	for _, c := range contexts {
		if c.name != backlog {
			order = append(order, c.name)
		}
	}
	order = append(order, "other")
	var seen []string
	for _, g := range order {
		if slices.ContainsFunc(ps, func(p profiled) bool { return p.samples[cpu][g] > 0 }) {
			seen = append(seen, g)
		}
	}
	return seen
}
