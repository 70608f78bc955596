// Package kernel is bridgectl's link table: it reads the links of a network
// namespace into plan.Observed values and executes a plan.Plan as typed
// link requests (Apply, Down, SetDown) on a Links — the real kernel (Conn,
// rtnetlink through vishvananda/netlink) or an in-memory one for tests
// (internal/kerneltest).
package kernel

import (
	"fmt"
	"syscall"
	"time"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// Links is a namespace's link table.
type Links interface {
	// Dump reads every link; counters only with stats.
	Dump(stats bool) ([]*plan.Observed, error)
	// Exec carries out reqs in order, and returns how many succeeded
	// before the first failure, and that failure (a *KernelError for a
	// request the kernel refused). Requests after a failure may have been
	// carried out too: callers re-read the links instead of trusting the
	// count.
	Exec(reqs []Request) (done int, err error)
	Close() error
}

// Op is what a Request does.
type Op int

const (
	OpCreate      Op = iota // a new link, down, at Index
	OpSet                   // change Attrs of link Index
	OpUp                    // set link Index up
	OpDown                  // set link Index down
	OpDelete                // delete link Index (and what the kernel deletes with it)
	OpDeleteGroup           // delete every link of device group Group
	OpPromiscOn             // set link Index's own promiscuous flag (IFF_PROMISC)
	OpPromiscOff            // clear it
)

var opNames = [...]string{"create", "set", "up", "down", "delete", "delete group", "promisc on", "promisc off"}

func (o Op) String() string {
	if o < 0 || int(o) >= len(opNames) {
		return fmt.Sprintf("op(%d)", int(o))
	}
	return opNames[o]
}

// Request is one kernel operation on the link table.
type Request struct {
	Op    Op
	Index int    // the link; for OpCreate the ifindex chosen for it
	Name  string // OpCreate
	// OpCreate: plan.VLAN (with VLAN) or plan.Bridge (Attrs.Bridge
	// holds its settings).
	Kind  plan.Kind
	VLAN  VLAN
	Attrs Attrs  // OpCreate, OpSet
	Group uint32 // OpDeleteGroup

	What string        // for error reports
	Done syscall.Errno // an error that means the work is already done, if any
	// Joined: Exec sends the next request in the same sendmsg. The kernel
	// carries out every message of one sendmsg in the sender's system call
	// (netlink_rcv_skb, under rtnl_mutex, with no point where a signal is
	// taken), so a kill -9 of bridgectl cannot fall between the two.
	Joined bool
}

// VLAN is what a VLAN link is stacked on; it cannot change after creation.
type VLAN struct {
	Parent int
	Proto  config.Proto
	ID     uint16
}

// Attrs are the attributes a create or set request carries; the zero value
// of each field leaves that attribute alone.
type Attrs struct {
	Group  uint32 // device group
	MTU    int
	Master *int   // the bridge this link is a port of; 0 releases it
	Alias  string // IFLA_IFALIAS
	// NoAddresses: IPv6 addrgenmode none. The kernel takes it only on an
	// existing link (IFLA_AF_SPEC is ignored in a create).
	NoAddresses bool
	Bridge      *BridgeSettings
}

// BridgeSettings make a transparent translator: no STP, no multicast
// snooping (it must not filter multicast), the given ageing time and
// forward mask.
type BridgeSettings struct {
	Ageing       time.Duration
	GroupFwdMask uint16
}

// joined returns r with Joined set.
func (r Request) joined() Request {
	r.Joined = true
	return r
}

// KernelError is a request the kernel refused.
type KernelError struct {
	What  string
	Errno syscall.Errno
	Msg   string // extended ack text, if any
}

func (e *KernelError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("%s: %v (%s)", e.What, e.Errno, e.Msg)
	}
	return fmt.Sprintf("%s: %v", e.What, e.Errno)
}

func (e *KernelError) Unwrap() error { return e.Errno }
