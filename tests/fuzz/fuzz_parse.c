/*
 * libFuzzer target: the packet parser (bpf/parse.h) and the flow hash on
 * arbitrary bytes.  Memory safety (ASan, UBSan), and an oracle: a reference
 * classifier written here, apart from parse.h, from the packet policy
 * (README "Packet policy") and the rules tests/bpf/test_xlb.c states.  It
 * reads the frame byte by byte with every length checked; where it and the
 * parser disagree on the verdict, the reason, or any field the balancer uses
 * (family, destination, flow key, lengths, TCP flags, TOS), the run aborts
 * and names the field.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../bpf/parse.h"
#include "../../bpf/hash.h"

/* ---- the reference --------------------------------------------------- */

struct frame {
	const uint8_t *p;
	size_t n;
};

/* Are len bytes at off inside [0, lim)? */
static int within(size_t off, size_t len, size_t lim)
{
	return off <= lim && len <= lim - off;
}

static unsigned be16(const struct frame *f, size_t off)
{
	return f->p[off] << 8 | f->p[off + 1];
}

/* What the parser must say: a verdict and the fields the balancer reads. */
struct ref {
	int res;
	unsigned reason, reason_not_vip, vip_action;
	struct xlb_flow_key flow;	/* zeroed, then as a flow's */
	union xlb_addr daddr;
	unsigned l3_off, ip_len, tos, tcp_flags, icmp_err;
};

static int verdict(struct ref *r, int res, unsigned reason)
{
	r->res = res;
	r->reason = reason;
	return res;
}

/* Needs a VIP to decide: to a VIP action/reason, else passed as not_vip. */
static int if_vip(struct ref *r, unsigned action, unsigned reason)
{
	r->vip_action = action;
	r->reason_not_vip = XLB_PASS_NOT_VIP;
	return verdict(r, XLB_PARSE_IF_VIP, reason);
}

/* The outer IP fields: addresses as the header's bytes (IPv4 in the first word). */
static void ip_fields(struct ref *r, const struct frame *f, size_t src, size_t dst,
		      unsigned alen, unsigned family)
{
	r->flow.family = family;
	memcpy(&r->flow.src, f->p + src, alen);
	memcpy(&r->flow.dst, f->p + dst, alen);
	memcpy(&r->daddr, f->p + dst, alen);
}

/*
 * An ICMP error about a VIP's flow quotes the VIP's packet (VIP -> client):
 * the flow is its reverse.  Only an error addressed to that VIP counts; all
 * of it (ICMP header, quoted IP header, quoted ports) lies inside the IP
 * packet.
 */
static int ref_icmp(struct ref *r, const struct frame *f, size_t off, size_t end, int v6)
{
	size_t in = off + 8, alen = v6 ? 16 : 4, ihl, ports;
	unsigned proto;

	if (!within(off, 8, end))
		return if_vip(r, XDP_DROP, XLB_DROP_MALFORMED_ICMP);
	/* ICMPv6 packet too big (type 2), ICMP fragmentation needed (3/4) */
	if (v6 ? f->p[off] != 2 : (f->p[off] != 3 || f->p[off + 1] != 4))
		return if_vip(r, XDP_PASS, XLB_PASS_ICMP_TO_VIP);
	if (!within(in, v6 ? 40 : 20, end) || f->p[in] >> 4 != (v6 ? 6 : 4) ||
	    (!v6 && (f->p[in] & 15) < 5))
		return if_vip(r, XDP_DROP, XLB_DROP_MALFORMED_ICMP);
	ihl = v6 ? 40 : (f->p[in] & 15) * 4u;
	proto = f->p[in + (v6 ? 6 : 9)];
	/* the quote's source (bytes 8/12 of its header) must be the outer destination */
	if (memcmp(f->p + in + (v6 ? 8 : 12), &r->daddr, alen))
		return if_vip(r, XDP_PASS, XLB_PASS_ICMP_TO_VIP);
	ports = in + ihl;
	if (!within(ports, 4, end))
		return if_vip(r, XDP_DROP, XLB_DROP_MALFORMED_ICMP);
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return if_vip(r, XDP_PASS, XLB_PASS_ICMP_TO_VIP);
	memset(&r->flow.src, 0, sizeof(r->flow.src));
	memset(&r->flow.dst, 0, sizeof(r->flow.dst));
	memcpy(&r->flow.src, f->p + in + (v6 ? 24 : 16), alen);	/* its destination */
	memcpy(&r->flow.dst, f->p + in + (v6 ? 8 : 12), alen);	/* its source */
	memcpy(&r->flow.sport, f->p + ports + 2, 2);
	memcpy(&r->flow.dport, f->p + ports, 2);
	r->flow.proto = proto;
	r->icmp_err = 1;
	return XLB_PARSE_FLOW;
}

