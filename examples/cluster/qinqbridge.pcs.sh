#!/bin/sh
# qinqbridge on a two-node Pacemaker cluster, with pcs >= 0.11 (Debian 12,
# RHEL 9). The same configuration as qinqbridge.crm (crmsh); see the comments
# there for why each operation and meta attribute is what it is.
#
#   sh examples/cluster/qinqbridge.pcs.sh
#       builds the configuration in a copy of the live CIB (pcs cluster cib)
#       and pushes it at once, so that the cluster never sees the guard
#       without its constraints.
#   sh examples/cluster/qinqbridge.pcs.sh FILE
#       adds it to the CIB file FILE (pcs -f FILE) and pushes nothing: to
#       review it before pushing a FILE from `pcs cluster cib FILE` (pcs
#       cluster cib-push FILE --config), or without a cluster, as test/pcs/run
#       does on a FILE from `cibadmin --empty`.
#
# Prerequisites on every node: the agents installed (the Debian package, or make install), the same
# /etc/qinqbridge/qinqbridge.toml, and fencing configured. pcs reads the
# agents' meta-data, so they must be installed where the script runs, also
# with FILE.
set -e

if [ $# -gt 0 ]; then
	cib=$1
else
	cib=$(mktemp)
	trap 'rm -f "$cib"' EXIT
	pcs cluster cib "$cib"
fi

# Each resource is created, then cloned by a command of its own: pcs 0.11.5
# (Debian 12) gives the meta attributes of `resource create ... clone ID meta
# K=V` to the primitive, not the clone, while `resource clone|promotable RSC ID
# meta K=V` gives them to the clone (the syntax newer pcs documents too).
# --no-default-ops: exactly the operations listed, as in qinqbridge.crm, none
# added from the agent's meta-data.

# The translation bridges, cloned on every node (interleave: each node's guard
# waits for its own node's bridge only). Monitors: depth 0 every 10 s (links
# exist and are up), depth 10 every 60 s (every attribute and guard binding).
pcs -f "$cib" resource create p_bridge ocf:qinqbridge:bridge --no-default-ops \
	config=/etc/qinqbridge/qinqbridge.toml \
	op start timeout=120s \
	   stop timeout=120s \
	   monitor interval=10s timeout=30s \
	   monitor interval=60s timeout=60s OCF_CHECK_LEVEL=10 \
	   reload-agent timeout=120s
pcs -f "$cib" resource clone p_bridge cl_bridge meta interleave=true

# The standby guard, promotable: one promoted (open) node, monitors with
# different intervals for the two roles, no notifications (none needed; each
# round would delay the promotion). switch_flush_ms:
# a demoted node takes its trunks down that long so the switches forget the
# hosts they learned behind it; the demote does not wait (see qinqbridge.crm).
pcs -f "$cib" resource create p_guard ocf:qinqbridge:tcguard --no-default-ops \
	config=/etc/qinqbridge/qinqbridge.toml switch_flush_ms=300 \
	op start timeout=30s \
	   stop timeout=30s \
	   promote timeout=15s \
	   demote timeout=15s \
	   monitor interval=10s timeout=30s role=Promoted \
	   monitor interval=11s timeout=30s role=Unpromoted \
	   notify timeout=10s
pcs -f "$cib" resource promotable p_guard ms_guard \
	meta promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 notify=false interleave=true

# Bridge before guard on each node; the guard stops (blocks) before the bridge
# deletes the ports.
pcs -f "$cib" constraint order start cl_bridge then start ms_guard kind=Mandatory id=o_bridge_then_guard

# A guard instance only where the bridge runs.
pcs -f "$cib" constraint colocation add ms_guard with cl_bridge INFINITY id=c_guard_with_bridge

# Load throttling would serialise the demote, the old node's monitor and the
# promote when the load average is high (see qinqbridge.crm).
pcs -f "$cib" property set load-threshold=400%

[ $# -gt 0 ] || pcs cluster cib-push "$cib" --config
