#!/bin/bash
# test/bench/blockdel.sh — the kernel's own cost of the guard's promotion: time
# `tc filter del` (and add) of one matchall on a shared block bound by 8000
# devices (ingress and egress) against one device, alternately, medians of
# 15. Run it in the testbed VM: test/vm/run -m 3072 -- test/bench/blockdel.sh
set -e
modprobe sch_ingress; modprobe cls_matchall; modprobe act_gact
setup() { # ns n
	ip netns add $1
	for i in $(seq 1 $2); do echo "link add b$i type bridge"; done > /tmp/$1.ip
	ip -n $1 -batch /tmp/$1.ip
	for i in $(seq 1 $2); do echo "qdisc add dev b$i ingress_block 7 egress_block 7 clsact"; done > /tmp/$1.tc
	tc -n $1 -batch /tmp/$1.tc
	tc -n $1 filter add block 7 pref 1 handle 1 protocol all matchall action drop
}
setup qbdel-big 8000
setup qbdel-one 1
t() { local s=$(date +%s%N); "$@"; echo $(( ($(date +%s%N) - s) / 1000 )); }
for r in $(seq 1 15); do
	for ns in qbdel-big qbdel-one; do
		d=$(t tc -n $ns filter del block 7 pref 1 handle 1 protocol all matchall)
		a=$(t tc -n $ns filter add block 7 pref 1 handle 1 protocol all matchall action drop)
		echo "$ns del_us $d add_us $a"
	done
done > /tmp/blockdel.out
for ns in qbdel-big qbdel-one; do
	for op in del_us add_us; do
		printf "%s %s median " $ns $op
		grep "^$ns " /tmp/blockdel.out | awk -v op=$op '{for(i=2;i<=NF;i+=2) if($i==op) print $(i+1)}' | sort -n | sed -n 8p
	done
done
