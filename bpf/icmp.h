/*
 * Path MTU through the tunnel: a packet to a VIP that will not fit once
 * encapsulated is answered, from XDP, with ICMP "fragmentation needed"
 * (IPv4 with DF) or ICMPv6 "packet too big" carrying the MTU the tunnel
 * leaves, so the client's kernel lowers its path MTU and sends again.  The
 * frame is rewritten in place into the answer and sent back out of the
 * interface it came in by (XDP_TX); answers are rate limited per CPU.
 */
#ifndef XLB_ICMP_H
#define XLB_ICMP_H

#include "compat.h"
#include "csum.h"
#include "parse.h"
#include "maps.h"
#include "encap.h"

#define XLB_ICMP_TTL	64
/* IP packets longer than this are checked against the ingress MTU (coalesced) */
#define XLB_COMMON_MTU	1500
/* Bytes of the offending packet quoted: its IPv4 header (options too) and at
 * least 8 bytes beyond it (RFC 792); IPv6: header, extensions and L4 header. */
#define XLB_PTB_QUOTE4	68
#define XLB_PTB_QUOTE6	200
#define XLB_ICMPV6_NEXTHDR	58
#define XLB_IPPROTO_ICMP	1

/* May this CPU send another too-big answer now (xlb_icmp_rate, per second)? */
static __always_inline int may_answer_too_big(void)
{
	__u32 zero = 0, rate = XLB_ICMP_RATE_DEFAULT;
	struct xlb_node_conf *node = bpf_map_lookup_elem(&xlb_node_conf, &zero);
	struct xlb_icmp_limit *l;
	__u64 now;

	if (node && node->icmp_rate)
		rate = node->icmp_rate;
	if (rate == XLB_ICMP_RATE_OFF)
		return 0;
	l = bpf_map_lookup_elem(&xlb_icmp_limit, &zero);
	if (!l)
		return 0;
	now = bpf_ktime_get_coarse_ns();
	if (now - l->window_ns >= 1000000000ull) {
		l->window_ns = now;
		l->sent = 0;
	}
	if (l->sent >= rate) {
		l->limited++;
		return 0;
	}
	l->sent++;
	return 1;
}

/*
 * Cut the frame to its L2 header and the first quote bytes of the IP packet,
 * then make room for hdr bytes of new headers in front of the quote, the L2
 * header moved to the new front with its addresses swapped.  0 or -1.
 */
static __always_inline int reshape_for_answer(struct xdp_md *ctx, const struct xlb_pkt *pkt,
					      __u32 quote, __u32 hdr)
{
	__u32 frame = ctx->data_end - ctx->data, want = pkt->l3_off + quote;
	void *data, *data_end;
	struct ethhdr *eth;
	__u8 mac[ETH_ALEN];

	if (pkt->ip_len < quote || frame < want)
		return -1;
	if (frame > want && bpf_xdp_adjust_tail(ctx, -(int)(frame - want)))
		return -1;
	if (bpf_xdp_adjust_head(ctx, -(int)hdr))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + hdr + XLB_L2_MAX > data_end)
		return -1;
	__builtin_memcpy(data, data + hdr, XLB_L2_MAX);	/* hdr >= XLB_L2_MAX: no overlap */
	eth = data;
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	return 0;
}

/* IPv4 with DF: "fragmentation needed", next-hop MTU mtu.  XDP_TX or XLB_CONTINUE. */
static __always_inline int answer_too_big4(struct xdp_md *ctx, const struct xlb_pkt *pkt,
					   __u32 mtu)
{
	const __u32 hdr = sizeof(struct iphdr) + sizeof(struct xlb_icmp_hdr);
	void *data, *data_end;
	struct xlb_icmp_hdr *ic;
	struct iphdr *ip;
	__s64 sum;

	if (reshape_for_answer(ctx, pkt, XLB_PTB_QUOTE4, hdr))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	ip = data + (pkt->l3_off & 0x1f);
	ic = (void *)(ip + 1);
	if ((void *)(ic + 1) + XLB_PTB_QUOTE4 > data_end)
		return XDP_DROP;
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0xc0;		/* internetwork control, as the kernel's own ICMP */
	ip->tot_len = bpf_htons(hdr + XLB_PTB_QUOTE4);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = XLB_ICMP_TTL;
	ip->protocol = XLB_IPPROTO_ICMP;
	ip->check = 0;
	ip->saddr = pkt->flow.dst.v4;	/* the VIP answers */
	ip->daddr = pkt->flow.src.v4;
	ip->check = csum_ipv4_hdr(ip);
	ic->type = XLB_ICMP_DEST_UNREACH;
	ic->code = XLB_ICMP_FRAG_NEEDED;
	ic->check = 0;
	ic->rest = bpf_htonl(mtu & 0xffff);	/* unused (16 bits), next-hop MTU */
	sum = bpf_csum_diff(NULL, 0, (void *)ic, sizeof(*ic) + XLB_PTB_QUOTE4, 0);
	if (sum < 0)
		return XDP_DROP;
	ic->check = csum_fold64(sum);
	return XDP_TX;
}

