package main

import (
	"log"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
)

func carrierCommand() *cli.Command {
	return &cli.Command{
		Name:   "carrier",
		Usage:  "propagate carrier across the pass-through pairs with carrier = true (on a Pacemaker node; watch does it on a standalone box)",
		Flags:  commonFlags(),
		Action: cmdCarrier,
		Description: "Runs until SIGTERM or SIGINT. On a node whose guard of a pair's group is open, when one trunk\n" +
			"of a pair with carrier = true goes operationally down (lost carrier or set down, whatever the\n" +
			"cause), it sets the other trunk down until the first returns, so the far switch drops that member\n" +
			"of its LACP bundle at once instead of at LACP's timeout. It reacts to the namespace's link and tc\n" +
			"events, never by polling. Only its own downs are undone (recorded in the state directory before\n" +
			"each down): a trunk an operator set down stays down. A trunk it brings up has a few seconds to get\n" +
			"its carrier back before its being down counts as a loss. A node whose guard is not open propagates\n" +
			"nothing, and brings up what it took down; so does this command when it stops.\n\n" +
			"The bridge resource agent starts it with the resource when the configuration has such a pair and\n" +
			"stops it with the resource; `bridgectl watch` does the same work itself: do not run both.\n" +
			"SIGHUP re-reads the file; a broken one is logged and refused. systemd (Type=notify): READY=1\n" +
			"after the first look at the links.\n\n" +
			"Example: bridgectl carrier -c /etc/qinqbridge/qinqbridge.toml",
	}
}

func cmdCarrier(c *cli.Context) error {
	ctx, hup, stop := serviceSignals()
	defer stop()

	cfg, _, err := load(c)
	if err != nil {
		return err
	}
	m, err := open(c)
	if err != nil {
		return err
	}
	defer m.Close()
	logger := serviceLogger("bridgectl carrier: ")
	p := newPropagator(m, logger)
	p.Notify = notifier(logger)
	if len(bridgectl.CarrierPairs(cfg)) == 0 {
		logger.Printf("%s has no pass-through with carrier = true: nothing to propagate until a reload adds one", cfg.File)
	}
	go reloadPropagator(hup, opt(c, "config"), p, logger)
	if err := p.Run(ctx, cfg); err != nil {
		return fail(exitError, "%v", err)
	}
	return nil
}

// newPropagator is carrier propagation over m, logging to logger.
func newPropagator(m *bridgectl.Manager, logger *log.Logger) *bridgectl.Propagator {
	p := bridgectl.NewPropagator(m, m.Events())
	p.Logf = logger.Printf
	return p
}

// reloadPropagator re-reads path on each signal on hup and hands a valid
// file to p; a broken one is logged and refused.
func reloadPropagator(hup <-chan os.Signal, path string, p *bridgectl.Propagator, logger *log.Logger) {
	for range hup {
		cfg, _, err := config.Load(path)
		if err != nil {
			logger.Printf("reload refused, keeping the last good configuration: %v", err)
			continue
		}
		p.Reload(cfg)
	}
}
