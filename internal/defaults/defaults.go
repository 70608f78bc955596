// Package defaults holds the values every part of qinqbridge must agree
// on — paths, the guard's block, the device groups that mark bridgectl's
// links — so that the CLIs, the agents, bridgectl and tcguard all take them
// from one place. It imports nothing of qinqbridge: everything may import it.
package defaults

import "time"

// ConfigPath is where the tools look for the configuration.
const ConfigPath = "/etc/qinqbridge/qinqbridge.toml"

// StateDir holds what was applied and the guard's marker, one directory per
// namespace. It is on tmpfs: after a reboot nothing is applied and the
// guard is closed.
const StateDir = "/run/qinqbridge"

// Block is the tc shared block index of the standby guard unless [guard]
// block says otherwise (0x7162, "qb"). Any fixed number works as long as
// every node agrees; this one is unlikely to collide with other tools'.
const Block uint32 = 29026

// OwnerGroup is the device group of every link bridgectl creates (the first
// ownership mark, see plan.Mark), and DoomedGroup the one its links are
// moved to just before a group delete.
const (
	OwnerGroup  uint32 = 29026 // 0x7162, "qb"
	DoomedGroup uint32 = 29027
)

// LockWait is how long a command waits for the namespace's lock: longer
// than an apply of the largest configuration takes.
const LockWait = time.Minute
