/*
 * Packet parser: Ethernet (one 802.1Q/802.1ad tag at most), IPv4, IPv6 with a
 * bounded extension-header walk, TCP, UDP, and the quoted header of ICMP
 * "fragmentation needed" / ICMPv6 "packet too big".  Pure function of the
 * bytes, so the same code runs in BPF and on the host (unit tests, fuzzing).
 *
 * Policy (README "Packet policy"):
 * - Malformed Ethernet/IP headers are dropped: the kernel would drop them too.
 * - IPv4 options are allowed; they are skipped and carried in the tunnel.
 * - Whatever needs a VIP to decide (fragments, bad L4 headers, ICMP, IP-in-IP,
 *   other protocols, over-long IPv6 chains) is XLB_PARSE_IF_VIP: the caller
 *   applies pkt->vip_action only when the destination is a VIP and passes the
 *   packet untouched otherwise.
 */
#ifndef XLB_PARSE_H
#define XLB_PARSE_H

#include "compat.h"
#include "../include/xlb_abi.h"
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#ifndef ETH_P_8021Q
#define ETH_P_8021Q	0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD	0x88A8
#endif
#define XLB_IP_MF	0x2000
#define XLB_IP_OFFSET	0x1FFF
#define XLB_IPV6_FRAG_MASK	0xFFF9	/* offset and M flag (network order lo bits) */

enum xlb_parse {
	XLB_PARSE_FLOW = 0,	/* pkt->flow holds a TCP/UDP 5-tuple */
	XLB_PARSE_PASS,		/* pass, pkt->reason */
	XLB_PARSE_DROP,		/* drop, pkt->reason */
	XLB_PARSE_IF_VIP,	/* to a VIP: pkt->vip_action/reason; else pass */
};

/* ICMP and ICMPv6 share this 8-byte header layout. */
struct xlb_icmp_hdr {
	__u8 type;
	__u8 code;
	__be16 check;
	__be32 rest;
};
#define XLB_ICMP_DEST_UNREACH	3
#define XLB_ICMP_FRAG_NEEDED	4
#define XLB_ICMPV6_PKT_TOOBIG	2
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6	58
#endif
#ifndef IPPROTO_HOPOPTS
#define IPPROTO_HOPOPTS		0
#define IPPROTO_ROUTING		43
#define IPPROTO_FRAGMENT	44
#define IPPROTO_DSTOPTS		60
#endif

struct xlb_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct xlb_pkt {
	struct xlb_flow_key flow;	/* client's 5-tuple */
	union xlb_addr daddr;		/* destination of the outer IP header */
	__u16 l3_off;			/* offset of the IP header: 14 or 18 */
	__u16 ip_len;			/* IP packet length (header included) */
	__u16 reason;			/* enum xlb_stat_reason */
	__u16 reason_not_vip;		/* reason when IF_VIP and not a VIP */
	__u8 vip_action;		/* XDP_PASS or XDP_DROP when to a VIP */
	__u8 tcp_flags;			/* TCP flags byte (FIN..CWR) */
	__u8 icmp_err;			/* flow comes from an ICMP error's quote */
	__u8 tos;			/* IPv4 TOS / IPv6 traffic class */
};

#define XLB_TCP_RST	0x04
#define XLB_TCP_SYN	0x02
#define XLB_TCP_ACK	0x10

static __always_inline int xlb_parse_verdict(struct xlb_pkt *pkt, int res, __u16 reason)
{
	pkt->reason = reason;
	return res;
}

/* To a VIP: action/reason; not to a VIP: pass as XLB_PASS_NOT_VIP. */
static __always_inline int xlb_parse_if_vip(struct xlb_pkt *pkt, __u8 action, __u16 reason)
{
	pkt->vip_action = action;
	pkt->reason = reason;
	pkt->reason_not_vip = XLB_PASS_NOT_VIP;
	return XLB_PARSE_IF_VIP;
}

