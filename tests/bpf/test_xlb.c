/* The balancer through BPF_PROG_TEST_RUN: a table of packets, verdicts, bytes, counters. */
#define _GNU_SOURCE
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include "xlbtest.h"
#include "testnet.h"
#include "bpf/hash.h"
#include "netutil.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "names.h"

#define SYN	0x02
#define ACK	0x10
#define RST	0x04
#define PSH	0x08
#define EV_NONE	(-1)
#define OUT_SAME	(-1)	/* output equals input */
#define OUT_TABLE	(-2)	/* encapsulated to the backend the table picks */
#define OUT_TOO_BIG	(-4)	/* answered: ICMP too big, the MTU a 1500-byte route leaves */

static const char *skip_why;

#define SKIP_IF_NEEDED() do { if (skip_why) { fprintf(stderr, "# skipped: %s\n", skip_why); skip(); } } while (0)

/* ---- packets ------------------------------------------------------------ */

static void eth4(struct pb *b) { pb_init(b); pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP); }
static void eth6(struct pb *b) { pb_init(b); pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IPV6); }

static void tcp4_to(struct pb *b, const char *dst, __u16 sport, __u16 dport, __u8 flags)
{
	eth4(b);
	pb_ipv4(b, CLIENT4, dst, IPPROTO_TCP);
	pb_tcp(b, sport, dport, flags);
	pb_finish(b);
}

static void tcp6_to(struct pb *b, __u16 sport, __u16 dport, __u8 flags)
{
	eth6(b);
	pb_ipv6(b, CLIENT6, VIP6, IPPROTO_TCP);
	pb_tcp(b, sport, dport, flags);
	pb_finish(b);
}

static void p_arp(struct pb *b)
{
	static const __u8 arp[28] = { 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0xcc,
				      203, 0, 113, 7, 0, 0, 0, 0, 0, 0, 192, 0, 2, 10 };
	pb_init(b);
	pb_eth(b, (const __u8 *)"\xff\xff\xff\xff\xff\xff", PB_MAC_CLIENT, ETH_P_ARP);
	pb_bytes(b, arp, sizeof(arp));
	pb_payload(b, 18);
}

static void p_lldp(struct pb *b)
{
	pb_init(b);
	pb_eth(b, (const __u8 *)"\x01\x80\xc2\x00\x00\x0e", PB_MAC_CLIENT, 0x88cc);
	pb_payload(b, 46);
}

static void p_syn4(struct pb *b) { tcp4_to(b, VIP4, 40001, 80, SYN); }
static void p_udp4(struct pb *b)
{
	eth4(b);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_UDP);
	pb_udp(b, 40002, 53);
	pb_payload(b, 32);
	pb_finish(b);
}
static void p_syn6_anyport(struct pb *b) { tcp6_to(b, 40003, 8443, SYN); }
static void p_udp6(struct pb *b)
{
	eth6(b);
	pb_ipv6(b, CLIENT6, VIP6, IPPROTO_UDP);
	pb_udp(b, 40004, 53);
	pb_payload(b, 20);
	pb_finish(b);
}
static void p_vlan1(struct pb *b)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, 0x8100);
	pb_vlan(b, 100, ETH_P_IP);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_TCP);
	pb_tcp(b, 40005, 80, SYN);
	pb_finish(b);
}
static void p_vlan2(struct pb *b)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, 0x88a8);
	pb_vlan(b, 100, 0x8100);
	pb_vlan(b, 200, ETH_P_IP);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_TCP);
	pb_tcp(b, 40006, 80, SYN);
	pb_finish(b);
}
static void p_ihl4(struct pb *b) { tcp4_to(b, VIP4, 40007, 80, SYN); b->d[14] = 0x44; }
static void p_ihl_nonvip(struct pb *b) { tcp4_to(b, OTHER4, 40007, 22, SYN); b->d[14] = 0x43; }
static void p_ipopts(struct pb *b)
{
	static const __u8 opts[8] = { 0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00 }; /* RA, NOPs, EOL */

	eth4(b);
	pb_ipv4_opts(b, CLIENT4, VIP4, IPPROTO_TCP, opts, sizeof(opts));
	pb_tcp(b, 40008, 80, SYN);
	pb_finish(b);
}
static void p_totlen_big(struct pb *b) { tcp4_to(b, VIP4, 40009, 80, SYN); b->d[17] += 1; pb_ipv4_csum(b, 0); }
static void p_totlen_small(struct pb *b) { tcp4_to(b, VIP4, 40010, 80, SYN); b->d[16] = 0; b->d[17] = 19; pb_ipv4_csum(b, 0); }
static void p_padded(struct pb *b) { tcp4_to(b, VIP4, 40011, 80, SYN); pb_bytes(b, "\0\0\0\0\0\0", 6); }
static void p_frag_first(struct pb *b)
{
	tcp4_to(b, VIP4, 40012, 80, SYN);
	b->d[20] = 0x20;	/* MF */
	pb_ipv4_csum(b, 0);
}
static void p_frag_later(struct pb *b)
{
	eth4(b);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_TCP);
	pb_payload(b, 40);
	pb_finish(b);
	b->d[20] = 0x00;
	b->d[21] = 0xb9;	/* offset 185 * 8 */
	pb_ipv4_csum(b, 0);
}
static void p_frag_nonvip(struct pb *b) { p_frag_first(b); memcpy(b->d + 30, "\xc6\x33\x64\xfe", 4); pb_ipv4_csum(b, 0); }
static void p_frag6(struct pb *b)
{
	eth6(b);
	pb_ipv6(b, CLIENT6, VIP6, IPPROTO_FRAGMENT);
	pb_ipv6_frag(b, IPPROTO_TCP, 0, true);
	pb_tcp(b, 40013, 80, SYN);
	pb_finish(b);
}
/*
 * A later IPv6 fragment: after its fragment header comes the middle of the
 * original payload, here bytes that read as a destination-options header
 * claiming 2 KB (past the end), or as a chain of eight of them (past the walk).
 */
