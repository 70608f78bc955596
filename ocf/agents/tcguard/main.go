// Command ocf-tcguard is the OCF resource agent ocf:qinqbridge:tcguard: the
// standby guard of qinqbridge as a promotable clone. Install it as
// /usr/lib/ocf/resource.d/qinqbridge/tcguard.
//
// Every translation port is bound to two shared tc blocks (ingress and
// egress); the guard is one gact action shared by a filter in each (package
// tcguard). Unpromoted, it drops and the node forwards nothing; promote
// makes it pass, demote makes it drop again, each one request whatever the
// number of translations. stop blocks too: the guard fails closed.
//
// # Roles from real state
//
// "Running" is a marker file under the state directory (tmpfs, so a reboot
// forgets it), written by start after blocking and removed by stop after
// blocking; it also records the block index start guarded. The role is
// tcguard's state — the kernel's guard action plus tcguard's own open-intent
// marker — never the promotion score:
//
//	started  tcguard state  meaning                                  monitor
//	no       blocked        stopped (fail closed)                    7
//	no       interrupted    stopped, stale open intent; drops        7
//	no       open           stopped but forwarding: leak             1
//	no       unguarded      stopped but forwarding: leak             1
//	yes      blocked        unpromoted                               0
//	yes      open           promoted                                 8
//	yes      interrupted    promoted intent, but dropping: a promote
//	                        or demote was killed half-way, or the
//	                        block was re-created under an open node  9
//	yes      unguarded      unpromoted, yet the filter is gone
//	                        (removed behind our back): leak          1
//
// Interrupted drops frames (safe) and is reported as a failed promoted
// instance, so Pacemaker demotes, restarts and promotes again (re-running
// Unblock or Block converges it). Unguarded and open-while-stopped forward
// frames on a node that must not: the failure makes Pacemaker stop the
// instance, and stop blocks.
package main

import (
	"os"
	"time"

	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/node"
)

func newAgent(a *guard) *ocf.Agent {
	return &ocf.Agent{
		Name:      "tcguard",
		Provider:  "qinqbridge",
		Version:   "1.0",
		ShortDesc: "qinqbridge standby guard (promotable)",
		LongDesc: "Drops every frame on the qinqbridge translation ports of an unpromoted node with one tc drop " +
			"filter in the shared block the ports are bound to; promote deletes the filter, demote and stop put it " +
			"back. Run it as a promotable clone (promoted-max=1) ordered after and colocated with the " +
			"ocf:qinqbridge:bridge clone. The block index is the one of the configuration the bridge applied on " +
			"this node (else the file's [guard] block).\n\n" +
			"The promotion score is 1 + 99 x the share of the applied translations that can forward on this node " +
			"(every link present and up, both trunks with carrier): the node with the most working translations " +
			"is promoted, and a pulled trunk cable moves the promotion.",
		Params: append(node.Params(false), ocf.Param{
			Name: ParamGroup, ShortDesc: "Translation group whose guard this is (empty: the default group)",
			Type: ocf.String, Default: "",
			LongDesc: "The [[group]] of the configuration file whose translations this instance guards: run one " +
				"promotable clone per group, so that Pacemaker places each group's forwarding node on its own. " +
				"Empty (the default): the group \"default\" of the translations that name none, whose block is " +
				"[guard] block. validate-all and start refuse a group the file does not have, and a " +
				ParamSwitchFlush + " > 0 for a group whose trunks carry another group's translations " +
				"(OCF_ERR_CONFIGURED).",
		}, ocf.Param{
			Name: ParamSwitchFlush, ShortDesc: "Flush the switches on demote (ms of link down, 0-10000, 0: off)",
			Type: ocf.Integer, Default: "0", Range: &ocf.Range{Min: 0, Max: maxSwitchFlush},
			LongDesc: "After a demote has blocked the guard, take this node's trunk interfaces (the parents of the " +
				"translations; a VLAN parent's lower device, a bond's slaves) down for this many milliseconds and up " +
				"again, so that the switches flush the host addresses they learned behind this node and learn them " +
				"behind the new promoted node with the next frame. The demote does not wait for the hold (the other " +
				"node's promote waits for the demote): a detached process of the agent brings the interfaces up. " +
				"Without it, unicast between hosts that switches " +
				"learned behind this node stops until their entries age out. It must be long enough for the switches " +
				"to see the link go down (copper PHYs: some hundred ms). 0 turns it off, for trunks that carry other " +
				"traffic. At most 10000 (10 s, many times what any switch needs to see a link go down): if the " +
				"detached process cannot be started the demote holds the trunks down itself, and must still end " +
				"well within its 15 s timeout. validate-all and start refuse a value out of range " +
				"(OCF_ERR_CONFIGURED); a demote given one blocks the guard and flushes nothing. Not set here, the " +
				"group's switch_flush_ms in the applied configuration file applies ([[group]] switch_flush_ms, " +
				"[guard] switch_flush_ms for the default group; bridgectl validate refuses it for shared trunks), " +
				"else 0. A group with LACP pass-throughs ([[passthrough]]) has its trunks held down for at least 3000 ms " +
				"(at 0: the pass-throughs' trunks), so that the switches' LAGs drop this node's members at once and " +
				"take the promoted node's as they come up.",
		}),
		Actions: []ocf.Action{
			{Name: ocf.ActionStart, Func: a.start, Timeout: 30 * time.Second},
			{Name: ocf.ActionStop, Func: a.stop, Timeout: 30 * time.Second},
			{Name: ocf.ActionPromote, Func: a.promote, Timeout: 15 * time.Second},
			{Name: ocf.ActionDemote, Func: a.demote, Timeout: 15 * time.Second},
			{Name: ocf.ActionMonitor, Func: a.monitor, Timeout: 30 * time.Second, Interval: 10 * time.Second, Role: ocf.RolePromoted},
			{Name: ocf.ActionMonitor, Timeout: 30 * time.Second, Interval: 11 * time.Second, Role: ocf.RoleUnpromoted},
			{Name: ocf.ActionNotify, Func: a.notify, Timeout: 10 * time.Second},
			{Name: ocf.ActionValidateAll, Func: a.validate, Timeout: 30 * time.Second},
			{Name: ocf.ActionMetaData, Timeout: 5 * time.Second},
		},
	}
}

func main() {
	a := &guard{open: node.Open, score: crmScore{}, bounce: netlinkBounce{}, later: selfRestorer{}}
	agent := newAgent(a)
	if len(os.Args) >= 2 && os.Args[1] == RestoreArg {
		// Without a marker name: started by a demote of an earlier version,
		// whose single marker it ends.
		marker := flushFile
		if len(os.Args) > 2 {
			marker = os.Args[2]
		}
		os.Exit(restore(a, agent, marker))
	}
	ocf.Run(agent)
}

// restore runs the detached restorer of a switch flush (see flush.go) with
// the environment of the demote that started it and its marker's name.
func restore(a *guard, agent *ocf.Agent, marker string) int {
	env := ocf.ParseEnv(RestoreArg, os.Environ(), agent.Params)
	r := &ocf.Request{Env: env, Log: ocf.NewLogger(os.Stderr, agent.Name, env.Instance, RestoreArg, env.Debug)}
	if err := a.restoreAfterHold(r, marker); err != nil {
		r.Log.Errorf("%v", err)
		return int(ocf.ErrGeneric)
	}
	return 0
}
