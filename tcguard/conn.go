package tcguard

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// defaultBatch is how many requests go out in one sendmsg. rtnetlink handles
// a whole sendmsg before returning, queueing one ack per request on our
// socket; an ack that does not fit the receive buffer is dropped (ENOBUFS),
// so a batch must stay well below buffer / per-ack memory (~1 KiB each).
const defaultBatch = 128

// rcvBuf is the receive buffer we ask for (the kernel caps it at rmem_max,
// 208 KiB by default, which still holds defaultBatch acks).
const rcvBuf = 1 << 20

// ioTimeout bounds every wait for the kernel. The kernel answers rtnetlink
// requests synchronously, so this only fires if an answer was lost.
const ioTimeout = 60 * time.Second

// reply is the outcome of one request of a batch: the messages answering it
// (a get's object) and its error (nil when acked).
type reply struct {
	msgs []netlink.Message
	err  error
}

// batch sends reqs, every one flagged NLM_F_ACK, chunk by chunk over one
// socket and returns one reply per request, in order. It fails as a whole
// only when the socket does (then the state of the unanswered requests is
// unknown and the caller must re-read the kernel's state).
func (g *Guard) batch(reqs []netlink.Message) ([]reply, error) {
	out := make([]reply, len(reqs))
	for start := 0; start < len(reqs); start += g.batchSize {
		end := min(start+g.batchSize, len(reqs))
		sent, err := g.conn.SendMessages(reqs[start:end])
		if err != nil {
			return nil, err
		}
		pending := make(map[uint32]int, len(sent)) // sequence -> index in reqs
		for i, m := range sent {
			pending[m.Header.Sequence] = start + i
		}
		if err := g.conn.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
			return nil, err
		}
		for len(pending) > 0 {
			msgs, err := g.conn.Receive()
			if err != nil {
				var oe *netlink.OpError
				if errors.As(err, &oe) && oe.Sequence != 0 {
					if i, ok := pending[oe.Sequence]; ok {
						out[i].err = err
						delete(pending, oe.Sequence)
					}
					continue // a stale answer to an earlier, abandoned request
				}
				return nil, fmt.Errorf("receiving tc answers: %w", err)
			}
			for _, m := range msgs {
				i, ok := pending[m.Header.Sequence]
				if !ok {
					continue
				}
				if m.Header.Type == netlink.Error { // the ack (errors came back as OpError)
					delete(pending, m.Header.Sequence)
					continue
				}
				out[i].msgs = append(out[i].msgs, m)
			}
		}
	}
	return out, nil
}

// do sends one request and waits for its ack.
func (g *Guard) do(req netlink.Message) ([]netlink.Message, error) {
	r, err := g.batch([]netlink.Message{req})
	if err != nil {
		return nil, err
	}
	return r[0].msgs, r[0].err
}

// dump runs a dump request and returns every object. An interrupted dump
// (the kernel's state changed meanwhile) is retried.
func (g *Guard) dump(req netlink.Message) ([]netlink.Message, error) {
	for attempt := 0; ; attempt++ {
		msgs, err := g.dumpOnce(req)
		if err != nil || !interrupted(msgs) {
			return msgs, err
		}
		if attempt == 4 {
			return nil, errors.New("tc dump interrupted five times in a row")
		}
	}
}

func interrupted(msgs []netlink.Message) bool {
	for _, m := range msgs {
		if m.Header.Flags&netlink.DumpInterrupted != 0 {
			return true
		}
	}
	return false
}

func (g *Guard) dumpOnce(req netlink.Message) ([]netlink.Message, error) {
	sent, err := g.conn.Send(req)
	if err != nil {
		return nil, err
	}
	seq := sent.Header.Sequence
	if err := g.conn.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	g.widenDump()
	for {
		// Receive gathers a multi-part answer up to its NLMSG_DONE; an empty
		// answer is a bare NLMSG_DONE, i.e. a dump with no object.
		msgs, err := g.conn.Receive()
		if err != nil {
			var oe *netlink.OpError
			if errors.As(err, &oe) && oe.Sequence != 0 && oe.Sequence != seq {
				continue // stale
			}
			return nil, err
		}
		if len(msgs) == 0 {
			return nil, nil
		}
		if msgs[0].Header.Sequence != seq {
			continue // stale
		}
		return msgs, nil
	}
}

// dumpChunk is the largest datagram the kernel builds for a dump
// (SKB_WITH_OVERHEAD(32 KiB) in net/netlink/af_netlink.c).
const dumpChunk = 32 << 10

// widenDump makes the kernel fill the rest of a dump in 32 KiB datagrams.
// It sizes each dump datagram by the largest buffer this socket has passed
// to recvmsg, and mdlayher/netlink reads with buffers just large enough for
// the datagram at hand, so a dump would go on in one-page datagrams: the
// qdisc dump restarts its walk over every device for each datagram, which
// made it quadratic (8 s for 12,000 devices under TCG against 1.5 s for
// `tc qdisc show`). One peek with a large buffer at the dump's first
// datagram, queued by the request itself, raises that size for good.
func (g *Guard) widenDump() {
	rc, err := g.conn.SyscallConn()
	if err != nil {
		return // only slower
	}
	b := make([]byte, dumpChunk)
	_ = rc.Read(func(fd uintptr) bool {
		_, _, _, _, _ = unix.Recvmsg(int(fd), b, nil, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true
	})
}

// kernelText is the kernel's extended-ack message of err, if any.
func kernelText(err error) string {
	var oe *netlink.OpError
	if errors.As(err, &oe) {
		return oe.Message
	}
	return ""
}

// kindMissing reports an error that means "no such qdisc/classifier/action
// kind": the module is neither built in nor loadable.
func kindMissing(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP)
}

// noBlock reports the kernel's answer to a filter request on a block index
// that does not exist (no port bound). Its errno, EINVAL, is too generic on
// its own, so the kernel's text decides (Linux >= 4.16, verified on 6.1).
func noBlock(err error) bool {
	return errors.Is(err, unix.EINVAL) && strings.Contains(kernelText(err), "Block of given index was not found")
}

// moduleError names the module behind a missing kind.
func moduleError(module, what string, err error) error {
	return fmt.Errorf("tcguard: %s not available: modprobe %s: %w", what, module, err)
}

// filterModuleError tells a missing classifier from a missing action by the
// kernel's text ("TC classifier not found" / "Failed to load TC action module").
func filterModuleError(err error) error {
	if strings.Contains(strings.ToLower(kernelText(err)), "action") {
		return moduleError("act_gact", "act_gact (gact drop action)", err)
	}
	if strings.Contains(strings.ToLower(kernelText(err)), "classifier") {
		return moduleError("cls_matchall", "cls_matchall (matchall classifier)", err)
	}
	return moduleError("cls_matchall act_gact", "cls_matchall or act_gact", err)
}
