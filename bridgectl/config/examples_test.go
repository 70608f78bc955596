package config

import (
	"path/filepath"
	"testing"
)

// The examples users copy must stay valid as the configuration evolves.
func TestExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d example configurations, want the 4 or more in examples/", len(files))
	}
	for _, f := range files {
		if _, _, err := Load(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}