static void frag6_later(struct pb *b, const char *dst, bool chain)
{
	static const __u8 garbage[8] = { IPPROTO_DSTOPTS, 0xff, 1, 4, 0, 0, 0, 0 };
	static const __u8 link[8] = { IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0 };

	eth6(b);
	pb_ipv6(b, CLIENT6, dst, IPPROTO_FRAGMENT);
	pb_ipv6_frag(b, IPPROTO_DSTOPTS, 185, true);
	for (int i = 0; i < (chain ? 8 : 1); i++)
		pb_bytes(b, chain ? link : garbage, 8);
	pb_payload(b, 40);
	pb_finish(b);
}
static void p_frag6_later_node(struct pb *b) { frag6_later(b, TN_NODE6, false); }
static void p_frag6_later_chain_node(struct pb *b) { frag6_later(b, TN_NODE6, true); }
static void p_frag6_later_vip(struct pb *b) { frag6_later(b, VIP6, false); }
static void p_frag6_last_vip(struct pb *b)
{
	frag6_later(b, VIP6, true);
	b->d[14 + 40 + 3] &= ~1;	/* M clear: the last fragment */
}
static void frag6_first(struct pb *b, const char *dst)
{
	eth6(b);
	pb_ipv6(b, CLIENT6, dst, IPPROTO_FRAGMENT);
	pb_ipv6_frag(b, IPPROTO_DSTOPTS, 0, true);
	pb_ipv6_ext(b, IPPROTO_TCP, 8);
	pb_tcp(b, 40056, 443, SYN);
	pb_finish(b);
}
static void p_frag6_first_node(struct pb *b) { frag6_first(b, TN_NODE6); }
static void p_frag6_first_vip(struct pb *b) { frag6_first(b, VIP6); }
/* offset 0 and no M: a whole packet with a fragment header (RFC 6946) */
static void p_frag6_atomic(struct pb *b)
{
	eth6(b);
	pb_ipv6(b, CLIENT6, VIP6, IPPROTO_FRAGMENT);
	pb_ipv6_frag(b, IPPROTO_DSTOPTS, 0, false);
	pb_ipv6_ext(b, IPPROTO_TCP, 8);
	pb_tcp(b, 40057, 443, SYN);
	pb_finish(b);
}
/* a later IPv4 fragment to the node: its payload would be a TCP header with doff 2 */
static void p_frag4_later_node(struct pb *b)
{
	p_frag_later(b);
	memcpy(b->d + 30, "\xc6\x33\x64\xfe", 4);
	b->d[14 + 20 + 12] = 2 << 4;
	pb_ipv4_csum(b, 0);
}
static void p_ext6_ok(struct pb *b)
{
	eth6(b);
	pb_ipv6(b, CLIENT6, VIP6, IPPROTO_HOPOPTS);
	pb_ipv6_ext(b, IPPROTO_DSTOPTS, 8);
	pb_ipv6_ext(b, IPPROTO_TCP, 16);
	pb_tcp(b, 40014, 443, SYN);
	pb_finish(b);
}
static void ext6_chain(struct pb *b, const char *dst, int n)
{
	eth6(b);
	pb_ipv6(b, CLIENT6, dst, IPPROTO_DSTOPTS);
	for (int i = 0; i < n; i++)
		pb_ipv6_ext(b, i + 1 < n ? IPPROTO_DSTOPTS : IPPROTO_TCP, 8);
	pb_tcp(b, 40015, 443, SYN);
	pb_finish(b);
}
static void p_ext6_long(struct pb *b) { ext6_chain(b, VIP6, XLB_MAX_IPV6_EXT + 1); }
static void p_ext6_long_nonvip(struct pb *b) { ext6_chain(b, TN_NODE6, XLB_MAX_IPV6_EXT + 1); }
static void p_ext6_past_end(struct pb *b)
{
	eth6(b);
	pb_ipv6(b, CLIENT6, VIP6, IPPROTO_HOPOPTS);
	pb_ipv6_ext(b, IPPROTO_TCP, 8);
	pb_finish(b);
	b->d[14 + 40 + 1] = 10;		/* claims 88 bytes, 8 are there */
}
static void p_doff_small(struct pb *b) { tcp4_to(b, VIP4, 40016, 80, SYN); b->d[14 + 20 + 12] = 4 << 4; }
static void p_doff_big(struct pb *b) { tcp4_to(b, VIP4, 40017, 80, SYN); b->d[14 + 20 + 12] = 15 << 4; }
static void p_doff_nonvip(struct pb *b) { tcp4_to(b, OTHER4, 40018, 22, SYN); b->d[14 + 20 + 12] = 2 << 4; }
static void p_udp_short(struct pb *b)
{
	eth4(b);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_UDP);
	pb_bytes(b, "\x9c\x44\x00\x35\x00\x06", 6);
	pb_finish(b);
}
static void p_nonvip(struct pb *b) { tcp4_to(b, OTHER4, 40019, 22, SYN); }
static void p_wrong_port(struct pb *b) { tcp4_to(b, VIP4, 40020, 8080, SYN); }
static void p_wrong_proto(struct pb *b)
{
	eth4(b);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_UDP);
	pb_udp(b, 40021, 80);
	pb_finish(b);
}
static void p_ping_vip(struct pb *b)
{
	eth4(b);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_ICMP);
	pb_icmp(b, 8, 0, 0x00010001);
	pb_payload(b, 16);
	pb_finish(b);
}
static void p_ping_nonvip(struct pb *b)
{
	eth4(b);
	pb_ipv4(b, CLIENT4, OTHER4, IPPROTO_ICMP);
	pb_icmp(b, 8, 0, 0x00010002);
	pb_finish(b);
}

/* An ICMP "fragmentation needed" from a router about the VIP's reply. */
static const __u16 ptb_port = 40100;
static void ptb4(struct pb *b, __u16 cport, bool truncated)
{
	eth4(b);
	pb_ipv4(b, "198.51.100.77", VIP4, IPPROTO_ICMP);
	pb_icmp(b, 3, 4, 1400);
	pb_ipv4(b, VIP4, CLIENT4, IPPROTO_TCP);
	if (truncated) {
		pb_bytes(b, "\x00\x50", 2);
	} else {
		pb_tcp(b, 80, cport, ACK);
	}
	pb_finish(b);
}
static void p_ptb4(struct pb *b) { ptb4(b, ptb_port, false); }
static void p_ptb4_trunc(struct pb *b) { ptb4(b, 40022, true); }
/* the quote's ports lie beyond the IP packet's end, in bytes the frame carries after it */
static void p_ptb4_past_ip_end(struct pb *b)
{
	ptb4(b, 40105, false);
	b->d[14 + 2] = 0;
	b->d[14 + 3] = 20 + 8 + 20 + 2;
	pb_ipv4_csum(b, 0);
}
static const __u16 ptb6_port = 40101;
static void p_ptb6(struct pb *b)
{
	eth6(b);
	pb_ipv6(b, "2001:db8:ff::1", VIP6, IPPROTO_ICMPV6);
	pb_icmp(b, 2, 0, 1280);
	pb_ipv6(b, VIP6, CLIENT6, IPPROTO_TCP);
	pb_tcp(b, 443, ptb6_port, ACK);
	pb_finish(b);
}
/*
 * The same errors addressed elsewhere than the quoted flow's VIP: to the
 * node itself, or to another VIP.  Not the VIP's: never tunnelled.
 */
static void p_ptb4_to_node(struct pb *b)
{
	ptb4(b, 40102, false);
	memcpy(b->d + 30, "\xc6\x33\x64\xfe", 4);	/* OTHER4, the node */
	pb_ipv4_csum(b, 0);
}
static void p_ptb4_to_other_vip(struct pb *b)
{
	ptb4(b, 40103, false);
	memcpy(b->d + 30, "\xc0\x00\x02\x14", 4);	/* VIP_NONEIGH */
	pb_ipv4_csum(b, 0);
}
static void p_ptb6_to_node(struct pb *b)
{
	eth6(b);
	pb_ipv6(b, "2001:db8:ff::1", TN_NODE6, IPPROTO_ICMPV6);
	pb_icmp(b, 2, 0, 1280);
	pb_ipv6(b, VIP6, CLIENT6, IPPROTO_TCP);
	pb_tcp(b, 443, 40104, ACK);
	pb_finish(b);
}
static void p_too_big(struct pb *b)
{
	eth4(b);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_TCP);
	pb_tcp(b, 40023, 80, ACK);
	pb_payload(b, 1500 - 40 - 10);	/* 1490 + 20 outer > 1500 */
	pb_finish(b);
}
/* DF set: the sender discovers the path MTU and wants to hear of it */
static void too_big4(struct pb *b, __u16 sport, bool vlan)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, vlan ? 0x8100 : ETH_P_IP);
	if (vlan)
		pb_vlan(b, 100, ETH_P_IP);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_TCP);
	pb_tcp(b, sport, 80, ACK);
	pb_payload(b, 1500 - 40 - 10);	/* 1490 + 20 outer > 1500 */
	pb_finish(b);
	b->d[b->ip_off[0] + 6] = 0x40;	/* DF */
	pb_ipv4_csum(b, 0);
}
static void p_too_big_df(struct pb *b) { too_big4(b, 40049, false); }
static void p_too_big_vlan(struct pb *b) { too_big4(b, 40050, true); }
static void p_too_big_limited(struct pb *b) { too_big4(b, 40051, false); }
static void p_too_big_off(struct pb *b) { too_big4(b, 40052, false); }
static void p_too_big6(struct pb *b)
{
	eth6(b);
	pb_ipv6(b, CLIENT6, VIP6, IPPROTO_TCP);
	pb_tcp(b, 40053, 443, ACK);
	pb_payload(b, 1500 - 60 - 20);	/* 1480 + 40 outer > 1500 */
	pb_finish(b);
}
/* 1900 bytes of IP on a 1500-byte interface: only GRO/LRO make such a frame */
static void p_coalesced(struct pb *b)
{
	eth4(b);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_TCP);
	pb_tcp(b, 40055, 80, ACK);
	pb_payload(b, 1900 - 40);
	pb_finish(b);
}
static void p_jumbo(struct pb *b) { p_coalesced(b); }
static void p_fits(struct pb *b)
{
	eth4(b);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_TCP);
	pb_tcp(b, 40024, 80, ACK);
	pb_payload(b, 1500 - 40 - 20);	/* exactly 1500 once encapsulated */
	pb_finish(b);
}
static void p_ipip_vip(struct pb *b)
{
	eth4(b);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_IPIP);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_TCP);
	pb_tcp(b, 40025, 80, SYN);
	pb_finish(b);
}
static void p_ip6ip6_vip(struct pb *b)
{
	eth6(b);
	pb_ipv6(b, CLIENT6, VIP6, IPPROTO_IPV6);
	pb_ipv6(b, CLIENT6, VIP6, IPPROTO_TCP);
	pb_tcp(b, 40026, 80, SYN);
	pb_finish(b);
}
static void p_rst_unknown(struct pb *b) { tcp4_to(b, VIP4, 40027, 80, RST | ACK); }
static void p_ack_unknown(struct pb *b) { tcp4_to(b, VIP4, 40028, 80, ACK | PSH); }
static void p_noneigh(struct pb *b) { tcp4_to(b, VIP_NONEIGH, 40029, 80, SYN); }
static void p_noroute(struct pb *b) { tcp4_to(b, VIP_NOROUTE, 40030, 80, SYN); }
static void p_empty(struct pb *b) { tcp4_to(b, VIP_EMPTY, 40031, 80, SYN); }
static void p_tos(struct pb *b) { tcp4_to(b, VIP4, 40032, 80, SYN); b->d[15] = 0xb8; pb_ipv4_csum(b, 0); }
static void p_hit_drain(struct pb *b) { tcp4_to(b, VIP4, 40033, 80, ACK); }
static void p_hit_down(struct pb *b) { tcp4_to(b, VIP4, 40034, 80, ACK); }
static void p_hit_gone(struct pb *b) { tcp4_to(b, VIP4, 40035, 80, ACK); }
static void p_hit_regen(struct pb *b) { tcp4_to(b, VIP4, 40036, 80, ACK); }
static void p_switch(struct pb *b) { tcp4_to(b, VIP4, 40037, 80, ACK); }
static void p_nosrc(struct pb *b) { tcp4_to(b, VIP4, 40038, 80, SYN); }
static void p_hit(struct pb *b) { tcp4_to(b, VIP4, 40001, 80, ACK); }	/* p_syn4's flow */
static void p_udp_hit(struct pb *b) { p_udp4(b); }
static void p_family(struct pb *b) { tcp4_to(b, VIP4, 40039, 80, SYN); }
static void p_syn_known(struct pb *b) { tcp4_to(b, VIP4, 40040, 80, SYN); }
static void p_syn_known_back(struct pb *b) { tcp4_to(b, VIP4, 40049, 80, SYN); }
static void p_moved_ack(struct pb *b) { tcp4_to(b, VIP4, 40041, 80, ACK | PSH); }
static void p_moved_syn(struct pb *b) { tcp4_to(b, VIP4, 40042, 80, SYN); }
static void p_moved_down(struct pb *b) { tcp4_to(b, VIP4, 40043, 80, ACK); }
static void p_udp_port(struct pb *b, __u16 sport)
{
	eth4(b);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_UDP);
	pb_udp(b, sport, 53);
	pb_payload(b, 32);
	pb_finish(b);
}
static void p_udp_moved(struct pb *b) { p_udp_port(b, 40044); }
static void p_udp_moved_late(struct pb *b) { p_udp_port(b, 40045); }
static void p_unmoved_entry(struct pb *b) { tcp4_to(b, VIP4, 40046, 80, ACK); }
static void p_moved_back(struct pb *b) { tcp4_to(b, VIP4, 40047, 80, ACK); }
static void p_moved_rst(struct pb *b) { tcp4_to(b, VIP4, 40048, 80, RST | ACK); }