/* TCP or UDP header at off, inside [off, end) where end is the IP end. */
static __always_inline int parse_l4(void *data, void *data_end, __u32 off, __u32 end,
				    __u8 proto, struct xlb_pkt *pkt)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = data + off;

		if ((void *)(th + 1) > data_end || off + sizeof(*th) > end)
			return xlb_parse_if_vip(pkt, XDP_DROP, XLB_DROP_MALFORMED_L4);
		if (th->doff < 5 || off + th->doff * 4 > end)
			return xlb_parse_if_vip(pkt, XDP_DROP, XLB_DROP_MALFORMED_L4);
		pkt->flow.sport = th->source;
		pkt->flow.dport = th->dest;
		pkt->tcp_flags = ((__u8 *)th)[13];
	} else {
		struct udphdr *uh = data + off;

		if ((void *)(uh + 1) > data_end || off + sizeof(*uh) > end)
			return xlb_parse_if_vip(pkt, XDP_DROP, XLB_DROP_MALFORMED_L4);
		if (bpf_ntohs(uh->len) < sizeof(*uh))
			return xlb_parse_if_vip(pkt, XDP_DROP, XLB_DROP_MALFORMED_L4);
		pkt->flow.sport = uh->source;
		pkt->flow.dport = uh->dest;
	}
	pkt->flow.proto = proto;
	return XLB_PARSE_FLOW;
}

/*
 * The quoted header of an ICMP error sits at off.  The quote is the packet
 * the VIP "sent" (a backend's DSR reply): VIP:port -> client:port.  The flow
 * is that reply's reverse, so the error reaches the flow's backend.  Such an
 * error is addressed to the VIP, the quote's source: one addressed elsewhere
 * (the node itself, another VIP) is not the VIP's to forward.
 */
static __always_inline int parse_quote_ports(void *data, void *data_end, __u32 off,
					     __u32 end, __u8 proto, struct xlb_pkt *pkt)
{
	__be16 *ports = data + off;

	if ((void *)(ports + 2) > data_end || off + 4 > end)
		return xlb_parse_if_vip(pkt, XDP_DROP, XLB_DROP_MALFORMED_ICMP);
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return xlb_parse_if_vip(pkt, XDP_PASS, XLB_PASS_ICMP_TO_VIP);
	pkt->flow.sport = ports[1];
	pkt->flow.dport = ports[0];
	pkt->flow.proto = proto;
	pkt->icmp_err = 1;
	return XLB_PARSE_FLOW;
}

/* Is the quoted packet's source (the VIP that "sent" it) the outer destination? */
static __always_inline int quote_is_ours6(const struct in6_addr *src, const union xlb_addr *daddr)
{
	const __u32 *a = (const __u32 *)src;

	return !((a[0] ^ daddr->v6[0]) | (a[1] ^ daddr->v6[1]) |
		 (a[2] ^ daddr->v6[2]) | (a[3] ^ daddr->v6[3]));
}

/* An ICMP error inside [off, end), end the IP packet's end: its quote too. */
static __always_inline int parse_icmp4(void *data, void *data_end, __u32 off, __u32 end,
				       struct xlb_pkt *pkt)
{
	struct xlb_icmp_hdr *ic = data + off;
	struct iphdr *in;

	if ((void *)(ic + 1) > data_end || off + sizeof(*ic) > end)
		return xlb_parse_if_vip(pkt, XDP_DROP, XLB_DROP_MALFORMED_ICMP);
	if (ic->type != XLB_ICMP_DEST_UNREACH || ic->code != XLB_ICMP_FRAG_NEEDED)
		return xlb_parse_if_vip(pkt, XDP_PASS, XLB_PASS_ICMP_TO_VIP);
	in = (void *)(ic + 1);
	if ((void *)(in + 1) > data_end || off + sizeof(*ic) + sizeof(*in) > end ||
	    in->version != 4 || in->ihl < 5)
		return xlb_parse_if_vip(pkt, XDP_DROP, XLB_DROP_MALFORMED_ICMP);
	if (in->saddr != pkt->daddr.v4)
		return xlb_parse_if_vip(pkt, XDP_PASS, XLB_PASS_ICMP_TO_VIP);
	pkt->flow.src.v4 = in->daddr;
	pkt->flow.dst.v4 = in->saddr;
	return parse_quote_ports(data, data_end, off + sizeof(*ic) + in->ihl * 4, end,
				 in->protocol, pkt);
}

