package carrier

import (
	"reflect"
	"testing"
	"time"
)

// Link states, by what an operator would see.
var (
	fine       = Link{Exists: true, Up: true, OperUp: true}
	noCarrier  = Link{Exists: true, Up: true}                   // the far end or the cable is gone
	adminDown  = Link{Exists: true}                             // set down (by us or by an operator)
	recovering = Link{Exists: true, Up: true, Recovering: true} // came up, carrier not back yet
	held       = Link{Exists: true, Held: true}                 // a renegotiation kick has it down
	missing    = Link{}
)

func links(a, b Link) map[string]Link {
	a.Index, b.Index = 2, 3
	if !a.Exists {
		a.Index = 0
	}
	if !b.Exists {
		b.Index = 0
	}
	return map[string]Link{"eth0": a, "eth1": b}
}

var (
	open    = []Pair{{A: "eth0", B: "eth1", Open: true}}
	blocked = []Pair{{A: "eth0", B: "eth1"}}
	bDown   = Down{Index: 3, Trunk: "eth1", Cause: "eth0"}
	aDown   = Down{Index: 2, Trunk: "eth0", Cause: "eth1"}
)

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pairs  []Pair
		links  map[string]Link
		record []Down
		want   Plan
	}{
		{name: "both fine: nothing", pairs: open, links: links(fine, fine)},
		{name: "a loses its carrier: b goes down, recorded first", pairs: open, links: links(noCarrier, fine),
			want: Plan{Record: []Down{bDown}, RecordChanged: true, Downs: []Down{bDown}, After: []Down{bDown}}},
		{name: "b loses its carrier: a goes down", pairs: open, links: links(fine, noCarrier),
			want: Plan{Record: []Down{aDown}, RecordChanged: true, Downs: []Down{aDown}, After: []Down{aDown}}},
		{name: "a set down by an operator: propagated", pairs: open, links: links(adminDown, fine),
			want: Plan{Record: []Down{bDown}, RecordChanged: true, Downs: []Down{bDown}, After: []Down{bDown}}},
		{name: "no feedback: b down because of a never takes a down", pairs: open, links: links(noCarrier, adminDown), record: []Down{bDown},
			want: Plan{Record: []Down{bDown}, After: []Down{bDown}}},
		{name: "no feedback once a is back: b comes up, a stays", pairs: open, links: links(fine, adminDown), record: []Down{bDown},
			want: Plan{Record: []Down{bDown}, Ups: []Down{bDown}, AfterChanged: true}},
		{name: "a recovers: b stays down until its carrier is back", pairs: open, links: links(recovering, adminDown), record: []Down{bDown},
			want: Plan{Record: []Down{bDown}, Ups: []Down{bDown}, AfterChanged: true}},
		{name: "b recovering after our up is not a loss", pairs: open, links: links(fine, recovering)},
		{name: "a lost again while b recovers: b down again", pairs: open, links: links(noCarrier, recovering),
			want: Plan{Record: []Down{bDown}, RecordChanged: true, Downs: []Down{bDown}, After: []Down{bDown}}},
		{name: "operator-down b is left down when a is lost", pairs: open, links: links(noCarrier, adminDown)},
		{name: "operator-down b takes a down, and is never brought up", pairs: open, links: links(fine, adminDown),
			want: Plan{Record: []Down{aDown}, RecordChanged: true, Downs: []Down{aDown}, After: []Down{aDown}}},
		{name: "operator brings b up again: a comes back", pairs: open, links: links(adminDown, fine), record: []Down{aDown},
			want: Plan{Record: []Down{aDown}, Ups: []Down{aDown}, AfterChanged: true}},
		{name: "both lost: nothing down (either would hide its return)", pairs: open, links: links(noCarrier, noCarrier)},
		{name: "blocked: a's loss is not propagated", pairs: blocked, links: links(noCarrier, fine)},
		{name: "becoming blocked: our down is undone", pairs: blocked, links: links(noCarrier, adminDown), record: []Down{bDown},
			want: Plan{Record: []Down{bDown}, Ups: []Down{bDown}, AfterChanged: true}},
		{name: "blocked: an operator's down stays", pairs: blocked, links: links(fine, adminDown)},
		{name: "pair no longer configured: our down is undone", links: links(noCarrier, adminDown), record: []Down{bDown},
			want: Plan{Record: []Down{bDown}, Ups: []Down{bDown}, AfterChanged: true}},
		{name: "a vanishes: b comes up", pairs: open, links: links(missing, adminDown), record: []Down{bDown},
			want: Plan{Record: []Down{bDown}, Ups: []Down{bDown}, AfterChanged: true}},
		{name: "a missing: nothing propagated", pairs: open, links: links(missing, fine)},
		{name: "b vanishes while ours: forgotten", pairs: open, links: links(noCarrier, missing), record: []Down{bDown},
			want: Plan{AfterChanged: true}},
		{name: "another device under b's name: forgotten, and taken down as new", pairs: open,
			links:  map[string]Link{"eth0": {Exists: true, Index: 2, Up: true}, "eth1": {Exists: true, Index: 9, Up: true, OperUp: true}},
			record: []Down{bDown},
			want: Plan{Record: []Down{{Index: 9, Trunk: "eth1", Cause: "eth0"}}, RecordChanged: true, Downs: []Down{{Index: 9, Trunk: "eth1", Cause: "eth0"}},
				After: []Down{{Index: 9, Trunk: "eth1", Cause: "eth0"}}, AfterChanged: true}},
		{name: "crash between record and down: the down is done", pairs: open, links: links(noCarrier, fine), record: []Down{bDown},
			want: Plan{Record: []Down{bDown}, Downs: []Down{bDown}, After: []Down{bDown}}},
		{name: "crash between up and forget: forgotten", pairs: open, links: links(fine, fine), record: []Down{bDown},
			want: Plan{Record: []Down{bDown}, AfterChanged: true}},
		{name: "crash between record and down, then blocked: forgotten, b untouched", pairs: blocked, links: links(noCarrier, fine), record: []Down{bDown},
			want: Plan{Record: []Down{bDown}, AfterChanged: true}},
		{name: "a held by a kick is no loss", pairs: open, links: links(held, fine)},
		{name: "b held by a kick stays recorded, untouched", pairs: blocked, links: links(fine, held), record: []Down{bDown},
			want: Plan{Record: []Down{bDown}, After: []Down{bDown}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.pairs, tc.links, tc.record)
			if !reflect.DeepEqual(norm(got), norm(tc.want)) {
				t.Errorf("Decide:\n got %+v\nwant %+v", got, tc.want)
			}
			// Re-deciding after the plan is carried out changes nothing:
			// the plan converges.
			after := carryOut(tc.links, got)
			if again := Decide(tc.pairs, after, got.After); !again.Empty() {
				t.Errorf("after carrying out %+v, Decide again: %+v", got, again)
			}
		})
	}
}

