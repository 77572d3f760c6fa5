// SPDX-License-Identifier: GPL-2.0
/* Benchmark sink for backends: count and drop IP data frames, pass the rest. */
#include "../../bpf/compat.h"
#include <linux/if_ether.h>
#include "../../include/xlb_pktgen.h"

char LICENSE[] SEC("license") = "GPL";

/* [0]: what this interface received. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sink_stats);
} sink_stats SEC(".maps");

SEC("xdp")
int sink_drop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct sink_stats *st;
	__u32 key = 0;

	st = bpf_map_lookup_elem(&sink_stats, &key);
	if (!st)
		return XDP_PASS;
	/* ARP keeps the backend reachable */
	if ((void *)(eth + 1) > data_end ||
	    (eth->h_proto != bpf_htons(ETH_P_IP) && eth->h_proto != bpf_htons(ETH_P_IPV6))) {
		st->passed++;
		return XDP_PASS;
	}
	/* ICMP: ping and neighbour discovery; hop-by-hop options: MLD */
	if ((eth->h_proto == bpf_htons(ETH_P_IP) && data + ETH_HLEN + 20 <= data_end &&
	     *(__u8 *)(data + ETH_HLEN + 9) == 1) ||
	    (eth->h_proto == bpf_htons(ETH_P_IPV6) && data + ETH_HLEN + 40 <= data_end &&
	     (*(__u8 *)(data + ETH_HLEN + 6) == 58 || *(__u8 *)(data + ETH_HLEN + 6) == 0))) {
		st->passed++;
		return XDP_PASS;
	}
	st->packets++;
	st->bytes += data_end - data;
	return XDP_DROP;
}
