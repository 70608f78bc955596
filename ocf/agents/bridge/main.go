// Command ocf-bridge is the OCF resource agent ocf:qinqbridge:bridge: the
// translation bridges of a qinqbridge configuration, as a clone on every
// node. Install it as /usr/lib/ocf/resource.d/qinqbridge/bridge.
//
// start applies the configuration with bridgectl (new bridge ports are bound
// to the standby guard before they come up, so they forward only where the
// guard is open); stop deletes every link bridgectl made; monitor compares
// the kernel with the configuration last applied on this node — not with the
// file, which may have been edited since: an edited file is reported as
// degraded, with how to apply it, never as a failure that would make
// Pacemaker restart the clone and cut every translation. reload-agent
// applies the file in place: translations that did not change keep
// forwarding.
package main

import (
	"os"
	"time"

	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/node"
)

// ParamRevision is the reload trigger: see its description.
const ParamRevision = "revision"

func newAgent(b *bridge) *ocf.Agent {
	return &ocf.Agent{
		Name:      "bridge",
		Provider:  "qinqbridge",
		Version:   "1.0",
		ShortDesc: "qinqbridge QinQ/VLAN translation bridges",
		LongDesc: "Builds the 802.1ad/802.1Q subinterfaces and the bridge of every translation of a qinqbridge " +
			"configuration (bridgectl apply) and keeps exactly those. Run it as a clone on every node " +
			"(interleave=true), with the promotable ocf:qinqbridge:tcguard ordered after it: bridge ports come up " +
			"bound to the standby guard, so only the node whose guard is promoted forwards.\n\n" +
			"monitor checks the kernel against the configuration last applied on this node: at depth 0 that " +
			"every link exists and is up, at depth 10 every attribute including the guard binding. A configuration " +
			"file edited since is reported as degraded (190) with the command that applies it; it never fails the " +
			"resource. stop deletes only links bridgectl created; a missing parent interface makes start fail " +
			"with OCF_ERR_INSTALLED (this node cannot run it) while probes and stop succeed.\n\n" +
			"Carrier propagation: when the applied configuration has a [[passthrough]] with carrier = true, start " +
			"(and reload-agent) runs a detached copy of the agent (" + CarrierArg + ", the same work as bridgectl " +
			"carrier) for as long as the resource runs: on this node, while the guard of the pair's group is open " +
			"(promoted), a trunk of the pair that goes operationally down takes the other one administratively " +
			"down until it returns, so the far switch drops that LACP member at once; reacting to link events, " +
			"never inside a monitor. It undoes only its own downs (recorded in the state directory before each), " +
			"never an operator's, and undoes them when the guard is blocked. Its pid and lock are in the state " +
			"directory (" + carrierPidFile + "); reload-agent makes it re-read the file; a monitor that finds it " +
			"dead starts it again and logs a warning; stop ends it (SIGTERM, SIGKILL after 5 s; the pid is " +
			"checked against /proc/PID/cmdline first) and brings up any trunk it left down.",
		Params: append(node.Params(true), ocf.Param{
			Name: ParamRevision, ShortDesc: "Reload trigger", Reloadable: true,
			LongDesc: "Not read by the agent. Changing it makes Pacemaker run reload-agent on every node, which " +
				"applies the configuration file in place; the degraded monitor of an edited file suggests " +
				"its digest as the new value (crm_resource -r RSC -p revision -v DIGEST).",
		}),
		Actions: []ocf.Action{
			{Name: ocf.ActionStart, Func: b.start, Timeout: 120 * time.Second},
			{Name: ocf.ActionStop, Func: b.stop, Timeout: 120 * time.Second},
			{Name: ocf.ActionMonitor, Func: b.monitor, Timeout: 30 * time.Second, Interval: 10 * time.Second},
			{Name: ocf.ActionMonitor, Timeout: 60 * time.Second, Interval: 60 * time.Second, Depth: 10},
			{Name: ocf.ActionReloadAgent, Func: b.reloadAgent, Timeout: 120 * time.Second},
			{Name: ocf.ActionValidateAll, Func: b.validate, Timeout: 30 * time.Second},
			{Name: ocf.ActionMetaData, Timeout: 5 * time.Second},
		},
	}
}

func main() {
	agent := newAgent(&bridge{open: node.Open, carrier: selfLauncher{}})
	if len(os.Args) >= 2 && os.Args[1] == CarrierArg {
		os.Exit(runCarrier(agent))
	}
	ocf.Run(agent)
}
