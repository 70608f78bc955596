package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The examples operators copy (examples/): the alert rules and the Grafana
// dashboard use metrics this package exports, and Prometheus' own checker
// accepts their PromQL.

const examples = "../../examples"

// promtool runs Prometheus' promtool (Debian package prometheus, in the
// Makefile's TEST_DEBS) in dir and fails the test on a non-zero exit.
func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install prometheus (make deps does)")
	}
	cmd := exec.Command(p, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The alert rules check, their metrics exist, and they fire when they
// should and only then (testdata/alerts_test.yml: two nodes forwarding
// one group, a switchover that does not overlap, drift that lasts).
func TestAlertRules(t *testing.T) {
	rules := filepath.Join(examples, "prometheus-alerts.yml")
	promtool(t, ".", "check", "rules", rules)
	promtool(t, "testdata", "test", "rules", "alerts_test.yml")
	b, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	checkNames(t, rules, string(b))
}

// The dashboard is JSON Grafana reads, every query is PromQL promtool
// accepts once Grafana's variables are replaced, and every metric it
// queries is one the collector exports.
func TestDashboard(t *testing.T) {
	path := filepath.Join(examples, "grafana-dashboard.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$cluster", ".*", "$instance", ".*", "$translation", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			n++
			expr, _ := json.Marshal(vars.Replace(tg.Expr)) // a JSON string is a YAML string
			fmt.Fprintf(&rules, "      - record: dashboard:panel%d\n        expr: %s\n", n, expr)
		}
	}
	if n < 10 {
		t.Fatalf("%s: %d queries, want the 10 or more it had", path, n)
	}
	rulesFile := filepath.Join(t.TempDir(), "dashboard.yml")
	if err := os.WriteFile(rulesFile, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, ".", "check", "rules", rulesFile)
	checkNames(t, path, string(b))
}

// checkNames fails t for a qinqbridge_ metric in text that the collector
// does not export.
func checkNames(t *testing.T, file, text string) {
	t.Helper()
	var exported []string
	for _, d := range all {
		exported = append(exported, regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())[1])
	}
	used := regexp.MustCompile(`qinqbridge_[a-z_]+`).FindAllString(text, -1)
	if len(used) == 0 {
		t.Fatalf("%s queries no qinqbridge metric", file)
	}
	for _, name := range used {
		if !slices.Contains(exported, name) {
			t.Errorf("%s: %s is not a metric bridgectl exports", file, name)
		}
	}
}
