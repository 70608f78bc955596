// Package tcguard is the fail-closed standby guard of qinqbridge.
//
// Every translation port gets a clsact qdisc whose ingress is bound to one
// shared tc block (Options.Block) and whose egress is bound to the next
// index (EgressBlock; Linux 6.8 and later refuse one block for both
// directions of a device). Each of the two blocks holds one guard filter, a
// matchall at a fixed priority and handle (FilterPriority, FilterHandle),
// and both filters share one gact action (index ActionIndex). While that
// action drops, every frame received on or leaving any bound port is
// dropped before the bridge or the wire sees it; setting it to pipe opens
// all ports at once. Promotion and demotion are therefore one tc request
// each, whatever the number of ports, and the kernel changes the action in
// place: no filter list changes, so no bound qdisc is touched (deleting
// chain 0's only filter makes the kernel update every binding).
//
// In the tc datapath (bridgectl's datapath = "tc") there is no bridge port:
// the trunks' ingress is bound to a third block (TrunkBlock, BindTrunks),
// where bridgectl puts one flower filter per direction of a translation;
// each rewrites the tags, then passes the same shared action, then
// redirects the frame to the other trunk. The action is the guard there
// too: dropping, no translated frame leaves; passing, all do. Frames no
// filter takes (a management VLAN) reach the host stack, blocked or open.
// A pass-through (bridgectl's [[passthrough]], either datapath) binds its
// trunks to the same block and adds one flower filter per direction for
// the slow protocols (LACP), made like a translation filter: the shared
// action, then the redirect to the other trunk. Status counts those
// filters among the gated ones; to the guard they are translation
// filters that rewrite no tag.
// Promotion reads the action itself (one dump of the gact actions), never
// the thousands of translation filters; Status reads those too.
//
// # Fail closed
//
// A node forwards nothing unless someone explicitly opened it:
//
//   - The caller binds a new port (Bind) before setting it up.
//   - Whenever Bind finds the blocks not armed — they do not exist (first
//     port, after a reboot, after every port was deleted) or a previous Bind
//     died before arming them — it binds one port, installs the guard
//     filters, sets the action to drop, and only then binds the rest and
//     returns.
//   - The action lives exactly as long as a filter binds it: when the last
//     port is unbound the kernel destroys the blocks with their filters and
//     the action, so the next Bind finds fresh blocks and blocks them again.
//   - A fresh block is blocked even if the open marker says the node was
//     opened. Status then reports Interrupted and the caller (the resource
//     agent) decides whether to re-run Unblock. This keeps the rule simple:
//     nothing a reboot, a crash or a port flap does can open a port.
//
// # Intent marker and crash safety
//
// A file, StateDir/guard-open, records the intent "opened". Unblock writes it
// (and fsyncs it) before the action passes frames; Block makes it drop
// before removing the marker. After a crash at any point the pair (marker,
// action) is one of
//
//	absent,  drops   Blocked
//	present, passes  Opened
//	present, drops   Interrupted: an Unblock or Block did not finish
//	absent,  passes  Unguarded: somebody changed the action behind our back
//	                 (or removed a guard filter)
//
// and re-running Block or Unblock converges. StateDir is meant to live on
// /run (tmpfs), so a reboot forgets the intent: blocked.
//
// # Only our own objects
//
// tcguard never deletes or replaces a qdisc or filter it did not create. A
// port that already has a clsact (or ingress) qdisc not bound to our block is
// reported as foreign (ErrForeign, in a *PortError naming the port) and left
// alone. Creation uses NLM_F_EXCL and an "already exists" answer is verified.
// tcguard deletes nothing: its objects go with the ports (bridgectl deletes
// those), and the one object it changes, its action, only ever binds its
// own filters.
//
// The kernel needs sch_ingress (clsact), cls_matchall and act_gact; it loads
// them on demand when running as root, and their absence is reported by name.
//
// # Cost
//
// A Guard holds one rtnetlink socket in one network namespace (and one for
// its qdisc dumps). Block and Unblock send a constant number of requests
// (four small dumps and the action change) whatever the number of ports,
// and the kernel's work is constant too. Bind sends one request per port;
// a re-run of Bind over many ports verifies the existing qdiscs with one
// dump. Status dumps every qdisc of the namespace once: O(devices).
package tcguard