/* ---- map preparation -------------------------------------------------- */

static void put_flow(const struct pb *in, __u32 backend, __u32 gen)
{
	struct xlb_flow_key key;
	struct xlb_flow f = { backend, gen };

	xt_flow_key(in, &key);
	assert_int_equal(bpf_map_update_elem(xt_dp.flows, &key, &f, BPF_ANY), 0);
}

static int get_flow(const struct pb *in, struct xlb_flow *f)
{
	struct xlb_flow_key key;

	xt_flow_key(in, &key);
	return bpf_map_lookup_elem(xt_dp.flows, &key, f);
}

/* The other backend of SVC_WEB4 than the one the table picks. */
static __u32 web4_other(const struct pb *in)
{
	return xt_table_pick(in, SVC_WEB4) == 1 ? 2 : 1;
}

static __u32 pinned_backend;

static void prep_ptb4(const struct pb *unused)
{
	struct pb syn;

	(void)unused;
	/* the flow the error is about is pinned to the backend the table would NOT pick */
	tcp4_to(&syn, VIP4, ptb_port, 80, ACK);
	pinned_backend = web4_other(&syn);
	put_flow(&syn, pinned_backend, 1);
	xt_mark_moved(0, &syn, SVC_WEB4, xt_table_pick(&syn, SVC_WEB4), 0);
}
static void prep_ptb6(const struct pb *unused)
{
	struct pb syn;

	(void)unused;
	tcp6_to(&syn, ptb6_port, 443, ACK);
	pinned_backend = xt_table_pick(&syn, SVC_ANY6) == 4 ? 5 : 4;
	put_flow(&syn, pinned_backend, 1);
	xt_mark_moved(0, &syn, SVC_ANY6, xt_table_pick(&syn, SVC_ANY6), 0);
}
/* a slot moved back to where it was (prev = cur): entries are consulted, strangers go to cur */
static void mark_back(const struct pb *in) { xt_mark_moved(0, in, SVC_WEB4, xt_table_pick(in, SVC_WEB4), 0); }
static void prep_drain(const struct pb *in) { put_flow(in, 8, 1); pinned_backend = 8; mark_back(in); }
static void prep_down(const struct pb *in) { put_flow(in, 9, 1); mark_back(in); }
static void prep_gone(const struct pb *in) { put_flow(in, 10, 1); mark_back(in); }
static void prep_regen(const struct pb *in) { put_flow(in, web4_other(in), 7); mark_back(in); }
/*
 * A port reused after TIME_WAIT: the tuple's entry (an earlier connection,
 * on the other backend) is still in xlb_flows, in a slot moved from that
 * backend (prev = other) or moved back (prev = cur).
 */
static __u16 reuse_port;
static void prep_syn_known(const struct pb *in)
{
	put_flow(in, web4_other(in), 1);
	pinned_backend = xt_table_pick(in, SVC_WEB4);
	reuse_port = 40040;
	xt_mark_moved(0, in, SVC_WEB4, web4_other(in), 0);
}
static void prep_syn_known_back(const struct pb *in)
{
	put_flow(in, web4_other(in), 1);
	pinned_backend = xt_table_pick(in, SVC_WEB4);
	reuse_port = 40049;
	mark_back(in);
}
/* the slot moved from the other backend to the table's (prev = other) */
static void prep_moved(const struct pb *in)
{
	pinned_backend = web4_other(in);
	xt_mark_moved(0, in, SVC_WEB4, pinned_backend, 0);
}
static void prep_moved_down(const struct pb *in) { xt_mark_moved(0, in, SVC_WEB4, 9, 0); }
/* SVC_DNS4's table is all backend 3: a slot moved from backend 1, hold on / over */
static void prep_udp_moved(const struct pb *in)
{
	xt_mark_moved(0, in, SVC_DNS4, 1, xt_now_sec() + 600);
}
static void prep_udp_moved_late(const struct pb *in) { xt_mark_moved(0, in, SVC_DNS4, 1, 1); }
static void prep_unmoved_entry(const struct pb *in) { put_flow(in, web4_other(in), 1); }
static void check_new_flow_counted(const struct pb *in)
{
	struct xlb_counters c;

	(void)in;
	assert_int_equal(xlb_dp_counters(&xt_dp, xt_dp.backend_stats, pinned_backend, &c), 0);
	assert_true(c.new_flows >= 1);
}

/* A flow pinned in slot 0, then slot 1 sends every new flow elsewhere. */
static void prep_switch(const struct pb *in)
{
	__u8 out[PB_MAX + 256];
	struct pb syn;
	__u32 len;

	tcp4_to(&syn, VIP4, 40037, 80, SYN);
	assert_int_equal(xt_run(&syn, "xlb0", out, &len), XDP_TX);
	pinned_backend = xt_table_pick(in, SVC_WEB4);
	assert_int_equal(xt_write_config(1, pinned_backend == 1 ? 2 : 1), 0);
	/* as a commit does: the slot the change moved keeps its previous backend */
	xt_mark_moved(1, in, SVC_WEB4, pinned_backend, 0);
	assert_int_equal(xlb_dp_switch(&xt_dp, 1), 0);
}
static void done_switch(const struct pb *in)
{
	__u8 out[PB_MAX + 256];
	struct pb syn, want;
	__u32 len, other = pinned_backend == 1 ? 2 : 1;

	(void)in;
	/* a new flow follows the new table */
	tcp4_to(&syn, VIP4, 40200, 80, SYN);
	assert_int_equal(xt_run(&syn, "xlb0", out, &len), XDP_TX);
	xt_expect(&want, &syn, other);
	assert_int_equal(len, want.len);
	assert_memory_equal(out, want.d, len);
	assert_int_equal(xlb_dp_switch(&xt_dp, 0), 0);
}
static void prep_nosrc(const struct pb *in)
{
	struct xlb_slot_conf conf;

	(void)in;
	assert_int_equal(xlb_dp_get_slot_conf(&xt_dp, 0, &conf), 0);
	memset(&conf.src4, 0, sizeof(conf.src4));
	assert_int_equal(xlb_dp_set_slot_conf(&xt_dp, 0, &conf), 0);
}
static void done_nosrc(const struct pb *in)
{
	(void)in;
	assert_int_equal(xt_write_config(0, 0), 0);
}
static void prep_family(const struct pb *in)
{
	(void)in;
	/* a slot whose IPv4 service table points at an IPv6 backend */
	assert_int_equal(xt_write_config(1, 4), 0);
	assert_int_equal(xlb_dp_switch(&xt_dp, 1), 0);
}
static void done_family(const struct pb *in)
{
	(void)in;
	assert_int_equal(xlb_dp_switch(&xt_dp, 0), 0);
}

