package tcguard

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// kernelText is the kernel's extended-ack message of err, if any.
func kernelText(err error) string {
	if oe, ok := errors.AsType[*netlink.OpError](err); ok {
		return oe.Message
	}
	return ""
}

// kernelRefused reports whether err is the kernel's answer to one request
// (an errno in a netlink error message), as opposed to a failure of the
// socket, after which nothing is known about the requests not yet answered.
func kernelRefused(err error) bool {
	oe, ok := errors.AsType[*netlink.OpError](err)
	if !ok || oe.Op != "receive" {
		return false
	}
	_, ok = errors.AsType[unix.Errno](oe.Err)
	return ok
}

// kindMissing reports an error that means "no such qdisc/classifier/action
// kind": the module is neither built in nor loadable.
func kindMissing(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP)
}

// qdiscKindMissing: ENOENT/EOPNOTSUPP and, where the kernel says why, because
// the kind is unknown ("Specified qdisc kind is unknown").
func qdiscKindMissing(err error) bool {
	t := kernelText(err)
	return kindMissing(err) && (t == "" || strings.Contains(t, "unknown"))
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
