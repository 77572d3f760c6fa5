/*
 * The health checks' tc program (bpf/hc.bpf.c) through BPF_PROG_TEST_RUN: a
 * check's packet with a known mark comes out wrapped for its backend, from
 * the tunnel source, with the XDP program's outer header (the oracle is
 * pb_expect_encap, as for the balancer; GUE: pb_expect_gue) and a
 * redirect; a check of an L2 service is redirected unwrapped (to the
 * backend's neighbour); anything else is dropped and counted.
 */
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
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "hc.skel.h"
#include "netutil.h"
#include "pktbuild.h"
#include "testnet.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define VIP4		"192.0.2.10"
#define VIP6		"2001:db8:a::10"
#define BACKEND4	"198.51.100.1"		/* testnet: a neighbour on xlb0 */
#define BACKEND6	"2001:db8:b::1"		/* on xlb2 */
#define NOROUTE4	"203.0.113.99"		/* testnet: no route */

enum { SLOT_V4 = 7, SLOT_V6 = 65535, SLOT_NOROUTE = 300, SLOT_FREE = 8, SLOT_GUE4 = 9,
       SLOT_GUE6 = 10, SLOT_L2_4 = 11, SLOT_L2_6 = 12, SLOT_L2_NOROUTE = 13 };
#define GUE_PORT	7777		/* SLOT_GUE4's; SLOT_GUE6's is 0: the default */

static struct hc_bpf *skel;
static const char *skip_why;

/* A check's first packet: SYN from the tunnel source to the VIP. */
static void syn(struct pb *b, int family)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, family == 4 ? ETH_P_IP : ETH_P_IPV6);
	if (family == 4)
		pb_ipv4(b, TN_NODE4, VIP4, IPPROTO_TCP);
	else
		pb_ipv6(b, TN_NODE6, VIP6, IPPROTO_TCP);
	pb_tcp(b, 41234, 80, 0x02);
	pb_payload(b, 12);
	pb_finish(b);
}

static void syn4(struct pb *b) { syn(b, 4); }
static void syn6(struct pb *b) { syn(b, 6); }

struct hcase {
	const char *name;
	void (*build)(struct pb *b);
	__u32 mark;
	int verdict;
	__u32 reason;
	const char *outer_dst;		/* wrapped for it (NULL: bytes unchanged) */
	__u16 gue_port;			/* wrapped in GUE to this port (0: IP-in-IP) */
};

static const struct hcase cases[] = {
	{ "ipv4 check with a known mark: wrapped in ipv4 to its backend, redirected", syn4,
	  XLB_HC_MARK | SLOT_V4, TC_ACT_REDIRECT, XLB_HC_SENT, BACKEND4 },
	{ "ipv6 check with a known mark (the last slot): wrapped in ipv6, redirected", syn6,
	  XLB_HC_MARK | SLOT_V6, TC_ACT_REDIRECT, XLB_HC_SENT, BACKEND6 },
	{ "a check's mark whose slot is free: dropped, counted as unknown_mark", syn4,
	  XLB_HC_MARK | SLOT_FREE, TC_ACT_SHOT, XLB_HC_UNKNOWN_MARK },
	{ "an unmarked packet: dropped, counted as unmarked", syn4, 0, TC_ACT_SHOT,
	  XLB_HC_UNMARKED },
	{ "a mark of someone else's high half: dropped as unmarked", syn4, 0x12340000 | SLOT_V4,
	  TC_ACT_SHOT, XLB_HC_UNMARKED },
	{ "ipv6 packet with an ipv4 backend's mark: dropped as malformed", syn6,
	  XLB_HC_MARK | SLOT_V4, TC_ACT_SHOT, XLB_HC_MALFORMED },
	/* wrapped first, then no route: the dropped packet's bytes are the wrapped ones */
	{ "a backend with no route: dropped, counted as no_route", syn4,
	  XLB_HC_MARK | SLOT_NOROUTE, TC_ACT_SHOT, XLB_HC_NO_ROUTE, NOROUTE4 },
	{ "ipv4 check of a gue service: ipv4 + udp to its port, redirected", syn4,
	  XLB_HC_MARK | SLOT_GUE4, TC_ACT_REDIRECT, XLB_HC_SENT, BACKEND4, GUE_PORT },
	{ "ipv6 check of a gue service (port 0): ipv6 + udp to 6080, redirected", syn6,
	  XLB_HC_MARK | SLOT_GUE6, TC_ACT_REDIRECT, XLB_HC_SENT, BACKEND6, XLB_GUE_PORT_DEFAULT },
	{ "ipv4 check of an l2 service: not wrapped, redirected to the neighbour", syn4,
	  XLB_HC_MARK | SLOT_L2_4, TC_ACT_REDIRECT, XLB_HC_SENT },
	{ "ipv6 check of an l2 service: not wrapped, redirected to the neighbour", syn6,
	  XLB_HC_MARK | SLOT_L2_6, TC_ACT_REDIRECT, XLB_HC_SENT },
	{ "an l2 backend with no route: dropped, counted as no_route", syn4,
	  XLB_HC_MARK | SLOT_L2_NOROUTE, TC_ACT_SHOT, XLB_HC_NO_ROUTE },
};

