package kerneltest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// linkTable is the namespace's links, by ifindex.
type linkTable struct {
	links map[int]*link
}

// link is one device. Only the attributes plan.Observed reports are kept;
// OperUp is derived (see operUp), Bound belongs to the tc half.
type link struct {
	plan.Observed
	// fixed: a device the link requests cannot delete (lo, a NIC): a
	// delete of it, or of a group holding it, is EOPNOTSUPP.
	fixed bool
	// noCarrier: the cable is pulled (SetCarrier); the device is up, not
	// oper-up. The zero value has carrier.
	noCarrier bool
	// features: ethtool's feature flags (offloads.go).
	features map[string]plan.Feature
}

func (t *linkTable) init() {
	t.links = map[int]*link{1: {Observed: plan.Observed{Index: 1, Name: "lo", MTU: 65536, Up: true}, fixed: true}}
}

// Links is the link table as bridgectl's kernel.Links.
func (k *Kernel) Links() kernel.Links { return links{k} }

type links struct{ k *Kernel }

func (l links) Close() error { return nil }

// Dump returns every link, by ifindex, with the counters tests set
// (SetLink) if stats is asked for, as the kernel skips them otherwise.
func (l links) Dump(stats bool) ([]*plan.Observed, error) {
	k := l.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("dump links"); err != nil {
		return nil, err
	}
	var out []*plan.Observed
	for _, i := range slices.Sorted(maps.Keys(k.links)) {
		o := k.links[i].Observed
		o.OperUp = k.operUp(i)
		if !stats {
			o.RxPackets, o.TxPackets, o.RxBytes, o.TxBytes, o.RxDropped, o.TxDropped = 0, 0, 0, 0, 0, 0
		}
		out = append(out, &o)
	}
	return out, nil
}

// Exec carries out reqs in order and stops at the first failure. A
// request Joined to the next and that next one form one sendmsg: they
// happen together or, when one of them fails, not at all (a kill cannot
// fall between them).
func (l links) Exec(reqs []kernel.Request) (int, error) {
	k := l.k
	k.mu.Lock()
	defer k.mu.Unlock()
	for start, end := 0, 0; start < len(reqs); start = end {
		end = start + 1
		for end < len(reqs) && reqs[end-1].Joined {
			end++
		}
		saved, log := k.snapshot(), len(k.Log)
		for i := start; i < end; i++ {
			if err := k.exec(reqs[i]); err != nil {
				k.links, k.Log = saved, k.Log[:log]
				return start, err
			}
		}
	}
	return len(reqs), nil
}

// snapshot copies the link table (for a joined group that fails).
func (k *Kernel) snapshot() map[int]*link {
	m := make(map[int]*link, len(k.links))
	for i, l := range k.links {
		c := *l
		m[i] = &c
	}
	return m
}

// exec carries out one request, or returns the kernel's error for it (nil
// for the errno r.Done names).
func (k *Kernel) exec(r kernel.Request) error {
	err := k.fail(r.Op.String())
	if err == nil {
		err = k.apply(r)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if errno == r.Done {
			return nil
		}
		return &kernel.KernelError{What: r.What, Errno: errno}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", r.What, err)
	}
	return nil
}

func (k *Kernel) apply(r kernel.Request) error {
	switch r.Op {
	case kernel.OpCreate:
		return k.create(r)
	case kernel.OpSet:
		l := k.links[r.Index]
		if l == nil {
			return unix.ENODEV
		}
		if err := k.set(l, r.Attrs); err != nil {
			return err
		}
		k.logf("set %s %+v", l.Name, r.Attrs)
	case kernel.OpUp, kernel.OpDown:
		l := k.links[r.Index]
		if l == nil {
			return unix.ENODEV
		}
		l.Up = r.Op == kernel.OpUp
		k.logf("%s %s", r.Op, l.Name)
	case kernel.OpPromiscOn, kernel.OpPromiscOff:
		l := k.links[r.Index]
		if l == nil {
			return unix.ENODEV
		}
		l.Promisc = r.Op == kernel.OpPromiscOn
		k.logf("%s %s", r.Op, l.Name)
	case kernel.OpDelete:
		l := k.links[r.Index]
		if l == nil {
			return unix.ENODEV
		}
		if l.fixed {
			return unix.EOPNOTSUPP
		}
		k.logf("delete %s", l.Name)
		k.delete(r.Index)
	case kernel.OpDeleteGroup:
		var members []int
		for i, l := range k.links {
			if l.Group == r.Group {
				if l.fixed {
					return unix.EOPNOTSUPP
				}
				members = append(members, i)
			}
		}
		if len(members) == 0 {
			return unix.ENODEV
		}
		k.logf("delete group %d", r.Group)
		for _, i := range members {
			k.delete(i)
		}
	default:
		return unix.EOPNOTSUPP
	}
	return nil
}

func (k *Kernel) create(r kernel.Request) error {
	if r.Index <= 0 || r.Name == "" || len(r.Name) > unix.IFNAMSIZ-1 {
		return unix.EINVAL
	}
	if k.links[r.Index] != nil || k.byName(r.Name) != nil {
		return unix.EEXIST
	}
	l := &link{Observed: plan.Observed{Index: r.Index, Name: r.Name, Kind: string(r.Kind), MTU: 1500}}
	switch r.Kind {
	case plan.VLAN:
		parent := k.links[r.VLAN.Parent]
		if parent == nil {
			return unix.ENODEV
		}
		proto := r.VLAN.Proto
		if proto == 0 {
			proto = config.Dot1Q
		}
		for _, o := range k.links {
			if o.Kind == string(plan.VLAN) && o.ParentIndex == parent.Index && o.Proto == proto && o.ID == r.VLAN.ID {
				return unix.EEXIST
			}
		}
		l.ParentIndex, l.Proto, l.ID, l.MTU = parent.Index, proto, r.VLAN.ID, parent.MTU
	case plan.Bridge:
		// The kernel's defaults until the settings below.
		l.STP, l.McastSnoop, l.Ageing = false, true, 300e9
	default:
		return unix.EOPNOTSUPP
	}
	k.links[r.Index] = l
	if err := k.set(l, r.Attrs); err != nil {
		delete(k.links, r.Index)
		return err
	}
	// The kernel takes IPv6 settings only on an existing link, and
	// ignores an alias in a create.
	l.AddrGenNone, l.Alias = false, ""
	k.logf("create %s %s #%d", r.Kind, r.Name, r.Index)
	return nil
}

