// Package tcnl is qinqbridge's seam to the kernel's tc objects of one
// network namespace: the requests the guard (tcguard) and the tc datapath
// (bridgectl) make, in florianl/go-tc's types, over go-tc (our copy in
// third_party/go-tc). internal/kerneltest implements TC in memory.

package tcnl
