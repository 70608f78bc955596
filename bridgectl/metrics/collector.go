package metrics

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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
	// not parsed again (at 4094 translations a parse and its checks cost
	// some 9 ms of CPU). mu guards them only.
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
	emit(r, fileOK, ch)
}

// emit sends the metrics of report r; fileOK says whether r is about the
// file (else the applied configuration).
func emit(r *bridgectl.Report, fileOK bool, ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	// One family after the other, each in the order the registry sorts
	// it to (by direction, then translation): sorting thousands of
	// samples that are in order costs next to nothing. The five counters
	// of a translation and direction share their labels.
	ts := make([]*bridgectl.TranslationStatus, len(r.Translations))
	for i := range r.Translations {
		ts[i] = &r.Translations[i]
	}
	slices.SortFunc(ts, func(a, b *bridgectl.TranslationStatus) int { return strings.Compare(a.Name, b.Name) })
	type direction struct {
		labels []*dto.LabelPair
		d      *bridgectl.DirectionStatus
	}
	dirs := make([]direction, 0, 2*len(ts))
	for _, dir := range []string{bridgectl.AToB, bridgectl.BToA} {
		for _, t := range ts {
			for i := range t.Directions {
				if d := &t.Directions[i]; d.Direction == dir {
					dirs = append(dirs, direction{translationLabels(t.Name, dir), d})
				}
			}
		}
	}
	families := []struct {
		desc  *prometheus.Desc
		value func(*bridgectl.DirectionStatus) uint64
	}{
		{translationReceivedFrames, func(d *bridgectl.DirectionStatus) uint64 { return d.ReceivedFrames }},
		{translationReceivedBytes, func(d *bridgectl.DirectionStatus) uint64 { return d.ReceivedBytes }},
		{translationFrames, func(d *bridgectl.DirectionStatus) uint64 { return d.Frames }},
		{translationBytes, func(d *bridgectl.DirectionStatus) uint64 { return d.Bytes }},
		{translationDropped, func(d *bridgectl.DirectionStatus) uint64 { return d.DroppedFrames }},
	}
	counters := make([]translationCounter, 0, len(families)*len(dirs)) // one allocation for all
	for _, f := range families {
		for _, d := range dirs {
			counters = append(counters, translationCounter{desc: f.desc, labels: d.labels, value: float64(f.value(d.d))})
			c := &counters[len(counters)-1]
			ch <- c
		}
	}
	for _, g := range r.Groups {
		gauge(guardInfo, 1, g.Group, strconv.FormatUint(uint64(g.Block), 10))
		for _, s := range guardStates {
			gauge(guardState, boolValue(s == g.State), g.Group, s)
		}
		counter(guardDropped, g.DroppedPackets, g.Group)
		gauge(guardPortsBound, float64(g.PortsBound), g.Group)
		gauge(guardPortsExpected, float64(g.PortsExpected), g.Group)
		gauge(promotionScore, float64(g.PromotionScore), g.Group)
	}
	for _, p := range r.Passthroughs {
		counter(passthroughFrames, p.Forwarded, p.Group, p.Protocol, p.In, p.Out)
		counter(passthroughBytes, p.Bytes, p.Group, p.Protocol, p.In, p.Out)
	}

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

// translationCounter is one counter of a translation and direction: a
// prometheus.Metric like a const metric, but whose labels are made once for
// the five counters of a translation and direction (a scrape has 40940 of
// them at 4094 translations). Metrics are immutable once collected, labels
// included, so they may share them.
type translationCounter struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair // translationLabels
	value   float64
	counter dto.Counter // what Write hands out: made with the counter, not per Write
}

func (c *translationCounter) Desc() *prometheus.Desc { return c.desc }

func (c *translationCounter) Write(m *dto.Metric) error {
	c.counter.Value = &c.value
	m.Label, m.Counter = c.labels, &c.counter
	return nil
}

// translationLabels are a translation counter's labels, sorted by name
// as the registry wants them.
func translationLabels(translation, direction string) []*dto.LabelPair {
	return []*dto.LabelPair{
		{Name: new("direction"), Value: &direction},
		{Name: new("translation"), Value: &translation},
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
