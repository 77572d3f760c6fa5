/* A small packet builder for tests and benchmarks: layers appended in order. */
#ifndef XLB_PKTBUILD_H
#define XLB_PKTBUILD_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#define PB_MAX	2048
#define PB_MAX_IP	4

struct pb {
	__u8 d[PB_MAX];
	__u32 len;
	int ip_off[PB_MAX_IP];	/* IP headers in order; [0] is the outer one */
	int ip_family[PB_MAX_IP];
	int nr_ip;
	int l4_off;		/* first TCP/UDP/ICMP header after ip_off[0] */
	__u8 l4_proto;
};

/* MACs of the lab in the BPF tests. */
extern const __u8 PB_MAC_CLIENT[6];	/* the router in front of the node */
extern const __u8 PB_MAC_NODE[6];	/* xlb0, where packets arrive */
extern const __u8 PB_MAC_NODE2[6];	/* xlb2, the IPv6 backends' side */

void pb_init(struct pb *b);
void pb_eth(struct pb *b, const __u8 *dst, const __u8 *src, __u16 proto);
void pb_vlan(struct pb *b, __u16 tci, __u16 proto);
/* IP header; the first one's lengths and checksum are set by pb_finish. */
void pb_ipv4(struct pb *b, const char *src, const char *dst, __u8 proto);
void pb_ipv4_opts(struct pb *b, const char *src, const char *dst, __u8 proto,
		  const __u8 *opts, __u32 optlen);
void pb_ipv6(struct pb *b, const char *src, const char *dst, __u8 nexthdr);
/* IPv6 extension header of len bytes (multiple of 8), next header nexthdr. */
void pb_ipv6_ext(struct pb *b, __u8 nexthdr, __u32 len);
void pb_ipv6_frag(struct pb *b, __u8 nexthdr, __u16 offset, bool more);
void pb_tcp(struct pb *b, __u16 sport, __u16 dport, __u8 flags);
void pb_udp(struct pb *b, __u16 sport, __u16 dport);
void pb_icmp(struct pb *b, __u8 type, __u8 code, __u32 rest);
void pb_bytes(struct pb *b, const void *p, __u32 n);
void pb_payload(struct pb *b, __u32 n);
/* Fix the outer IP header's length and checksum, and the L4 lengths/checksums. */
void pb_finish(struct pb *b);

/* Header fields after pb_finish, for tests that break them. */
void pb_ipv4_csum(struct pb *b, int ip_index);

/*
 * The expected output of encapsulating in (an independent oracle, not the
 * BPF code): Ethernet dst/src, the same VLAN tag if any, an outer header
 * from src to dst (IPv4 with DF, TTL 64, the inner TOS; or IPv6 with the
 * inner traffic class, flow label from the ports, hop limit 64), then the
 * inner IP packet without Ethernet padding.
 */
void pb_expect_encap(struct pb *out, const struct pb *in, const __u8 *dmac, const __u8 *smac,
		     const char *src, const char *dst);

/*
 * The same in GUE (an independent oracle): the outer header of
 * pb_expect_encap with protocol UDP and its length grown by 8, then a UDP
 * header (sport, dport, length, checksum 0), then the inner IP packet.
 */
void pb_expect_gue(struct pb *out, const struct pb *in, const __u8 *dmac, const __u8 *smac,
		   const char *src, const char *dst, __u16 sport, __u16 dport);

/*
 * The expected answer to in, too big for the tunnel (an independent oracle):
 * back to in's sender (MACs swapped, the same VLAN tag), from in's
 * destination; IPv4: TOS 0xc0, TTL 64, ICMP 3/4 with next-hop MTU mtu;
 * IPv6: hop limit 64, ICMPv6 2/0 with MTU mtu; then the first quote bytes
 * of in's IP packet.
 */
void pb_expect_too_big(struct pb *out, const struct pb *in, __u32 mtu, __u32 quote);

/* Hexdump of both buffers around the first difference, to stderr. */
void pb_diff(const __u8 *got, __u32 got_len, const __u8 *want, __u32 want_len);

#endif