/* Above IP: off is where it starts, end where the IP packet ends. */
static int ref_above(struct ref *r, const struct frame *f, size_t off, size_t end,
		     unsigned proto, int v6)
{
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		if (!within(off, proto == IPPROTO_TCP ? 20 : 8, end))
			return if_vip(r, XDP_DROP, XLB_DROP_MALFORMED_L4);
		if (proto == IPPROTO_TCP &&
		    (f->p[off + 12] >> 4 < 5 || !within(off, (f->p[off + 12] >> 4) * 4u, end)))
			return if_vip(r, XDP_DROP, XLB_DROP_MALFORMED_L4);
		if (proto == IPPROTO_UDP && be16(f, off + 4) < 8)
			return if_vip(r, XDP_DROP, XLB_DROP_MALFORMED_L4);
		memcpy(&r->flow.sport, f->p + off, 2);
		memcpy(&r->flow.dport, f->p + off + 2, 2);
		r->flow.proto = proto;
		r->tcp_flags = proto == IPPROTO_TCP ? f->p[off + 13] : 0;
		return XLB_PARSE_FLOW;
	}
	if (proto == (v6 ? 58u : 1u))
		return ref_icmp(r, f, off, end, v6);
	if (proto == 4 || proto == 41)	/* IP-in-IP, IPv6-in-IP */
		return if_vip(r, XDP_PASS, XLB_PASS_IPIP_TO_VIP);
	return if_vip(r, XDP_PASS, XLB_PASS_NO_SERVICE);
}

static int ref_ipv4(struct ref *r, const struct frame *f, size_t l3)
{
	unsigned hlen, tot;

	if (!within(l3, 20, f->n))
		return verdict(r, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L3);
	hlen = (f->p[l3] & 15) * 4;
	tot = be16(f, l3 + 2);
	if (f->p[l3] >> 4 != 4 || hlen < 20 || tot < hlen || !within(l3, tot, f->n))
		return verdict(r, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L3);
	ip_fields(r, f, l3 + 12, l3 + 16, 4, XLB_FAMILY_V4);
	r->ip_len = tot;
	r->tos = f->p[l3 + 1];
	if (be16(f, l3 + 6) & 0x3fff)	/* MF or an offset: first or later fragment */
		return if_vip(r, XDP_DROP, XLB_DROP_FRAGMENT);
	return ref_above(r, f, l3 + hlen, l3 + tot, f->p[l3 + 9], 0);
}

static int is_ext(unsigned nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 60;	/* hop, routing, fragment, dst */
}

/*
 * IPv6: at most 6 extension headers are walked, each inside the packet; a
 * fragment header with an offset or M ends the walk (a later fragment
 * carries payload, not headers), one with neither is a whole packet.
 */
static int ref_ipv6(struct ref *r, const struct frame *f, size_t l3)
{
	size_t off = l3 + 40, end, tot;
	unsigned nh;

	if (!within(l3, 40, f->n))
		return verdict(r, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L3);
	tot = 40 + be16(f, l3 + 4);
	/* payload length 0 (a jumbogram) is no packet XDP sees whole */
	if (f->p[l3] >> 4 != 6 || tot == 40 || !within(l3, tot, f->n))
		return verdict(r, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L3);
	ip_fields(r, f, l3 + 8, l3 + 24, 16, XLB_FAMILY_V6);
	r->ip_len = tot;
	r->tos = (f->p[l3] & 15) << 4 | f->p[l3 + 1] >> 4;
	end = l3 + tot;
	nh = f->p[l3 + 6];
	for (int i = 0; i < 6 && is_ext(nh); i++) {
		size_t len;

		if (!within(off, 8, end))
			return verdict(r, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L3);
		len = nh == 44 ? 8 : (f->p[off + 1] + 1) * 8u;
		if (!within(off, len, end))
			return verdict(r, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L3);
		if (nh == 44 && (be16(f, off + 2) & 0xfff9))
			return if_vip(r, XDP_DROP, XLB_DROP_FRAGMENT);
		nh = f->p[off];
		off += len;
	}
	if (is_ext(nh)) {
		if_vip(r, XDP_DROP, XLB_DROP_IPV6_EXT_LIMIT);
		r->reason_not_vip = XLB_PASS_IPV6_EXT_LIMIT;
		return r->res;
	}
	return ref_above(r, f, off, end, nh, 1);
}

