/* IP-in-IP and GUE encapsulation (IPv4 in IPv4, IPv6 in IPv6) and the next hop. */
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
 * outer header; proto: IPPROTO_IPIP/IPPROTO_IPV6, or IPPROTO_UDP (GUE).
 */
static __always_inline void outer_ipv4_fill(struct iphdr *outer, __u8 tos, __u32 inner_len,
					    __be32 src, __be32 dst, __u8 proto)
{
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(inner_len + sizeof(struct iphdr));
	outer->id = 0;
	outer->frag_off = bpf_htons(XLB_IP_DF);
	outer->ttl = XLB_OUTER_TTL;
	outer->protocol = proto;
	outer->check = 0;
	outer->saddr = src;
	outer->daddr = dst;
	outer->check = csum_ipv4_hdr(outer);
}

/* label: the flow label (20 bits) spreading flows for ECMP, from the ports. */
static __always_inline void outer_ipv6_fill(struct ipv6hdr *outer, __u8 tos, __u32 label,
					    __u32 inner_len, const union xlb_addr *src,
					    const union xlb_addr *dst, __u8 proto)
{
	outer->version = 6;
	outer->priority = tos >> 4;
	outer->flow_lbl[0] = ((tos & 0xf) << 4) | ((label >> 16) & 0xf);
	outer->flow_lbl[1] = label >> 8;
	outer->flow_lbl[2] = label;
	outer->payload_len = bpf_htons(inner_len);
	outer->nexthdr = proto;
	outer->hop_limit = XLB_OUTER_TTL;
	__builtin_memcpy(&outer->saddr, src->v6, 16);
	__builtin_memcpy(&outer->daddr, dst->v6, 16);
}

/*
 * GUE variant 1's UDP header (in front of the IP packet of inner_len bytes):
 * the source port from the flow hash spreads flows for ECMP and RSS, the
 * checksum is 0 (the inner packet carries its own; RFC 6935 for IPv6).
 */
struct xlb_gue {
	__be16 sport;
	__be16 dport;
};

static __always_inline void gue_udp_fill(struct udphdr *udp, const struct xlb_gue *gue,
					 __u32 inner_len)
{
	udp->source = gue->sport;
	udp->dest = gue->dport;
	udp->len = bpf_htons(inner_len + sizeof(struct udphdr));
	udp->check = 0;
}

/*
 * Prepend an outer IPv4 header, and with gue (udp = sizeof(struct udphdr),
 * a constant at each call) a UDP header after it.  The outer header carries
 * DF: a tunnel packet that does not fit further down fails loudly instead of
 * being fragmented, since backends cannot reassemble tunnels without the
 * kernel's modules.  extra: bytes of tunnel headers already in front of the
 * packet (second chance).
 */
static __always_inline int encap_ipv4(struct xdp_md *ctx, const struct xlb_pkt *pkt,
				      __be32 src, __be32 dst, __u32 extra,
				      const struct xlb_gue *gue, const __u32 udp)
{
	__u32 inner = pkt->ip_len + (extra & 0xff);
	void *data, *data_end;
	struct iphdr *outer;

	if (bpf_xdp_adjust_head(ctx, -(int)(sizeof(struct iphdr) + udp)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct iphdr) + udp + XLB_L2_MAX > data_end)
		return -1;
	__builtin_memcpy(data, data + sizeof(struct iphdr) + udp, XLB_L2_MAX);
	outer = data + (pkt->l3_off & 0x1f);
	if ((void *)(outer + 1) + udp > data_end)
		return -1;
	if (!udp) {
		outer_ipv4_fill(outer, pkt->tos, inner, src, dst, IPPROTO_IPIP);
		return 0;
	}
	outer_ipv4_fill(outer, pkt->tos, inner + udp, src, dst, IPPROTO_UDP);
	gue_udp_fill((void *)(outer + 1), gue, inner);
	return 0;
}

/* Prepend an outer IPv6 header (and UDP, as above); the flow label spreads flows. */
static __always_inline int encap_ipv6(struct xdp_md *ctx, const struct xlb_pkt *pkt,
				      const union xlb_addr *src, const union xlb_addr *dst,
				      __u32 extra, const struct xlb_gue *gue, const __u32 udp)
{
	__u32 label = (bpf_ntohs(pkt->flow.sport) << 4) ^ bpf_ntohs(pkt->flow.dport);
	__u32 inner = pkt->ip_len + (extra & 0xff);
	void *data, *data_end;
	struct ipv6hdr *outer;

	if (bpf_xdp_adjust_head(ctx, -(int)(sizeof(struct ipv6hdr) + udp)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ipv6hdr) + udp + XLB_L2_MAX > data_end)
		return -1;
	__builtin_memcpy(data, data + sizeof(struct ipv6hdr) + udp, XLB_L2_MAX);
	outer = data + (pkt->l3_off & 0x1f);
	if ((void *)(outer + 1) + udp > data_end)
		return -1;
	if (!udp) {
		outer_ipv6_fill(outer, pkt->tos, label, inner, src, dst, IPPROTO_IPV6);
		return 0;
	}
	outer_ipv6_fill(outer, pkt->tos, label, inner + udp, src, dst, IPPROTO_UDP);
	gue_udp_fill((void *)(outer + 1), gue, inner);
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
