package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"
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
			"Example: bridgectl watch -c /etc/qinqbridge/qinqbridge.toml",
	}
}

func cmdWatch(c *cli.Context) error {
	// Before anything else: SIGHUP's default action would kill us.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	cfg, raw, err := load(c)
	if err != nil {
		return err
	}
	m, err := open(c)
	if err != nil {
		return err
	}
	defer m.Close()

	logger := daemonLogger("bridgectl watch: ")
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
	propagated := make(chan error, 1)
	go func() { propagated <- p.Run(ctx, cfg) }()
	err = w.Run(ctx, cfg, raw)
	stop() // ends the propagator too, if the watcher failed
	if perr := <-propagated; perr != nil {
		logger.Printf("carrier propagation: %v", perr)
	}
	if err != nil {
		return fail(exitError, "%v", err)
	}
	return nil
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