// set changes attributes of l as RTM_NEWLINK does, all or nothing.
func (k *Kernel) set(l *link, a kernel.Attrs) error {
	if a.MTU > 0 && l.Kind == string(plan.VLAN) && a.MTU > k.links[l.ParentIndex].MTU {
		return unix.ERANGE
	}
	if a.Master != nil && *a.Master != 0 {
		m := k.links[*a.Master]
		switch {
		case m == nil:
			return unix.ENODEV
		case m.Kind != string(plan.Bridge) || m.Index == l.Index:
			return unix.EOPNOTSUPP
		}
	}
	if a.Bridge != nil && l.Kind != string(plan.Bridge) {
		return unix.EOPNOTSUPP
	}
	if a.Group != 0 {
		l.Group = a.Group
	}
	if a.MTU > 0 {
		l.MTU = a.MTU
	}
	if a.Master != nil {
		l.MasterIndex = *a.Master
	}
	if a.Alias != "" {
		l.Alias = a.Alias
	}
	if a.NoAddresses {
		l.AddrGenNone = true
	}
	if b := a.Bridge; b != nil {
		l.STP, l.McastSnoop, l.Ageing, l.GroupFwdMask = false, false, b.Ageing, b.GroupFwdMask
	}
	return nil
}

// delete removes link i with the VLANs stacked on it, and releases its
// ports. Callers hold k.mu and checked that i may go.
func (k *Kernel) delete(i int) {
	if k.links[i] == nil {
		return
	}
	delete(k.links, i)
	k.unregister(i)
	for j, o := range k.links {
		if o.MasterIndex == i {
			o.MasterIndex = 0
		}
		if o.Kind == string(plan.VLAN) && o.ParentIndex == i {
			k.delete(j)
		}
	}
}

// operUp is the oper state the kernel would report: up when up, and for a
// VLAN when its parent is oper-up too, for a bridge when a port is, for
// any other device when it has carrier.
func (k *Kernel) operUp(i int) bool {
	l := k.links[i]
	switch {
	case l == nil || !l.Up || l.Name == "lo":
		return false
	case l.Kind == string(plan.VLAN):
		return k.operUp(l.ParentIndex)
	case l.Kind == string(plan.Bridge):
		for j, o := range k.links {
			if o.MasterIndex == i && k.operUp(j) {
				return true
			}
		}
		return false
	}
	return !l.noCarrier
}

func (k *Kernel) byName(name string) *link {
	for _, l := range k.links {
		if l.Name == name {
			return l
		}
	}
	return nil
}

// AddNIC adds a physical interface, up with carrier, and returns its
// ifindex. Like lo, it cannot be deleted.
func (k *Kernel) AddNIC(name string, mtu int) int {
	return k.AddLink(plan.Observed{Name: name, MTU: mtu, Up: true}, true)
}

// AddLink adds a link as somebody else would (an admin, another program):
// o as given, at the next free ifindex unless o.Index is set. fixed makes it
// undeletable, as a NIC. It panics on a taken name or index.
func (k *Kernel) AddLink(o plan.Observed, fixed bool) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if o.Index == 0 {
		o.Index = 1
		for i := range k.links {
			o.Index = max(o.Index, i+1)
		}
	}
	if k.links[o.Index] != nil || k.byName(o.Name) != nil {
		panic(fmt.Sprintf("kerneltest: %s #%d exists", o.Name, o.Index))
	}
	o.OperUp, o.Bound = false, false
	k.links[o.Index] = &link{Observed: o, fixed: fixed}
	return o.Index
}

// Link returns the link called name as a dump would, or nil.
func (k *Kernel) Link(name string) *plan.Observed {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.byName(name)
	if l == nil {
		return nil
	}
	o := l.Observed
	o.OperUp = k.operUp(o.Index)
	return &o
}

// mustLink is the link called name; callers hold k.mu. A test naming a
// link that does not exist is a broken test: it panics.
func (k *Kernel) mustLink(name string) *link {
	l := k.byName(name)
	if l == nil {
		panic(fmt.Sprintf("kerneltest: no link %s", name))
	}
	return l
}

// SetLink changes a link's attributes as somebody else would (an admin's
// `ip link set`): edit gets a copy of them and what it leaves is kept,
// unchecked, as AddLink adds. The ifindex and name stay; OperUp and Bound
// are derived and ignored.
func (k *Kernel) SetLink(name string, edit func(o *plan.Observed)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.mustLink(name)
	o := l.Observed
	edit(&o)
	o.Index, o.Name, o.OperUp, o.Bound = l.Index, l.Name, false, false
	l.Observed = o
}

// SetCarrier plugs (on) or pulls the cable of a device: without carrier
// it is not oper-up, nor are the VLANs on it.
func (k *Kernel) SetCarrier(name string, on bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.mustLink(name).noCarrier = !on
}

// DeleteLink deletes the link called name as `ip link del` does, or as a
// NIC goes when it is unplugged: the VLANs on it and its tc objects go
// with it.
func (k *Kernel) DeleteLink(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.delete(k.mustLink(name).Index)
}
