package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
