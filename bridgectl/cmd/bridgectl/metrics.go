package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/metrics"
	"github.com/qinqbridge/qinqbridge/internal/statedir"
)

func metricsCommand() *cli.Command {
	return &cli.Command{
		Name:  "metrics",
		Usage: "serve Prometheus metrics of the translations, the guard and the configuration at http://ADDR/metrics",
		Flags: append(commonFlags(),
			&cli.StringFlag{Name: "listen", Required: true, Usage: "serve on `ADDR` (HOST:PORT; :PORT for every address)"}),
		Action: cmdMetrics,
		Description: "Each scrape re-reads the file and reads the namespace's kernel state, as `status --json` does\n" +
			"(the same counters), and takes no lock: it never waits for an apply, nor delays one. Metrics:\n" +
			"   qinqbridge_translation_received_frames_total{translation,direction}   also _received_bytes_total\n" +
			"   qinqbridge_translation_frames_total{translation,direction}            also _bytes_total\n" +
			"   qinqbridge_translation_dropped_frames_total{translation,direction}\n" +
			"   qinqbridge_guard_state{group,state}       1 for the current state, 0 for the others\n" +
			"   qinqbridge_guard_dropped_frames_total{group}, qinqbridge_guard_info{group,block}\n" +
			"   qinqbridge_guard_ports_bound{group}, qinqbridge_guard_ports_expected{group}\n" +
			"   qinqbridge_promotion_score{group}         the score the tcguard agent sets\n" +
			"   qinqbridge_config_drift                   1 unless the file is applied and check finds nothing\n" +
			"   qinqbridge_config_file_valid, qinqbridge_config_info{file_digest,applied_digest}\n" +
			"   qinqbridge_config_translations\n" +
			"   qinqbridge_last_apply_timestamp_seconds, qinqbridge_last_apply_success\n" +
			"Directions are a>b and b>a; group is the [[group]] name (\"default\": [guard] block). A file that cannot be used does not fail a\n" +
			"scrape: the counters follow the applied configuration, and drift is 1. A namespace that cannot be\n" +
			"read answers 500.\n\n" +
			"The listener is in the namespace the process runs in; --netns selects the namespace whose\n" +
			"translations it reads. `watch --metrics ADDR` serves the same. Pick any free port. See\n" +
			"examples/qinqbridge-metrics.service, examples/grafana-dashboard.json and\n" +
			"examples/prometheus-alerts.yml.\n\n" +
			"Examples:\n" +
			"   bridgectl metrics --listen 127.0.0.1:9731\n" +
			"   bridgectl metrics --listen :9731 --netns lab -c /etc/qinqbridge/lab.toml",
	}
}

func cmdMetrics(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := serviceLogger("bridgectl metrics: ")
	ln, err := listenMetrics(c)
	if err != nil {
		return err
	}
	notifier(logger)("READY=1")
	if err := serveMetrics(ctx, ln, c, logger); err != nil {
		return fail(exitError, "metrics: %v", err)
	}
	return nil
}

// listenMetrics opens the TCP listener of --listen (metrics) or --metrics
// (watch), first: no namespace is entered by then, nor ever by this
// goroutine (sockets in --netns are opened on threads of their own), so it
// listens in the namespace the process was started in. The namespace
// name and the file are checked here too, so that a typo is an exit 2, not
// a service whose every scrape fails; a file that does not load is only
// reported (scrapes say so, and follow the applied configuration).
func listenMetrics(c *cli.Context) (net.Listener, error) {
	addr := c.String("listen")
	if c.Command.Name == "watch" {
		addr = c.String("metrics")
	}
	if ns := opt(c, "netns"); ns != "" {
		if err := statedir.CheckNetNS(ns); err != nil {
			return nil, fail(exitError, "%v", err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fail(exitError, "metrics: %v", err)
	}
	if _, _, err := config.Load(opt(c, "config")); err != nil && c.Command.Name != "watch" {
		fmt.Fprintf(os.Stderr, "bridgectl metrics: warning: %v\n", err)
	}
	return ln, nil
}

// serveMetrics serves the namespace's metrics on ln until ctx ends (then
// nil) or serving fails.
func serveMetrics(ctx context.Context, ln net.Listener, c *cli.Context, logger *log.Logger) error {
	o := bridgectl.Options{NetNS: opt(c, "netns"), StateDir: opt(c, "state-dir")}
	collector := metrics.NewCollector(opt(c, "config"), func() (*bridgectl.Manager, error) { return bridgectl.Open(o) })
	srv := &http.Server{Handler: metrics.Handler(collector, logger), ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
	logger.Printf("serving http://%s/metrics", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return nil
	}
}