// norm makes empty slices nil.
func norm(p Plan) Plan {
	for _, s := range []*[]Down{&p.Record, &p.Downs, &p.Ups, &p.After} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	return p
}

// carryOut is the links after p: a trunk set down loses its carrier, one
// set up recovers.
func carryOut(ls map[string]Link, p Plan) map[string]Link {
	out := map[string]Link{}
	for n, l := range ls {
		out[n] = l
	}
	for _, d := range p.Downs {
		l := out[d.Trunk]
		l.Up, l.OperUp, l.Recovering = false, false, false
		out[d.Trunk] = l
	}
	for _, d := range p.Ups {
		l := out[d.Trunk]
		l.Up, l.Recovering = true, true
		out[d.Trunk] = l
	}
	return out
}

// TestNoOscillation runs a flap of a through Decide and Recovery as the
// loop does: b follows a down and back up, and b's own slow carrier after
// our up never takes a down.
func TestNoOscillation(t *testing.T) {
	r := NewRecovery(3 * time.Second)
	now := time.Unix(1000, 0)
	state := links(fine, fine)
	var record []Down
	step := func(what string) Plan {
		t.Helper()
		ls := map[string]Link{}
		for n, l := range state {
			l.Recovering = false
			ls[n] = l
		}
		r.Observe(ls, now)
		p := Decide(open, ls, record)
		for _, d := range p.Downs {
			l := state[d.Trunk]
			l.Up, l.OperUp = false, false
			state[d.Trunk] = l
		}
		for _, d := range p.Ups {
			l := state[d.Trunk]
			l.Up = true // the carrier comes back later
			state[d.Trunk] = l
			r.Up(d.Trunk, now)
		}
		record = p.After
		return p
	}
	setA := func(l Link) { l.Index = 2; state["eth0"] = l }

	setA(noCarrier)
	if p := step("a lost"); len(p.Downs) != 1 || p.Downs[0].Trunk != "eth1" {
		t.Fatalf("a lost: %+v, want eth1 down", p)
	}
	setA(fine)
	if p := step("a back"); len(p.Ups) != 1 || p.Ups[0].Trunk != "eth1" {
		t.Fatalf("a back: %+v, want eth1 up", p)
	}
	now = now.Add(time.Second)
	if p := step("b recovering"); !p.Empty() {
		t.Fatalf("b still without carrier 1 s after our up: %+v, want nothing (recovering)", p)
	}
	if at, ok := r.Next(); !ok || !at.Equal(now.Add(2*time.Second)) {
		t.Fatalf("Next = %v, %v: want the end of b's grace", at, ok)
	}
	b := state["eth1"]
	b.OperUp = true
	state["eth1"] = b
	now = now.Add(time.Second)
	if p := step("b's carrier back"); !p.Empty() {
		t.Fatalf("b back: %+v, want nothing", p)
	}
	if _, ok := r.Next(); ok {
		t.Fatalf("Next after b recovered: a timer still armed")
	}
	// b's carrier never returns: after the grace it is a loss.
	setA(noCarrier)
	step("a lost again")
	setA(fine)
	step("a back again")
	now = now.Add(4 * time.Second)
	if p := step("grace over"); len(p.Downs) != 1 || p.Downs[0].Trunk != "eth0" {
		t.Fatalf("b still without carrier after its grace: %+v, want eth0 down (b is lost now)", p)
	}
}