static __always_inline int parse_icmp6(void *data, void *data_end, __u32 off, __u32 end,
				       struct xlb_pkt *pkt)
{
	struct xlb_icmp_hdr *ic = data + off;
	struct ipv6hdr *in;

	if ((void *)(ic + 1) > data_end || off + sizeof(*ic) > end)
		return xlb_parse_if_vip(pkt, XDP_DROP, XLB_DROP_MALFORMED_ICMP);
	if (ic->type != XLB_ICMPV6_PKT_TOOBIG)
		return xlb_parse_if_vip(pkt, XDP_PASS, XLB_PASS_ICMP_TO_VIP);
	in = (void *)(ic + 1);
	if ((void *)(in + 1) > data_end || off + sizeof(*ic) + sizeof(*in) > end ||
	    in->version != 6)
		return xlb_parse_if_vip(pkt, XDP_DROP, XLB_DROP_MALFORMED_ICMP);
	if (!quote_is_ours6(&in->saddr, &pkt->daddr))
		return xlb_parse_if_vip(pkt, XDP_PASS, XLB_PASS_ICMP_TO_VIP);
	__builtin_memcpy(pkt->flow.src.v6, &in->daddr, 16);
	__builtin_memcpy(pkt->flow.dst.v6, &in->saddr, 16);
	return parse_quote_ports(data, data_end, off + sizeof(*ic) + sizeof(*in), end,
				 in->nexthdr, pkt);
}

/* Above IP: TCP/UDP, ICMP errors, and what only a VIP decides. */
static __always_inline int parse_above_ip(void *data, void *data_end, __u32 off,
					  __u32 end, __u8 proto, struct xlb_pkt *pkt)
{
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		return parse_l4(data, data_end, off, end, proto, pkt);
	case IPPROTO_ICMP:
		if (pkt->flow.family != XLB_FAMILY_V4)
			break;
		return parse_icmp4(data, data_end, off, end, pkt);
	case IPPROTO_ICMPV6:
		if (pkt->flow.family != XLB_FAMILY_V6)
			break;
		return parse_icmp6(data, data_end, off, end, pkt);
	case IPPROTO_IPIP:
	case IPPROTO_IPV6:
		return xlb_parse_if_vip(pkt, XDP_PASS, XLB_PASS_IPIP_TO_VIP);
	}
	return xlb_parse_if_vip(pkt, XDP_PASS, XLB_PASS_NO_SERVICE);
}

static __always_inline int parse_ipv4(void *data, void *data_end, __u32 off,
				      struct xlb_pkt *pkt)
{
	struct iphdr *iph = data + off;
	__u32 hlen, tot, frame = data_end - data;

	if ((void *)(iph + 1) > data_end)
		return xlb_parse_verdict(pkt, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L3);
	hlen = iph->ihl * 4;
	tot = bpf_ntohs(iph->tot_len);
	if (iph->version != 4 || hlen < sizeof(*iph) || tot < hlen || tot > frame - off)
		return xlb_parse_verdict(pkt, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L3);

	pkt->flow.family = XLB_FAMILY_V4;
	pkt->flow.src.v4 = iph->saddr;
	pkt->flow.dst.v4 = iph->daddr;
	pkt->daddr.v4 = iph->daddr;
	pkt->ip_len = tot;
	pkt->tos = iph->tos;
	if (iph->frag_off & bpf_htons(XLB_IP_MF | XLB_IP_OFFSET))
		return xlb_parse_if_vip(pkt, XDP_DROP, XLB_DROP_FRAGMENT);
	return parse_above_ip(data, data_end, off + hlen, off + tot, iph->protocol, pkt);
}

