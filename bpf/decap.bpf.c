// SPDX-License-Identifier: GPL-2.0
/*
 * Backend-side decapsulation for kernels without the ipip module: strips the
 * outer header of IPv4-in-IPv4 and IPv6-in-IPv6 packets addressed to this
 * host (an address in decap_addrs) from an allowed source (a prefix in
 * decap_from4/6: the balancers) and passes the inner packet on.  IP-in-IP
 * from anywhere else is dropped: XDP runs before netfilter, so a backend's
 * firewall could not stop a stranger's tunnel carrying any client address.
 * A second chance is sent on only to a peer (decap_peer4/6): never a relay
 * to whatever address a forged inner tunnel names.
 *
 * GUE (variant 1, as the balancer sends it for "forward": "gue") is taken
 * the same way: UDP to this host, to a port in decap_gue_ports, whose
 * payload starts with an IP header of the outer's family (first nibble 4 in
 * IPv4, 6 in IPv6): the outer IP and UDP headers are stripped, with the same
 * source checks and second chance (the payload then is the IP-in-IP header
 * to the alternative, then the packet).  The UDP checksum is not verified
 * (the balancer sends 0; a non-zero one is accepted unchecked, as the inner
 * packet carries its own).  UDP to other ports, or whose payload is not IP
 * of that family, is the host's own: untouched.
 */
#include "compat.h"
#include "parse.h"

#define XLB_L2_MAX_DECAP	18	/* Ethernet plus one VLAN tag */
#define XLB_LOOPBACK_IFINDEX	1	/* lo, in every network namespace */

char LICENSE[] SEC("license") = "GPL";

/* Outer destinations this host accepts tunnels for. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct xlb_decap_key);
	__type(value, __u32);
} decap_addrs SEC(".maps");

/* Outer sources that may tunnel to this host, by prefix. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlb_decap_from4);
	__type(value, __u32);
} decap_from4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlb_decap_from6);
	__type(value, __u32);
} decap_from6 SEC(".maps");

/* Where a second chance may be sent on: the other backends, by prefix (--peer). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlb_decap_from4);
	__type(value, __u32);
} decap_peer4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlb_decap_from6);
	__type(value, __u32);
} decap_peer6 SEC(".maps");

/* UDP destination ports GUE is taken on (__be16); empty: none (--gue-port off). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_DECAP_GUE_PORTS_MAX);
	__type(key, __be16);
	__type(value, __u32);
} decap_gue_ports SEC(".maps");

/* [enum xlb_decap_reason] -> packets, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_DECAP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} decap_stats SEC(".maps");

static __always_inline int count(int action, __u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&decap_stats, &reason);

	if (n)
		(*n)++;
	return action;
}

static __always_inline int for_this_host(const void *addr, __u32 len, __u8 family)
{
	struct xlb_decap_key k = {};

	__builtin_memcpy(&k.addr, addr, len);
	k.family = family;
	return bpf_map_lookup_elem(&decap_addrs, &k) != NULL;
}

static __always_inline int from_v4_trusted(__be32 saddr)
{
	struct xlb_decap_from4 k = { .prefixlen = 32, .addr = saddr };

	return bpf_map_lookup_elem(&decap_from4, &k) != NULL;
}

static __always_inline int from_v6_trusted(const void *saddr)
{
	struct xlb_decap_from6 k = { .prefixlen = 128 };

	__builtin_memcpy(k.addr, saddr, 16);
	return bpf_map_lookup_elem(&decap_from6, &k) != NULL;
}

/* Is the inner tunnel's destination (the fib lookup's) a peer? */
static __always_inline int to_peer(const struct bpf_fib_lookup *fib)
{
	struct xlb_decap_from4 k4 = { .prefixlen = 32, .addr = fib->ipv4_dst };
	struct xlb_decap_from6 k6 = { .prefixlen = 128 };

	if (fib->family == 2)	/* AF_INET */
		return bpf_map_lookup_elem(&decap_peer4, &k4) != NULL;
	__builtin_memcpy(k6.addr, fib->ipv6_dst, 16);
	return bpf_map_lookup_elem(&decap_peer6, &k6) != NULL;
}

/*
 * Is the UDP header at udp a GUE one: to a GUE port, its payload starting
 * with an IP header of version ver (the outer's family)?  Any other UDP
 * (a port not configured, a payload too short to say, not IP) is the host's.
 */
static __always_inline int is_gue(const struct udphdr *udp, const void *data_end, __u8 ver)
{
	const __u8 *first = (const void *)(udp + 1);
	__be16 port;

	if ((const void *)(first + 1) > data_end || (*first >> 4) != ver)
		return 0;
	port = udp->dest;
	return bpf_map_lookup_elem(&decap_gue_ports, &port) != NULL;
}