func TestRecoverySeen(t *testing.T) {
	r := NewRecovery(time.Second)
	now := time.Unix(1000, 0)
	// A kick took eth0 down and up between two looks: only the event saw it.
	r.Seen("eth0", false, false)
	ls := links(noCarrier, fine)
	r.Observe(ls, now)
	if !ls["eth0"].Recovering {
		t.Fatalf("eth0 seen down by an event, up now without carrier: not recovering")
	}
	ls = links(noCarrier, fine)
	r.Observe(ls, now.Add(time.Second))
	if ls["eth0"].Recovering {
		t.Fatalf("eth0 still recovering after its grace")
	}

	// Down, up, carrier back, carrier lost, all between two looks: the
	// events say it recovered, so the look finds a loss.
	r.Seen("eth0", false, false)
	r.Seen("eth0", true, false)
	r.Seen("eth0", true, true)
	r.Seen("eth0", true, false)
	ls = links(noCarrier, fine)
	r.Observe(ls, now.Add(2*time.Second))
	if ls["eth0"].Recovering {
		t.Fatalf("eth0 seen oper up by an event, then lost: taken for recovering")
	}
}

func TestRecord(t *testing.T) {
	ds := []Down{bDown, aDown}
	if got := ParseRecord(FormatRecord(ds)); !reflect.DeepEqual(got, ds) {
		t.Fatalf("round trip: %+v, want %+v", got, ds)
	}
	if got := ParseRecord([]byte("x eth1 eth0\n3 eth1\n0 eth1 eth0\n3 eth1 eth0\n")); !reflect.DeepEqual(got, []Down{bDown}) {
		t.Fatalf("damaged lines: %+v, want only the good one", got)
	}
}

func TestSummary(t *testing.T) {
	ls := links(noCarrier, fine)
	p := Decide(open, ls, nil)
	if got, want := Summary(open, ls, p), "eth0<->eth1 (guard open): eth0 no carrier, eth1 down by carrier propagation"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
	ls = links(fine, adminDown)
	p = Decide(blocked, ls, []Down{bDown})
	if got, want := Summary(blocked, ls, p), "eth0<->eth1 (guard blocked): eth0 up, eth1 set up again"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
}
