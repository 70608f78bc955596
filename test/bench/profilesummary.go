package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

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
