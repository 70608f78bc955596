package tcguard

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// filterInfo is tcm_info of the guard filter: our priority, every protocol
// (in network order, as tcm_info wants it). Encoded by hand: go-tc has no
// helper for it (its core package builds handles only).
func filterInfo() uint32 {
	var proto [2]byte
	binary.BigEndian.PutUint16(proto[:], unix.ETH_P_ALL)
	return uint32(FilterPriority)<<16 | uint32(binary.NativeEndian.Uint16(proto[:]))
}
