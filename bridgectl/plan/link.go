// Package plan computes, in pure Go, what bridgectl must change in the kernel:
// the links a configuration wants (Desired), the links the kernel has
// (State), and the difference between them as an ordered Plan. Nothing here
// touches the kernel, so every decision is unit-tested against fake states.
package plan

import (
	"strings"
	"time"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
)

// Kind is a link's rtnetlink kind.
type Kind string

const (
	VLAN   Kind = "vlan"
	Bridge Kind = "bridge"
)

// Ownership marks. A link is bridgectl's only with both of them:
//
//   - defaults.OwnerGroup in its device group (IFLA_GROUP), set in the very message
//     that creates it. Links on their way out are moved to defaults.DoomedGroup and
//     deleted with one group delete (one kernel batch instead of one RCU
//     grace period per link); a crash in between leaves them still ours.
//   - An alias (IFLA_IFALIAS) starting with Mark, the link's purpose
//     ("qinqbridge vps-bm a"). A device group is a number any admin or
//     program may pick, so the group alone would make `down` delete an
//     admin's link, or fail on one it cannot delete (lo, a NIC). The kernel
//     ignores an alias in a create request, so it is set by a second
//     request in the same sendmsg (kernel.Request.Joined): the kernel runs
//     one sendmsg's requests in the sender's system call, so a kill -9
//     cannot fall between the two. Should a link still end up in the group
//     with an empty alias, apply adopts it if the configuration wants a
//     link of that name, kind and VLAN identity (see adoptable); any other
//     link in the group without the mark is foreign: reported, never
//     changed or deleted.
const (
	Mark = "qinqbridge"
)

// GroupFwdMask is the bridges' group_fwd_mask: forward every link-local
// group address the kernel lets a bridge forward (all but STP, MAC PAUSE
// and LACP), so the translator is transparent to LLDP, 802.1X and friends.
const GroupFwdMask uint16 = 0xfff8

// Link is one kernel link as qinqbridge wants it.
type Link struct {
	Name   string
	Kind   Kind
	Parent string        // vlan: the link it is stacked on
	Proto  config.Proto  // vlan
	ID     uint16        // vlan
	Master string        // bridge ports: their bridge
	MTU    int           // wanted MTU
	Ageing time.Duration // bridges: MAC ageing time
	Alias  string        // IFLA_IFALIAS: what the link is for, for operators
	Port   bool          // a bridge port: bound to the guard before it comes up
	// GuardBlock: a port's guard, its translation group's block.
	GuardBlock uint32
}

// Observed is one link as the kernel reports it.
type Observed struct {
	Index        int
	Name         string
	Kind         string // rtnetlink kind; "" for devices without one (NICs)
	ParentIndex  int
	Proto        config.Proto
	ID           uint16
	MasterIndex  int
	MTU          int
	Up           bool // administratively up (IFF_UP)
	OperUp       bool
	Group        uint32
	Alias        string
	AddrGenNone  bool // IPv6 addrgenmode none: no link-local address, no chatter
	STP          bool
	McastSnoop   bool
	Ageing       time.Duration
	GroupFwdMask uint16
	Bound        bool   // a clsact on its ingress is bound to a guard's block (of the file's groups)
	BoundBlock   uint32 // that block; 0 if not bound or not read
	Promisc      bool   // IFF_PROMISC set by a user (not a bridge's or a VLAN's)
	// Offloads: the features the tc datapath cares about (TrunkOffloads)
	// that the device has; read for trunks only.
	Offloads map[string]Feature

	// Counters, read only by status (IFLA_STATS64).
	RxPackets, TxPackets, RxBytes, TxBytes uint64
	RxDropped, TxDropped                   uint64
}

// InGroup reports whether the link is in one of bridgectl's device groups.
func (o *Observed) InGroup() bool {
	return o.Group == defaults.OwnerGroup || o.Group == defaults.DoomedGroup
}

// Marked reports whether the link's alias carries bridgectl's mark.
func (o *Observed) Marked() bool {
	return o.Alias == Mark || strings.HasPrefix(o.Alias, Mark+" ")
}

// Owned reports whether bridgectl made the link: both marks.
func (o *Observed) Owned() bool { return o.InGroup() && o.Marked() }

// State is the kernel's links in one network namespace.
type State struct {
	ByName  map[string]*Observed
	ByIndex map[int]*Observed
}

// NewState indexes observed links.
func NewState(links []*Observed) *State {
	s := &State{ByName: make(map[string]*Observed, len(links)), ByIndex: make(map[int]*Observed, len(links))}
	for _, l := range links {
		s.ByName[l.Name] = l
		s.ByIndex[l.Index] = l
	}
	return s
}

// Name returns the name of the link with index i, or "" if there is none.
func (s *State) Name(i int) string {
	if l := s.ByIndex[i]; l != nil {
		return l.Name
	}
	return ""
}
