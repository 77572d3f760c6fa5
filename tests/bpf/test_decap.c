/* The backend's decap program through BPF_PROG_TEST_RUN: strip, pass, drop, count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "decap.skel.h"
#include "netutil.h"
#include "names.h"
#include "pktbuild.h"
#include "testnet.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define HOST4	"198.51.100.1"
#define HOST6	"2001:db8:b::1"
#define LB4	"198.51.100.254"
#define LB6	"2001:db8:b::fe"
#define VIP4	"192.0.2.10"
#define VIP6	"2001:db8:a::10"
#define CLIENT4	"203.0.113.7"
#define CLIENT6	"2001:db8:c::7"

static struct decap_bpf *skel;
static const char *skip_why;

static void inner4(struct pb *b) { pb_ipv4(b, CLIENT4, VIP4, IPPROTO_TCP); pb_tcp(b, 40001, 80, 0x02); }
static void inner6(struct pb *b) { pb_ipv6(b, CLIENT6, VIP6, IPPROTO_TCP); pb_tcp(b, 40001, 80, 0x02); }

/* A tunnel packet: outer header first (finished), then the inner packet. */
static void tunnel4_from(struct pb *b, const char *src, const char *dst, bool vlan)
{
	pb_init(b);
	if (vlan) {
		pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, 0x8100);
		pb_vlan(b, 7, ETH_P_IP);
	} else {
		pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
	}
	pb_ipv4(b, src, dst, IPPROTO_IPIP);
	inner4(b);
	pb_payload(b, 10);
	pb_finish(b);
}

static void tunnel6_from(struct pb *b, const char *src, const char *dst)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IPV6);
	pb_ipv6(b, src, dst, IPPROTO_IPV6);
	inner6(b);
	pb_payload(b, 10);
	pb_finish(b);
}

static void tunnel4(struct pb *b, const char *dst, bool vlan) { tunnel4_from(b, LB4, dst, vlan); }
static void tunnel6(struct pb *b, const char *dst) { tunnel6_from(b, LB6, dst); }

/* What the host should see: the same L2 header, then the inner packet (after UDP in GUE). */
static void stripped(struct pb *want, const struct pb *in, bool gue)
{
	int l2 = in->ip_off[0], inner = gue ? in->l4_off + 8 : in->ip_off[1];

	pb_init(want);
	pb_bytes(want, in->d, l2);
	pb_bytes(want, in->d + inner, in->len - inner);
}

static void p_v4(struct pb *b) { tunnel4(b, HOST4, false); }
static void p_v4_vlan(struct pb *b) { tunnel4(b, HOST4, true); }
static void p_v6(struct pb *b) { tunnel6(b, HOST6); }
static void p_v4_other(struct pb *b) { tunnel4(b, "198.51.100.9", false); }
static void p_v6_other(struct pb *b) { tunnel6(b, "2001:db8:b::9"); }
/* IP-in-IP to this host from hosts that are not balancers: anyone could forge a client */
static void p_v4_stranger(struct pb *b) { tunnel4_from(b, "203.0.113.66", HOST4, false); }
static void p_v4_neighbour(struct pb *b) { tunnel4_from(b, "198.51.100.253", HOST4, false); }
static void p_v6_stranger(struct pb *b) { tunnel6_from(b, "2001:db8:c::66", HOST6); }
static void p_v6_in_prefix(struct pb *b) { tunnel6_from(b, "2001:db8:b::f3", HOST6); }
static void p_plain(struct pb *b)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
	pb_ipv4(b, CLIENT4, HOST4, IPPROTO_TCP);
	pb_tcp(b, 40002, 22, 0x02);
	pb_finish(b);
}
static void p_arp(struct pb *b)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_ARP);
	pb_payload(b, 46);
}
static void p_v4_bad_inner(struct pb *b)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
	pb_ipv4(b, LB4, HOST4, IPPROTO_IPIP);
	pb_bytes(b, "\x60\x00\x00\x00", 4);	/* says IPv6, and is 4 bytes long */
	pb_finish(b);
}
static void p_v4_fragment(struct pb *b)
{
	tunnel4(b, HOST4, false);
	b->d[20] = 0x20;
	pb_ipv4_csum(b, 0);
}

