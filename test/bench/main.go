// Command bench measures bridgectl and tcguard against the tools operators
// use today, inside one boot of the testbed VM, and prints ratios: TCG makes
// absolute times meaningless, ratios within one boot are not.
//
// It is run by test/bench/run (make bench); it expects root, the kernel
// modules of the testbed, and the binaries in $QB_BIN.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

var (
	n      = flag.Int("n", 4094, "translations at full scale")
	anchor = flag.Int("anchor", 500, "translations for the one-ip-process-per-operation anchor")
	bin    = flag.String("bin", os.Getenv("QB_BIN"), "directory with bridgectl and tcguard")
	out    = flag.String("out", "", "also write the table to this file")
	work   = flag.String("work", "/tmp/qbbench", "scratch directory")
	quick  = flag.Bool("quick", false, "only apply, no-op apply, check, RSS and tcguard unblock (no down, anchor or promote)")
	before = flag.String("before", "", "quick mode: also measure the binaries in this directory (an older build), in the same boot")
)

// run is one measured command.
type run struct {
	wall  time.Duration
	maxKB int64
}

func measure(name string, args ...string) run {
	return measureEnv(nil, nil, name, args...)
}

// measureEnv runs name with env added to this process's environment.
func measureEnv(env []string, stdin io.Reader, name string, args ...string) run {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return run{wall: wall, maxKB: ru.Maxrss}
}

func must(name string, args ...string) {
	cmd := exec.Command(name, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
	os.Exit(1)
}

// row is one line of the result table.
type row struct {
	what, measured, reference string
	ratio                     float64
	limit                     string
}

func main() {
	flag.Parse()
	if *bin == "" {
		fatalf("no -bin (or QB_BIN)")
	}
	os.MkdirAll(*work, 0o755)
	dataplane := *dpOnly || !*quick && !*tcOnly && !*metricsOnly
	if *dpProfile != "" {
		if !dataplane {
			fatalf("-profile profiles the data plane, which -quick and -tcpath leave out")
		}
		requirePerf()
	}
	var rows []row
	if *metricsOnly {
		rows = benchMetrics()
	} else if *tcOnly {
		rows = benchTCPath()
	} else if !*dpOnly {
		rows = append(rows, benchBridgectl()...)
		if _, err := os.Stat(filepath.Join(*bin, "tcguard")); err == nil && !*quick {
			rows = append(rows, benchGuard()...)
		}
	}
	if !*tcOnly && !*dpOnly && !*quick && !*metricsOnly {
		rows = append(rows, benchTCPath()...)
		rows = append(rows, benchMetrics()...)
	}
	if dataplane {
		rows = append(rows, benchDataplane()...)
	}
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "MEASUREMENT\tMEASURED\tREFERENCE (same boot)\tRATIO\tLIMIT\tOK\n")
	failed := 0
	for _, r := range rows {
		ok := "-"
		if r.limit != "" {
			ok = "ok"
			if !withinLimit(r.ratio, r.limit) {
				ok, failed = "OVER", failed+1
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%.3f\t%s\t%s\n", r.what, r.measured, r.reference, r.ratio, r.limit, ok)
	}
	w.Flush()
	os.Stdout.Write(b.Bytes())
	if *out != "" {
		os.WriteFile(*out, b.Bytes(), 0o644)
	}
	if failed > 0 {
		fmt.Printf("bench: %d measurement(s) over their limit\n", failed)
	}
}

// withinLimit: limit is "≤ x" (at most) or "≥ x" (at least).
func withinLimit(ratio float64, limit string) bool {
	var lim float64
	if v, ok := strings.CutPrefix(limit, "≥ "); ok {
		fmt.Sscanf(v, "%g", &lim)
		return ratio >= lim
	}
	fmt.Sscanf(strings.TrimPrefix(limit, "≤ "), "%g", &lim)
	return ratio <= lim
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return a.Seconds() / b.Seconds()
}
