/* IP-in-IP encapsulation (IPv4 in IPv4, IPv6 in IPv6) and the next hop. */
#ifndef XLB_ENCAP_H
#define XLB_ENCAP_H

#include "compat.h"
#include "csum.h"
#include "parse.h"

#define XLB_AF_INET	2
#define XLB_AF_INET6	10
#define XLB_OUTER_TTL	64
#define XLB_IP_DF	0x4000
/* Bytes moved when the head grows: Ethernet plus an optional VLAN tag. */
#define XLB_L2_MAX	18

/*
 * The outer headers themselves, written alike by the XDP program (below) and
 * the health checks' tc program (hc.bpf.c).  inner_len: bytes after the
 * outer header.
 */
static __always_inline void outer_ipv4_fill(struct iphdr *outer, __u8 tos, __u32 inner_len,
					    __be32 src, __be32 dst)
{
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(inner_len + sizeof(struct iphdr));
	outer->id = 0;
	outer->frag_off = bpf_htons(XLB_IP_DF);
	outer->ttl = XLB_OUTER_TTL;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = src;
	outer->daddr = dst;
	outer->check = csum_ipv4_hdr(outer);
}

/* label: the flow label (20 bits) spreading flows for ECMP, from the ports. */
static __always_inline void outer_ipv6_fill(struct ipv6hdr *outer, __u8 tos, __u32 label,
					    __u32 inner_len, const union xlb_addr *src,
					    const union xlb_addr *dst)
{
	outer->version = 6;
	outer->priority = tos >> 4;
	outer->flow_lbl[0] = ((tos & 0xf) << 4) | ((label >> 16) & 0xf);
	outer->flow_lbl[1] = label >> 8;
	outer->flow_lbl[2] = label;
	outer->payload_len = bpf_htons(inner_len);
	outer->nexthdr = IPPROTO_IPV6;
	outer->hop_limit = XLB_OUTER_TTL;
	__builtin_memcpy(&outer->saddr, src->v6, 16);
	__builtin_memcpy(&outer->daddr, dst->v6, 16);
}

/*
 * Prepend an outer IPv4 header.  The outer header carries DF: a tunnel packet
 * that does not fit further down fails loudly instead of being fragmented,
 * since backends cannot reassemble IP-in-IP without the ipip module.  extra:
 * bytes of tunnel headers already in front of the packet (second chance).
 */
static __always_inline int encap_ipv4(struct xdp_md *ctx, const struct xlb_pkt *pkt,
				      __be32 src, __be32 dst, __u32 extra)
{
	void *data, *data_end;
	struct iphdr *outer;

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct iphdr) + XLB_L2_MAX > data_end)
		return -1;
	__builtin_memcpy(data, data + sizeof(struct iphdr), XLB_L2_MAX);
	outer = data + (pkt->l3_off & 0x1f);
	if ((void *)(outer + 1) > data_end)
		return -1;
	outer_ipv4_fill(outer, pkt->tos, pkt->ip_len + (extra & 0xff), src, dst);
	return 0;
}

/* Prepend an outer IPv6 header; the flow label spreads flows for ECMP. */
static __always_inline int encap_ipv6(struct xdp_md *ctx, const struct xlb_pkt *pkt,
				      const union xlb_addr *src, const union xlb_addr *dst,
				      __u32 extra)
{
	__u32 label = (bpf_ntohs(pkt->flow.sport) << 4) ^ bpf_ntohs(pkt->flow.dport);
	void *data, *data_end;
	struct ipv6hdr *outer;

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct ipv6hdr)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ipv6hdr) + XLB_L2_MAX > data_end)
		return -1;
	__builtin_memcpy(data, data + sizeof(struct ipv6hdr), XLB_L2_MAX);
	outer = data + (pkt->l3_off & 0x1f);
	if ((void *)(outer + 1) > data_end)
		return -1;
	outer_ipv6_fill(outer, pkt->tos, label, pkt->ip_len + (extra & 0xff), src, dst);
	return 0;
}

/* Route lookup for an outer packet of tot_len bytes (0: no MTU check). */
static __always_inline int lookup_next_hop(struct xdp_md *ctx, const struct xlb_pkt *pkt,
					   const union xlb_addr *src, const union xlb_addr *dst,
					   struct bpf_fib_lookup *fib, __u32 tot_len)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->ifindex = ctx->ingress_ifindex;
	fib->tot_len = tot_len;
	if (pkt->flow.family == XLB_FAMILY_V4) {
		fib->family = XLB_AF_INET;
		fib->ipv4_src = src->v4;
		fib->ipv4_dst = dst->v4;
	} else {
		fib->family = XLB_AF_INET6;
		__builtin_memcpy(fib->ipv6_src, src->v6, 16);
		__builtin_memcpy(fib->ipv6_dst, dst->v6, 16);
	}
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
}

#endif /* XLB_ENCAP_H */
