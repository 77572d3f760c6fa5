// SPDX-License-Identifier: GPL-2.0
/* Benchmark baseline and harness: a MAC swap + XDP_TX, and a packet restorer. */
#include "compat.h"
#include <linux/if_ether.h>

char LICENSE[] SEC("license") = "GPL";

#define BENCH_MAX_PKT	256

/* The cheapest useful XDP program: swap MACs, send back. */
SEC("xdp")
int xlb_baseline(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	unsigned char tmp[ETH_ALEN];

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return XDP_TX;
}

/* Returns XDP_TX only: measures the harness's own cost. */
SEC("xdp")
int xlb_null(struct xdp_md *ctx)
{
	return XDP_TX;
}

struct bench_pkt {
	__u32 len;		/* bytes of the original packet */
	__s32 head_delta;	/* how far the program under test moves the head back */
	__u32 runs;		/* iterations so far; 0 = packet still original */
	__u32 pad;
	__u8 bytes[BENCH_MAX_PKT];
};

/* [0]: the original packet and what the program under test does to it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_pkt);
} bench_pkt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_target SEC(".maps");

/*
 * BPF_PROG_TEST_RUN with repeat > 1 does not restore the packet between
 * iterations.  From the second iteration on, this harness moves the head
 * back where it was, sets the length and rewrites the original bytes, then
 * tail-calls the program under test.
 */
SEC("xdp")
int xlb_harness(struct xdp_md *ctx)
{
	__u32 k0 = 0, len, cur;
	struct bench_pkt *orig;

	orig = bpf_map_lookup_elem(&bench_pkt, &k0);
	if (!orig)
		return XDP_ABORTED;
	if (orig->runs++ > 0) {
		if (orig->head_delta && bpf_xdp_adjust_head(ctx, orig->head_delta))
			return XDP_ABORTED;
		cur = ctx->data_end - ctx->data;
		len = orig->len;
		if (cur != len && bpf_xdp_adjust_tail(ctx, (int)len - (int)cur))
			return XDP_ABORTED;
		if (len == 0 || len > BENCH_MAX_PKT)
			return XDP_ABORTED;
		if (bpf_xdp_store_bytes(ctx, 0, orig->bytes, len))
			return XDP_ABORTED;
	}
	bpf_tail_call(ctx, &bench_target, 0);
	return XDP_ABORTED;
}
