package configtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Unusable is a configuration file no tool may act on, and a fragment of
// the error config.Load gives for it.
type Unusable struct {
	Name, Path, Sub string
	Invalid         bool // the file's content is the problem (config.Errors)
}

// WriteUnusable writes, in dir, a file of every kind config.Load refuses
// by its limits: more translations than config.MaxTranslations, more bytes
// than config.MaxFileSize, and a FIFO without writer (opening it blocking
// would never return).
func WriteUnusable(dir string) ([]Unusable, error) {
	var ranges strings.Builder
	for i := 1; i <= 5; i++ { // five full VLAN spaces
		fmt.Fprintf(&ranges, "[[translation]]\nname = \"r%d\"\na = { parent = \"eth0\", outer = %d, inner = \"1-4094\" }\nb = { parent = \"eth1\", outer = %d, inner = \"1-4094\" }\n", i, i, i)
	}
	line := "# " + strings.Repeat("x", 77) + "\n"
	many := filepath.Join(dir, "many.toml")
	large := filepath.Join(dir, "large.toml")
	fifo := filepath.Join(dir, "fifo.toml")
	for path, data := range map[string]string{many: ranges.String(), large: strings.Repeat(line, (1<<20)/len(line)+1)} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			return nil, err
		}
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return nil, err
	}
	us := []Unusable{
		{"too many translations", many, "more than the limit of 16384", true},
		{"too large", large, "larger than the limit of 1048576", true},
		{"fifo", fifo, "not a regular file", false},
	}
	return us, nil
}