/* The too-big answers' rate: rate per second (0 default, XLB_ICMP_RATE_OFF). */
static void set_icmp_rate(__u32 rate)
{
	struct xlb_node_conf node = { .icmp_rate = rate };

	assert_int_equal(xlb_dp_set_node_conf(&xt_dp, &node), 0);
}
static __u64 icmp_limited;
static cpu_set_t cpus_before;
/* one answer a second, and this second's spent (on this CPU: the limit is per CPU) */
static void prep_icmp_spent(const struct pb *in)
{
	__u8 out[PB_MAX + 256];
	cpu_set_t one;
	struct pb first;
	__u32 len;

	(void)in;
	assert_int_equal(sched_getaffinity(0, sizeof(cpus_before), &cpus_before), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	set_icmp_rate(1);
	too_big4(&first, 40054, false);	/* answered, or this second was spent already */
	xt_run(&first, "xlb0", out, &len);
	assert_int_equal(xlb_dp_icmp_limited(&xt_dp, &icmp_limited), 0);
}
static void done_icmp_spent(const struct pb *in)
{
	__u64 now;

	(void)in;
	assert_int_equal(xlb_dp_icmp_limited(&xt_dp, &now), 0);
	assert_int_equal(now - icmp_limited, 1);	/* counted as held back */
	set_icmp_rate(0);
	assert_int_equal(sched_setaffinity(0, sizeof(cpus_before), &cpus_before), 0);
}
static void prep_icmp_off(const struct pb *in) { (void)in; set_icmp_rate(XLB_ICMP_RATE_OFF); }
static void done_icmp_off(const struct pb *in) { (void)in; set_icmp_rate(0); }

/* xlb0 (and its peer) carry jumbo frames: 1900 bytes is a wire frame there */
static void set_mtu(int mtu)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip link set dev xlb1 mtu %d && ip link set dev xlb0 mtu %d",
		 mtu, mtu);
	assert_int_equal(system(cmd), 0);
}
/* the next-hop cache keeps a route's MTU for a second: empty it when the MTU changes */
static void clear_nexthops(void)
{
	int n = libbpf_num_possible_cpus();
	struct xlb_nexthop nh[n];

	memset(nh, 0, sizeof(nh));
	for (__u32 id = 0; id < 16; id++)
		assert_int_equal(bpf_map_update_elem(xt_dp.nexthops, &id, nh, BPF_ANY), 0);
}
static void prep_jumbo(const struct pb *in) { (void)in; set_mtu(9000); clear_nexthops(); }
static void done_jumbo(const struct pb *in) { (void)in; set_mtu(1500); clear_nexthops(); }

/* ---- checks after a run ---------------------------------------------- */

static void check_no_flow(const struct pb *in)
{
	struct xlb_flow_key key;
	struct xlb_flow f;

	assert_int_not_equal(get_flow(in, &f), 0);
	xt_flow_key(in, &key);
	assert_int_not_equal(xlb_dp_get_syn(&xt_dp, &key, XLB_SYN_ANY, 0, &f), 0);
}
/* Add d to the service of flow key's SYN cell (the way its tag is in). */
static void cell_service_add(const struct xlb_flow_key *key, int d)
{
	__u32 tag, idx = xlb_syn_cell(key, &tag);
	struct xlb_syn_set set;
	int i;

	assert_int_equal(bpf_map_lookup_elem(xt_dp.syns, &idx, &set), 0);
	for (i = 0; i < XLB_SYN_WAYS && XLB_SYN_TAG(set.way[i].entry) != tag; i++)
		;
	assert_true(i < XLB_SYN_WAYS);
	set.way[i].service += d;
	assert_int_equal(bpf_map_update_elem(xt_dp.syns, &idx, &set, BPF_ANY), 0);
}
/* A SYN of a moved slot: remembered apart, on the table's backend, until it is answered. */
static void check_syn_kept_apart(const struct pb *in)
{
	struct xlb_flow_key key;
	struct xlb_flow f;
	__u8 out[PB_MAX + 256];
	struct pb ack, want;
	__u32 len;

	assert_int_not_equal(get_flow(in, &f), 0);
	xt_flow_key(in, &key);
	assert_int_equal(xlb_dp_get_syn(&xt_dp, &key, XLB_SYN_ANY, 0, &f), 0);
	assert_int_equal(f.backend, xt_table_pick(in, SVC_WEB4));
	/* a cell with its tag but of another moved slot (another service) answers nothing */
	tcp4_to(&ack, VIP4, 40042, 80, ACK);
	cell_service_add(&key, 1);
	assert_int_equal(xt_run(&ack, "xlb0", out, &len), XDP_TX);
	xt_expect(&want, &ack, f.backend);
	assert_true(len != want.len || memcmp(out, want.d, len));
	cell_service_add(&key, -1);
	/* its ACK goes where the SYN went, not to the previous backend, and moves it over */
	assert_int_equal(xt_run(&ack, "xlb0", out, &len), XDP_TX);
	xt_expect(&want, &ack, f.backend);
	assert_int_equal(len, want.len);
	assert_memory_equal(out, want.d, len);
	assert_int_equal(get_flow(in, &f), 0);
	assert_int_equal(f.backend, xt_table_pick(in, SVC_WEB4));
}
/*
 * After a SYN on a tuple whose earlier connection's entry names the other
 * backend: the SYN cell names the current one (the entry untouched), the ACK
 * goes there, moves into xlb_flows over the stale entry and clears the cell,
 * and the packets after it stay on the current backend.
 */
static void sent_to(const struct pb *pkt, __u32 backend)
{
	__u8 out[PB_MAX + 256];
	struct pb want;
	__u32 len;

	assert_int_equal(xt_run(pkt, "xlb0", out, &len), XDP_TX);
	xt_expect(&want, pkt, backend);
	assert_int_equal(len, want.len);
	assert_memory_equal(out, want.d, len);
}
static void check_port_reused(const struct pb *in)
{
	__u32 cur = xt_table_pick(in, SVC_WEB4);
	struct xlb_flow_key key;
	struct xlb_flow f;
	struct pb pkt;

	check_new_flow_counted(in);
	xt_flow_key(in, &key);
	assert_int_equal(xlb_dp_get_syn(&xt_dp, &key, XLB_SYN_ANY, 0, &f), 0);
	assert_int_equal(f.backend, cur);
	assert_int_equal(get_flow(in, &f), 0);
	assert_int_equal(f.backend, web4_other(in));	/* not consulted, not yet replaced */
	tcp4_to(&pkt, VIP4, reuse_port, 80, ACK);
	sent_to(&pkt, cur);
	assert_int_equal(get_flow(in, &f), 0);
	assert_int_equal(f.backend, cur);
	assert_int_not_equal(xlb_dp_get_syn(&xt_dp, &key, XLB_SYN_ANY, 0, &f), 0);	/* cleared */
	tcp4_to(&pkt, VIP4, reuse_port, 80, ACK | PSH);
	sent_to(&pkt, cur);
	sent_to(&pkt, cur);
	assert_int_equal(get_flow(in, &f), 0);
	assert_int_equal(f.backend, cur);
}
static void check_kept(const struct pb *in)
{
	struct xlb_moved_stats ms;
	struct xlb_flow f;

	assert_int_equal(get_flow(in, &f), 0);
	assert_int_equal(f.backend, pinned_backend);
	assert_int_equal(xlb_dp_moved_stats(&xt_dp, &ms), 0);
	assert_true(ms.kept >= 1 && ms.packets >= ms.kept);
}
static void check_udp_kept(const struct pb *in)
{
	struct xlb_flow f;

	assert_int_equal(get_flow(in, &f), 0);
	assert_int_equal(f.backend, 1);
}
static void check_rehashed(const struct pb *in)
{
	struct xlb_flow f;

	assert_int_equal(get_flow(in, &f), 0);
	assert_int_equal(f.backend, xt_table_pick(in, SVC_WEB4));
	assert_int_equal(f.gen, 1);
}

/* ---- the table ---------------------------------------------------------- */