/* One IPv6 extension header at *off; updates *off and *nexthdr. */
static __always_inline int skip_ipv6_ext(void *data, void *data_end, __u32 *off,
					 __u32 end, __u8 *nexthdr, __u8 *frag)
{
	__u8 *h = data + *off;
	__u32 len;

	if ((void *)(h + 8) > data_end)
		return -1;
	if (*nexthdr == IPPROTO_FRAGMENT) {
		/*
		 * bytes 2..3: offset (13 bits) and M; 0 means an atomic fragment,
		 * a whole packet whose walk goes on.  A real fragment ends the
		 * walk: a later one carries payload, not headers, from here on.
		 */
		if ((h[2] << 8 | h[3]) & XLB_IPV6_FRAG_MASK)
			*frag = 1;
		len = 8;
	} else {
		len = (h[1] + 1) * 8;
	}
	*nexthdr = h[0];
	*off += len;
	return *off > end ? -1 : 0;
}

static __always_inline int is_ipv6_ext(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_FRAGMENT;
}

static __always_inline int parse_ipv6(void *data, void *data_end, __u32 off,
				      struct xlb_pkt *pkt)
{
	struct ipv6hdr *ip6h = data + off;
	__u32 tot, end, frame = data_end - data;
	__u8 nexthdr, frag = 0;
	int i;

	if ((void *)(ip6h + 1) > data_end)
		return xlb_parse_verdict(pkt, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L3);
	tot = bpf_ntohs(ip6h->payload_len) + sizeof(*ip6h);
	if (ip6h->version != 6 || tot == sizeof(*ip6h) || tot > frame - off)
		return xlb_parse_verdict(pkt, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L3);

	pkt->flow.family = XLB_FAMILY_V6;
	__builtin_memcpy(pkt->flow.src.v6, &ip6h->saddr, 16);
	__builtin_memcpy(pkt->flow.dst.v6, &ip6h->daddr, 16);
	__builtin_memcpy(pkt->daddr.v6, &ip6h->daddr, 16);
	pkt->ip_len = tot;
	pkt->tos = (ip6h->priority << 4) | (ip6h->flow_lbl[0] >> 4);

	nexthdr = ip6h->nexthdr;
	end = off + tot;
	off += sizeof(*ip6h);
XLB_UNROLL
	for (i = 0; i < XLB_MAX_IPV6_EXT; i++) {
		if (!is_ipv6_ext(nexthdr))
			break;
		if (skip_ipv6_ext(data, data_end, &off, end, &nexthdr, &frag))
			return xlb_parse_verdict(pkt, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L3);
		if (frag)
			return xlb_parse_if_vip(pkt, XDP_DROP, XLB_DROP_FRAGMENT);
	}
	if (is_ipv6_ext(nexthdr)) {
		xlb_parse_if_vip(pkt, XDP_DROP, XLB_DROP_IPV6_EXT_LIMIT);
		pkt->reason_not_vip = XLB_PASS_IPV6_EXT_LIMIT;
		return XLB_PARSE_IF_VIP;
	}
	return parse_above_ip(data, data_end, off, end, nexthdr, pkt);
}

/*
 * Parse a frame.  pkt must be zeroed by the caller (keys are hashed and
 * looked up whole, padding included).
 */
static __always_inline int xlb_parse_packet(void *data, void *data_end, struct xlb_pkt *pkt)
{
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth);
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return xlb_parse_verdict(pkt, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L2);
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct xlb_vlan_hdr *vh = data + off;

		if ((void *)(vh + 1) > data_end)
			return xlb_parse_verdict(pkt, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L2);
		proto = vh->proto;
		off += sizeof(*vh);
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
			return xlb_parse_verdict(pkt, XLB_PARSE_PASS, XLB_PASS_VLAN_STACKED);
	}
	pkt->l3_off = off;
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(data, data_end, off, pkt);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(data, data_end, off, pkt);
	return xlb_parse_verdict(pkt, XLB_PARSE_PASS, XLB_PASS_NOT_IP);
}