/* ---- GUE: outer IP + UDP (to port, checksum 0 as the balancer sends) + an IP packet ---- */

#define GUE_PORT	6080		/* XLB_GUE_PORT_DEFAULT: in decap_gue_ports (setup) */

/* GUE around the IP packet of in (a finished frame), from src to dst. */
static void gue_to(struct pb *out, const struct pb *in, const char *src, const char *dst,
		   __u16 port)
{
	int l2 = in->ip_off[0], fam = in->ip_family[0];

	pb_init(out);
	pb_eth(out, PB_MAC_NODE, PB_MAC_CLIENT, fam == 4 ? ETH_P_IP : ETH_P_IPV6);
	if (fam == 4)
		pb_ipv4(out, src, dst, IPPROTO_UDP);
	else
		pb_ipv6(out, src, dst, IPPROTO_UDP);
	pb_udp(out, 49152 + 0x1234, port);
	pb_bytes(out, in->d + l2, in->len - l2);
	pb_finish(out);
	out->d[out->l4_off + 6] = out->d[out->l4_off + 7] = 0;
}

/* UDP to port of this host (from the balancer) with these payload bytes. */
static void udp_with(struct pb *b, int fam, __u16 port, const void *p, __u32 n)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, fam == 4 ? ETH_P_IP : ETH_P_IPV6);
	if (fam == 4)
		pb_ipv4(b, LB4, HOST4, IPPROTO_UDP);
	else
		pb_ipv6(b, LB6, HOST6, IPPROTO_UDP);
	pb_udp(b, 49152, port);
	pb_bytes(b, p, n);
	pb_finish(b);
}

static void client(struct pb *b, int fam)
{
	pb_init(b);
	pb_eth(b, PB_MAC_CLIENT, PB_MAC_NODE, fam == 4 ? ETH_P_IP : ETH_P_IPV6);
	fam == 4 ? inner4(b) : inner6(b);
	pb_payload(b, 10);
	pb_finish(b);
}

static void gue_of(struct pb *b, int fam, const char *src, const char *dst, __u16 port)
{
	struct pb in;

	client(&in, fam);
	gue_to(b, &in, src, dst, port);
}

static void g_v4(struct pb *b) { gue_of(b, 4, LB4, HOST4, GUE_PORT); }
static void g_v6(struct pb *b) { gue_of(b, 6, LB6, HOST6, GUE_PORT); }
static void g_v6_in_prefix(struct pb *b) { gue_of(b, 6, "2001:db8:b::f3", HOST6, GUE_PORT); }
/* a UDP checksum that is not 0 (and wrong): not verified, taken */
static void g_v4_csum(struct pb *b) { g_v4(b); b->d[b->l4_off + 6] = 0xbe; b->d[b->l4_off + 7] = 0xef; }
static void g_v4_stranger(struct pb *b) { gue_of(b, 4, "203.0.113.66", HOST4, GUE_PORT); }
static void g_v6_stranger(struct pb *b) { gue_of(b, 6, "2001:db8:c::66", HOST6, GUE_PORT); }
static void g_v4_port(struct pb *b) { gue_of(b, 4, LB4, HOST4, GUE_PORT + 1); }
static void g_v6_port(struct pb *b) { gue_of(b, 6, LB6, HOST6, 53); }
static void g_v4_other(struct pb *b) { gue_of(b, 4, LB4, "198.51.100.9", GUE_PORT); }
/* the host's own UDP on the GUE port: a payload that is not IP of the outer's family */
static void g_v4_dns(struct pb *b) { udp_with(b, 4, GUE_PORT, "\x12\x34\x01\x00\x00\x01", 6); }
static void g_v4_empty(struct pb *b) { udp_with(b, 4, GUE_PORT, "", 0); }
static void g_v4_says6(struct pb *b) { udp_with(b, 4, GUE_PORT, "\x60\x00\x00\x00", 4); }
static void g_v6_says4(struct pb *b) { udp_with(b, 6, GUE_PORT, "\x45\x00\x00\x14", 4); }
/* says IP and is too short for its header: the balancer's, broken */
static void g_v4_short(struct pb *b) { udp_with(b, 4, GUE_PORT, "\x45\x00\x00\x14", 4); }
static void g_v6_short(struct pb *b) { udp_with(b, 6, GUE_PORT, "\x60\x00\x00\x00\x00", 5); }
/* UDP cut inside its header: not read past the end */
static void g_v4_cut(struct pb *b) { g_v4_empty(b); b->len -= 4; }