struct tcase {
	const char *name;
	void (*build)(struct pb *in);
	int verdict;
	__u32 reason;
	int out;		/* OUT_SAME, OUT_TABLE, or a backend id */
	int svc;		/* service for OUT_TABLE */
	int ev[2];		/* events expected to count one each */
	void (*prepare)(const struct pb *in);
	void (*check)(const struct pb *in);
	const char *ifname;
	bool no_backend_count;	/* the packet leaves but is not a backend's */
};

#define EVS(a, b) { a, b }
#define NOEV EVS(EV_NONE, EV_NONE)

static const struct tcase cases[] = {
	{ "arp passes unchanged", p_arp, XDP_PASS, XLB_PASS_NOT_IP, OUT_SAME, 0, NOEV },
	{ "lldp passes unchanged", p_lldp, XDP_PASS, XLB_PASS_NOT_IP, OUT_SAME, 0, NOEV },
	{ "tcp syn to vip is encapsulated to the table's backend, no state kept", p_syn4, XDP_TX,
	  XLB_STAT_TX, OUT_TABLE, SVC_WEB4, NOEV, NULL, check_no_flow },
	{ "an ack in an unmoved slot is forwarded by the table alone", p_hit, XDP_TX, XLB_STAT_TX,
	  OUT_TABLE, SVC_WEB4, NOEV, NULL, check_no_flow },
	{ "udp to vip is encapsulated", p_udp4, XDP_TX, XLB_STAT_TX, 3, 0, NOEV, NULL, check_no_flow },
	{ "a udp flow in an unmoved slot keeps no state", p_udp_hit, XDP_TX, XLB_STAT_TX, 3, 0,
	  NOEV, NULL, check_no_flow },
	{ "ipv6 tcp to a port-0 service is redirected", p_syn6_anyport, XDP_REDIRECT,
	  XLB_STAT_REDIRECT, OUT_TABLE, SVC_ANY6, NOEV },
	{ "ipv6 udp to vip is redirected", p_udp6, XDP_REDIRECT, XLB_STAT_REDIRECT, 4, 0,
	  NOEV },
	{ "one vlan tag is kept on the encapsulated frame", p_vlan1, XDP_TX, XLB_STAT_TX,
	  OUT_TABLE, SVC_WEB4, NOEV },
	{ "two vlan tags pass unchanged", p_vlan2, XDP_PASS, XLB_PASS_VLAN_STACKED, OUT_SAME, 0, NOEV },
	{ "ipv4 ihl below 5 is dropped", p_ihl4, XDP_DROP, XLB_DROP_MALFORMED_L3, OUT_SAME, 0, NOEV },
	{ "ipv4 ihl below 5 to the node is dropped too", p_ihl_nonvip, XDP_DROP,
	  XLB_DROP_MALFORMED_L3, OUT_SAME, 0, NOEV },
	{ "ipv4 options are carried in the tunnel", p_ipopts, XDP_TX, XLB_STAT_TX, OUT_TABLE,
	  SVC_WEB4, NOEV },
	{ "total length beyond the frame is dropped", p_totlen_big, XDP_DROP,
	  XLB_DROP_MALFORMED_L3, OUT_SAME, 0, NOEV },
	{ "total length below the header is dropped", p_totlen_small, XDP_DROP,
	  XLB_DROP_MALFORMED_L3, OUT_SAME, 0, NOEV },
	{ "a padded 60-byte frame is encapsulated without its padding", p_padded, XDP_TX,
	  XLB_STAT_TX, OUT_TABLE, SVC_WEB4, NOEV },
	{ "first ipv4 fragment to a vip is dropped", p_frag_first, XDP_DROP, XLB_DROP_FRAGMENT,
	  OUT_SAME, 0, NOEV },
	{ "later ipv4 fragment to a vip is dropped", p_frag_later, XDP_DROP, XLB_DROP_FRAGMENT,
	  OUT_SAME, 0, NOEV },
	{ "ipv4 fragment to the node passes", p_frag_nonvip, XDP_PASS, XLB_PASS_NOT_VIP, OUT_SAME,
	  0, NOEV },
	{ "ipv6 fragment header to a vip is dropped", p_frag6, XDP_DROP, XLB_DROP_FRAGMENT,
	  OUT_SAME, 0, NOEV },
	{ "ipv6 later fragment to the node passes, its payload not walked as headers",
	  p_frag6_later_node, XDP_PASS, XLB_PASS_NOT_VIP, OUT_SAME, 0, NOEV },
	{ "ipv6 later fragment to the node passes, payload reading as a long chain",
	  p_frag6_later_chain_node, XDP_PASS, XLB_PASS_NOT_VIP, OUT_SAME, 0, NOEV },
	{ "ipv6 later fragment to a vip is dropped as a fragment", p_frag6_later_vip, XDP_DROP,
	  XLB_DROP_FRAGMENT, OUT_SAME, 0, NOEV },
	{ "ipv6 last fragment to a vip is dropped as a fragment", p_frag6_last_vip, XDP_DROP,
	  XLB_DROP_FRAGMENT, OUT_SAME, 0, NOEV },
	{ "ipv6 first fragment with options to the node passes", p_frag6_first_node, XDP_PASS,
	  XLB_PASS_NOT_VIP, OUT_SAME, 0, NOEV },
	{ "ipv6 first fragment with options to a vip is dropped", p_frag6_first_vip, XDP_DROP,
	  XLB_DROP_FRAGMENT, OUT_SAME, 0, NOEV },
	{ "ipv6 atomic fragment (offset 0, no M) is a whole packet: redirected", p_frag6_atomic,
	  XDP_REDIRECT, XLB_STAT_REDIRECT, OUT_TABLE, SVC_ANY6, NOEV },
	{ "ipv4 later fragment to the node passes, its payload not read as tcp",
	  p_frag4_later_node, XDP_PASS, XLB_PASS_NOT_VIP, OUT_SAME, 0, NOEV },
	{ "ipv6 hop-by-hop and destination options are walked", p_ext6_ok, XDP_REDIRECT,
	  XLB_STAT_REDIRECT, OUT_TABLE, SVC_ANY6, NOEV },
	{ "ipv6 extension chain longer than walked to a vip is dropped", p_ext6_long, XDP_DROP,
	  XLB_DROP_IPV6_EXT_LIMIT, OUT_SAME, 0, NOEV },
	{ "ipv6 extension chain longer than walked to the node passes", p_ext6_long_nonvip,
	  XDP_PASS, XLB_PASS_IPV6_EXT_LIMIT, OUT_SAME, 0, NOEV },
	{ "ipv6 extension header past the end is dropped", p_ext6_past_end, XDP_DROP,
	  XLB_DROP_MALFORMED_L3, OUT_SAME, 0, NOEV },
	{ "tcp data offset below 5 to a vip is dropped", p_doff_small, XDP_DROP,
	  XLB_DROP_MALFORMED_L4, OUT_SAME, 0, NOEV },
	{ "tcp data offset past the end to a vip is dropped", p_doff_big, XDP_DROP,
	  XLB_DROP_MALFORMED_L4, OUT_SAME, 0, NOEV },
	{ "bad tcp header to the node passes", p_doff_nonvip, XDP_PASS, XLB_PASS_NOT_VIP, OUT_SAME,
	  0, NOEV },
	{ "udp shorter than 8 bytes to a vip is dropped", p_udp_short, XDP_DROP,
	  XLB_DROP_MALFORMED_L4, OUT_SAME, 0, NOEV },
	{ "tcp to a non-vip passes unchanged", p_nonvip, XDP_PASS, XLB_PASS_NOT_VIP, OUT_SAME, 0, NOEV },
	{ "vip with the wrong port passes", p_wrong_port, XDP_PASS, XLB_PASS_NO_SERVICE, OUT_SAME,
	  0, NOEV },
	{ "vip with the wrong protocol passes", p_wrong_proto, XDP_PASS, XLB_PASS_NO_SERVICE,
	  OUT_SAME, 0, NOEV },
	{ "icmp frag-needed follows its flow to the flow's backend", p_ptb4, XDP_TX, XLB_STAT_TX,
	  -3, 0, EVS(XLB_EV_FLOW_HIT, XLB_EV_ICMP_PTB), prep_ptb4 },
	{ "truncated icmp frag-needed to a vip is dropped", p_ptb4_trunc, XDP_DROP,
	  XLB_DROP_MALFORMED_ICMP, OUT_SAME, 0, NOEV },
	{ "icmp frag-needed quoting ports past the ip packet's end is dropped",
	  p_ptb4_past_ip_end, XDP_DROP, XLB_DROP_MALFORMED_ICMP, OUT_SAME, 0, NOEV },
	{ "icmpv6 packet-too-big follows its flow", p_ptb6, XDP_REDIRECT, XLB_STAT_REDIRECT, -3, 0,
	  EVS(XLB_EV_FLOW_HIT, XLB_EV_ICMP_PTB), prep_ptb6 },
	{ "icmp frag-needed to the node about a vip flow passes, not tunnelled", p_ptb4_to_node,
	  XDP_PASS, XLB_PASS_NOT_VIP, OUT_SAME, 0, NOEV },
	{ "icmp frag-needed to another vip about a vip flow passes", p_ptb4_to_other_vip,
	  XDP_PASS, XLB_PASS_ICMP_TO_VIP, OUT_SAME, 0, NOEV },
	{ "icmpv6 packet-too-big to the node about a vip flow passes, not tunnelled",
	  p_ptb6_to_node, XDP_PASS, XLB_PASS_NOT_VIP, OUT_SAME, 0, NOEV },
	{ "ping to a vip passes (policy)", p_ping_vip, XDP_PASS, XLB_PASS_ICMP_TO_VIP, OUT_SAME, 0,
	  NOEV },
	{ "ping to the node passes", p_ping_nonvip, XDP_PASS, XLB_PASS_NOT_VIP, OUT_SAME, 0, NOEV },
	{ "too big without DF is dropped (policy: no fragments)", p_too_big, XDP_DROP, XLB_DROP_TOO_BIG,
	  OUT_SAME, 0, NOEV, NULL, NULL, NULL, true },
	{ "too big with DF: ICMP fragmentation needed back to the client, mtu 1480", p_too_big_df,
	  XDP_TX, XLB_REPLY_TOO_BIG, OUT_TOO_BIG, 0, NOEV, NULL, NULL, NULL, true },
	{ "a too-big answer keeps the vlan tag", p_too_big_vlan, XDP_TX, XLB_REPLY_TOO_BIG,
	  OUT_TOO_BIG, 0, NOEV, NULL, NULL, NULL, true },
	{ "ipv6 too big: ICMPv6 packet too big back to the client, mtu 1460", p_too_big6, XDP_TX,
	  XLB_REPLY_TOO_BIG, OUT_TOO_BIG, 0, NOEV, NULL, NULL, NULL, true },
	{ "past the rate a too-big packet is dropped, counted held back", p_too_big_limited,
	  XDP_DROP, XLB_DROP_TOO_BIG, OUT_SAME, 0, NOEV, prep_icmp_spent, done_icmp_spent, NULL,
	  true },
	{ "with answers off a too-big packet is dropped", p_too_big_off, XDP_DROP,
	  XLB_DROP_TOO_BIG, OUT_SAME, 0, NOEV, prep_icmp_off, done_icmp_off, NULL, true },
	{ "longer than the interface's mtu (coalesced by gro) is dropped, counted apart",
	  p_coalesced, XDP_DROP, XLB_DROP_COALESCED, OUT_SAME, 0, NOEV, NULL, NULL, NULL, true },
	{ "the same length on a jumbo interface is a wire frame: encapsulated", p_jumbo, XDP_TX,
	  XLB_STAT_TX, OUT_TABLE, SVC_WEB4, NOEV, prep_jumbo, done_jumbo },
	{ "a packet that fits the mtu exactly is encapsulated", p_fits, XDP_TX, XLB_STAT_TX,
	  OUT_TABLE, SVC_WEB4, NOEV },
	{ "ip-in-ip to a vip passes, never re-encapsulated", p_ipip_vip, XDP_PASS,
	  XLB_PASS_IPIP_TO_VIP, OUT_SAME, 0, NOEV },
	{ "ipv6-in-ipv6 to a vip passes", p_ip6ip6_vip, XDP_PASS, XLB_PASS_IPIP_TO_VIP, OUT_SAME, 0,
	  NOEV },
	{ "rst of an unknown flow in an unmoved slot is forwarded, no state", p_rst_unknown, XDP_TX,
	  XLB_STAT_TX, OUT_TABLE, SVC_WEB4, NOEV, NULL, check_no_flow },
	{ "rst without state in a moved slot goes to the previous backend, not recorded",
	  p_moved_rst, XDP_TX, XLB_STAT_TX, -3, 0, EVS(XLB_EV_RST_NO_FLOW, EV_NONE), prep_moved,
	  check_no_flow },
	{ "non-syn of an unknown flow in an unmoved slot takes the table's backend, no state",
	  p_ack_unknown, XDP_TX, XLB_STAT_TX, OUT_TABLE, SVC_WEB4, NOEV, NULL, check_no_flow },
	{ "in a moved slot an ack without state goes to the previous backend, remembered",
	  p_moved_ack, XDP_TX, XLB_STAT_TX, -3, 0, EVS(XLB_EV_FLOW_NEW, EV_NONE), prep_moved,
	  check_kept },
	{ "in a moved slot a syn goes to the current backend, remembered", p_moved_syn, XDP_TX,
	  XLB_STAT_TX, OUT_TABLE, SVC_WEB4, EVS(XLB_EV_FLOW_NEW, EV_NONE), prep_moved,
	  check_syn_kept_apart },
	{ "in a moved slot whose previous backend is down an ack takes the current one",
	  p_moved_down, XDP_TX, XLB_STAT_TX, OUT_TABLE, SVC_WEB4, NOEV, prep_moved_down,
	  check_no_flow },
	{ "udp without state in a moved slot goes to the previous backend while the hold lasts",
	  p_udp_moved, XDP_TX, XLB_STAT_TX, 1, 0, EVS(XLB_EV_FLOW_NEW, EV_NONE), prep_udp_moved,
	  check_udp_kept },
	{ "udp without state in a moved slot after the hold takes the current backend, no state",
	  p_udp_moved_late, XDP_TX, XLB_STAT_TX, 3, 0, NOEV, prep_udp_moved_late, check_no_flow },
	{ "an unmoved slot does not consult the connection table", p_unmoved_entry, XDP_TX,
	  XLB_STAT_TX, OUT_TABLE, SVC_WEB4, NOEV, prep_unmoved_entry },
	{ "a slot moved back (prev = cur) sends a flow without state to the current backend",
	  p_moved_back, XDP_TX, XLB_STAT_TX, OUT_TABLE, SVC_WEB4, NOEV, mark_back, check_no_flow },
	{ "a flow on a draining backend stays there", p_hit_drain, XDP_TX, XLB_STAT_TX, 8, 0,
	  EVS(XLB_EV_FLOW_HIT, EV_NONE), prep_drain },
	{ "a flow on a down backend is re-hashed", p_hit_down, XDP_TX, XLB_STAT_TX, OUT_TABLE,
	  SVC_WEB4, EVS(XLB_EV_FLOW_REHASH, EV_NONE), prep_down, check_rehashed },
	{ "a flow whose backend was removed is re-hashed", p_hit_gone, XDP_TX, XLB_STAT_TX,
	  OUT_TABLE, SVC_WEB4, EVS(XLB_EV_FLOW_REHASH, EV_NONE), prep_gone, check_rehashed },
	{ "a flow pinned to an older incarnation of an id is re-hashed", p_hit_regen, XDP_TX,
	  XLB_STAT_TX, OUT_TABLE, SVC_WEB4, EVS(XLB_EV_FLOW_REHASH, EV_NONE), prep_regen,
	  check_rehashed },
	/*
	 * A SYN is a new connection whatever xlb_flows holds for its tuple (the
	 * program does not look there for a SYN): a port reused after TIME_WAIT
	 * belongs on the current backend, not on its earlier connection's.  Its
	 * ACK follows the SYN cell and overwrites the stale entry.
	 */
	{ "a syn on a known tuple is a new connection: current backend, its ack and the "
	  "following packets too (port reuse)", p_syn_known, XDP_TX, XLB_STAT_TX, OUT_TABLE,
	  SVC_WEB4, EVS(XLB_EV_FLOW_NEW, EV_NONE), prep_syn_known, check_port_reused },
	{ "the same in a slot moved back (prev = cur)", p_syn_known_back, XDP_TX, XLB_STAT_TX,
	  OUT_TABLE, SVC_WEB4, EVS(XLB_EV_FLOW_NEW, EV_NONE), prep_syn_known_back,
	  check_port_reused },
	{ "a flow older than a switch that moved its slot keeps its backend", p_switch, XDP_TX,
	  XLB_STAT_TX, -3, 0, EVS(XLB_EV_FLOW_NEW, EV_NONE), prep_switch, done_switch },
	{ "an unresolved next hop passes the encapsulated packet", p_noneigh, XDP_PASS,
	  XLB_PASS_NO_NEIGH, 6, 0, NOEV },
	{ "no route to the backend is dropped", p_noroute, XDP_DROP, XLB_DROP_FIB, OUT_SAME, 0,
	  NOEV, NULL, NULL, NULL, true },
	{ "a service with an empty table drops", p_empty, XDP_DROP, XLB_DROP_NO_BACKEND, OUT_SAME,
	  0, NOEV },
	{ "the inner tos is copied to the outer header", p_tos, XDP_TX, XLB_STAT_TX, OUT_TABLE,
	  SVC_WEB4, NOEV },
	{ "no tunnel source drops", p_nosrc, XDP_DROP, XLB_DROP_NO_SOURCE, OUT_SAME, 0,
	  NOEV, prep_nosrc, done_nosrc, NULL, true },
	{ "a backend of the other family drops", p_family, XDP_DROP, XLB_DROP_FAMILY, OUT_SAME, 0,
	  NOEV, prep_family, done_family, NULL, true },
};

