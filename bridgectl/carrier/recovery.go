package carrier

import "time"

// DefaultGrace is how long a trunk that came up may stay oper down before
// that counts as a loss: a PHY's autonegotiation takes 1-3 s on copper
// and fibre; a veth's carrier is there at once.
const DefaultGrace = 5 * time.Second

// Recovery remembers which trunks came up a moment ago. A trunk that was
// seen administratively down (or held by a kick) and is now up is
// recovering until it is oper up or Grace has passed since it came up:
// without this, bringing a trunk up would read as its loss and take its
// partner down again, and the pair would oscillate. Not safe for
// concurrent use.
type Recovery struct {
	Grace time.Duration
	since map[string]time.Time // up since, for trunks that may be recovering
	down  map[string]bool      // last seen administratively down or held
}

// NewRecovery returns a Recovery with grace (DefaultGrace if 0).
func NewRecovery(grace time.Duration) *Recovery {
	if grace <= 0 {
		grace = DefaultGrace
	}
	return &Recovery{Grace: grace, since: map[string]time.Time{}, down: map[string]bool{}}
}

// Up notes that name was set up at now (by us).
func (r *Recovery) Up(name string, now time.Time) {
	r.since[name] = now
	r.down[name] = false
}

// Seen notes one link event, in the order the kernel sent them: a trunk
// seen administratively down, even for a moment between two looks at the
// links (a kick's hold, an operator's flap), recovers when it is next seen
// up; one seen oper up has recovered, even if it is down again by the
// next look (that is a loss).
func (r *Recovery) Seen(name string, up, operUp bool) {
	switch {
	case !up:
		r.down[name] = true
		delete(r.since, name)
	case operUp:
		r.down[name] = false
		delete(r.since, name)
	}
}

// Observe notes the links' states at now and sets their Recovering.
func (r *Recovery) Observe(links map[string]Link, now time.Time) {
	for name := range r.since {
		if _, ok := links[name]; !ok {
			delete(r.since, name)
		}
	}
	for name, l := range links {
		switch {
		case !l.Exists:
			delete(r.since, name)
			delete(r.down, name)
			continue
		case !l.Up || l.Held:
			r.down[name] = true
			delete(r.since, name)
		case r.down[name]:
			r.down[name] = false
			r.since[name] = now
		}
		t, ok := r.since[name]
		if ok && (l.OperUp || now.Sub(t) >= r.Grace) {
			delete(r.since, name) // recovered, or its grace is over
			continue
		}
		if ok {
			l.Recovering = true
			links[name] = l
		}
	}
}

// Next is when the earliest grace ends: the loop decides again then,
// woken by a timer (ok false: nothing is recovering).
func (r *Recovery) Next() (at time.Time, ok bool) {
	for _, t := range r.since {
		if end := t.Add(r.Grace); !ok || end.Before(at) {
			at, ok = end, true
		}
	}
	return at, ok
}
