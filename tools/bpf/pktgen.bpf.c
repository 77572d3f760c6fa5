// SPDX-License-Identifier: GPL-2.0
/* Traffic generator: give each live frame its flow's source, send it out. */
#include "../../bpf/compat.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include "../../bpf/csum.h"
#include "../../include/xlb_pktgen.h"

char LICENSE[] SEC("license") = "GPL";

const volatile struct pktgen_cfg cfg = { .flows = 1, .ports = 1 };

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