/* Move the L2 header forward over the outer headers (IP, and UDP in GUE) and drop them. */
static __always_inline int strip_outer(struct xdp_md *ctx, __u32 l2, __u32 outer_len)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + XLB_L2_MAX_DECAP > data_end || data + outer_len + XLB_L2_MAX_DECAP > data_end)
		return -1;
	if (l2 == sizeof(struct ethhdr))
		__builtin_memcpy(data + outer_len, data, sizeof(struct ethhdr));
	else
		__builtin_memcpy(data + outer_len, data, XLB_L2_MAX_DECAP);
	return bpf_xdp_adjust_head(ctx, outer_len);
}

/*
 * Does this host hold the TCP connection of the tuple?  Not a listener, and
 * not a TIME_WAIT socket either: that connection is over, a packet of the
 * tuple now belongs to a newer one (elsewhere).
 */
static __always_inline int have_connection(struct xdp_md *ctx, struct bpf_sock_tuple *t, __u32 len)
{
	struct bpf_sock *sk = bpf_skc_lookup_tcp(ctx, t, len, BPF_F_CURRENT_NETNS, 0);
	int mine;

	if (!sk)
		return 0;
	mine = sk->state != BPF_TCP_LISTEN && sk->state != BPF_TCP_TIME_WAIT;
	bpf_sk_release(sk);
	return mine;
}

/*
 * Second chance, after the outer header (outer_len bytes) is checked: deliver
 * (strip both tunnels) when the connection is here; else strip the outer one
 * and send the packet to the inner tunnel's destination, when it is a peer
 * (out of the interface the route says: XDP_TX when it is the one it came
 * in on); any other destination is dropped.
 */
static __always_inline int chance_send(struct xdp_md *ctx, __u32 l2, __u32 outer_len,
				       __u32 inner_len, int mine, struct bpf_fib_lookup *fib)
{
	struct ethhdr *eth;
	int rc;

	if (mine) {
		if (strip_outer(ctx, l2, outer_len + inner_len))
			return count(XDP_DROP, XLB_DECAP_MALFORMED);
		return count(XDP_PASS, XLB_DECAP_CHANCE_LOCAL);
	}
	if (!to_peer(fib))
		return count(XDP_DROP, XLB_DECAP_CHANCE_NOT_PEER);
	/* as if from the loopback: the lookup needs forwarding on its interface, and
	 * a backend forwards nothing else; xlb decap attach turns it on for lo only */
	fib->ifindex = XLB_LOOPBACK_IFINDEX;
	rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return count(XDP_DROP, XLB_DECAP_CHANCE_NO_ROUTE);
	if (strip_outer(ctx, l2, outer_len))
		return count(XDP_DROP, XLB_DECAP_MALFORMED);
	eth = (void *)(long)ctx->data;
	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return count(XDP_DROP, XLB_DECAP_MALFORMED);
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	count(0, XLB_DECAP_CHANCE_FORWARD);
	if (fib->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(fib->ifindex, 0);
}

/* olen: the outer headers (IPv4, and UDP in GUE), at most 60 + 8 bytes */
static __always_inline int chance_v4(struct xdp_md *ctx, __u32 l2, __u32 olen)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *mid = data + l2 + (olen & 0x7f), *in;
	struct bpf_fib_lookup fib = {};
	struct bpf_sock_tuple t = {};
	struct tcphdr *tcp;
	__u32 mlen, ilen;

	if ((void *)(mid + 1) > data_end || mid->ihl < 5)
		return count(XDP_DROP, XLB_DECAP_MALFORMED);
	mlen = (mid->ihl * 4) & 0x3c;
	in = (void *)mid + mlen;
	if ((void *)(in + 1) > data_end || in->version != 4 || in->ihl < 5)
		return count(XDP_DROP, XLB_DECAP_MALFORMED);
	ilen = (in->ihl * 4) & 0x3c;
	tcp = (void *)in + ilen;
	if (in->protocol != IPPROTO_TCP || (void *)(tcp + 1) > data_end)
		return count(XDP_DROP, XLB_DECAP_MALFORMED);
	t.ipv4.saddr = in->saddr;
	t.ipv4.daddr = in->daddr;
	t.ipv4.sport = tcp->source;
	t.ipv4.dport = tcp->dest;
	fib.family = 2;		/* AF_INET */
	fib.ipv4_src = mid->saddr;
	fib.ipv4_dst = mid->daddr;
	fib.tot_len = bpf_ntohs(mid->tot_len);
	return chance_send(ctx, l2, olen & 0x7f, mlen, have_connection(ctx, &t, sizeof(t.ipv4)),
			   &fib);
}

/* olen: the outer headers, IPv6 (40) and UDP (8) in GUE */
static __always_inline int chance_v6(struct xdp_md *ctx, __u32 l2, __u32 olen)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *mid = data + l2 + (olen & 0x3f), *in = mid + 1;
	struct bpf_fib_lookup fib = {};
	struct bpf_sock_tuple t = {};
	struct tcphdr *tcp = (void *)(in + 1);

	if ((void *)(tcp + 1) > data_end || in->version != 6 || in->nexthdr != IPPROTO_TCP)
		return count(XDP_DROP, XLB_DECAP_MALFORMED);
	__builtin_memcpy(t.ipv6.saddr, &in->saddr, 16);
	__builtin_memcpy(t.ipv6.daddr, &in->daddr, 16);
	t.ipv6.sport = tcp->source;
	t.ipv6.dport = tcp->dest;
	fib.family = 10;	/* AF_INET6 */
	__builtin_memcpy(fib.ipv6_src, &mid->saddr, 16);
	__builtin_memcpy(fib.ipv6_dst, &mid->daddr, 16);
	fib.tot_len = bpf_ntohs(mid->payload_len) + sizeof(*mid);
	return chance_send(ctx, l2, olen & 0x3f, sizeof(*mid),
			   have_connection(ctx, &t, sizeof(t.ipv6)), &fib);
}