/* IPv6: "packet too big", MTU mtu.  XDP_TX, or XDP_DROP when it cannot be made. */
static __always_inline int answer_too_big6(struct xdp_md *ctx, const struct xlb_pkt *pkt,
					   __u32 mtu)
{
	const __u32 hdr = sizeof(struct ipv6hdr) + sizeof(struct xlb_icmp_hdr);
	const __u32 len = sizeof(struct xlb_icmp_hdr) + XLB_PTB_QUOTE6;
	void *data, *data_end;
	struct xlb_icmp_hdr *ic;
	struct ipv6hdr *ip6;
	__s64 addrs, body;

	if (reshape_for_answer(ctx, pkt, XLB_PTB_QUOTE6, hdr))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	ip6 = data + (pkt->l3_off & 0x1f);
	ic = (void *)(ip6 + 1);
	if ((void *)(ic + 1) + XLB_PTB_QUOTE6 > data_end)
		return XDP_DROP;
	ip6->version = 6;
	ip6->priority = 0;
	__builtin_memset(ip6->flow_lbl, 0, sizeof(ip6->flow_lbl));
	ip6->payload_len = bpf_htons(len);
	ip6->nexthdr = XLB_ICMPV6_NEXTHDR;
	ip6->hop_limit = XLB_ICMP_TTL;
	__builtin_memcpy(&ip6->saddr, pkt->flow.dst.v6, 16);	/* the VIP answers */
	__builtin_memcpy(&ip6->daddr, pkt->flow.src.v6, 16);
	ic->type = XLB_ICMPV6_PKT_TOOBIG;
	ic->code = 0;
	ic->check = 0;
	ic->rest = bpf_htonl(mtu);
	/* pseudo-header: addresses, upper-layer length, next header */
	addrs = bpf_csum_diff(NULL, 0, (void *)&ip6->saddr, 32, 0);
	body = bpf_csum_diff(NULL, 0, (void *)ic, len, 0);
	if (addrs < 0 || body < 0)
		return XDP_DROP;
	ic->check = csum_fold64((__u64)addrs + (__u64)body + bpf_htonl(len) +
				bpf_htonl(XLB_ICMPV6_NEXTHDR));
	return XDP_TX;
}

/*
 * The forwarded packet would exceed route_mtu by the overhead bytes the
 * forwarding adds (outer headers; 0 for L2): answer with the MTU they leave
 * when the packet allows it (TCP or UDP from a client, IPv4 with DF) and the
 * rate does: XDP_TX with the frame rewritten into the answer; else XDP_DROP
 * (counted too_big).
 */
static __noinline int answer_too_big(struct xdp_md *ctx, const struct xlb_pkt *pkt,
					  __u32 route_mtu, __u32 overhead)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + (pkt->l3_off & 0x1f);

	if (pkt->icmp_err)	/* never an error about an error */
		return XDP_DROP;
	if (pkt->flow.family == XLB_FAMILY_V4) {
		if ((void *)(ip + 1) > data_end || !(ip->frag_off & bpf_htons(XLB_IP_DF)) ||
		    route_mtu < 68 + overhead || !may_answer_too_big())
			return XDP_DROP;
		return answer_too_big4(ctx, pkt, route_mtu - overhead);
	}
	if (route_mtu < 1280 + overhead || !may_answer_too_big())
		return XDP_DROP;
	return answer_too_big6(ctx, pkt, route_mtu - overhead);
}

#endif /* XLB_ICMP_H */
