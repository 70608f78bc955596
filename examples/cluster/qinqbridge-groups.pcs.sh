#!/bin/sh
# qinqbridge N+1 with pcs >= 0.11: the same configuration as
# qinqbridge-groups.crm (crmsh); see the comments there, and qinqbridge.pcs.sh
# for the two ways to run it:
#
#   sh examples/cluster/qinqbridge-groups.pcs.sh        # live CIB, pushed at once
#   sh examples/cluster/qinqbridge-groups.pcs.sh FILE   # pcs -f FILE, nothing pushed
set -e

if [ $# -gt 0 ]; then
	cib=$1
else
	cib=$(mktemp)
	trap 'rm -f "$cib"' EXIT
	pcs cluster cib "$cib"
fi

pcs -f "$cib" resource create p_bridge ocf:qinqbridge:bridge --no-default-ops \
	config=/etc/qinqbridge/qinqbridge.toml \
	op start timeout=120s \
	   stop timeout=120s \
	   monitor interval=10s timeout=30s \
	   monitor interval=60s timeout=60s OCF_CHECK_LEVEL=10 \
	   reload-agent timeout=120s
pcs -f "$cib" resource clone p_bridge cl_bridge meta interleave=true

# One guard per group; switch_flush_ms=0: the groups share their trunks.
for g in east west; do
	pcs -f "$cib" resource create "p_guard_$g" ocf:qinqbridge:tcguard --no-default-ops \
		config=/etc/qinqbridge/qinqbridge.toml group="$g" switch_flush_ms=0 \
		op start timeout=30s \
		   stop timeout=30s \
		   promote timeout=15s \
		   demote timeout=15s \
		   monitor interval=10s timeout=30s role=Promoted \
		   monitor interval=11s timeout=30s role=Unpromoted \
		   notify timeout=10s
	pcs -f "$cib" resource promotable "p_guard_$g" "ms_guard_$g" \
		meta promoted-max=1 promoted-node-max=1 clone-max=3 clone-node-max=1 notify=false interleave=true
	pcs -f "$cib" constraint order start cl_bridge then start "ms_guard_$g" kind=Mandatory id="o_bridge_then_guard_$g"
	pcs -f "$cib" constraint colocation add "ms_guard_$g" with cl_bridge INFINITY id="c_guard_${g}_with_bridge"
done

# The promoted roles of two groups avoid each other's node: -1 only breaks
# ties between equal promotion scores (see qinqbridge-groups.crm).
pcs -f "$cib" constraint colocation add Promoted ms_guard_east with Promoted ms_guard_west -1 id=c_spread_east_west

pcs -f "$cib" property set load-threshold=400%

[ $# -gt 0 ] || pcs cluster cib-push "$cib" --config
