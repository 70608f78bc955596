package main

import (
	"strings"
	"testing"
)

// Call chains as perf script prints them in the testbed VM (innermost
// first), one per way a CPU's time is classified.
func TestClassify(t *testing.T) {
	generatorComm = "bench"
	tests := []struct {
		name  string
		comm  string
		cpu   int
		chain string // innermost first
		want  string
	}{
		{"bridge forwarding", "ksoftirqd/1", translatorCPU,
			"br_fdb_update br_handle_frame_finish br_handle_frame __netif_receive_skb_core.constprop.0 __netif_receive_skb_one_core process_backlog __napi_poll net_rx_action handle_softirqs run_ksoftirqd",
			translatorGroup + "bridge (FDB, forwarding)"},
		{"the bridge's hop to the VLAN device", "ksoftirqd/1", translatorCPU,
			"netif_skb_features validate_xmit_skb __dev_queue_xmit br_dev_queue_push_xmit br_handle_frame_finish br_handle_frame __netif_receive_skb_core process_backlog",
			translatorGroup + "to the VLAN device (dev_queue_xmit)"},
		{"the bridge's out hop", "ksoftirqd/1", translatorCPU,
			"veth_xmit dev_hard_start_xmit __dev_queue_xmit vlan_dev_hard_start_xmit dev_hard_start_xmit __dev_queue_xmit br_dev_queue_push_xmit br_handle_frame_finish br_handle_frame __netif_receive_skb_core process_backlog",
			translatorGroup + outHop},
		{"a VLAN device", "ksoftirqd/1", translatorCPU,
			"vlan_do_receive __netif_receive_skb_core.constprop.0 process_backlog",
			translatorGroup + "VLAN devices"},
		{"flower", "swapper", translatorCPU,
			"__skb_flow_dissect fl_classify __tcf_classify tcf_classify __netif_receive_skb_core process_backlog",
			translatorGroup + "flower (dissect, mask lookup)"},
		{"act_vlan", "swapper", translatorCPU,
			"memmove __skb_vlan_pop skb_vlan_pop tcf_vlan_act tcf_action_exec fl_classify __tcf_classify tcf_classify __netif_receive_skb_core process_backlog",
			translatorGroup + "act_vlan"},
		{"the action loop", "swapper", translatorCPU,
			"tcf_action_exec fl_classify __tcf_classify tcf_classify __netif_receive_skb_core process_backlog",
			translatorGroup + "tc core (classify, action loop, matchall)"},
		{"the bridge datapath's guard on egress", "ksoftirqd/1", translatorCPU,
			"tcf_gact_act tcf_action_exec __tcf_classify tcf_classify __dev_queue_xmit br_dev_queue_push_xmit br_handle_frame_finish br_handle_frame __netif_receive_skb_core process_backlog net_rx_action",
			translatorGroup + "gact (the guard's action)"},
		{"flower's gate action", "swapper", translatorCPU,
			"tcf_gact_act tcf_action_exec fl_classify __tcf_classify tcf_classify __netif_receive_skb_core process_backlog net_rx_action handle_softirqs __irq_exit_rcu sysvec_call_function_single asm_sysvec_call_function_single native_safe_halt",
			translatorGroup + "gact (the guard's action)"},
		{"the reference's redirect", "swapper", translatorCPU,
			"tcf_mirred_act tcf_action_exec mall_classify __tcf_classify tcf_classify __netif_receive_skb_core process_backlog",
			translatorGroup + "act_mirred"},
		{"the redirect's out hop", "swapper", translatorCPU,
			"_raw_spin_unlock_irqrestore netif_rx_internal veth_xmit dev_hard_start_xmit __dev_queue_xmit tcf_mirred_act tcf_action_exec mall_classify __tcf_classify tcf_classify __netif_receive_skb_core process_backlog",
			translatorGroup + outHop},
		{"the sink's drop", "swapper", translatorCPU,
			"tcf_gact_act tcf_action_exec mall_classify __tcf_classify tcf_classify __netif_receive_skb_core process_backlog",
			sinkGroup},
		{"the sink's free", "swapper", translatorCPU,
			"kmem_cache_free kfree_skb_reason __netif_receive_skb_core process_backlog",
			sinkGroup},
		{"matchall, either's", "swapper", translatorCPU,
			"mall_classify __tcf_classify tcf_classify __netif_receive_skb_core process_backlog",
			eitherGroup},
		{"untagging, either's", "swapper", translatorCPU,
			"skb_pull_rcsum skb_vlan_untag __netif_receive_skb_core.constprop.0 process_backlog",
			eitherGroup},
		{"a sink through NAPI", "swapper", translatorCPU,
			"mall_classify __tcf_classify tcf_classify __netif_receive_skb_core netif_receive_skb veth_xdp_rcv veth_poll __napi_poll net_rx_action",
			"sink, NAPI"},
		{"irqs back on after an IPI", "swapper", translatorCPU,
			"handle_softirqs __irq_exit_rcu sysvec_call_function_single asm_sysvec_call_function_single native_safe_halt amd_e400_idle default_idle_call do_idle",
			"interrupts, irqs-off time"},
		{"idle", "swapper", translatorCPU, "native_safe_halt amd_e400_idle default_idle_call do_idle cpu_startup_entry", "idle"},
		{"context switch", "ksoftirqd/1", translatorCPU, "finish_task_switch.isra.0 __schedule preempt_schedule_common __cond_resched smpboot_thread_fn", "scheduler"},
		{"generator in the kernel", "bench", genCPU,
			"veth_xmit dev_direct_xmit packet_snd packet_sendmsg ____sys_sendmsg ___sys_sendmsg __sys_sendmmsg do_syscall_64",
			"generator"},
		{"generator in its loop", "bench", genCPU, "syscall.Syscall6 main.(*generator).send", "generator"},
		{"our other threads", "bench", translatorCPU, "runtime.futex runtime.sysmon", "other"},
	}
	for _, tt := range tests {
		var frames []string
		for _, f := range strings.Fields(tt.chain) {
			frames = append(frames, baseName(f))
		}
		if got := classify(tt.comm, tt.cpu, frames); got != tt.want {
			t.Errorf("%s: classify = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCountSamples(t *testing.T) {
	generatorComm = "bench"
	script := "swapper     0 [001] \n" +
		"\tffffffff8c8b1e4b native_safe_halt\n" +
		"\tffffffff8c8b22d5 default_idle_call\n" +
		"\n" +
		"ksoftirqd/1    17 [001] \n" +
		"\tffffffffc0a1b2c3 br_handle_frame_finish\n" +
		"\tffffffff8c6e1111 __netif_receive_skb_core.constprop.0\n" +
		"\tffffffff8c6e2222 process_backlog\n" +
		"\n" +
		"bench   230 [000] \n" +
		"\t            a84e internal/runtime/syscall/linux.Syscall6\n" +
		"\t          1453b5 main.(*generator).send\n" +
		"\n"
	counts, chains, err := countSamples(strings.NewReader(script))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]map[string]int{
		translatorCPU: {"idle": 1, translatorGroup + "bridge (FDB, forwarding)": 1},
		genCPU:        {"generator": 1},
	}
	for cpu, groups := range want {
		for g, n := range groups {
			if counts[cpu][g] != n {
				t.Errorf("cpu %d, %s: %d samples, want %d (all: %v)", cpu, g, counts[cpu][g], n, counts)
			}
		}
	}
	chain := "cpu 1;" + translatorGroup + "bridge (FDB, forwarding);ksoftirqd/1;process_backlog;__netif_receive_skb_core;br_handle_frame_finish"
	if chains[chain] != 1 {
		t.Errorf("folded chains %v, want %q once", chains, chain)
	}
	if _, _, err := countSamples(strings.NewReader("no cpu here\n\tffff f\n\n")); err == nil {
		t.Errorf("a header without a CPU: no error")
	}
}
