package main

import (
	"context"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/coreos/go-systemd/v22/journal"
	"github.com/urfave/cli/v2"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
)

func watchCommand() *cli.Command {
	return &cli.Command{
		Name:  "watch",
		Usage: "keep the configuration converged: re-apply on link and tc events, re-read the file on SIGHUP (systemd Type=notify)",
		Flags: append(commonFlags(),
			&cli.DurationFlag{Name: "debounce", Value: bridgectl.DefaultDebounce, Usage: "check once events have been quiet for `DURATION`"},
			&cli.DurationFlag{Name: "debounce-max", Value: bridgectl.DefaultDebounceMax, Usage: "but no later than `DURATION` after a burst's first event"},
			&cli.DurationFlag{Name: "check-interval", Value: bridgectl.DefaultCheckInterval, Usage: "also check everything every `DURATION`, events or not (0: never)"},
			&cli.StringFlag{Name: "metrics", Usage: "also serve Prometheus metrics on `ADDR` (HOST:PORT), as `bridgectl metrics --listen ADDR` does"},
		),
		Action: cmdWatch,
		Description: "For standalone boxes and labs, without Pacemaker (on a cluster node the bridge resource agent\n" +
			"does this job; do not run both). Applies the file like `apply`, then listens to the namespace's\n" +
			"link and tc events and re-applies when a link of the configuration, or a link in its way,\n" +
			"changed, or when a qdisc or the guard's block changed (a port whose clsact qdisc was deleted is\n" +
			"bound to the guard again at once, not at the next periodic check); bursts are coalesced. A\n" +
			"check that finds no drift changes nothing.\n\n" +
			"Startup: an invalid file exits 2. If the first apply fails (a parent interface is missing, a\n" +
			"foreign link is in the way) it logs why and keeps retrying, on events and with back-off.\n\n" +
			"SIGHUP re-reads the file; a broken one is logged (FILE:LINE: message) and refused, the last\n" +
			"good configuration stays. SIGTERM or SIGINT exit 0 and leave every link in place (`down`\n" +
			"deletes them).\n\n" +
			"Carrier propagation (pass-throughs with carrier = true) runs beside it, as `bridgectl carrier`\n" +
			"does on a Pacemaker node.\n\n" +
			"systemd (Type=notify): READY=1 once the first apply succeeded, STATUS= with what happened\n" +
			"last, WATCHDOG=1 at half of WatchdogSec. See examples/qinqbridge.service.\n\n" +
			"--metrics ADDR serves at http://ADDR/metrics what `bridgectl metrics` serves, read on each\n" +
			"scrape without waiting for the watcher's applies; if serving fails, watch exits 2.\n\n" +
			"Examples:\n" +
			"   bridgectl watch -c /etc/qinqbridge/qinqbridge.toml\n" +
			"   bridgectl watch --metrics 127.0.0.1:9731",
	}
}

func cmdWatch(c *cli.Context) error {
	ctx, hup, stop := serviceSignals() // before anything else
	defer stop()

	cfg, raw, err := load(c)
	if err != nil {
		return err
	}
	logger := serviceLogger("bridgectl watch: ")
	var metricsLn net.Listener
	if c.String("metrics") != "" {
		if metricsLn, err = listenMetrics(c); err != nil {
			return err
		}
	}
	m, err := open(c)
	if err != nil {
		return err
	}
	defer m.Close()

	o := bridgectl.WatchOptions{
		Debounce:      c.Duration("debounce"),
		DebounceMax:   c.Duration("debounce-max"),
		CheckInterval: c.Duration("check-interval"),
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = -1
	}
	if d, err := daemon.SdWatchdogEnabled(false); err != nil {
		logger.Printf("watchdog: %v; not pinging", err)
	} else if d > 0 {
		o.Watchdog = d / 2
	}

	w := bridgectl.NewWatcher(m, m.Events(), o)
	path := opt(c, "config")
	w.Load = func() (*config.Config, []byte, error) { return config.Load(path) }
	w.Notify = notifier(logger)
	w.Logf = logger.Printf
	// Carrier propagation runs beside the converge loop, on a connection
	// and a subscription of its own: the Manager is not safe for
	// concurrent use, and a long apply must not delay its reaction.
	pm, err := open(c)
	if err != nil {
		return err
	}
	defer pm.Close()
	p := newPropagator(pm, logger)
	carrierHup := make(chan os.Signal, 1)
	go reloadPropagator(carrierHup, path, p, logger)
	go func() {
		for s := range hup {
			w.Reload()
			select {
			case carrierHup <- s:
			default: // a reload is pending: it reads the file anyway
			}
		}
	}()
	// The metrics server stops with the watcher; if it fails, the
	// watcher stops too (exit 2: systemd restarts the service).
	ctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	served := make(chan error, 1)
	if metricsLn != nil {
		go func() {
			err := serveMetrics(ctx, metricsLn, c, logger)
			served <- err
			if err != nil {
				logger.Printf("metrics: %v; stopping", err)
				stopWatch()
			}
		}()
	} else {
		served <- nil
	}
	propagated := make(chan error, 1)
	go func() { propagated <- p.Run(ctx, cfg) }()
	err = w.Run(ctx, cfg, raw)
	stopWatch() // ends the propagator too, if the watcher failed
	if perr := <-propagated; perr != nil {
		logger.Printf("carrier propagation: %v", perr)
	}
	if err != nil {
		return fail(exitError, "%v", err)
	}
	if err := <-served; err != nil {
		return fail(exitError, "metrics: %v", err)
	}
	return nil
}

// serviceSignals sets up a long-running command's signals: ctx ends on
// SIGTERM or SIGINT, hup receives SIGHUP (re-read the file), whose default
// action would kill the process: set it up before anything else. stop
// undoes both.
func serviceSignals() (ctx context.Context, hup <-chan os.Signal, stop func()) {
	h := make(chan os.Signal, 1)
	signal.Notify(h, syscall.SIGHUP)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	return ctx, h, func() {
		cancel()
		signal.Stop(h)
	}
}

// serviceLogger logs to stderr, each line prefixed; with timestamps unless
// the journal, which stamps every line itself, reads it.
func serviceLogger(prefix string) *log.Logger {
	flags := log.LstdFlags
	if j, _ := journal.StderrIsJournalStream(); j {
		flags = 0
	}
	return log.New(os.Stderr, prefix, flags)
}

// notifier sends to $NOTIFY_SOCKET (nothing without it); a failure is
// logged once, a notification is never worth stopping for.
func notifier(logger *log.Logger) func(string) {
	var once sync.Once
	return func(state string) {
		if _, err := daemon.SdNotify(false, state); err != nil {
			once.Do(func() { logger.Printf("systemd notify: %v (further failures not logged)", err) })
		}
	}
}