enum { STRIP_NONE, STRIP_IPIP, STRIP_GUE };

struct dcase {
	const char *name;
	void (*build)(struct pb *b);
	int verdict;
	__u32 reason;
	int strip;
};

static const struct dcase cases[] = {
	{ "ipv4-in-ipv4 to this host is stripped", p_v4, XDP_PASS, XLB_DECAP_V4, STRIP_IPIP },
	{ "ipv4-in-ipv4 behind a vlan tag is stripped", p_v4_vlan, XDP_PASS, XLB_DECAP_V4,
	  STRIP_IPIP },
	{ "ipv6-in-ipv6 to this host is stripped", p_v6, XDP_PASS, XLB_DECAP_V6, STRIP_IPIP },
	{ "ipv4-in-ipv4 from a stranger is dropped and counted", p_v4_stranger, XDP_DROP,
	  XLB_DECAP_UNTRUSTED },
	{ "ipv4-in-ipv4 from a neighbour outside the allowed /32 is dropped", p_v4_neighbour,
	  XDP_DROP, XLB_DECAP_UNTRUSTED },
	{ "ipv6-in-ipv6 from a stranger is dropped and counted", p_v6_stranger, XDP_DROP,
	  XLB_DECAP_UNTRUSTED },
	{ "ipv6-in-ipv6 from inside the allowed /124 is stripped", p_v6_in_prefix, XDP_PASS,
	  XLB_DECAP_V6, STRIP_IPIP },
	{ "ipv4 tunnel to another host passes untouched", p_v4_other, XDP_PASS, XLB_DECAP_PASS },
	{ "ipv6 tunnel to another host passes untouched", p_v6_other, XDP_PASS, XLB_DECAP_PASS },
	{ "plain tcp passes untouched", p_plain, XDP_PASS, XLB_DECAP_PASS },
	{ "arp passes untouched", p_arp, XDP_PASS, XLB_DECAP_PASS },
	{ "a tunnel with a broken inner header is dropped", p_v4_bad_inner, XDP_DROP,
	  XLB_DECAP_MALFORMED },
	{ "a fragmented tunnel packet passes to the kernel", p_v4_fragment, XDP_PASS,
	  XLB_DECAP_PASS },
	{ "gue over ipv4 to this host is stripped", g_v4, XDP_PASS, XLB_DECAP_GUE_V4, STRIP_GUE },
	{ "gue over ipv6 to this host is stripped", g_v6, XDP_PASS, XLB_DECAP_GUE_V6, STRIP_GUE },
	{ "gue over ipv6 from inside the allowed /124 is stripped", g_v6_in_prefix, XDP_PASS,
	  XLB_DECAP_GUE_V6, STRIP_GUE },
	{ "gue with a non-zero udp checksum is stripped unverified", g_v4_csum, XDP_PASS,
	  XLB_DECAP_GUE_V4, STRIP_GUE },
	{ "gue over ipv4 from a stranger is dropped and counted", g_v4_stranger, XDP_DROP,
	  XLB_DECAP_UNTRUSTED },
	{ "gue over ipv6 from a stranger is dropped and counted", g_v6_stranger, XDP_DROP,
	  XLB_DECAP_UNTRUSTED },
	{ "gue to a port not configured passes untouched", g_v4_port, XDP_PASS, XLB_DECAP_PASS },
	{ "gue over ipv6 to a port not configured passes untouched", g_v6_port, XDP_PASS,
	  XLB_DECAP_PASS },
	{ "gue to another host passes untouched", g_v4_other, XDP_PASS, XLB_DECAP_PASS },
	{ "udp to the gue port that is not ip passes untouched", g_v4_dns, XDP_PASS,
	  XLB_DECAP_PASS },
	{ "udp to the gue port with no payload passes untouched", g_v4_empty, XDP_PASS,
	  XLB_DECAP_PASS },
	{ "gue over ipv4 carrying ipv6 passes untouched", g_v4_says6, XDP_PASS, XLB_DECAP_PASS },
	{ "gue over ipv6 carrying ipv4 passes untouched", g_v6_says4, XDP_PASS, XLB_DECAP_PASS },
	{ "gue over ipv4 with a short inner header is dropped", g_v4_short, XDP_DROP,
	  XLB_DECAP_MALFORMED },
	{ "gue over ipv6 with a short inner header is dropped", g_v6_short, XDP_DROP,
	  XLB_DECAP_MALFORMED },
	{ "udp cut inside its header passes untouched", g_v4_cut, XDP_PASS, XLB_DECAP_PASS },
};

