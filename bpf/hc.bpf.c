// SPDX-License-Identifier: GPL-2.0
/*
 * The health checks' way through the tunnel (issue 25): tc egress on the
 * NOARP veth xlbhcIFINDEX, where policy routing sends the packets of checks
 * (mark & XLB_HC_MARK_MASK == XLB_HC_MARK).  Each is wrapped in the outer
 * header the XDP program writes for its backend (encap.h: IPv4 with DF and
 * TTL 64, or IPv6 with the flow label from the ports; GUE: and a UDP
 * header), from the tunnel source to the backend that hc_targets names for
 * the mark, and handed to the neighbour layer on the route to the backend.
 * A service forwarded by L2 direct return: not wrapped, handed to the
 * neighbour layer for the backend's address (so the frame reaches its MAC,
 * and a neighbour the XDP program finds unresolved is resolved).  Anything else is
 * dropped and counted: a check is never sent in clear.
 */
#include "compat.h"
#include "encap.h"
#include <linux/pkt_cls.h>

char LICENSE[] SEC("license") = "GPL";

#define XLB_ETH_LEN	14	/* the veth's frames: Ethernet, no VLAN */

/* [mark & 0xffff] -> the backend (family 0: free). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_HC_SLOTS);
	__type(key, __u32);
	__type(value, struct xlb_hc_target);
} hc_targets SEC(".maps");

/* [0]: the tunnel sources and the interface routes are looked up from. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_hc_conf);
} hc_conf SEC(".maps");

/* [enum xlb_hc_reason] -> packets, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_HC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} hc_stats SEC(".maps");

static __always_inline int count(int action, __u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&hc_stats, &reason);

	if (n)
		(*n)++;
	return action;
}

/* The ports of a TCP or UDP packet at l4 (zero otherwise): the IPv6 flow label's. */
static __always_inline __u32 flow_label(struct __sk_buff *skb, __u8 proto, __u32 l4)
{
	__be16 ports[2];

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)))
		return 0;
	return (bpf_ntohs(ports[0]) << 4) ^ bpf_ntohs(ports[1]);
}

/* The outer headers of a check: IP, and UDP when the service forwards by GUE. */
struct outer4 {
	struct iphdr ip;
	struct udphdr udp;
};

struct outer6 {
	struct ipv6hdr ip;
	struct udphdr udp;
};

/*
 * GUE's ports for a check: the service's port, and a source port from the
 * check's own ports (one connection, one source port), as the XDP program
 * takes one from the flow hash.
 */
static __always_inline void gue_of(const struct xlb_hc_target *t, __u32 ports,
				   struct xlb_gue *g)
{
	g->sport = bpf_htons(XLB_GUE_SPORT_MIN + (ports & 0x3fff));
	g->dport = t->gue_port ?: bpf_htons(XLB_GUE_PORT_DEFAULT);
}

/* Grow the head after the MAC header and write an outer IPv4 header (and UDP) there. */
static __always_inline int wrap_ipv4(struct __sk_buff *skb, const struct xlb_hc_conf *c,
				     const struct xlb_hc_target *t)
{
	int gue = t->fwd == XLB_FWD_GUE;
	__u32 len = gue ? sizeof(struct outer4) : sizeof(struct iphdr);
	struct iphdr inner;
	struct outer4 outer;
	struct xlb_gue g;

	__builtin_memset(&outer, 0, sizeof(outer));
	if (bpf_skb_load_bytes(skb, XLB_ETH_LEN, &inner, sizeof(inner)) || inner.version != 4 ||
	    inner.ihl < 5)
		return count(TC_ACT_SHOT, XLB_HC_MALFORMED);
	gue_of(t, flow_label(skb, inner.protocol, XLB_ETH_LEN + inner.ihl * 4), &g);
	if (bpf_skb_adjust_room(skb, len, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 |
				(gue ? BPF_F_ADJ_ROOM_ENCAP_L4_UDP : 0)))
		return count(TC_ACT_SHOT, XLB_HC_NO_ROOM);
	outer_ipv4_fill(&outer.ip, inner.tos, bpf_ntohs(inner.tot_len) + len - sizeof(inner),
			c->src4.v4, t->backend.v4, gue ? IPPROTO_UDP : IPPROTO_IPIP);
	if (gue)
		gue_udp_fill(&outer.udp, &g, bpf_ntohs(inner.tot_len));
	if (bpf_skb_store_bytes(skb, XLB_ETH_LEN, &outer, len, 0))
		return count(TC_ACT_SHOT, XLB_HC_NO_ROOM);
	return XLB_CONTINUE;
}