/* ---- the runner ------------------------------------------------------- */

struct snapshot {
	__u64 stat[XLB_STAT_MAX];
	__u64 ev[XLB_EV_MAX];
	__u64 be[16];
};

static void snap(struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	for (__u32 r = 0; r < XLB_STAT_MAX; r++) {
		struct xlb_stat st;

		assert_int_equal(xlb_dp_stat(&xt_dp, r, &st), 0);
		s->stat[r] = st.packets;
	}
	for (__u32 e = 0; e < XLB_EV_MAX; e++)
		assert_int_equal(xlb_dp_event(&xt_dp, e, &s->ev[e]), 0);
	for (__u32 id = 0; id < 16; id++) {
		struct xlb_counters c;

		assert_int_equal(xlb_dp_counters(&xt_dp, xt_dp.backend_stats, id, &c), 0);
		s->be[id] = c.packets;
	}
}

static void check_counters(const struct tcase *c, const struct snapshot *a,
			   const struct snapshot *b, int backend)
{
	for (__u32 r = 0; r < XLB_STAT_MAX; r++) {
		__u64 want = r == c->reason;

		if (b->stat[r] - a->stat[r] != want)
			fail_msg("counter %s (%s): +%llu, want +%llu", xlb_stat_names[r],
				 xlb_stat_kind(r), (unsigned long long)(b->stat[r] - a->stat[r]),
				 (unsigned long long)want);
	}
	for (__u32 e = 0; e < XLB_EV_MAX; e++) {
		__u64 want = (int)e == c->ev[0] || (int)e == c->ev[1];

		if (b->ev[e] - a->ev[e] != want)
			fail_msg("event %s: +%llu, want +%llu", xlb_event_names[e],
				 (unsigned long long)(b->ev[e] - a->ev[e]), (unsigned long long)want);
	}
	for (int id = 0; id < 16; id++) {
		__u64 want = backend > 0 && id == backend && c->verdict != XDP_DROP;

		if (b->be[id] - a->be[id] != want)
			fail_msg("backend %d packets: +%llu, want +%llu", id,
				 (unsigned long long)(b->be[id] - a->be[id]), (unsigned long long)want);
	}
}

