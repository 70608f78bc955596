package main

import (
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/internal/clidoc/clidoctest"
)

func TestHelpExamples(t *testing.T) { clidoctest.HelpExamples(t, newApp) }

func TestManPage(t *testing.T) {
	out := clidoctest.Man(t, newApp)
	for _, want := range []string{"BRIDGECTL(8)", "--config, -c FILE", "--netns NAME", "--verbose, -v", "--json", "tcguard(8)", "--listen ADDR", "--metrics ADDR", "qinqbridge_config_drift"} {
		if !strings.Contains(out, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
	if strings.Contains(out, "state-dir") {
		t.Error("man page shows the hidden --state-dir")
	}
}