static __u64 counter(__u32 reason)
{
	int n = libbpf_num_possible_cpus();
	__u64 vals[n], sum = 0;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.decap_stats), &reason, vals), 0);
	for (int i = 0; i < n; i++)
		sum += vals[i];
	return sum;
}

static void run_case(void **state)
{
	const struct dcase *c = *state;
	LIBBPF_OPTS(bpf_test_run_opts, o);
	__u64 before[XLB_DECAP_MAX];
	__u8 out[PB_MAX + 64];
	struct pb in, want;

	if (skip_why) {
		fprintf(stderr, "# skipped: %s\n", skip_why);
		skip();
	}
	c->build(&in);
	for (__u32 r = 0; r < XLB_DECAP_MAX; r++)
		before[r] = counter(r);
	o.data_in = in.d;
	o.data_size_in = in.len;
	o.data_out = out;
	o.data_size_out = sizeof(out);
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xlb_decap), &o), 0);
	if ((int)o.retval != c->verdict)
		fail_msg("verdict %u, want %d", o.retval, c->verdict);
	if (c->strip)
		stripped(&want, &in, c->strip == STRIP_GUE);
	else
		want = in;
	if (o.data_size_out != want.len || memcmp(out, want.d, want.len)) {
		pb_diff(out, o.data_size_out, want.d, want.len);
		fail_msg("output bytes differ");
	}
	for (__u32 r = 0; r < XLB_DECAP_MAX; r++) {
		__u64 d = counter(r) - before[r];

		if (d != (r == c->reason))
			fail_msg("counter %s: +%llu, want +%d", xlb_decap_names[r],
				 (unsigned long long)d, r == c->reason);
	}
}

/* ---- second chance: a tunnel to another backend inside the tunnel to this host ---- */

#define PEER4	"198.51.100.2"		/* testnet: a neighbour on xlb0 */
#define PEER6	"2001:db8:b::2"		/* on xlb2 */
#define NOT_PEER4 "198.51.100.3"	/* neighbours too, not on the peer list */
#define NOT_PEER6 "2001:db8:b::4"

/* The second chance's outer tunnel, set by the GUE cases: IP-in-IP (false) or GUE. */
static bool chance_gue;

/* The balancer's second chance for inner: to this host, then to peer. */
static void chance(struct pb *out, const struct pb *inner, int family, const char *peer)
{
	struct pb mid;

	pb_expect_encap(&mid, inner, PB_MAC_NODE, PB_MAC_CLIENT, family == 4 ? LB4 : LB6, peer);
	if (chance_gue)
		gue_to(out, &mid, family == 4 ? LB4 : LB6, family == 4 ? HOST4 : HOST6, GUE_PORT);
	else
		pb_expect_encap(out, &mid, PB_MAC_NODE, PB_MAC_CLIENT, family == 4 ? LB4 : LB6,
				family == 4 ? HOST4 : HOST6);
}

/* The TCP packet (ACK) of a connection src:sport -> dst:dport. */
static void tcp_of(struct pb *b, int family, const char *src, __u16 sport, const char *dst,
		   __u16 dport)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, family == 4 ? ETH_P_IP : ETH_P_IPV6);
	if (family == 4)
		pb_ipv4(b, src, dst, IPPROTO_TCP);
	else
		pb_ipv6(b, src, dst, IPPROTO_TCP);
	pb_tcp(b, sport, dport, 0x10);
	pb_payload(b, 10);
	pb_finish(b);
}