static void run_case(void **state)
{
	const struct tcase *c = *state;
	__u8 out[PB_MAX + 256];
	struct snapshot before, after;
	struct pb in, want;
	int verdict, backend = 0;
	__u32 len;

	SKIP_IF_NEEDED();
	c->build(&in);
	if (c->prepare)
		c->prepare(&in);
	snap(&before);
	verdict = xt_run(&in, c->ifname ? c->ifname : "xlb0", out, &len);
	snap(&after);
	if (verdict != c->verdict)
		fail_msg("verdict %d, want %d", verdict, c->verdict);

	if (c->out == OUT_SAME) {
		want = in;
	} else if (c->out == OUT_TOO_BIG) {
		if (in.ip_family[0] == 4)
			pb_expect_too_big(&want, &in, 1500 - 20, 68);
		else
			pb_expect_too_big(&want, &in, 1500 - 40, 200);
	} else {
		backend = c->out == OUT_TABLE ? (int)xt_table_pick(&in, c->svc)
			  : c->out == -3 ? (int)pinned_backend : c->out;
		xt_expect(&want, &in, backend);
		if (c->reason == XLB_PASS_NO_NEIGH)	/* MACs untouched: the kernel routes it */
			memcpy(want.d, in.d, 12);
	}
	if (len != want.len || memcmp(out, want.d, len)) {
		pb_diff(out, len, want.d, want.len);
		fail_msg("output bytes differ");
	}
	check_counters(c, &before, &after, c->no_backend_count ? -1 : backend);
	if (c->check)
		c->check(&in);
	if (xt_moved_dirty) {	/* the next case starts from unmoved tables */
		assert_int_equal(xt_write_config(0, 0), 0);
		xt_moved_dirty = false;
	}
}

/* The kernel refuses frames shorter than Ethernet: those are tested host-side. */
static void kernel_refuses_runts(void **state)
{
	__u8 out[64];
	struct pb in;
	__u32 len;

	(void)state;
	SKIP_IF_NEEDED();
	pb_init(&in);
	pb_bytes(&in, "\x02\0\0\0\0\xfe\x02\0\0\0\0\xcc\x08", 13);
	assert_int_equal(xt_run(&in, "xlb0", out, &len), -EINVAL);
}

/* Many flows: each lands where table[hash % M] says, and both backends get some. */
static void flows_follow_the_table(void **state)
{
	__u8 out[PB_MAX + 256];
	int seen[3] = { 0 };

	(void)state;
	SKIP_IF_NEEDED();
	for (__u16 port = 50000; port < 50200; port++) {
		struct pb in, want;
		__u32 len, id;

		tcp4_to(&in, VIP4, port, 80, SYN);
		id = xt_table_pick(&in, SVC_WEB4);
		assert_int_equal(xt_run(&in, "xlb0", out, &len), XDP_TX);
		xt_expect(&want, &in, id);
		assert_int_equal(len, want.len);
		assert_memory_equal(out, want.d, len);
		seen[id]++;
	}
	assert_true(seen[1] > 50 && seen[2] > 50);
}

/* Write a next-hop entry for backend id on every CPU. */
static void put_nexthop_uses(__u32 id, __u64 expires, const __u8 *dmac, __u32 uses)
{
	int n = libbpf_num_possible_cpus();
	struct xlb_nexthop nh[n];

	memset(nh, 0, sizeof(nh));
	for (int i = 0; i < n; i++) {
		nh[i].expires_ns = expires;
		nh[i].gen = 1;
		nh[i].ifindex = testnet_ifindex("xlb0");
		nh[i].mtu = 1500;
		memcpy(nh[i].dmac, dmac, 6);
		memcpy(nh[i].smac, PB_MAC_NODE, 6);
		nh[i].uses = uses;
	}
	assert_int_equal(bpf_map_update_elem(xt_dp.nexthops, &id, nh, BPF_ANY), 0);
}

static void put_nexthop(__u32 id, __u64 expires, const __u8 *dmac)
{
	put_nexthop_uses(id, expires, dmac, 0);
}

/* Send a SYN to SVC_WEB4 from a port whose flow the table gives backend id. */
static void send_to(__u32 id, __u8 *out, __u32 *len, struct pb *in)
{
	for (__u16 port = 51000;; port++) {
		tcp4_to(in, VIP4, port, 80, SYN);
		if (xt_table_pick(in, SVC_WEB4) == id)
			break;
	}
	assert_int_equal(xt_run(in, "xlb0", out, len), XDP_TX);
}

static const __u8 STALE_MAC[6] = { 0x02, 0xde, 0xad, 0, 0, 1 };

/* A fresh cache entry is used as it is: no route lookup per packet. */
static void nexthop_cache_is_used(void **state)
{
	__u8 out[PB_MAX + 256];
	struct pb in;
	__u32 len;

	(void)state;
	SKIP_IF_NEEDED();
	put_nexthop(1, UINT64_MAX, STALE_MAC);
	send_to(1, out, &len, &in);
	assert_memory_equal(out, STALE_MAC, 6);
}

/*
 * An expired entry is resolved again through bpf_fib_lookup at its next
 * clock check (every XLB_NEXTHOP_CLOCK_EVERY uses), not before.
 */
static void nexthop_cache_expires(void **state)
{
	__u8 out[PB_MAX + 256], mac[6];
	struct pb in, want;
	__u32 len;

	(void)state;
	SKIP_IF_NEEDED();
	put_nexthop_uses(1, 1, STALE_MAC, 0);
	send_to(1, out, &len, &in);
	assert_memory_equal(out, STALE_MAC, 6);		/* no clock check on this use */
	put_nexthop_uses(1, 1, STALE_MAC, XLB_NEXTHOP_CLOCK_EVERY - 1);
	send_to(1, out, &len, &in);
	testnet_backend_mac(4, 1, mac);
	assert_memory_equal(out, mac, 6);
	xt_expect(&want, &in, 1);
	assert_int_equal(len, want.len);
	assert_memory_equal(out, want.d, len);
}

