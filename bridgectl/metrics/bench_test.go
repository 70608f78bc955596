package metrics

import (
	"fmt"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
)

// report is a collector of a fixed report: the cost of the metrics
// without the kernel's.
type report struct{ r *bridgectl.Report }

func (c report) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range all {
		ch <- d
	}
}
func (c report) Collect(ch chan<- prometheus.Metric) { emit(c.r, true, ch) }

// BenchmarkMetrics4094 is what a scrape costs at 4094 translations besides
// the kernel's reads and Status: 40940 translation counters made,
// gathered, and encoded as text (gzip not included). `make bench`
// (-metrics) measures whole scrapes in the VM.
func BenchmarkMetrics4094(b *testing.B) {
	g := bridgectl.GuardStatus{Group: config.DefaultGroup, State: "open"}
	r := &bridgectl.Report{Guard: g, Groups: []bridgectl.GuardStatus{g}}
	for i := 1; i <= 4094; i++ {
		r.Translations = append(r.Translations, bridgectl.TranslationStatus{Name: fmt.Sprintf("bulk.%d", i),
			Directions: []bridgectl.DirectionStatus{
				{Direction: bridgectl.AToB, ReceivedFrames: uint64(i), ReceivedBytes: uint64(64 * i), Frames: uint64(i), Bytes: uint64(64 * i)},
				{Direction: bridgectl.BToA, ReceivedFrames: uint64(2 * i), ReceivedBytes: uint64(128 * i), Frames: uint64(2 * i), Bytes: uint64(128 * i)},
			}})
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(report{r})
	b.ReportAllocs()
	for b.Loop() {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
