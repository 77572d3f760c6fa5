/* Packet builder for tests: explicit bytes, checksums computed here. */
#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include "pktbuild.h"

const __u8 PB_MAC_CLIENT[6] = { 0x02, 0, 0, 0, 0, 0xcc };
const __u8 PB_MAC_NODE[6] = { 0x02, 0, 0, 0, 0, 0xfe };
const __u8 PB_MAC_NODE2[6] = { 0x02, 0, 0, 0, 0x02, 0xfe };

static void put(struct pb *b, const void *p, __u32 n)
{
	assert(b->len + n <= PB_MAX);
	memcpy(b->d + b->len, p, n);
	b->len += n;
}

static void put16(struct pb *b, __u16 v)
{
	__u16 n = htons(v);

	put(b, &n, 2);
}

void pb_init(struct pb *b)
{
	memset(b, 0, sizeof(*b));
	b->l4_off = -1;
}

void pb_eth(struct pb *b, const __u8 *dst, const __u8 *src, __u16 proto)
{
	put(b, dst, 6);
	put(b, src, 6);
	put16(b, proto);
}

void pb_vlan(struct pb *b, __u16 tci, __u16 proto)
{
	put16(b, tci);
	put16(b, proto);
}

static void note_ip(struct pb *b, int family)
{
	assert(b->nr_ip < PB_MAX_IP);
	b->ip_off[b->nr_ip] = b->len;
	b->ip_family[b->nr_ip++] = family;
}

void pb_ipv4_opts(struct pb *b, const char *src, const char *dst, __u8 proto,
		  const __u8 *opts, __u32 optlen)
{
	__u8 h[20] = { 0 };

	assert(optlen % 4 == 0 && optlen <= 40);
	note_ip(b, 4);
	h[0] = 0x40 | ((20 + optlen) / 4);
	h[2] = 1500 >> 8;	/* inner (quoted) headers claim 1500 bytes */
	h[3] = 1500 & 0xff;
	h[8] = 64;
	h[9] = proto;
	inet_pton(AF_INET, src, h + 12);
	inet_pton(AF_INET, dst, h + 16);
	put(b, h, 20);
	if (optlen)
		put(b, opts, optlen);
	pb_ipv4_csum(b, b->nr_ip - 1);
}

void pb_ipv4(struct pb *b, const char *src, const char *dst, __u8 proto)
{
	pb_ipv4_opts(b, src, dst, proto, NULL, 0);
}

void pb_ipv6(struct pb *b, const char *src, const char *dst, __u8 nexthdr)
{
	__u8 h[40] = { 0 };

	note_ip(b, 6);
	h[0] = 0x60;
	h[4] = 1460 >> 8;
	h[5] = 1460 & 0xff;
	h[6] = nexthdr;
	h[7] = 64;
	inet_pton(AF_INET6, src, h + 8);
	inet_pton(AF_INET6, dst, h + 24);
	put(b, h, 40);
}

void pb_ipv6_ext(struct pb *b, __u8 nexthdr, __u32 len)
{
	__u8 h[256] = { 0 };

	assert(len % 8 == 0 && len >= 8 && len <= sizeof(h));
	h[0] = nexthdr;
	h[1] = len / 8 - 1;
	h[2] = 1;	/* PadN option filling the rest */
	h[3] = len - 4;
	put(b, h, len);
}

void pb_ipv6_frag(struct pb *b, __u8 nexthdr, __u16 offset, bool more)
{
	__u8 h[8] = { nexthdr, 0, 0, 0, 0, 0, 0x12, 0x34 };
	__u16 v = (offset << 3) | (more ? 1 : 0);

	h[2] = v >> 8;
	h[3] = v & 0xff;
	put(b, h, 8);
}

static void note_l4(struct pb *b, __u8 proto)
{
	if (b->l4_off < 0) {
		b->l4_off = b->len;
		b->l4_proto = proto;
	}
}

void pb_tcp(struct pb *b, __u16 sport, __u16 dport, __u8 flags)
{
	__u8 h[20] = { 0 };

	note_l4(b, IPPROTO_TCP);
	h[0] = sport >> 8; h[1] = sport;
	h[2] = dport >> 8; h[3] = dport;
	h[4] = 0x11; h[5] = 0x22; h[6] = 0x33; h[7] = 0x44;	/* seq */
	h[12] = 5 << 4;
	h[13] = flags;
	h[14] = 0xfa; h[15] = 0xf0;				/* window */
	put(b, h, 20);
}

void pb_udp(struct pb *b, __u16 sport, __u16 dport)
{
	__u8 h[8] = { sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 8, 0, 0 };

	note_l4(b, IPPROTO_UDP);
	put(b, h, 8);
}

