// Package metrics exports a namespace's translations, guard and
// configuration to Prometheus: `bridgectl metrics`, and `bridgectl watch
// --metrics`. Its Collector reads the kernel on each scrape through
// bridgectl.Manager.Status, the report `bridgectl status --json` prints, so
// the two always carry the same counters; it takes no lock that apply,
// down or the agents wait for. The metrics and their labels are listed in
// descs.go.
package metrics