/* XLB_SLOT_F_FIB_EVERY_PACKET ignores the cache. */
static void fib_every_packet_mode(void **state)
{
	struct xlb_slot_conf conf;
	__u8 out[PB_MAX + 256], mac[6];
	struct pb in;
	__u32 len;

	(void)state;
	SKIP_IF_NEEDED();
	put_nexthop(1, UINT64_MAX, STALE_MAC);
	assert_int_equal(xlb_dp_get_slot_conf(&xt_dp, 0, &conf), 0);
	conf.flags |= XLB_SLOT_F_FIB_EVERY_PACKET;
	assert_int_equal(xlb_dp_set_slot_conf(&xt_dp, 0, &conf), 0);
	send_to(1, out, &len, &in);
	testnet_backend_mac(4, 1, mac);
	assert_memory_equal(out, mac, 6);
	conf.flags &= ~XLB_SLOT_F_FIB_EVERY_PACKET;
	assert_int_equal(xlb_dp_set_slot_conf(&xt_dp, 0, &conf), 0);
	put_nexthop(1, 0, STALE_MAC);	/* empty: the next packet resolves */
}

/* The second chance's packet: to cur inside a tunnel to prev (as xt_expect draws each). */
static void expect_chance(struct pb *want, const struct pb *in, __u32 prev, __u32 cur)
{
	const struct tbackend *b = xt_backend(prev);
	struct pb mid;
	__u8 mac[6];

	xt_expect(&mid, in, cur);
	testnet_backend_mac(b->family, b->mac, mac);
	pb_expect_encap(want, &mid, mac, PB_MAC_NODE, TN_NODE4, b->addr);
}

/*
 * XLB_SLOT_F_SECOND_CHANCE: in a moved slot a TCP packet without state goes
 * to the previous backend with the current one inside as its second chance,
 * and its entry keeps both; a SYN, UDP, or the flag off: one tunnel.
 */
static void second_chance(void **state)
{
	__u8 out[PB_MAX + 256];
	struct xlb_slot_conf conf;
	struct xlb_flow f;
	struct pb in, want;
	__u32 len, cur, prev;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(xlb_dp_get_slot_conf(&xt_dp, 0, &conf), 0);
	conf.flags |= XLB_SLOT_F_SECOND_CHANCE;
	assert_int_equal(xlb_dp_set_slot_conf(&xt_dp, 0, &conf), 0);
	tcp4_to(&in, VIP4, 40061, 80, ACK);
	cur = xt_table_pick(&in, SVC_WEB4);
	prev = web4_other(&in);
	xt_mark_moved(0, &in, SVC_WEB4, prev, 0);
	assert_int_equal(xt_run(&in, "xlb0", out, &len), XDP_TX);
	expect_chance(&want, &in, prev, cur);
	if (len != want.len || memcmp(out, want.d, len)) {
		pb_diff(out, len, want.d, want.len);
		fail_msg("not the second chance's two tunnels");
	}
	assert_int_equal(get_flow(&in, &f), 0);
	assert_int_equal(f.backend, XLB_FLOW_BACKEND(prev, cur));
	/* its next packet: the entry holds, the second chance with it */
	assert_int_equal(xt_run(&in, "xlb0", out, &len), XDP_TX);
	assert_int_equal(len, want.len);
	assert_memory_equal(out, want.d, len);
	/* a SYN in the same slot: the current backend alone */
	tcp4_to(&in, VIP4, 40061, 80, SYN);
	{
		struct xlb_flow_key key;

		xt_flow_key(&in, &key);
		bpf_map_delete_elem(xt_dp.flows, &key);
	}
	assert_int_equal(xt_run(&in, "xlb0", out, &len), XDP_TX);
	xt_expect(&want, &in, cur);
	assert_int_equal(len, want.len);
	assert_memory_equal(out, want.d, len);
	/* the flag off: one tunnel, to the previous backend */
	conf.flags &= ~XLB_SLOT_F_SECOND_CHANCE;
	assert_int_equal(xlb_dp_set_slot_conf(&xt_dp, 0, &conf), 0);
	tcp4_to(&in, VIP4, 40062, 80, ACK);
	xt_mark_moved(0, &in, SVC_WEB4, web4_other(&in), 0);
	assert_int_equal(xt_run(&in, "xlb0", out, &len), XDP_TX);
	xt_expect(&want, &in, web4_other(&in));
	assert_int_equal(len, want.len);
	assert_memory_equal(out, want.d, len);
	assert_int_equal(get_flow(&in, &f), 0);
	assert_int_equal(XLB_FLOW_ALT(f.backend), 0);
	assert_int_equal(xt_write_config(0, 0), 0);
	xt_moved_dirty = false;
}

/* The service cells: two services in one cell, a cell marked empty, one of zeros. */
static void service_cells(void **state)
{
	struct xlb_service_key k80 = { .port = htons(80), .proto = IPPROTO_TCP }, k, kn;
	struct xlb_service_cell cell, zero = { 0 };
	struct xlb_service web;
	__u8 out[PB_MAX + 256];
	struct pb in;
	__u32 len, idx, p, q;

	(void)state;
	SKIP_IF_NEEDED();
	xlb_addr_parse(VIP4, &k80.vip, &k80.family);
	assert_int_equal(xlb_dp_get_service(&xt_dp, 0, k80, &web), 0);
	idx = xlb_service_cell(&k80);	/* k80.slot is 0 */
	k = kn = k80;
	for (p = 1000; p < 65535; p++) {	/* a port whose key shares web4's cell */
		k.port = htons(p);
		if (xlb_service_cell(&k) == idx)
			break;
	}
	for (q = 1000; q < 65535; q++) {	/* and one whose cell holds nothing */
		kn.port = htons(q);
		assert_int_equal(bpf_map_lookup_elem(xt_dp.service_cells, &(__u32){ xlb_service_cell(&kn) },
						     &cell), 0);
		if (!cell.key.family)
			break;
	}
	assert_int_equal(cell.key.pad[1], XLB_SVC_CELL_NONE);
	tcp4_to(&in, VIP4, 40070, q, SYN);
	assert_int_equal(xt_run(&in, "xlb0", out, &len), XDP_PASS);
	assert_int_equal(xlb_dp_set_service(&xt_dp, 0, k, &web), 0);
	assert_int_equal(bpf_map_lookup_elem(xt_dp.service_cells, &idx, &cell), 0);
	assert_int_equal(cell.key.pad[0], XLB_SVC_CELL_SHARED);
	/* both served: the shared cell sends each to xlb_services */
	tcp4_to(&in, VIP4, 40071, 80, SYN);
	assert_int_equal(xt_run(&in, "xlb0", out, &len), XDP_TX);
	tcp4_to(&in, VIP4, 40072, p, SYN);
	assert_int_equal(xt_run(&in, "xlb0", out, &len), XDP_TX);
	/* a cell of zeros proves nothing: xlb_services answers */
	assert_int_equal(bpf_map_update_elem(xt_dp.service_cells, &idx, &zero, BPF_ANY), 0);
	tcp4_to(&in, VIP4, 40073, 80, SYN);
	assert_int_equal(xt_run(&in, "xlb0", out, &len), XDP_TX);
	assert_int_equal(xt_write_config(0, 0), 0);
}

static int group_setup(void **state)
{
	(void)state;
	if (xt_setup(&skip_why) && !skip_why)
		skip_why = "setup failed";
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	xt_teardown();
	return 0;
}

int main(void)
{
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	struct CMUnitTest tests[N + 7];

	for (int i = 0; i < N; i++) {
		tests[i] = (struct CMUnitTest){ cases[i].name, run_case, NULL, NULL,
						(void *)&cases[i] };
	}
	tests[N] = (struct CMUnitTest)cmocka_unit_test(kernel_refuses_runts);
	tests[N + 1] = (struct CMUnitTest)cmocka_unit_test(flows_follow_the_table);
	tests[N + 2] = (struct CMUnitTest)cmocka_unit_test(nexthop_cache_is_used);
	tests[N + 3] = (struct CMUnitTest)cmocka_unit_test(nexthop_cache_expires);
	tests[N + 4] = (struct CMUnitTest)cmocka_unit_test(fib_every_packet_mode);
	tests[N + 5] = (struct CMUnitTest)cmocka_unit_test(second_chance);
	tests[N + 6] = (struct CMUnitTest)cmocka_unit_test(service_cells);
	return _cmocka_run_group_tests("xlb", tests, N + 7, group_setup, group_teardown);
}