/* IPv4 to this host: IP-in-IP, or GUE (outer IPv4 + UDP) to a GUE port. */
static __always_inline int decap_v4(struct xdp_md *ctx, __u32 l2)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *outer = data + l2, *inner;
	__u32 hlen, olen;

	if ((void *)(outer + 1) > data_end || outer->ihl < 5 ||
	    (outer->protocol != IPPROTO_IPIP && outer->protocol != IPPROTO_UDP))
		return count(XDP_PASS, XLB_DECAP_PASS);
	if (outer->frag_off & bpf_htons(XLB_IP_MF | XLB_IP_OFFSET))
		return count(XDP_PASS, XLB_DECAP_PASS);
	hlen = (outer->ihl * 4) & 0x3c;
	olen = hlen;
	if (outer->protocol == IPPROTO_UDP) {
		if (!is_gue((void *)outer + hlen, data_end, 4))
			return count(XDP_PASS, XLB_DECAP_PASS);
		olen = hlen + sizeof(struct udphdr);
	}
	if (!for_this_host(&outer->daddr, 4, XLB_FAMILY_V4))
		return count(XDP_PASS, XLB_DECAP_PASS);
	if (!from_v4_trusted(outer->saddr))
		return count(XDP_DROP, XLB_DECAP_UNTRUSTED);
	inner = (void *)outer + olen;
	if ((void *)(inner + 1) > data_end || inner->version != 4)
		return count(XDP_DROP, XLB_DECAP_MALFORMED);
	if (inner->protocol == IPPROTO_IPIP && !(inner->frag_off & bpf_htons(XLB_IP_MF | XLB_IP_OFFSET))) {
		if (!from_v4_trusted(inner->saddr))
			return count(XDP_DROP, XLB_DECAP_UNTRUSTED);
		return chance_v4(ctx, l2, olen);
	}
	if (strip_outer(ctx, l2, olen))
		return count(XDP_DROP, XLB_DECAP_MALFORMED);
	return count(XDP_PASS, olen == hlen ? XLB_DECAP_V4 : XLB_DECAP_GUE_V4);
}

/* IPv6 to this host: IP-in-IP, or GUE (outer IPv6 + UDP, no extension header). */
static __always_inline int decap_v6(struct xdp_md *ctx, __u32 l2)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *outer = data + l2, *inner;
	__u32 olen = sizeof(*outer);

	if ((void *)(outer + 1) > data_end ||
	    (outer->nexthdr != IPPROTO_IPV6 && outer->nexthdr != IPPROTO_UDP))
		return count(XDP_PASS, XLB_DECAP_PASS);
	if (outer->nexthdr == IPPROTO_UDP) {
		if (!is_gue((void *)(outer + 1), data_end, 6))
			return count(XDP_PASS, XLB_DECAP_PASS);
		olen += sizeof(struct udphdr);
	}
	if (!for_this_host(&outer->daddr, 16, XLB_FAMILY_V6))
		return count(XDP_PASS, XLB_DECAP_PASS);
	if (!from_v6_trusted(&outer->saddr))
		return count(XDP_DROP, XLB_DECAP_UNTRUSTED);
	inner = (void *)outer + olen;
	if ((void *)(inner + 1) > data_end || inner->version != 6)
		return count(XDP_DROP, XLB_DECAP_MALFORMED);
	if (inner->nexthdr == IPPROTO_IPV6) {
		if (!from_v6_trusted(&inner->saddr))
			return count(XDP_DROP, XLB_DECAP_UNTRUSTED);
		return chance_v6(ctx, l2, olen);
	}
	if (strip_outer(ctx, l2, olen))
		return count(XDP_DROP, XLB_DECAP_MALFORMED);
	return count(XDP_PASS, olen == sizeof(*outer) ? XLB_DECAP_V6 : XLB_DECAP_GUE_V6);
}

SEC("xdp")
int xlb_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 l2 = sizeof(*eth);
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return count(XDP_PASS, XLB_DECAP_PASS);
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct xlb_vlan_hdr *vh = data + l2;

		if ((void *)(vh + 1) > data_end)
			return count(XDP_PASS, XLB_DECAP_PASS);
		proto = vh->proto;
		l2 += sizeof(*vh);
	}
	if (proto == bpf_htons(ETH_P_IP))
		return decap_v4(ctx, l2);
	if (proto == bpf_htons(ETH_P_IPV6))
		return decap_v6(ctx, l2);
	return count(XDP_PASS, XLB_DECAP_PASS);
}
