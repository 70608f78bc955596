package tcnl

import (
	"encoding/binary"
)

// Info is a filter's tcm_info: its priority and its protocol (an EtherType,
// in network order as tcm_info holds it; unix.ETH_P_ALL for every frame).
// Encoded by hand: go-tc has no helper for it (its core package builds
// handles only).
func Info(prio uint16, proto uint16) uint32 {
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], proto)
	return uint32(prio)<<16 | uint32(binary.NativeEndian.Uint16(p[:]))
}

// Prio is the priority of a filter's tcm_info.
func Prio(info uint32) uint16 { return uint16(info >> 16) }