void pb_icmp(struct pb *b, __u8 type, __u8 code, __u32 rest)
{
	__u8 h[8] = { type, code, 0, 0 };
	__u32 r = htonl(rest);

	note_l4(b, b->ip_family[0] == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	memcpy(h + 4, &r, 4);
	put(b, h, 8);
}

void pb_bytes(struct pb *b, const void *p, __u32 n)
{
	put(b, p, n);
}

void pb_payload(struct pb *b, __u32 n)
{
	for (__u32 i = 0; i < n; i++) {
		__u8 c = 'a' + i % 26;

		put(b, &c, 1);
	}
}

static __u32 sum16(const __u8 *p, __u32 n, __u32 sum)
{
	for (__u32 i = 0; i + 1 < n; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	if (n & 1)
		sum += p[n - 1] << 8;
	return sum;
}

static __u16 fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

void pb_ipv4_csum(struct pb *b, int i)
{
	__u8 *h = b->d + b->ip_off[i];
	__u16 c;

	h[10] = h[11] = 0;
	c = fold(sum16(h, (h[0] & 0xf) * 4, 0));
	h[10] = c >> 8;
	h[11] = c & 0xff;
}

/* L4 checksum over the pseudo-header of the outer IP header. */
static void l4_csum(struct pb *b)
{
	__u8 *ip = b->d + b->ip_off[0], *l4 = b->d + b->l4_off;
	__u32 l4len = b->len - b->l4_off, sum = 0;
	int coff = b->l4_proto == IPPROTO_TCP ? 16 : b->l4_proto == IPPROTO_UDP ? 6 : 2;
	__u16 c;

	if (b->ip_family[0] == 4) {
		if (b->l4_proto != IPPROTO_ICMP)
			sum = sum16(ip + 12, 8, 0) + b->l4_proto + l4len;
	} else {
		sum = sum16(ip + 8, 32, 0) + b->l4_proto + l4len;
	}
	l4[coff] = l4[coff + 1] = 0;
	c = fold(sum16(l4, l4len, sum));
	l4[coff] = c >> 8;
	l4[coff + 1] = c & 0xff;
}

void pb_finish(struct pb *b)
{
	__u8 *ip;
	__u32 tot;

	if (!b->nr_ip)
		return;
	ip = b->d + b->ip_off[0];
	tot = b->len - b->ip_off[0];
	if (b->ip_family[0] == 4) {
		ip[2] = tot >> 8;
		ip[3] = tot & 0xff;
		pb_ipv4_csum(b, 0);
	} else {
		ip[4] = (tot - 40) >> 8;
		ip[5] = (tot - 40) & 0xff;
	}
	if (b->l4_off < 0)
		return;
	if (b->l4_proto == IPPROTO_UDP) {
		__u32 ul = b->len - b->l4_off;

		b->d[b->l4_off + 4] = ul >> 8;
		b->d[b->l4_off + 5] = ul & 0xff;
	}
	l4_csum(b);
}

void pb_expect_too_big(struct pb *out, const struct pb *in, __u32 mtu, __u32 quote)
{
	const __u8 *ip = in->d + in->ip_off[0];
	int l2 = in->ip_off[0], ic;
	__u32 sum;
	__u16 c;

	pb_init(out);
	put(out, in->d + 6, 6);		/* back to the sender */
	put(out, in->d, 6);
	put(out, in->d + 12, l2 - 12);	/* ethertype, or VLAN tag + ethertype */
	if (in->ip_family[0] == 4) {
		__u8 h[28] = { 0x45, 0xc0, 0, 28 + quote, 0, 0, 0, 0, 64, IPPROTO_ICMP };

		memcpy(h + 12, ip + 16, 4);	/* from the VIP */
		memcpy(h + 16, ip + 12, 4);	/* to the client */
		h[20] = 3;			/* destination unreachable */
		h[21] = 4;			/* fragmentation needed */
		h[26] = mtu >> 8;
		h[27] = mtu & 0xff;
		note_ip(out, 4);
		put(out, h, 28);
		pb_ipv4_csum(out, 0);
	} else {
		__u8 h[48] = { 0x60, 0, 0, 0, 0, 8 + quote, IPPROTO_ICMPV6, 64 };

		memcpy(h + 8, ip + 24, 16);
		memcpy(h + 24, ip + 8, 16);
		h[40] = 2;			/* packet too big */
		h[44] = mtu >> 24;
		h[45] = mtu >> 16;
		h[46] = mtu >> 8;
		h[47] = mtu & 0xff;
		note_ip(out, 6);
		put(out, h, 48);
	}
	put(out, ip, quote);
	/* ICMP: over the message; ICMPv6: the pseudo-header too */
	ic = l2 + (in->ip_family[0] == 4 ? 20 : 40);
	sum = in->ip_family[0] == 4 ? 0 : sum16(out->d + l2 + 8, 32, 0) + IPPROTO_ICMPV6 + 8 + quote;
	c = fold(sum16(out->d + ic, 8 + quote, sum));
	out->d[ic + 2] = c >> 8;
	out->d[ic + 3] = c & 0xff;
}

void pb_expect_encap(struct pb *out, const struct pb *in, const __u8 *dmac, const __u8 *smac,
		     const char *src, const char *dst)
{
	const __u8 *inner = in->d + in->ip_off[0];
	int l2 = in->ip_off[0];
	__u32 ilen;

	pb_init(out);
	put(out, dmac, 6);
	put(out, smac, 6);
	put(out, in->d + 12, l2 - 12);	/* ethertype, or VLAN tag + ethertype */
	if (in->ip_family[0] == 4) {
		__u8 h[20] = { 0x45, inner[1] };

		ilen = (inner[2] << 8) | inner[3];
		h[2] = (ilen + 20) >> 8;
		h[3] = (ilen + 20) & 0xff;
		h[6] = 0x40;		/* DF */
		h[8] = 64;
		h[9] = IPPROTO_IPIP;
		inet_pton(AF_INET, src, h + 12);
		inet_pton(AF_INET, dst, h + 16);
		note_ip(out, 4);
		put(out, h, 20);
		pb_ipv4_csum(out, 0);
	} else {
		__u8 h[40] = { 0 };
		const __u8 *l4 = in->d + in->l4_off;
		__u32 label, tc = ((inner[0] & 0xf) << 4) | (inner[1] >> 4);

		/* ICMPv6 errors: the label comes from the quoted flow's ports */
		if (in->l4_proto == IPPROTO_ICMPV6)
			l4 = inner + 40 + 8 + 40, label = ((l4[2] << 8 | l4[3]) << 4) ^ (l4[0] << 8 | l4[1]);
		else
			label = ((l4[0] << 8 | l4[1]) << 4) ^ (l4[2] << 8 | l4[3]);
		ilen = 40 + ((inner[4] << 8) | inner[5]);
		h[0] = 0x60 | (tc >> 4);
		h[1] = ((tc & 0xf) << 4) | ((label >> 16) & 0xf);
		h[2] = label >> 8;
		h[3] = label;
		h[4] = ilen >> 8;
		h[5] = ilen & 0xff;
		h[6] = IPPROTO_IPV6;
		h[7] = 64;
		inet_pton(AF_INET6, src, h + 8);
		inet_pton(AF_INET6, dst, h + 24);
		note_ip(out, 6);
		put(out, h, 40);
	}
	put(out, inner, ilen);
}

void pb_expect_gue(struct pb *out, const struct pb *in, const __u8 *dmac, const __u8 *smac,
		   const char *src, const char *dst, __u16 sport, __u16 dport)
{
	struct pb ipip;
	int o, hl;
	__u32 n;
	__u8 *h;

	pb_expect_encap(&ipip, in, dmac, smac, src, dst);
	o = ipip.ip_off[0];
	hl = ipip.ip_family[0] == 4 ? 20 : 40;
	n = ipip.len - o - hl;
	pb_init(out);
	put(out, ipip.d, o);
	note_ip(out, ipip.ip_family[0]);
	put(out, ipip.d + o, hl);
	put16(out, sport);
	put16(out, dport);
	put16(out, n + 8);
	put16(out, 0);		/* no checksum */
	put(out, ipip.d + o + hl, n);
	h = out->d + o;
	if (hl == 20) {
		h[9] = IPPROTO_UDP;
		h[2] = (hl + 8 + n) >> 8;
		h[3] = (hl + 8 + n) & 0xff;
		pb_ipv4_csum(out, 0);
	} else {
		h[6] = IPPROTO_UDP;
		h[4] = (8 + n) >> 8;
		h[5] = (8 + n) & 0xff;
	}
}

void pb_diff(const __u8 *got, __u32 got_len, const __u8 *want, __u32 want_len)
{
	__u32 i, first = 0, n = got_len < want_len ? got_len : want_len, from, to;

	while (first < n && got[first] == want[first])
		first++;
	fprintf(stderr, "# output differs at byte %u (got %u bytes, want %u)\n", first, got_len,
		want_len);
	from = first >= 16 ? (first - 16) & ~15u : 0;
	to = first + 32;
	for (i = from; i < to && (i < got_len || i < want_len); i += 16) {
		fprintf(stderr, "# %04x got ", i);
		for (__u32 j = i; j < i + 16; j++)
			fprintf(stderr, j < got_len ? "%02x " : "   ", j < got_len ? got[j] : 0);
		fprintf(stderr, " want ");
		for (__u32 j = i; j < i + 16; j++)
			fprintf(stderr, j < want_len ? "%02x " : "   ", j < want_len ? want[j] : 0);
		fprintf(stderr, "\n");
	}
}
