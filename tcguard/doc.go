// Package tcguard is the fail-closed standby guard of qinqbridge.
//
// Every translation port gets a clsact qdisc whose ingress is bound to one
// shared tc block (Options.Block). The guard is a single matchall filter with
// a gact drop action in that block, at a fixed priority and handle
// (FilterPriority, FilterHandle): while it is present every frame received on
// any bound port is dropped before the bridge sees it; deleting it opens all
// ports at once. Promotion and demotion are therefore one tc request each,
// whatever the number of ports.
//
// # Fail closed
//
// A node forwards nothing unless someone explicitly opened it:
//
//   - The caller binds a new port (Bind) before setting it up.
//   - Whenever Bind finds the block not yet armed — it does not exist (first
//     port, after a reboot, after every port was deleted) or a previous Bind
//     died before arming it — it binds one port, installs the drop filter,
//     and only then binds the rest and returns.
//   - "Armed" is recorded in the kernel itself, as an explicitly created,
//     empty tc chain (ArmedChain) in the block. An empty chain that nothing
//     jumps to has no effect on packets, and it lives exactly as long as the
//     block: when the last port is unbound the kernel destroys the block with
//     its chains, so the next Bind sees an unarmed block and blocks it again.
//     Without this sentinel an opened block (filter deleted) could not be told
//     from a fresh one in O(1).
//   - A fresh block is blocked even if the open marker says the node was
//     opened. Status then reports Interrupted and the caller (the resource
//     agent) decides whether to re-run Unblock. This keeps the rule simple:
//     nothing a reboot, a crash or a port flap does can open a port.
//
// # Intent marker and crash safety
//
// A file, StateDir/guard-open, records the intent "opened". Unblock writes it
// (and fsyncs it) before deleting the filter; Block adds the filter before
// removing it. After a crash at any point the pair (marker, filter) is one of
//
//	absent,  present  Blocked
//	present, absent   Opened
//	present, present  Interrupted: an Unblock or Block did not finish
//	absent,  absent   Unguarded: somebody removed the filter behind our back
//
// and re-running Block or Unblock converges. StateDir is meant to live on
// /run (tmpfs), so a reboot forgets the intent: blocked.
//
// # Only our own objects
//
// tcguard never deletes or replaces a qdisc or filter it did not create. A
// port that already has a clsact (or ingress) qdisc not bound to our block is
// reported as foreign (ErrForeign, in a *PortError naming the port) and left
// alone. Creation uses NLM_F_EXCL and an "already exists" answer is verified;
// deletion names kind, priority and handle (never priority 0, which would
// flush the whole chain), and "not found" means already done.
//
// The kernel needs sch_ingress (clsact), cls_matchall and act_gact; it loads
// them on demand when running as root, and their absence is reported by name.
//
// # Cost
//
// A Guard holds one rtnetlink socket in one network namespace. Block and
// Unblock send a constant number of requests (about four) whatever the
// number of ports; the kernel itself still touches every bound qdisc when the
// head of chain 0 changes (it swaps each clsact's filter-list pointer), a
// small per-port cost inside the one request. Bind pipelines its requests,
// up to defaultBatch per sendmsg; in the testbed VM (TCG) that halves the
// time per port compared with one round trip per request. A re-run of Bind
// over many ports verifies the existing qdiscs with one dump. Status dumps
// every qdisc of the namespace once: O(devices).
package tcguard
