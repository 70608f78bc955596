package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qinqbridge/qinqbridge/tcguard"
)

// prefix starts every metric's name.
const prefix = "qinqbridge"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prefix+"_"+name, help, labels, nil)
}

// Per translation and direction ("a>b": from end a to end b; "b>a"), from
// bridgectl.DirectionStatus: the kernel's counters of the bridge ports
// (bridge datapath) or of the direction's filter (tc datapath).
var (
	translationReceivedFrames = desc("translation_received_frames_total",
		"Frames that entered the translation in this direction: received by the in end's bridge port (bridge datapath) or matched by the direction's filter (tc datapath).",
		"translation", "direction")
	translationReceivedBytes = desc("translation_received_bytes_total",
		"Bytes of the frames received, as the kernel counts them (not lengths on the wire: a VLAN device counts frames without their tags and, received, without their Ethernet header; tc the length tc ingress saw).",
		"translation", "direction")
	translationFrames = desc("translation_frames_total",
		"Frames that crossed the translation in this direction: sent by the out end's bridge port (bridge datapath) or redirected out of the other trunk by the direction's filter (tc datapath).",
		"translation", "direction")
	translationBytes = desc("translation_bytes_total",
		"Bytes of the frames that crossed (the kernel's count, as for received bytes).",
		"translation", "direction")
	translationDropped = desc("translation_dropped_frames_total",
		"Frames the kernel dropped in this direction: the in port's rx_dropped plus the out port's tx_dropped (bridge datapath; the guard's drops are in qinqbridge_guard_dropped_frames_total), or those the guard's action dropped after the filter matched them (tc datapath).",
		"translation", "direction")
)

// Per guard: each group of translations has its own ("default": the
// translations that name none, [guard] block's).
var (
	guardInfo = desc("guard_info",
		"The guard of a group, with its tc block; always 1.",
		"group", "block")
	guardState = desc("guard_state",
		"1 for the guard's current state, 0 for the others: blocked (standby, drops), open (promoted, forwards), interrupted (opened but dropping: an unblock or block did not finish), unguarded (not opened, yet frames may flow).",
		"group", "state")
	guardDropped = desc("guard_dropped_frames_total",
		"Frames the guard's action dropped since its tc blocks were last armed, modulo 2^32 (the kernel's counter is 32 bits).",
		"group")
	guardPortsBound = desc("guard_ports_bound",
		"Bridge ports (tc datapath: trunks) of the configuration bound to the guard's block.",
		"group")
	guardPortsExpected = desc("guard_ports_expected",
		"Bridge ports (tc datapath: trunks) of the configuration that exist in the kernel.",
		"group")
	promotionScore = desc("promotion_score",
		"The promotion score the tcguard resource agent sets for this node and group: 1 + 99 x the share of the group's applied translations that can forward here.",
		"group")
)

// guardStates are the values of guard_state's state label, in tcguard's
// order.
var guardStates = []string{tcguard.Blocked.String(), tcguard.Opened.String(), tcguard.Interrupted.String(), tcguard.Unguarded.String()}

// Per pass-through direction ([[passthrough]]: the slow-protocol frames
// its filter sends from trunk in out of trunk out), from
// bridgectl.PassthroughStatus.
var (
	passthroughFrames = desc("passthrough_frames_total",
		"Slow-protocol frames (LACP: LACPDUs and markers) the pass-through sent from trunk in out of trunk out; only a node whose group's guard is open sends any (what the guard dropped is in qinqbridge_guard_dropped_frames_total). At LACP's fast rate the far bond sends one a second: a rate of 0 on an open node means no LACP on the far side.",
		"group", "protocol", "in", "out")
	passthroughBytes = desc("passthrough_bytes_total",
		"Bytes of the slow-protocol frames the pass-through sent (the length tc ingress saw).",
		"group", "protocol", "in", "out")
)

// The configuration.
var (
	configFileValid = desc("config_file_valid",
		"1 if the configuration file loads and validates; 0 if not (the counters then follow the applied configuration).")
	configDrift = desc("config_drift",
		"1 if the node does not run the file: the file cannot be used, nothing is applied, the file's digest differs from the applied configuration's, or bridgectl check would not exit 0 (the kernel differs from the file, or cannot take it); 0 if in sync.")
	configInfo = desc("config_info",
		"Digests (config.Digest, sha256) of the file and of the configuration applied in the namespace (\"\" for none, or a file that cannot be used); always 1.",
		"file_digest", "applied_digest")
	configTranslations = desc("config_translations",
		"Translations of the configuration the counters follow (the file's, expanded).")
	lastApplyTime = desc("last_apply_timestamp_seconds",
		"When the last apply (bridgectl apply, watch, the bridge agent's start or reload) ended, in seconds since the epoch; absent if none since boot. An apply refused before it changed anything (a parent missing, a foreign link in the way) is not counted: drift shows it.")
	lastApplySuccess = desc("last_apply_success",
		"1 if the last apply succeeded, 0 if it failed on the way; absent if none since boot.")
)

// all is every metric's description, for Describe.
var all = []*prometheus.Desc{
	translationReceivedFrames, translationReceivedBytes, translationFrames, translationBytes, translationDropped,
	guardInfo, guardState, guardDropped, guardPortsBound, guardPortsExpected, promotionScore,
	passthroughFrames, passthroughBytes,
	configFileValid, configDrift, configInfo, configTranslations, lastApplyTime, lastApplySuccess,
}
