package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
)

var metricsOnly = flag.Bool("metrics", false, "only the metrics rows: one scrape of `bridgectl metrics` against one `bridgectl status --json`, at n translations, in both datapaths")

// metricsRounds is how many scrapes and statuses are measured, alternated;
// medians reported.
const metricsRounds = 7

// benchMetrics measures a scrape of `bridgectl metrics` (a long-running
// process, as Prometheus scrapes it: HTTP with gzip, the text format)
// against one `bridgectl status --json` (a process: start, file, kernel
// reads, JSON), which reads the same, at n translations in each datapath.
// It also reports the metrics process's CPU time per scrape and the size
// of a scrape.
func benchMetrics() []row {
	bctl := filepath.Join(*bin, "bridgectl")
	state := filepath.Join(*work, "state-metrics")
	var rows []row
	for _, dp := range []string{"bridge", "tc"} {
		netns := "qbmetrics-" + dp
		setupGuardNS(netns)
		key := ""
		if dp == "tc" {
			key = dp
			must("ip", "-n", netns, "link", "set", "q0", "mtu", "1504")
			must("ip", "-n", netns, "link", "set", "q0p", "mtu", "1504")
		}
		cfg := writeConfigOf(key, *n)
		on := []string{"-c", cfg, "--netns", netns, "--state-dir", state}
		measure(bctl, append([]string{"apply"}, on...)...)

		addr := freeAddr()
		srv := exec.Command(bctl, append([]string{"metrics", "--listen", addr}, on...)...)
		srv.Stderr = os.Stderr
		if err := srv.Start(); err != nil {
			fatalf("bridgectl metrics: %v", err)
		}
		url := "http://" + addr + "/metrics"
		waitFor("bridgectl metrics to listen", func() bool {
			r, err := http.Get("http://" + addr + "/")
			if err == nil {
				r.Body.Close()
			}
			return err == nil
		})
		size, series := scrape(url) // warm: the file parsed, the binary paged in
		var scrapes, statuses, cpu []time.Duration
		for range metricsRounds {
			statuses = append(statuses, measure(bctl, append([]string{"status", "--json"}, on...)...).wall)
			before := processCPU(srv.Process.Pid)
			start := time.Now()
			scrape(url)
			scrapes = append(scrapes, time.Since(start))
			cpu = append(cpu, processCPU(srv.Process.Pid)-before)
		}
		srv.Process.Kill()
		srv.Wait()
		measure(bctl, append([]string{"down"}, on...)...)
		_ = exec.Command("ip", "netns", "del", netns).Run()
		label := fmt.Sprintf("metrics (%s datapath): one scrape, %d translations (median of %d)", dp, *n, metricsRounds)
		rows = append(rows,
			row{label, msecs(median(scrapes)), "bridgectl status --json " + msecs(median(statuses)), ratio(median(scrapes), median(statuses)), "≤ 1.5"},
			row{fmt.Sprintf("metrics (%s datapath): CPU per scrape; %d series, %d KB", dp, series, size/1024), msecs(median(cpu)), "its wall time " + msecs(median(scrapes)), ratio(median(cpu), median(scrapes)), ""},
		)
	}
	return append(rows, parseCalibration())
}

// parseCalibration times config.Parse of n translations in this process:
// pure Go, a yardstick of how much slower the VM is than the host (where
// `go test -bench Parse4094 ./bridgectl/config` gives the same without
// TCG), to turn the VM's scrape times into real hardware's.
func parseCalibration() row {
	text := []byte(fmt.Sprintf("[[translation]]\nname = \"bulk\"\na = { parent = \"q0\", outer = 100, inner = \"1-%d\" }\nb = { parent = \"v0\", vlan = \"1-%d\" }\n", *n, *n))
	var ds []time.Duration
	for range metricsRounds {
		start := time.Now()
		if _, err := config.Parse("calibration.toml", text); err != nil {
			fatalf("%v", err)
		}
		ds = append(ds, time.Since(start))
	}
	return row{fmt.Sprintf("calibration: config.Parse, %d translations (median of %d)", *n, metricsRounds), msecs(median(ds)), "the host's: go test -bench Parse4094 ./bridgectl/config", 0, ""}
}

// freeAddr is a loopback address with a port nothing listens on.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("%v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape fetches url as Prometheus would (gzip) and returns the size of
// the text and its number of samples.
func scrape(url string) (size, samples int) {
	r, err := http.Get(url)
	if err != nil {
		fatalf("scrape: %v", err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != http.StatusOK {
		fatalf("scrape: %d %v\n%.2000s", r.StatusCode, err, b)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "qinqbridge_") {
			samples++
		}
	}
	return len(b), samples
}

// processCPU is the user and system time process pid has used
// (/proc/PID/stat, in clock ticks of 10 ms).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		fatalf("%v", err)
	}
	_, after, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(after)
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
