package traffic

import (
	"testing"
	"time"
)

func TestLongestGap(t *testing.T) {
	// Five sends 10 ns apart.
	sent := []int64{0, 10, 20, 30, 40}
	for _, tc := range []struct {
		name       string
		seen       []bool
		gap, start int64
	}{
		{"all received", []bool{true, true, true, true, true}, 0, 0},
		{"middle lost", []bool{true, false, false, true, true}, 20, 10},
		{"first lost", []bool{false, true, true, true, true}, 10, 0},
		{"tail lost", []bool{true, true, true, false, false}, 20, 30},
		{"nothing received", []bool{false, false, false, false, false}, 50, 0},
		{"two holes, second longer", []bool{true, false, true, false, false}, 20, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gap, start := longestGap(sent, func(i int) bool { return tc.seen[i] }, 10)
			if gap != tc.gap || start != tc.start {
				t.Fatalf("gap %d from %d, want %d from %d", gap, start, tc.gap, tc.start)
			}
		})
	}
}

func TestCleanTail(t *testing.T) {
	// Five sends 10 ns apart.
	sent := []int64{0, 10, 20, 30, 40}
	for _, tc := range []struct {
		name string
		seen []bool
		tail int64
	}{
		{"all received: the whole session", []bool{true, true, true, true, true}, 50},
		{"recovered after a gap", []bool{true, false, false, true, true}, 20},
		{"only the last frame", []bool{false, false, false, false, true}, 10},
		{"last frame lost", []bool{true, true, true, true, false}, 0},
		{"never recovered", []bool{true, false, false, false, false}, 0},
		{"nothing received", []bool{false, false, false, false, false}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cleanTail(sent, func(i int) bool { return tc.seen[i] }, 10); got != tc.tail {
				t.Fatalf("tail %d, want %d", got, tc.tail)
			}
		})
	}
	if got := cleanTail(nil, func(int) bool { return true }, 10); got != 0 {
		t.Fatalf("nothing sent: tail %d, want 0", got)
	}
}

func TestFlowStats(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		sent                 int
		recv                 []uint64
		lost, dup, ooo, rcvd int
	}{
		{"in order", 4, []uint64{0, 1, 2, 3}, 0, 0, 0, 4},
		{"lost", 4, []uint64{0, 3}, 2, 0, 0, 2},
		{"duplicated", 3, []uint64{0, 1, 1, 2, 2}, 0, 2, 0, 5},
		{"out of order", 4, []uint64{0, 2, 1, 3}, 0, 0, 1, 4},
		{"late duplicate is not out of order", 3, []uint64{0, 1, 2, 0}, 0, 1, 0, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFlowState(Flow{Name: "f", Rate: 1000})
			for i := 0; i < tc.sent; i++ {
				fs.sentNs = append(fs.sentNs, int64(i)*int64(time.Millisecond))
			}
			for _, s := range tc.recv {
				fs.received(s)
			}
			st := fs.stats()
			if st.Sent != tc.sent || st.Lost != tc.lost || st.Duplicated != tc.dup || st.OutOfOrder != tc.ooo || st.Received != tc.rcvd {
				t.Fatalf("got %+v", st)
			}
		})
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	p := payload{Flow: 7, Seq: 123456, SentNs: 987654321}
	b := p.marshal(nil)
	got, err := parsePayload(append(b, 0, 0, 0)) // Ethernet padding after it
	if err != nil || got != p {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"other magic", append([]byte("XXXX"), b[4:]...), errNotOurs},
		{"short", b[:headerLen+3], errCorrupt},
		{"pattern flipped", func() []byte { c := append([]byte(nil), b...); c[headerLen+5] ^= 0xff; return c }(), errCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parsePayload(tc.b); err != tc.want {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}