/* Run in on ifname: the verdict, the output, and one counter moved (reason). */
static void run_chance(const struct pb *in, const char *ifname, int verdict,
		       const struct pb *want, __u32 reason)
{
	struct xdp_md ctx = { .data_end = in->len, .ingress_ifindex = testnet_ifindex(ifname) };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->d, .data_size_in = in->len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	__u64 before[XLB_DECAP_MAX];
	__u8 out[PB_MAX + 64];

	o.data_out = out;
	o.data_size_out = sizeof(out);
	for (__u32 r = 0; r < XLB_DECAP_MAX; r++)
		before[r] = counter(r);
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xlb_decap), &o), 0);
	if ((int)o.retval != verdict)
		fail_msg("verdict %u, want %d", o.retval, verdict);
	if (want && (o.data_size_out != want->len || memcmp(out, want->d, want->len))) {
		pb_diff(out, o.data_size_out, want->d, want->len);
		fail_msg("output bytes differ");
	}
	for (__u32 r = 0; r < XLB_DECAP_MAX; r++)
		if (counter(r) - before[r] != (r == reason))
			fail_msg("counter %s: +%llu, want +%d", xlb_decap_names[r],
				 (unsigned long long)(counter(r) - before[r]), r == reason);
}

/* A listener on the loopback, and (connect) a connection to it: fds, ports. */
static int loopback_conn(int family, bool connect_too, int fds[3], __u16 *lport, __u16 *cport)
{
	struct sockaddr_storage a = { 0 };
	socklen_t len = family == 4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int af = family == 4 ? AF_INET : AF_INET6;

	fds[0] = socket(af, SOCK_STREAM, 0);
	fds[1] = fds[2] = -1;
	a.ss_family = af;
	if (family == 4)
		((struct sockaddr_in *)&a)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&a)->sin6_addr = in6addr_loopback;
	if (fds[0] < 0 || bind(fds[0], (void *)&a, len) || listen(fds[0], 4) ||
	    getsockname(fds[0], (void *)&a, &len))
		return -1;
	*lport = ntohs(family == 4 ? ((struct sockaddr_in *)&a)->sin_port :
		       ((struct sockaddr_in6 *)&a)->sin6_port);
	if (!connect_too)
		return 0;
	fds[1] = socket(af, SOCK_STREAM, 0);
	if (fds[1] < 0 || connect(fds[1], (void *)&a, len))
		return -1;
	fds[2] = accept(fds[0], NULL, NULL);
	if (fds[2] < 0 || getsockname(fds[1], (void *)&a, &len))
		return -1;
	*cport = ntohs(family == 4 ? ((struct sockaddr_in *)&a)->sin_port :
		       ((struct sockaddr_in6 *)&a)->sin6_port);
	return 0;
}

