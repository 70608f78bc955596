package main

import (
	"strings"
	"testing"

	"github.com/qinqbridge/qinqbridge/internal/clidoc/clidoctest"
)

// Every command's help has an example (app_test.go's TestHelpExamples also
// checks the guard commands' "Examples:" blocks in detail).
func TestEveryCommandHasExample(t *testing.T) { clidoctest.HelpExamples(t, newApp) }

func TestManPage(t *testing.T) {
	out := clidoctest.Man(t, newApp)
	for _, want := range []string{"TCGUARD(8)", "--config, -c FILE", "--netns NAME", "--json", "bridgectl(8)"} {
		if !strings.Contains(out, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
	if strings.Contains(out, "state-dir") {
		t.Error("man page shows the hidden --state-dir")
	}
}