static int reference(struct ref *r, const struct frame *f)
{
	size_t l3 = 14;
	unsigned type;

	memset(r, 0, sizeof(*r));
	if (f->n < 14)
		return verdict(r, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L2);
	type = be16(f, 12);
	if (type == 0x8100 || type == 0x88a8) {
		if (f->n < 18)
			return verdict(r, XLB_PARSE_DROP, XLB_DROP_MALFORMED_L2);
		type = be16(f, 16);
		if (type == 0x8100 || type == 0x88a8)
			return verdict(r, XLB_PARSE_PASS, XLB_PASS_VLAN_STACKED);
		l3 = 18;
	}
	r->l3_off = l3;
	if (type == 0x0800)
		return ref_ipv4(r, f, l3);
	if (type == 0x86dd)
		return ref_ipv6(r, f, l3);
	return verdict(r, XLB_PARSE_PASS, XLB_PASS_NOT_IP);
}

/* ---- the comparison --------------------------------------------------- */

static void disagree(const char *what, unsigned long got, unsigned long want)
{
	fprintf(stderr, "oracle: %s: parse.h %lu, reference %lu\n", what, got, want);
	abort();
}

#define SAME(what, got, want) \
	do { if ((got) != (want)) disagree(what, (got), (want)); } while (0)

static void compare(const struct xlb_pkt *pkt, int res, const struct ref *r)
{
	SAME("verdict", (unsigned long)res, (unsigned long)r->res);
	SAME("reason", pkt->reason, r->reason);
	if (res == XLB_PARSE_PASS || res == XLB_PARSE_DROP)
		return;
	/* the caller looks the destination up: family and address must be the header's */
	SAME("family", pkt->flow.family, r->flow.family);
	if (memcmp(&pkt->daddr, &r->daddr, sizeof(r->daddr)))
		disagree("outer destination", 0, 1);
	SAME("l3 offset", pkt->l3_off, r->l3_off);
	SAME("ip length", pkt->ip_len, r->ip_len);
	if (res == XLB_PARSE_IF_VIP) {
		SAME("vip action", pkt->vip_action, r->vip_action);
		SAME("reason not to a vip", pkt->reason_not_vip, r->reason_not_vip);
		return;
	}
	/* a flow: the whole key (hashed and looked up whole, padding too) */
	SAME("protocol", pkt->flow.proto, r->flow.proto);
	SAME("source port", pkt->flow.sport, r->flow.sport);
	SAME("destination port", pkt->flow.dport, r->flow.dport);
	if (memcmp(&pkt->flow, &r->flow, sizeof(r->flow)))
		disagree("flow key addresses", 0, 1);
	SAME("icmp error", pkt->icmp_err, r->icmp_err);
	SAME("tcp flags", pkt->tcp_flags, r->tcp_flags);
	SAME("tos", pkt->tos, r->tos);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/*
	 * An exact-end heap copy so ASan catches any read past data_end, placed
	 * 2 bytes in (NET_IP_ALIGN) as the kernel places XDP frames, so the IP
	 * header is 4-byte aligned as it is in the data path.
	 */
	uint8_t *buf = malloc(size + 2), *copy = buf + 2;
	struct frame f = { data, size };
	struct xlb_pkt pkt;
	struct ref r;
	int res;

	memcpy(copy, data, size);
	memset(&pkt, 0, sizeof(pkt));
	res = xlb_parse_packet(copy, copy + size, &pkt);
	if (res < XLB_PARSE_FLOW || res > XLB_PARSE_IF_VIP || pkt.reason >= XLB_STAT_MAX)
		abort();
	if (res == XLB_PARSE_FLOW) {
		volatile __u32 h = xlb_flow_hash(&pkt.flow, XLB_HASH_SEED);

		(void)h;
	}
	reference(&r, &f);
	compare(&pkt, res, &r);
	free(buf);
	return 0;
}
