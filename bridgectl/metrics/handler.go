package metrics

import (
	"log"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxScrapes bounds the scrapes served at once: each reads the whole
// namespace (a few tens of milliseconds at 4094 translations). Two allow
// a second Prometheus; more wait.
const maxScrapes = 2

// scrapeTimeout ends a scrape that reads the kernel for longer (503).
const scrapeTimeout = 30 * time.Second

// Handler serves c's metrics at /metrics, with the process's and the Go
// runtime's, and a pointer to them at /. Scrape errors are logged to
// logger and answered 500.
func Handler(c *Collector, logger *log.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            logger,
		ErrorHandling:       promhttp.HTTPErrorOnError,
		MaxRequestsInFlight: maxScrapes,
		Timeout:             scrapeTimeout,
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("qinqbridge metrics: /metrics\n"))
	})
	return mux
}
