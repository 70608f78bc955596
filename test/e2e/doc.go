// Package e2e is the two-node cluster test (build tag e2e): two Pacemaker/
// Corosync nodes as isolated namespaces inside the testbed VM, wired to a
// QinQ-side and a VLAN-side switch, configured with crm from
// examples/cluster, with traffic (package traffic) through switchovers,
// node loss and a configuration change. TestTwoNodeCluster runs one guard
// (examples/cluster/qinqbridge.crm); TestGroupsCluster, in the same boot,
// two translation groups, each on a trunk pair of its own, with a guard
// clone each (examples/cluster/qinqbridge-groups.crm for two nodes).
// TestPassthroughCluster, in the same boot too, runs TestTwoNodeCluster's
// cluster with the switches bundling both nodes' trunks in one LACP LAG
// each, the nodes passing LACP ([[passthrough]]). test/e2e/run runs all
// three; see test/README.md, "Two-node cluster (test/e2e)".
package e2e
