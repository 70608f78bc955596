package carrier

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// RecordFile is the state file (in the namespace's state directory) that
// holds the downs carrier propagation made, one "IFINDEX TRUNK CAUSE" per
// line.
const RecordFile = "carrier-downs"

// FormatRecord writes the record.
func FormatRecord(ds []Down) []byte {
	var b bytes.Buffer
	for _, d := range ds {
		fmt.Fprintf(&b, "%d %s %s\n", d.Index, d.Trunk, d.Cause)
	}
	return b.Bytes()
}

// ParseRecord reads a record. A damaged line is skipped: it names nothing
// that could be brought back safely, and a trunk it left down is an
// operator's to bring up (as one never recorded).
func ParseRecord(b []byte) []Down {
	var out []Down
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		i, err := strconv.Atoi(f[0])
		if err != nil || i <= 0 {
			continue
		}
		out = append(out, Down{Index: i, Trunk: f[1], Cause: f[2]})
	}
	return out
}
