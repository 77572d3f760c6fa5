// SPDX-License-Identifier: GPL-2.0
/*
 * Traffic generator: give each frame its flow's source, send it out.  Two
 * ways: pktgen_tx on live frames (BPF_PROG_RUN, XDP_TX), pktgen_clone on
 * tc egress, which multiplies each trigger frame pktgen sends by cloning it.
 */
#include "../../bpf/compat.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include "../../bpf/csum.h"
#include "../../include/xlb_pktgen.h"

char LICENSE[] SEC("license") = "GPL";

const volatile struct pktgen_cfg cfg = { .flows = 1, .ports = 1 };
/* the tc engine's trigger mark: see xlb_pktgen.h */
const volatile __u32 tc_trigger_mark = PKTGEN_MARK_BASE;

/* [0]: frames generated on this CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pktgen_seq SEC(".maps");

#define V4_SADDR	(ETH_HLEN + 12)
#define V4_CHECK	(ETH_HLEN + 10)
#define V4_L4		(ETH_HLEN + 20)
#define V6_SADDR_LO	(ETH_HLEN + 8 + 12)
#define V6_L4		(ETH_HLEN + 40)

static __always_inline __u32 sum_words(__u32 v)
{
	return (v & 0xffff) + (v >> 16);
}

/*
 * Restore the template's headers (len bytes, even, a constant): see
 * xlb_pktgen.h.  Reads stay volatile: cast away, the compiler would copy the
 * zeros of the initialiser instead of what the loader wrote.
 */
#define RESTORE(len) do {						\
	int i;								\
	if (data + (len) > data_end)					\
		return XDP_ABORTED;					\
	XLB_UNROLL							\
	for (i = 0; i + 8 <= (len); i += 8)				\
		*(__u64 *)(data + i) = *(const volatile __u64 *)&cfg.hdr[i]; \
	XLB_UNROLL							\
	for (; i < (len); i += 2)					\
		*(__u16 *)(data + i) = *(const volatile __u16 *)&cfg.hdr[i]; \
} while (0)

/* Write the flow's source and checksums; l4 is the L4 header's offset. */
static __always_inline int fill(void *data, void *data_end, int saddr_off, int l4,
				__be32 saddr, __be16 sport)
{
	int tcp = cfg.l4_proto == IPPROTO_TCP;
	int check_off = l4 + (tcp ? 16 : 6);
	__u16 l4sum;

	if (tcp && l4 == V4_L4)
		RESTORE(V4_L4 + 20);
	else if (tcp)
		RESTORE(V6_L4 + 20);
	else if (l4 == V4_L4)
		RESTORE(V4_L4 + 8);
	else
		RESTORE(V6_L4 + 8);
	*(__be32 *)(data + saddr_off) = saddr;
	*(__be16 *)(data + l4) = sport;
	l4sum = csum_fold32(cfg.l4_base + sum_words(saddr) + sport);
	if (l4sum == 0 && cfg.l4_proto == IPPROTO_UDP)
		l4sum = 0xffff;
	*(__u16 *)(data + check_off) = l4sum;
	if (!cfg.ipv6)
		*(__u16 *)(data + V4_CHECK) = csum_fold32(cfg.ip_base + sum_words(saddr));
	return XDP_TX;
}

SEC("xdp")
int pktgen_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 key = 0, flow;
	__be32 saddr;
	__be16 sport;
	__u64 *seq;

	seq = bpf_map_lookup_elem(&pktgen_seq, &key);
	if (!seq)
		return XDP_ABORTED;
	flow = *seq % cfg.flows;
	*seq += 1;
	sport = bpf_htons(cfg.sport + flow % cfg.ports);
	saddr = bpf_htonl(cfg.saddr + flow / cfg.ports);
	if (cfg.ipv6)
		return fill(data, data_end, V6_SADDR_LO, V6_L4, saddr, sport);
	return fill(data, data_end, V4_SADDR, V4_L4, saddr, sport);
}

/* The live-frames probe: one frame, dropped; only the kernel's answer counts. */
SEC("xdp")
int pktgen_probe(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_DROP;
}

/* See xlb_pktgen.h: PKTGEN_TC_*. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PKTGEN_TC_NR);
	__type(key, __u32);
	__type(value, __u64);
} pktgen_tc SEC(".maps");

static __always_inline __u64 *tc_slot(__u32 key)
{
	return bpf_map_lookup_elem(&pktgen_tc, &key);
}

/* Write frame seq's source and checksums into skb (headers are the template's). */
static __always_inline int tc_fill(struct __sk_buff *skb, __u64 seq)
{
	int l4 = cfg.ipv6 ? V6_L4 : V4_L4, saddr_off = cfg.ipv6 ? V6_SADDR_LO : V4_SADDR;
	int check_off = l4 + (cfg.l4_proto == IPPROTO_TCP ? 16 : 6);
	__u32 flow = seq % cfg.flows;
	__be16 sport = bpf_htons(cfg.sport + flow % cfg.ports);
	__be32 saddr = bpf_htonl(cfg.saddr + flow / cfg.ports);
	__u16 l4sum = csum_fold32(cfg.l4_base + sum_words(saddr) + sport), ipsum;

	if (l4sum == 0 && cfg.l4_proto == IPPROTO_UDP)
		l4sum = 0xffff;
	if (bpf_skb_store_bytes(skb, saddr_off, &saddr, 4, 0) ||
	    bpf_skb_store_bytes(skb, l4, &sport, 2, 0) ||
	    bpf_skb_store_bytes(skb, check_off, &l4sum, 2, 0))
		return -1;
	if (cfg.ipv6)
		return 0;
	ipsum = csum_fold32(cfg.ip_base + sum_words(saddr));
	return bpf_skb_store_bytes(skb, V4_CHECK, &ipsum, 2, 0) ? -1 : 0;
}

/*
 * A trigger (mark tc_trigger_mark, the template frame) leaves as up to
 * PKTGEN_TC_BURST frames while the budget lasts: clones sent out of the same
 * device, then itself.  Clones carry tc_trigger_mark + 1 and pass; so does
 * everything else (the namespace's own ARP, another generator's frames).  A
 * clone the kernel could not make is not a frame (counted apart); one the
 * device refused is a frame that left the generator and shows in the
 * device's drops.
 */
SEC("tc")
int pktgen_clone(struct __sk_buff *skb)
{
	__u64 *seq = tc_slot(PKTGEN_TC_SEQ), *budget = tc_slot(PKTGEN_TC_BUDGET);
	__u64 *made = tc_slot(PKTGEN_TC_MADE), *failed = tc_slot(PKTGEN_TC_FAILED);
	int i;

	if (skb->mark != tc_trigger_mark)
		return TC_ACT_OK;
	if (!seq || !budget || !made || !failed || !*budget)
		return TC_ACT_SHOT;	/* a trigger beyond the budget: not a frame */
	skb->mark = tc_trigger_mark + 1;
	for (i = 0; i < PKTGEN_TC_BURST - 1 && *budget > 1; i++) {
		if (tc_fill(skb, *seq))
			return TC_ACT_SHOT;
		if (bpf_clone_redirect(skb, skb->ifindex, 0) < 0) {
			*failed += 1;
			continue;
		}
		*seq += 1;
		*budget -= 1;
		*made += 1;
	}
	if (tc_fill(skb, *seq))
		return TC_ACT_SHOT;
	*seq += 1;
	*budget -= 1;
	*made += 1;	/* the trigger itself, on its way to the device */
	return TC_ACT_OK;
}