static __always_inline int wrap_ipv6(struct __sk_buff *skb, const struct xlb_hc_conf *c,
				     const struct xlb_hc_target *t)
{
	int gue = t->fwd == XLB_FWD_GUE;
	__u32 len = gue ? sizeof(struct outer6) : sizeof(struct ipv6hdr), label, inner_len;
	struct ipv6hdr inner;
	struct outer6 outer;
	struct xlb_gue g;
	__u8 tos;

	__builtin_memset(&outer, 0, sizeof(outer));
	if (bpf_skb_load_bytes(skb, XLB_ETH_LEN, &inner, sizeof(inner)) || inner.version != 6)
		return count(TC_ACT_SHOT, XLB_HC_MALFORMED);
	label = flow_label(skb, inner.nexthdr, XLB_ETH_LEN + sizeof(inner));
	gue_of(t, label, &g);
	tos = (inner.priority << 4) | (inner.flow_lbl[0] >> 4);
	inner_len = sizeof(inner) + bpf_ntohs(inner.payload_len);
	if (bpf_skb_adjust_room(skb, len, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 |
				(gue ? BPF_F_ADJ_ROOM_ENCAP_L4_UDP : 0)))
		return count(TC_ACT_SHOT, XLB_HC_NO_ROOM);
	outer_ipv6_fill(&outer.ip, tos, label, inner_len + len - sizeof(inner), &c->src6,
			&t->backend, gue ? IPPROTO_UDP : IPPROTO_IPV6);
	if (gue)
		gue_udp_fill(&outer.udp, &g, inner_len);
	if (bpf_skb_store_bytes(skb, XLB_ETH_LEN, &outer, len, 0))
		return count(TC_ACT_SHOT, XLB_HC_NO_ROOM);
	return XLB_CONTINUE;
}

/* The route to the backend from the tunnel source; redirect through its neighbour. */
static __always_inline int send_on(struct __sk_buff *skb, const struct xlb_hc_conf *c,
				   const struct xlb_hc_target *t)
{
	struct bpf_redir_neigh nh = { 0 };
	struct bpf_fib_lookup fib = { 0 };
	int rc;

	fib.ifindex = c->fib_ifindex;
	if (t->family == XLB_FAMILY_V4) {
		fib.family = XLB_AF_INET;
		fib.ipv4_src = c->src4.v4;
		fib.ipv4_dst = t->backend.v4;
	} else {
		fib.family = XLB_AF_INET6;
		__builtin_memcpy(fib.ipv6_src, c->src6.v6, 16);
		__builtin_memcpy(fib.ipv6_dst, t->backend.v6, 16);
	}
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return count(TC_ACT_SHOT, XLB_HC_NO_ROUTE);
	/* L2: the backend must be the next hop itself, as for the balancer's packets */
	if (t->fwd == XLB_FWD_L2 &&
	    (fib.family == XLB_AF_INET ? fib.ipv4_dst != t->backend.v4 :
	     (fib.ipv6_dst[0] != t->backend.v6[0] || fib.ipv6_dst[1] != t->backend.v6[1] ||
	      fib.ipv6_dst[2] != t->backend.v6[2] || fib.ipv6_dst[3] != t->backend.v6[3])))
		return count(TC_ACT_SHOT, XLB_HC_L2_GATEWAY);
	nh.nh_family = fib.family;
	if (fib.family == XLB_AF_INET)
		nh.ipv4_nh = fib.ipv4_dst;
	else
		__builtin_memcpy(nh.ipv6_nh, fib.ipv6_dst, 16);
	return count(bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0), XLB_HC_SENT);
}

SEC("tc")
int xlb_hc(struct __sk_buff *skb)
{
	const struct xlb_hc_target *t;
	const struct xlb_hc_conf *c;
	__u32 zero = 0, slot;
	int act;

	if ((skb->mark & XLB_HC_MARK_MASK) != XLB_HC_MARK)
		return count(TC_ACT_SHOT, XLB_HC_UNMARKED);
	slot = skb->mark & ~XLB_HC_MARK_MASK;
	t = bpf_map_lookup_elem(&hc_targets, &slot);
	c = bpf_map_lookup_elem(&hc_conf, &zero);
	if (!t || !c || !t->family)
		return count(TC_ACT_SHOT, XLB_HC_UNKNOWN_MARK);
	if (t->family == XLB_FAMILY_V4 && skb->protocol == bpf_htons(ETH_P_IP))
		act = t->fwd == XLB_FWD_L2 ? XLB_CONTINUE : wrap_ipv4(skb, c, t);
	else if (t->family == XLB_FAMILY_V6 && skb->protocol == bpf_htons(ETH_P_IPV6))
		act = t->fwd == XLB_FWD_L2 ? XLB_CONTINUE : wrap_ipv6(skb, c, t);
	else
		return count(TC_ACT_SHOT, XLB_HC_MALFORMED);
	if (act != XLB_CONTINUE)
		return act;
	return send_on(skb, c, t);
}