/* GUE's source port for a check: from its ports as the flow label takes them (syn()). */
static __u16 gue_sport(void)
{
	return XLB_GUE_SPORT_MIN + (((41234u << 4) ^ 80u) & 0x3fff);
}

static __u64 counter(__u32 reason)
{
	int n = libbpf_num_possible_cpus();
	__u64 vals[n], sum = 0;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.hc_stats), &reason, vals), 0);
	for (int i = 0; i < n; i++)
		sum += vals[i];
	return sum;
}

static void run_case(void **state)
{
	const struct hcase *c = *state;
	struct __sk_buff ctx = { .mark = c->mark };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	__u64 before[XLB_HC_MAX];
	__u8 out[PB_MAX + 64];
	struct pb in, want;

	if (skip_why) {
		fprintf(stderr, "# skipped: %s\n", skip_why);
		skip();
	}
	c->build(&in);
	for (__u32 r = 0; r < XLB_HC_MAX; r++)
		before[r] = counter(r);
	o.data_in = in.d;
	o.data_size_in = in.len;
	o.data_out = out;
	o.data_size_out = sizeof(out);
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xlb_hc), &o), 0);
	if ((int)o.retval != c->verdict)
		fail_msg("verdict %u, want %d", o.retval, c->verdict);
	if (c->outer_dst && c->gue_port)
		pb_expect_gue(&want, &in, PB_MAC_NODE, PB_MAC_CLIENT,
			      in.ip_family[0] == 4 ? TN_NODE4 : TN_NODE6, c->outer_dst,
			      gue_sport(), c->gue_port);
	else if (c->outer_dst)	/* L2 as it was: the neighbour layer writes it after the redirect */
		pb_expect_encap(&want, &in, PB_MAC_NODE, PB_MAC_CLIENT,
				in.ip_family[0] == 4 ? TN_NODE4 : TN_NODE6, c->outer_dst);
	else
		want = in;
	if (o.data_size_out != want.len || memcmp(out, want.d, want.len)) {
		pb_diff(out, o.data_size_out, want.d, want.len);
		fail_msg("output bytes differ");
	}
	for (__u32 r = 0; r < XLB_HC_MAX; r++) {
		__u64 d = counter(r) - before[r];

		if (d != (r == c->reason))
			fail_msg("counter %u: +%llu, want +%d", r, (unsigned long long)d,
				 r == c->reason);
	}
}

static int target(__u32 slot, const char *addr, __u8 fwd, __u16 gue_port)
{
	struct xlb_hc_target t = { .fwd = fwd, .gue_port = htons(gue_port) };

	if (xlb_addr_parse(addr, &t.backend, &t.family))
		return -EINVAL;
	return bpf_map_update_elem(bpf_map__fd(skel->maps.hc_targets), &slot, &t, BPF_ANY);
}

static int setup(void **state)
{
	struct xlb_hc_conf conf = { 0 };
	__u32 zero = 0;
	__u8 fam;

	(void)state;
	if (geteuid()) {
		skip_why = "needs root (BPF)";
		return 0;
	}
	/* a network namespace of its own: the backends' neighbours, forwarding on */
	if (testnet_setup(&skip_why))
		return 0;
	skel = hc_bpf__open_and_load();
	xlb_addr_parse(TN_NODE4, &conf.src4, &fam);
	xlb_addr_parse(TN_NODE6, &conf.src6, &fam);
	conf.fib_ifindex = testnet_ifindex("xlb0");
	if (!skel || target(SLOT_V4, BACKEND4, XLB_FWD_IPIP, 0) ||
	    target(SLOT_V6, BACKEND6, XLB_FWD_IPIP, 0) ||
	    target(SLOT_NOROUTE, NOROUTE4, XLB_FWD_IPIP, 0) ||
	    target(SLOT_GUE4, BACKEND4, XLB_FWD_GUE, GUE_PORT) ||
	    target(SLOT_GUE6, BACKEND6, XLB_FWD_GUE, 0) ||
	    target(SLOT_L2_4, BACKEND4, XLB_FWD_L2, 0) || target(SLOT_L2_6, BACKEND6, XLB_FWD_L2, 0) ||
	    target(SLOT_L2_NOROUTE, NOROUTE4, XLB_FWD_L2, 0) ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.hc_conf), &zero, &conf, BPF_ANY))
		skip_why = "cannot load the health checks' tc program";
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hc_bpf__destroy(skel);
	return 0;
}

int main(void)
{
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	struct CMUnitTest tests[N];

	for (int i = 0; i < N; i++)
		tests[i] = (struct CMUnitTest){ cases[i].name, run_case, NULL, NULL, (void *)&cases[i] };
	return _cmocka_run_group_tests("hc", tests, N, setup, teardown);
}
