package tcguard

import (
	"path/filepath"
	"testing"

	"github.com/florianl/go-tc"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/internal/kerneltest"
	"github.com/qinqbridge/qinqbridge/internal/tcnl"
)

// newKernel is an in-memory namespace with the given devices (and lo).
func newKernel(t *testing.T, devices ...int) *kerneltest.Kernel {
	k := kerneltest.New()
	for _, d := range devices {
		k.AddDevice(d)
	}
	return k
}

// guardOn returns a Guard of block talking to k.
func guardOn(t *testing.T, k *kerneltest.Kernel, block uint32) *Guard {
	g := New(Options{Block: block, StateDir: filepath.Join(t.TempDir(), "default")}, k.TC())
	t.Cleanup(func() { g.Close() })
	return g
}

// ingressQdisc is a qdisc in a device's ingress slot; blocks 0 are unbound.
func ingressQdisc(ifindex int, kind string, ingressBlock, egressBlock uint32) tc.Object {
	q := tc.Object{Msg: tc.Msg{Ifindex: uint32(ifindex), Parent: tc.HandleIngress}, Attribute: tc.Attribute{Kind: kind}}
	if ingressBlock != 0 {
		q.IngressBlock = new(ingressBlock)
	}
	if egressBlock != 0 {
		q.EgressBlock = new(egressBlock)
	}
	return q
}

// blockFilter is a filter of a block, for planting; actions are gact with
// the given verdicts.
func blockFilter(block uint32, chain uint32, prio uint16, handle uint32, kind string, verdicts ...uint32) tc.Object {
	m := blockMsg(block)
	m.Handle, m.Info = handle, tcnl.Info(prio, unix.ETH_P_ALL)
	f := tc.Object{Msg: m, Attribute: tc.Attribute{Kind: kind, Chain: new(chain)}}
	if len(verdicts) > 0 {
		var acts []*tc.Action
		for _, v := range verdicts {
			acts = append(acts, &tc.Action{Kind: kindGact, Gact: &tc.Gact{Parms: &tc.GactParms{Action: v}}, Stats: &tc.GenStats{Basic: &tc.GenBasic{}}})
		}
		f.Matchall = &tc.Matchall{Actions: &acts}
	}
	return f
}

// kernelSays is an error as the kernel answers it through go-tc.
func kernelSays(errno unix.Errno, text string) error {
	return &netlink.OpError{Op: "receive", Err: errno, Message: text}
}

// guardFilterNow is the filter at our priority and handle in k, if any.
func guardFilterNow(t *testing.T, k *kerneltest.Kernel, block uint32) (filter, bool) {
	t.Helper()
	objs, err := k.TC().Filters(guardMsg(block))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if f := filterOf(o); f.handle == FilterHandle && f.chain == 0 {
			return f, true
		}
	}
	return filter{}, false
}