/* xlb_parse_fast()'s TCP or UDP header at l4 (the IP packet: off, tot bytes). */
static __always_inline int xlb_parse_fast_l4(void *data, void *data_end, struct xlb_pkt *pkt,
					     __u32 off, __u32 l4, __u32 tot, __u8 l4proto)
{
	if (l4proto == IPPROTO_TCP) {
		struct tcphdr *th = data + l4;

		if ((void *)(th + 1) > data_end || l4 + sizeof(*th) > off + tot ||
		    th->doff < 5 || l4 + th->doff * 4 > off + tot)
			return -1;
		pkt->flow.sport = th->source;
		pkt->flow.dport = th->dest;
		pkt->tcp_flags = ((__u8 *)th)[13];
	} else if (l4proto == IPPROTO_UDP) {
		struct udphdr *uh = data + l4;

		if ((void *)(uh + 1) > data_end || l4 + sizeof(*uh) > off + tot ||
		    bpf_ntohs(uh->len) < sizeof(*uh))
			return -1;
		pkt->flow.sport = uh->source;
		pkt->flow.dport = uh->dest;
		pkt->tcp_flags = 0;
	} else {
		return -1;
	}
	pkt->flow.proto = l4proto;
	pkt->flow.pad[0] = 0;
	pkt->flow.pad[1] = 0;
	pkt->l3_off = off;
	pkt->ip_len = tot;
	pkt->icmp_err = 0;
	return 0;
}

/*
 * The common case in one pass, nothing zeroed first: Ethernet (one 802.1Q
 * tag at most), IPv4 without options or IPv6 without extension headers, a
 * whole TCP or UDP packet.  Returns 0 with pkt filled as xlb_parse_packet()
 * would fill it for XLB_PARSE_FLOW (the fields that verdict reads; reason,
 * reason_not_vip and vip_action are left unset), or -1 for anything else:
 * the caller then zeroes pkt and asks xlb_parse_packet(), which decides.
 */
static __always_inline int xlb_parse_fast(void *data, void *data_end, struct xlb_pkt *pkt)
{
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth), tot, frame = data_end - data, l4;
	__be16 proto;
	__u8 l4proto;

	if ((void *)(eth + 1) > data_end)
		return -1;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct xlb_vlan_hdr *vh = data + off;

		if ((void *)(vh + 1) > data_end)
			return -1;
		proto = vh->proto;
		off += sizeof(*vh);
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = data + off;

		if ((void *)(iph + 1) > data_end)
			return -1;
		/* version 4, no options, not a fragment (DF may be set) */
		if (((__u8 *)iph)[0] != 0x45 || (iph->frag_off & bpf_htons(XLB_IP_MF | XLB_IP_OFFSET)))
			return -1;
		tot = bpf_ntohs(iph->tot_len);
		l4proto = iph->protocol;
		if (tot < sizeof(*iph) || tot > frame - off)
			return -1;
		/* a union's other bytes are not zeroed by an initializer: word by word */
		pkt->flow.src.v6[0] = iph->saddr;
		pkt->flow.src.v6[1] = 0;
		pkt->flow.src.v6[2] = 0;
		pkt->flow.src.v6[3] = 0;
		pkt->flow.dst.v6[0] = iph->daddr;
		pkt->flow.dst.v6[1] = 0;
		pkt->flow.dst.v6[2] = 0;
		pkt->flow.dst.v6[3] = 0;
		pkt->daddr = pkt->flow.dst;
		pkt->flow.family = XLB_FAMILY_V4;
		pkt->tos = iph->tos;
		l4 = off + sizeof(*iph);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = data + off;

		if ((void *)(ip6h + 1) > data_end || ip6h->version != 6)
			return -1;
		tot = bpf_ntohs(ip6h->payload_len) + sizeof(*ip6h);
		l4proto = ip6h->nexthdr;
		if (tot > frame - off)
			return -1;
		__builtin_memcpy(pkt->flow.src.v6, &ip6h->saddr, 16);
		__builtin_memcpy(pkt->flow.dst.v6, &ip6h->daddr, 16);
		__builtin_memcpy(pkt->daddr.v6, &ip6h->daddr, 16);
		pkt->flow.family = XLB_FAMILY_V6;
		pkt->tos = (ip6h->priority << 4) | (ip6h->flow_lbl[0] >> 4);
		l4 = off + sizeof(*ip6h);
	} else {
		return -1;
	}
	return xlb_parse_fast_l4(data, data_end, pkt, off, l4, tot, l4proto);
}

#endif /* XLB_PARSE_H */
