package tcguard

import (
	"errors"
	"fmt"

	"github.com/florianl/go-tc"
	"github.com/mdlayher/netlink"
)

// TC is the guard's seam to the kernel's tc objects of one network
// namespace, in florianl/go-tc's types: exactly the requests the guard makes.
// Errors are the kernel's (a *netlink.OpError carrying the errno and the
// extended-ack text). internal/kerneltest implements it in memory.
type TC interface {
	// Qdiscs lists every qdisc of the namespace (kind and shared blocks).
	Qdiscs() ([]tc.Object, error)
	// IngressQdisc is the qdisc in the device's ingress slot.
	IngressQdisc(ifindex uint32) (tc.Object, error)
	// AddQdisc creates a qdisc, never replacing one (NLM_F_EXCL).
	AddQdisc(*tc.Object) error
	// Filters dumps the filters msg selects (Info: priority and protocol).
	Filters(msg tc.Msg) ([]tc.Object, error)
	// AddFilter creates a filter, never replacing one (NLM_F_EXCL).
	AddFilter(*tc.Object) error
	// DeleteFilter deletes the filter with the object's kind, priority and
	// handle.
	DeleteFilter(*tc.Object) error
	// Chains dumps the chains of the block msg names.
	Chains(msg tc.Msg) ([]tc.Object, error)
	// AddChain creates an empty chain (Attribute.Chain), never a template.
	AddChain(*tc.Object) error
	Close() error
}

// kernelTC is TC over rtnetlink: go-tc for what it can say, rawTC
// (rawtc.go) for the rest.
type kernelTC struct {
	tc  *tc.Tc
	raw *rawTC
}

// openTC opens both sockets in the namespace fd (0: the current one).
func openTC(fd int) (*kernelTC, error) {
	t, err := tc.Open(&tc.Config{NetNS: fd})
	if err != nil {
		return nil, fmt.Errorf("tcguard: rtnetlink socket: %w", err)
	}
	// The kernel's error text (extended ack) in our errors; optional, old
	// kernels just give less detail. Not CapAcknowledge: with capped acks
	// mdlayher/netlink v1.11 misplaces the text and loses the errno.
	_ = t.SetOption(netlink.ExtendedAcknowledge, true)
	raw, err := dialRawTC(fd)
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("tcguard: rtnetlink socket: %w", err)
	}
	return &kernelTC{tc: t, raw: raw}, nil
}

func (k *kernelTC) Qdiscs() ([]tc.Object, error) { return k.raw.qdiscs() }
func (k *kernelTC) IngressQdisc(ifindex uint32) (tc.Object, error) {
	return k.raw.ingressQdisc(ifindex)
}
func (k *kernelTC) AddQdisc(o *tc.Object) error           { return k.tc.Qdisc().Add(o) }
func (k *kernelTC) Filters(m tc.Msg) ([]tc.Object, error) { return k.tc.Filter().Get(&m) }
func (k *kernelTC) AddFilter(o *tc.Object) error          { return k.tc.Filter().Add(o) }
func (k *kernelTC) DeleteFilter(o *tc.Object) error       { return k.tc.Filter().Delete(o) }
func (k *kernelTC) Chains(m tc.Msg) ([]tc.Object, error)  { return k.tc.Chain().Get(&m) }
func (k *kernelTC) AddChain(o *tc.Object) error           { return k.raw.addChain(o) }
func (k *kernelTC) Close() error                          { return errors.Join(k.tc.Close(), k.raw.close()) }
