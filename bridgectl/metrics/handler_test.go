package metrics

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The HTTP side: the metrics at /metrics in the text format, a pointer at
// /, nothing elsewhere, and a scrape that cannot read the namespace is a
// 500 (Prometheus' up goes to 0) with the reason logged.
func TestHandler(t *testing.T) {
	n := newNode(t)
	n.apply(t, twoTranslations, false)
	broken := newNode(t) // no file, nothing applied
	var logged strings.Builder
	logger := log.New(&logged, "", 0)
	for _, c := range []struct {
		name, path string
		n          *node
		code       int
		has        string
	}{
		{"metrics", "/metrics", n, http.StatusOK, `qinqbridge_guard_state{group="default",state="blocked"} 1`},
		{"go and process metrics too", "/metrics", n, http.StatusOK, "process_cpu_seconds_total"},
		{"index", "/", n, http.StatusOK, "/metrics"},
		{"elsewhere", "/other", n, http.StatusNotFound, ""},
		{"unreadable", "/metrics", broken, http.StatusInternalServerError, "qinqbridge.toml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(Handler(NewCollector(c.n.path, c.n.open), logger))
			defer srv.Close()
			resp, err := http.Get(srv.URL + c.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.code || !strings.Contains(string(body), c.has) {
				t.Fatalf("GET %s: %d, want %d with %q:\n%.2000s", c.path, resp.StatusCode, c.code, c.has, body)
			}
		})
	}
	if !strings.Contains(logged.String(), "qinqbridge.toml") {
		t.Errorf("the failed scrape was not logged: %q", logged.String())
	}
}