static void close_all(int fds[3])
{
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* This host has the connection: both tunnels stripped, delivered here. */
static void chance_local(int family)
{
	const char *lo = family == 4 ? "127.0.0.1" : "::1";
	struct pb inner, in;
	__u16 lport, cport;
	int fds[3];

	if (skip_why)
		skip();
	assert_int_equal(loopback_conn(family, true, fds, &lport, &cport), 0);
	tcp_of(&inner, family, lo, cport, lo, lport);
	chance(&in, &inner, family, family == 4 ? PEER4 : PEER6);
	run_chance(&in, family == 4 ? "xlb0" : "xlb2", XDP_PASS, &inner, XLB_DECAP_CHANCE_LOCAL);
	close_all(fds);
}

/* inner (for peer) sent on to peer with its neighbour's MAC, out of the interface it came in on. */
static void expect_forward(int family, const struct pb *inner, const char *peer, int n)
{
	const char *ifname = family == 4 ? "xlb0" : "xlb2";
	__u8 peer_mac[6], node_mac[6] = { 0x02, 0, 0, 0, family == 4 ? 0 : 2, 0xfe };
	struct pb in, want;

	chance(&in, inner, family, peer);
	testnet_backend_mac(family, n, peer_mac);
	pb_expect_encap(&want, inner, peer_mac, node_mac, family == 4 ? LB4 : LB6, peer);
	run_chance(&in, ifname, XDP_TX, &want, XLB_DECAP_CHANCE_FORWARD);
}

/*
 * Only a listener (the connection is the other backend's): the outer tunnel
 * stripped, the inner one sent to the peer with its neighbour's MAC, out of
 * the interface it came in on.
 */
static void chance_forward(int family)
{
	const char *lo = family == 4 ? "127.0.0.1" : "::1";
	struct pb inner;
	__u16 lport, cport = 40123;
	int fds[3];

	if (skip_why)
		skip();
	assert_int_equal(loopback_conn(family, false, fds, &lport, &cport), 0);
	tcp_of(&inner, family, lo, cport, lo, lport);
	expect_forward(family, &inner, family == 4 ? PEER4 : PEER6, 2);
	close_all(fds);
}

/*
 * The inner tunnel names a host that is routed (a neighbour, even) but not a
 * peer: dropped and counted, never relayed there.  A forged tunnel from an
 * allowed (spoofed) source would otherwise send anything anywhere.
 */
static void chance_not_peer(int family)
{
	struct pb inner, in;

	if (skip_why)
		skip();
	tcp_of(&inner, family, family == 4 ? CLIENT4 : CLIENT6, 40001, family == 4 ? VIP4 : VIP6, 80);
	chance(&in, &inner, family, family == 4 ? NOT_PEER4 : NOT_PEER6);
	run_chance(&in, family == 4 ? "xlb0" : "xlb2", XDP_DROP, NULL, XLB_DECAP_CHANCE_NOT_PEER);
}

/*
 * This host's connection of the tuple is over (its socket in TIME_WAIT, the
 * listener still there): not a connection held here, the packet belongs to
 * a newer one: sent on to the peer, not delivered to the dead socket.
 */
static void chance_time_wait(int family)
{
	const char *lo = family == 4 ? "127.0.0.1" : "::1";
	struct pb inner;
	__u16 lport, cport;
	char c;
	int fds[3];

	if (skip_why)
		skip();
	assert_int_equal(loopback_conn(family, true, fds, &lport, &cport), 0);
	/* the accepted end (this host's) closes first: it ends in TIME_WAIT once the
	 * client's FIN is in, which its read of 0 bytes says (the socket stays open) */
	assert_int_equal(shutdown(fds[2], SHUT_WR), 0);
	assert_int_equal(recv(fds[1], &c, 1, 0), 0);
	close(fds[1]);
	fds[1] = -1;
	assert_int_equal(recv(fds[2], &c, 1, 0), 0);
	tcp_of(&inner, family, lo, cport, lo, lport);
	expect_forward(family, &inner, family == 4 ? PEER4 : PEER6, 2);
	close_all(fds);
}

static void test_chance_local4(void **state) { (void)state; chance_local(4); }
static void test_chance_local6(void **state) { (void)state; chance_local(6); }
static void test_chance_forward4(void **state) { (void)state; chance_forward(4); }
static void test_chance_forward6(void **state) { (void)state; chance_forward(6); }
static void test_chance_not_peer4(void **state) { (void)state; chance_not_peer(4); }
static void test_chance_not_peer6(void **state) { (void)state; chance_not_peer(6); }
static void test_chance_time_wait4(void **state) { (void)state; chance_time_wait(4); }
static void test_chance_time_wait6(void **state) { (void)state; chance_time_wait(6); }

/* No route to the second chance's backend: dropped and counted (not delivered here). */
static void test_chance_no_route(void **state)
{
	struct pb inner, in;

	(void)state;
	if (skip_why)
		skip();
	tcp_of(&inner, 4, CLIENT4, 40001, VIP4, 80);
	chance(&in, &inner, 4, "203.0.113.99");
	run_chance(&in, "xlb0", XDP_DROP, NULL, XLB_DECAP_CHANCE_NO_ROUTE);
}

/* The inner tunnel from a source that is not a balancer: dropped as untrusted. */
static void test_chance_untrusted(void **state)
{
	struct pb inner, mid, in;

	(void)state;
	if (skip_why)
		skip();
	tcp_of(&inner, 4, CLIENT4, 40001, VIP4, 80);
	pb_expect_encap(&mid, &inner, PB_MAC_NODE, PB_MAC_CLIENT, "203.0.113.66", PEER4);
	pb_expect_encap(&in, &mid, PB_MAC_NODE, PB_MAC_CLIENT, LB4, HOST4);
	run_chance(&in, "xlb0", XDP_DROP, NULL, XLB_DECAP_UNTRUSTED);
}

/* The same second-chance cases with GUE as the outer tunnel (the IP-in-IP header inside). */
static void in_gue(void (*f)(int), int family)
{
	chance_gue = true;
	f(family);
	chance_gue = false;
}

static void test_gue_chance_local4(void **state) { (void)state; in_gue(chance_local, 4); }
static void test_gue_chance_local6(void **state) { (void)state; in_gue(chance_local, 6); }
static void test_gue_chance_forward4(void **state) { (void)state; in_gue(chance_forward, 4); }
static void test_gue_chance_forward6(void **state) { (void)state; in_gue(chance_forward, 6); }
static void test_gue_chance_not_peer4(void **state) { (void)state; in_gue(chance_not_peer, 4); }

/* An inner tunnel from a stranger inside GUE from the balancer: dropped as untrusted. */
static void test_gue_chance_untrusted(void **state)
{
	struct pb inner, mid, in;

	(void)state;
	if (skip_why)
		skip();
	tcp_of(&inner, 6, CLIENT6, 40001, VIP6, 80);
	pb_expect_encap(&mid, &inner, PB_MAC_NODE, PB_MAC_CLIENT, "2001:db8:c::66", PEER6);
	gue_to(&in, &mid, LB6, HOST6, GUE_PORT);
	run_chance(&in, "xlb2", XDP_DROP, NULL, XLB_DECAP_UNTRUSTED);
}

/* No GUE port (xlb decap attach --gue-port off): GUE is the host's UDP, untouched; so is IP-in-IP still taken. */
static void test_gue_off(void **state)
{
	int fd = bpf_map__fd(skel->maps.decap_gue_ports);
	__be16 port = htons(GUE_PORT);
	__u32 one = 1;
	struct pb in, ipip;

	(void)state;
	if (skip_why)
		skip();
	assert_int_equal(bpf_map_delete_elem(fd, &port), 0);
	g_v4(&in);
	run_chance(&in, "xlb0", XDP_PASS, &in, XLB_DECAP_PASS);
	g_v6(&in);
	run_chance(&in, "xlb2", XDP_PASS, &in, XLB_DECAP_PASS);
	p_v4(&ipip);
	stripped(&in, &ipip, false);
	run_chance(&ipip, "xlb0", XDP_PASS, &in, XLB_DECAP_V4);
	assert_int_equal(bpf_map_update_elem(fd, &port, &one, BPF_ANY), 0);
	g_v4(&in);
	stripped(&ipip, &in, true);
	run_chance(&in, "xlb0", XDP_PASS, &ipip, XLB_DECAP_GUE_V4);
}

static int add_addr(const char *s)
{
	struct xlb_decap_key k = { 0 };
	__u32 one = 1;

	xlb_addr_parse(s, &k.addr, &k.family);
	return bpf_map_update_elem(bpf_map__fd(skel->maps.decap_addrs), &k, &one, BPF_ANY);
}

/* A prefix into an LPM pair, as `xlb decap attach` adds --from and --peer. */
static int prefix_in(struct bpf_map *m4, struct bpf_map *m6, const char *s)
{
	struct xlb_decap_from4 k4 = { 0 };
	struct xlb_decap_from6 k6 = { 0 };
	union xlb_addr a;
	__u32 one = 1, len;
	__u8 fam;

	if (xlb_prefix_parse(s, &a, &fam, &len))
		return -EINVAL;
	if (fam == XLB_FAMILY_V6) {
		k6.prefixlen = len;
		memcpy(k6.addr, a.v6, 16);
		return bpf_map_update_elem(bpf_map__fd(m6), &k6, &one, BPF_ANY);
	}
	k4.prefixlen = len;
	k4.addr = a.v4;
	return bpf_map_update_elem(bpf_map__fd(m4), &k4, &one, BPF_ANY);
}

static int allow(const char *s) { return prefix_in(skel->maps.decap_from4, skel->maps.decap_from6, s); }
static int peer(const char *s) { return prefix_in(skel->maps.decap_peer4, skel->maps.decap_peer6, s); }

/* A GUE port into decap_gue_ports, as `xlb decap attach` adds them (6080 by default). */
static int gue_port(__u16 p)
{
	__be16 k = htons(p);
	__u32 one = 1;

	return bpf_map_update_elem(bpf_map__fd(skel->maps.decap_gue_ports), &k, &one, BPF_ANY);
}

static int setup(void **state)
{
	(void)state;
	if (geteuid()) {
		skip_why = "needs root (BPF)";
		return 0;
	}
	/* a network namespace of its own: neighbours for the second chance, no other route */
	if (testnet_setup(&skip_why))
		return 0;
	skel = decap_bpf__open_and_load();
	/* peers: the other backend, a prefix of them (IPv6), a host with no route */
	if (!skel || add_addr(HOST4) || add_addr(HOST6) || allow(LB4) ||
	    allow("2001:db8:b::f0/124") || peer(PEER4 "/32") || peer("2001:db8:b::2/127") ||
	    peer("203.0.113.99") || gue_port(GUE_PORT))
		skip_why = "cannot load the decap program";
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	decap_bpf__destroy(skel);
	return 0;
}

int main(void)
{
	static const struct CMUnitTest chance_tests[] = {
		{ "second chance, ipv4: the connection is here: delivered", test_chance_local4 },
		{ "second chance, ipv6: the connection is here: delivered", test_chance_local6 },
		{ "second chance, ipv4: only a listener here: sent on to the other backend",
		  test_chance_forward4 },
		{ "second chance, ipv6: only a listener here: sent on to the other backend",
		  test_chance_forward6 },
		{ "second chance, ipv4: to a host that is not a peer: dropped as not_peer",
		  test_chance_not_peer4 },
		{ "second chance, ipv6: to a host that is not a peer: dropped as not_peer",
		  test_chance_not_peer6 },
		{ "second chance, ipv4: this host's socket is in TIME_WAIT: sent on, not delivered",
		  test_chance_time_wait4 },
		{ "second chance, ipv6: this host's socket is in TIME_WAIT: sent on, not delivered",
		  test_chance_time_wait6 },
		{ "second chance without a route to the other backend: dropped, counted",
		  test_chance_no_route },
		{ "second chance with an inner tunnel from a stranger: dropped as untrusted",
		  test_chance_untrusted },
		{ "gue second chance, ipv4: the connection is here: delivered",
		  test_gue_chance_local4 },
		{ "gue second chance, ipv6: the connection is here: delivered",
		  test_gue_chance_local6 },
		{ "gue second chance, ipv4: only a listener here: sent on to the other backend",
		  test_gue_chance_forward4 },
		{ "gue second chance, ipv6: only a listener here: sent on to the other backend",
		  test_gue_chance_forward6 },
		{ "gue second chance, ipv4: to a host that is not a peer: dropped as not_peer",
		  test_gue_chance_not_peer4 },
		{ "gue second chance with an inner tunnel from a stranger: dropped as untrusted",
		  test_gue_chance_untrusted },
		{ "no gue port (--gue-port off): gue passes untouched, ip-in-ip still stripped",
		  test_gue_off },
	};
	enum { N = sizeof(cases) / sizeof(cases[0]), C = sizeof(chance_tests) / sizeof(chance_tests[0]) };
	struct CMUnitTest tests[N + C];

	for (int i = 0; i < N; i++)
		tests[i] = (struct CMUnitTest){ cases[i].name, run_case, NULL, NULL, (void *)&cases[i] };
	for (int i = 0; i < C; i++)
		tests[N + i] = chance_tests[i];
	return _cmocka_run_group_tests("decap", tests, N + C, setup, teardown);
}
