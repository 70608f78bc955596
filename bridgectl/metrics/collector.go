package metrics

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
)

// Collector is a prometheus.Collector that reads one namespace on each
// scrape: it re-reads the configuration file, opens the namespace, and
// exports bridgectl.Manager.Status's report. Scrapes may run concurrently:
// each opens its own Manager. It holds no lock apply waits for.
type Collector struct {
	path string
	open func() (*bridgectl.Manager, error)

	// The file's last bytes and what they parsed to: an unchanged file is
	// not parsed again (at 4094 translations a parse costs about as much
	// as the kernel reads of a scrape). mu guards them only.
	mu  sync.Mutex
	raw []byte
	cfg *config.Config
}

// NewCollector returns a collector of the namespace open opens
// (bridgectl.Open with the command's options; tests: a Manager over an
// in-memory kernel) against the configuration file at path.
func NewCollector(path string, open func() (*bridgectl.Manager, error)) *Collector {
	return &Collector{path: path, open: open}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range all {
		ch <- d
	}
}

// Collect reads the namespace and sends its metrics. A namespace that
// cannot be read fails the scrape (the HTTP handler answers 500, and
// Prometheus' up is 0); a configuration file that cannot be used does not:
// the counters then follow the applied configuration, and
// qinqbridge_config_file_valid is 0.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	r, fileOK, err := c.report()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(configDrift, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, t := range r.Translations {
		for _, d := range t.Directions {
			counter(translationReceivedFrames, d.ReceivedFrames, t.Name, d.Direction)
			counter(translationReceivedBytes, d.ReceivedBytes, t.Name, d.Direction)
			counter(translationFrames, d.Frames, t.Name, d.Direction)
			counter(translationBytes, d.Bytes, t.Name, d.Direction)
			counter(translationDropped, d.DroppedFrames, t.Name, d.Direction)
		}
	}
	g := r.Guard
	gauge(guardInfo, 1, g.Group, strconv.FormatUint(uint64(g.Block), 10))
	for _, s := range guardStates {
		gauge(guardState, boolValue(s == g.State), g.Group, s)
	}
	counter(guardDropped, g.DroppedPackets, g.Group)
	gauge(guardPortsBound, float64(g.PortsBound), g.Group)
	gauge(guardPortsExpected, float64(g.PortsExpected), g.Group)
	gauge(promotionScore, float64(g.PromotionScore), g.Group)

	cs := r.Config
	gauge(configFileValid, boolValue(fileOK))
	gauge(configDrift, boolValue(cs.Drift))
	gauge(configInfo, 1, cs.Digest, cs.AppliedDigest)
	gauge(configTranslations, float64(cs.Translations))
	if a := cs.LastApply; a != nil {
		gauge(lastApplyTime, float64(a.Time.UnixNano())/1e9)
		gauge(lastApplySuccess, boolValue(a.OK))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// report reads the file and the namespace. fileOK is false when the file
// cannot be used: the report is then about the applied configuration,
// with drift.
func (c *Collector) report() (r *bridgectl.Report, fileOK bool, err error) {
	m, err := c.open()
	if err != nil {
		return nil, false, err
	}
	defer m.Close()
	cfg, raw, ferr := c.load()
	if ferr == nil {
		r, err := m.Status(cfg, raw)
		return r, true, err
	}
	applied, err := m.Applied()
	if err != nil {
		return nil, false, fmt.Errorf("%s cannot be used (%s), and the applied configuration cannot be read: %w", c.path, oneLine(ferr), err)
	}
	if r, err = m.Status(applied, nil); err != nil {
		return nil, false, err
	}
	r.Config.File, r.Config.Digest = c.path, ""
	r.Config.Drift, r.Config.DriftReason = true, "the file cannot be used: "+oneLine(ferr)
	return r, false, nil
}

// load reads the file, and parses it unless it is the one read last.
func (c *Collector) load() (*config.Config, []byte, error) {
	raw, err := config.Read(c.path)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg != nil && bytes.Equal(raw, c.raw) {
		return c.cfg, c.raw, nil
	}
	cfg, err := config.Parse(c.path, raw)
	if err != nil {
		return nil, nil, err
	}
	c.raw, c.cfg = raw, cfg
	return cfg, raw, nil
}

// oneLine folds a multi-line error (config.Errors) into one line.
func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}
