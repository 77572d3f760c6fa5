// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark baselines and harness: a MAC swap + XDP_TX, the floor of an
 * IP-in-IP balancer, and a packet restorer.
 */
#include "../../bpf/compat.h"
#include <linux/if_ether.h>
#include <linux/in.h>
#include "../../include/xlb_bench.h"
#include "../../bpf/hash.h"

char LICENSE[] SEC("license") = "GPL";

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

/*
 * The cheapest encapsulator: grow the head by an IPv4 header, move the
 * Ethernet header, write a fixed outer header (checksum computed), swap MACs,
 * XDP_TX.  What any IP-in-IP balancer must at least do per packet; measured
 * through the harness like the balancer's encapsulating cases (which also pay
 * the harness's head restore).
 */
SEC("xdp")
int xlb_baseline_encap(struct xdp_md *ctx)
{
	void *data, *data_end;
	struct ethhdr *eth;
	__u8 *ip;
	__u32 sum = 0;
	__u16 len;

	if (bpf_xdp_adjust_head(ctx, -20))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + 34 + 20 > data_end)
		return XDP_DROP;
	__builtin_memcpy(data, data + 20, 14);
	eth = data;
	ip = data + 14;
	len = (__u16)(data_end - data - 14);
	ip[0] = 0x45; ip[1] = 0; ip[2] = len >> 8; ip[3] = len; ip[4] = ip[5] = 0;
	ip[6] = 0x40; ip[7] = 0; ip[8] = 64; ip[9] = 4; ip[10] = ip[11] = 0;
	ip[12] = 198; ip[13] = 51; ip[14] = 100; ip[15] = 254;
	ip[16] = 198; ip[17] = 51; ip[18] = 100; ip[19] = 1;
	for (int i = 0; i < 20; i += 2)
		sum += (ip[i] << 8) | ip[i + 1];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = ~sum >> 8;
	ip[11] = ~sum;
	{
		unsigned char tmp[ETH_ALEN];

		__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
		__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
		__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	}
	return XDP_TX;
}

/* [hash slot] -> backend address: the floor's one flat table (XLB_BENCH_FLOOR_M). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_BENCH_FLOOR_M);
	__type(key, __u32);
	__type(value, __be32);
} floor_table SEC(".maps");

/* The outer IPv4 header of the floor: fixed fields, checksum over the variable ones. */
static __always_inline void floor_outer(__u8 *ip, __u16 len, __be32 dst)
{
	__u32 sum;

	ip[0] = 0x45; ip[1] = 0; ip[2] = len >> 8; ip[3] = len; ip[4] = ip[5] = 0;
	ip[6] = 0x40; ip[7] = 0; ip[8] = 64; ip[9] = IPPROTO_IPIP;
	ip[12] = 198; ip[13] = 51; ip[14] = 100; ip[15] = 254;
	__builtin_memcpy(ip + 16, &dst, 4);
	sum = 0x4500 + len + 0x4000 + (64 << 8 | IPPROTO_IPIP) + (198 << 8 | 51) +
	      (100 << 8 | 254) + (ip[16] << 8 | ip[17]) + (ip[18] << 8 | ip[19]);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = ~sum >> 8;
	ip[11] = ~sum;
}

/*
 * The floor: what no IP-in-IP balancer can skip.  Parse Ethernet, IPv4 (no
 * options) and TCP, hash the 5-tuple (the balancer's hash), read one flat
 * array (the backend's address at the hash's slot), grow the head, write the
 * outer header, swap the MACs, XDP_TX.  Anything else passes.
 */
SEC("xdp")
int xlb_floor(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 *ip = data + sizeof(*eth), mac[ETH_ALEN];
	__u32 ports, key;
	__be32 *dst, saddr, daddr;
	__u16 len;

	if (data + 14 + 20 + 20 > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip[0] != 0x45 || ip[9] != IPPROTO_TCP)
		return XDP_PASS;
	__builtin_memcpy(&saddr, ip + 12, 4);
	__builtin_memcpy(&daddr, ip + 16, 4);
	ports = (ip[20] << 24 | ip[21] << 16 | ip[22] << 8 | ip[23]) ^ IPPROTO_TCP;
	len = ip[2] << 8 | ip[3];
	key = xlb_table_index(xlb_hash3(saddr, daddr, ports, XLB_HASH_SEED), XLB_BENCH_FLOOR_M);
	dst = bpf_map_lookup_elem(&floor_table, &key);
	if (!dst)
		return XDP_ABORTED;
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	if (bpf_xdp_adjust_head(ctx, -20))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + 34 > data_end)
		return XDP_ABORTED;
	eth = data;
	__builtin_memcpy(eth->h_dest, (__u8 *)data + 20 + ETH_ALEN, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	floor_outer(data + 14, len + 20, *dst);
	return XDP_TX;
}

/* Returns XDP_TX only: measures the harness's own cost. */
SEC("xdp")
int xlb_null(struct xdp_md *ctx)
{
	return XDP_TX;
}

/* Grows the head as an IPv4 encapsulator does and returns: what the head restore costs. */
SEC("xdp")
int xlb_push(struct xdp_md *ctx)
{
	return bpf_xdp_adjust_head(ctx, -20) ? XDP_ABORTED : XDP_TX;
}

/*
 * [0], per CPU: the original packet and what the program under test does to
 * it (per CPU: two CPUs run the harness at once without sharing a line).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_bench_pkt);
} bench_pkt SEC(".maps");

/* [0]: the program under test. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_target SEC(".maps");

/* Put the original bytes back where the previous iteration changed them. */
static __always_inline int restore(struct xdp_md *ctx, struct xlb_bench_pkt *orig)
{
	__u32 len = orig->len, cur;

	if (orig->head_delta && bpf_xdp_adjust_head(ctx, orig->head_delta))
		return -1;
	cur = ctx->data_end - ctx->data;
	if (cur != len && bpf_xdp_adjust_tail(ctx, (int)len - (int)cur))
		return -1;
	if (len == 0 || len > XLB_BENCH_MAX_PKT)
		return -1;
	return bpf_xdp_store_bytes(ctx, 0, orig->bytes, len);
}

/*
 * BPF_PROG_TEST_RUN with repeat > 1 does not restore the packet between
 * iterations.  From the second iteration on, this harness moves the head
 * back, sets the length and rewrites the original bytes; then it optionally
 * writes a flow number into the packet (distinct flows), and tail-calls the
 * program under test.  Its own cost is measured with xlb_null as the target.
 */
SEC("xdp")
int xlb_harness(struct xdp_md *ctx)
{
	struct xlb_bench_pkt *orig;
	__u32 k0 = 0, flow;

	orig = bpf_map_lookup_elem(&bench_pkt, &k0);
	if (!orig)
		return XDP_ABORTED;
	if (orig->runs++ > 0 && restore(ctx, orig))
		return XDP_ABORTED;
	if (orig->vary_mod) {
		flow = orig->vary_base + orig->runs % orig->vary_mod;
		if (bpf_xdp_store_bytes(ctx, orig->vary_off & 0xff, &flow, sizeof(flow)))
			return XDP_ABORTED;
	}
	bpf_tail_call(ctx, &bench_target, 0);
	return XDP_ABORTED;
}
