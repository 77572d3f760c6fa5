/*
 * The balancer's forwarding modes and hash fields through BPF_PROG_TEST_RUN:
 * GUE (IPv4, IPv6, second chance, too big), L2 direct return (IPv4, IPv6,
 * VLAN, unresolved neighbour, no second chance), and the table slot of each
 * hash field set against xlb_flow_hash_fields, byte for byte.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include "xlbtest.h"
#include "testnet.h"
#include "names.h"
#include "../../bpf/parse.h"
#include "../../bpf/hash.h"

#define SYN	0x02
#define ACK	0x10

static const char *skip_why;

#define SKIP_IF_NEEDED() do { if (skip_why) { fprintf(stderr, "# skipped: %s\n", skip_why); skip(); } } while (0)

/* ---- packets and expectations ----------------------------------------- */

static void tcp4(struct pb *b, const char *dst, __u16 sport, __u16 dport, __u8 flags,
		 __u32 payload, bool vlan)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, vlan ? 0x8100 : ETH_P_IP);
	if (vlan)
		pb_vlan(b, 100, ETH_P_IP);
	pb_ipv4(b, CLIENT4, dst, IPPROTO_TCP);
	pb_tcp(b, sport, dport, flags);
	pb_payload(b, payload);
	pb_finish(b);
	b->d[b->ip_off[0] + 6] = 0x40;	/* DF: a too-big answer may be sent */
	pb_ipv4_csum(b, 0);
}

static void tcp6(struct pb *b, __u16 sport, __u16 dport, __u8 flags, __u32 payload, bool vlan)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, vlan ? 0x8100 : ETH_P_IPV6);
	if (vlan)
		pb_vlan(b, 100, ETH_P_IPV6);
	pb_ipv6(b, CLIENT6, VIP6, IPPROTO_TCP);
	pb_tcp(b, sport, dport, flags);
	pb_payload(b, payload);
	pb_finish(b);
}

static void backend_mac(__u32 id, __u8 mac[6])
{
	const struct tbackend *b = xt_backend(id);

	testnet_backend_mac(b->family, b->mac, mac);
}

static const __u8 *node_mac(__u32 id)
{
	return xt_backend(id)->family == 4 ? PB_MAC_NODE : PB_MAC_NODE2;
}

/* GUE to backend id from the tunnel source, source port from the flow hash in svc. */
static void expect_gue(struct pb *want, const struct pb *in, __u32 id, int svc, __u16 port,
		       const struct pb *hashed)
{
	const struct tbackend *b = xt_backend(id);
	__u16 sport = XLB_GUE_SPORT_MIN + (xt_hash(hashed, svc) & 0x3fff);
	__u8 mac[6];

	backend_mac(id, mac);
	pb_expect_gue(want, in, mac, node_mac(id), b->family == 4 ? TN_NODE4 : TN_NODE6,
		      b->addr, sport, port);
}

/* L2 direct return: the frame as it came, but its MACs. */
static void expect_l2(struct pb *want, const struct pb *in, __u32 id)
{
	*want = *in;
	backend_mac(id, want->d);
	memcpy(want->d + 6, node_mac(id), 6);
}

/* ---- the fixture's knobs ----------------------------------------------- */

static void set_fwd(__u32 id, __u8 fwd, __u16 gue_port)
{
	struct xlb_backend be;

	assert_int_equal(xlb_dp_get_backend(&xt_dp, 0, id, &be), 0);
	be.fwd = fwd;
	be.gue_port = htons(gue_port);
	assert_int_equal(xlb_dp_set_backend(&xt_dp, 0, id, &be), 0);
}

static void set_second_chance(bool on)
{
	struct xlb_slot_conf conf;

	assert_int_equal(xlb_dp_get_slot_conf(&xt_dp, 0, &conf), 0);
	conf.flags = on ? conf.flags | XLB_SLOT_F_SECOND_CHANCE :
			  conf.flags & ~XLB_SLOT_F_SECOND_CHANCE;
	assert_int_equal(xlb_dp_set_slot_conf(&xt_dp, 0, &conf), 0);
}

static __u64 stat_of(__u32 reason)
{
	struct xlb_stat st;

	assert_int_equal(xlb_dp_stat(&xt_dp, reason, &st), 0);
	return st.packets;
}

/* Every test starts from the lab configuration (IP-in-IP, 5-tuple). */
static int reset(void **state)
{
	(void)state;
	if (!skip_why) {
		assert_int_equal(xt_write_config(0, 0), 0);
		xt_moved_dirty = false;
	}
	return 0;
}

/* Run in through the balancer: verdict, then the output byte for byte, and the reason counted. */
static void run_expect(const struct pb *in, int verdict, const struct pb *want, __u32 reason)
{
	__u8 out[PB_MAX + 256];
	__u64 before = stat_of(reason);
	__u32 len;
	int got;

	got = xt_run(in, "xlb0", out, &len);
	if (got != verdict)
		fail_msg("verdict %d, want %d", got, verdict);
	if (len != want->len || memcmp(out, want->d, len)) {
		pb_diff(out, len, want->d, want->len);
		fail_msg("output bytes differ");
	}
	if (stat_of(reason) - before != 1)
		fail_msg("counter %s (%s) +%llu, want +1", xlb_stat_names[reason],
			 xlb_stat_kind(reason), (unsigned long long)(stat_of(reason) - before));
}

/* ---- GUE ---------------------------------------------------------------- */

/* IPv4: outer IPv4 (UDP, DF, TTL 64) + UDP (hash port, gue_port, length, checksum 0). */
static void gue_ipv4(void **state)
{
	struct pb in, want;

	(void)state;
	SKIP_IF_NEEDED();
	set_fwd(1, XLB_FWD_GUE, 0);		/* 0: the default port */
	set_fwd(2, XLB_FWD_GUE, 7777);
	for (__u16 sport = 41000; sport < 41016; sport++) {
		__u32 id;

		tcp4(&in, VIP4, sport, 80, SYN, sport - 41000, false);
		id = xt_table_pick(&in, SVC_WEB4);
		expect_gue(&want, &in, id, SVC_WEB4, id == 1 ? XLB_GUE_PORT_DEFAULT : 7777, &in);
		run_expect(&in, XDP_TX, &want, XLB_STAT_TX);
	}
}

static void gue_ipv6(void **state)
{
	struct pb in, want;

	(void)state;
	SKIP_IF_NEEDED();
	set_fwd(4, XLB_FWD_GUE, 6081);
	set_fwd(5, XLB_FWD_GUE, 6081);
	for (__u16 sport = 41100; sport < 41116; sport++) {
		tcp6(&in, sport, 443, SYN, 7, false);
		expect_gue(&want, &in, xt_table_pick(&in, SVC_ANY6), SVC_ANY6, 6081, &in);
		run_expect(&in, XDP_REDIRECT, &want, XLB_STAT_REDIRECT);
	}
}

/* Second chance: outer IP + UDP to the previous backend, the IP-in-IP header to the current inside. */
static void gue_second_chance(void **state)
{
	struct pb in, mid, want;
	__u32 cur, prev;

	(void)state;
	SKIP_IF_NEEDED();
	set_fwd(1, XLB_FWD_GUE, 0);
	set_fwd(2, XLB_FWD_GUE, 0);
	set_second_chance(true);
	tcp4(&in, VIP4, 41200, 80, ACK, 0, false);
	cur = xt_table_pick(&in, SVC_WEB4);
	prev = cur == 1 ? 2 : 1;
	xt_mark_moved(0, &in, SVC_WEB4, prev, 0);
	xt_expect(&mid, &in, cur);
	expect_gue(&want, &mid, prev, SVC_WEB4, XLB_GUE_PORT_DEFAULT, &in);
	run_expect(&in, XDP_TX, &want, XLB_STAT_TX);
}

/*
 * A packet that IP-in-IP carries on a 1500-byte route but GUE's 8 more bytes
 * do not: answered with route MTU - 28 (IPv4) / - 48 (IPv6).
 */
static void gue_too_big(void **state)
{
	struct pb in, want;

	(void)state;
	SKIP_IF_NEEDED();
	tcp4(&in, VIP4, 41300, 80, ACK, 1500 - 40 - 20, false);	/* 1480 + 20 = 1500 */
	xt_expect(&want, &in, xt_table_pick(&in, SVC_WEB4));
	run_expect(&in, XDP_TX, &want, XLB_STAT_TX);		/* control: IP-in-IP fits */
	set_fwd(1, XLB_FWD_GUE, 0);
	set_fwd(2, XLB_FWD_GUE, 0);
	pb_expect_too_big(&want, &in, 1500 - 28, 68);
	run_expect(&in, XDP_TX, &want, XLB_REPLY_TOO_BIG);

	tcp6(&in, 41301, 443, ACK, 1500 - 40 - 20 - 40, false);	/* 1460 + 40 = 1500 */
	xt_expect(&want, &in, xt_table_pick(&in, SVC_ANY6));
	run_expect(&in, XDP_REDIRECT, &want, XLB_STAT_REDIRECT);
	set_fwd(4, XLB_FWD_GUE, 0);
	set_fwd(5, XLB_FWD_GUE, 0);
	pb_expect_too_big(&want, &in, 1500 - 48, 200);
	run_expect(&in, XDP_TX, &want, XLB_REPLY_TOO_BIG);
}

/* ---- L2 direct return ------------------------------------------------- */

static void l2_ipv4(void **state)
{
	struct pb in, want;

	(void)state;
	SKIP_IF_NEEDED();
	set_fwd(1, XLB_FWD_L2, 0);
	set_fwd(2, XLB_FWD_L2, 0);
	for (int vlan = 0; vlan < 2; vlan++)
		for (__u16 sport = 41400; sport < 41408; sport++) {
			tcp4(&in, VIP4, sport, 80, SYN, 3, vlan);
			expect_l2(&want, &in, xt_table_pick(&in, SVC_WEB4));
			run_expect(&in, XDP_TX, &want, XLB_STAT_TX);
		}
	/* the full 1500 bytes: nothing is added, nothing is too big */
	tcp4(&in, VIP4, 41409, 80, ACK, 1500 - 40, false);
	expect_l2(&want, &in, xt_table_pick(&in, SVC_WEB4));
	run_expect(&in, XDP_TX, &want, XLB_STAT_TX);
}

static void l2_ipv6(void **state)
{
	struct pb in, want;

	(void)state;
	SKIP_IF_NEEDED();
	set_fwd(4, XLB_FWD_L2, 0);
	set_fwd(5, XLB_FWD_L2, 0);
	for (int vlan = 0; vlan < 2; vlan++)
		for (__u16 sport = 41500; sport < 41508; sport++) {
			tcp6(&in, sport, 8443, SYN, 5, vlan);
			expect_l2(&want, &in, xt_table_pick(&in, SVC_ANY6));
			run_expect(&in, XDP_REDIRECT, &want, XLB_STAT_REDIRECT);
		}
}

/* No neighbour entry for the backend: dropped and counted (IP-in-IP would pass it on). */
static void l2_unresolved_neighbour(void **state)
{
	struct pb in, want;

	(void)state;
	SKIP_IF_NEEDED();
	tcp4(&in, VIP_NONEIGH, 41600, 80, SYN, 0, false);
	xt_expect(&want, &in, 6);
	memcpy(want.d, in.d, 12);	/* MACs untouched: the kernel routes it */
	run_expect(&in, XDP_PASS, &want, XLB_PASS_NO_NEIGH);	/* control */
	set_fwd(6, XLB_FWD_L2, 0);
	run_expect(&in, XDP_DROP, &in, XLB_DROP_NO_NEIGH_L2);
}

/*
 * An L2 backend the node reaches through a gateway: bpf_fib_lookup answers
 * with the gateway (its MAC, fib.ipv4_dst rewritten); the frame, still to
 * the VIP, must not go there (a router sends it back: a loop).  Dropped and
 * counted l2_gateway; the same backend tunnelled goes through the gateway
 * (the control), and so does it again once the route is direct.
 */
static void l2_backend_behind_gateway(void **state)
{
	__u8 out[PB_MAX + 256];
	struct pb in;
	__u32 len;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(system("ip route replace 203.0.113.99/32 via 198.51.100.1 dev xlb0"), 0);
	tcp4(&in, VIP_NOROUTE, 41700, 80, SYN, 0, false);
	assert_int_equal(xt_run(&in, "xlb0", out, &len), XDP_TX);	/* IP-in-IP: fine */
	set_fwd(7, XLB_FWD_L2, 0);
	for (int i = 0; i < 3; i++)	/* never cached: every packet asks again */
		run_expect(&in, XDP_DROP, &in, XLB_DROP_L2_GATEWAY);
	assert_int_equal(system("ip route del 203.0.113.99/32"), 0);
}

/* Nothing carries a second chance in L2: the previous backend alone. */
static void l2_no_second_chance(void **state)
{
	struct pb in, want;
	__u32 cur, prev;

	(void)state;
	SKIP_IF_NEEDED();
	set_fwd(1, XLB_FWD_L2, 0);
	set_fwd(2, XLB_FWD_L2, 0);
	set_second_chance(true);
	tcp4(&in, VIP4, 41700, 80, ACK, 0, false);
	cur = xt_table_pick(&in, SVC_WEB4);
	prev = cur == 1 ? 2 : 1;
	xt_mark_moved(0, &in, SVC_WEB4, prev, 0);
	expect_l2(&want, &in, prev);
	run_expect(&in, XDP_TX, &want, XLB_STAT_TX);
}

/* ---- hash fields ------------------------------------------------------ */

/* Flows from one client, ports from sport/dport on: which backends the balancer sends them to. */
static unsigned int backends_seen(int svc, __u16 dport0, __u16 dport_step)
{
	unsigned int seen = 0;
	struct pb in, want;

	for (__u16 i = 0; i < 32; i++) {
		__u32 id;

		if (svc == SVC_ANY6)
			tcp6(&in, 42000 + i * 7, dport0 + i * dport_step, SYN, 0, false);
		else
			tcp4(&in, VIP4, 42000 + i * 7, dport0 + i * dport_step, SYN, 0, false);
		id = xt_table_pick(&in, svc);
		xt_expect(&want, &in, id);
		run_expect(&in, svc == SVC_ANY6 ? XDP_REDIRECT : XDP_TX, &want,
			   svc == SVC_ANY6 ? XLB_STAT_REDIRECT : XLB_STAT_TX);
		seen |= 1u << id;
	}
	return seen;
}

static void hash_src(void **state)
{
	(void)state;
	SKIP_IF_NEEDED();
	/* control: over the 5-tuple one client's flows spread */
	assert_int_equal(backends_seen(SVC_ANY6, 1000, 13), (1u << 4) | (1u << 5));
	xt_set_hash_fields(SVC_ANY6, XLB_HASH_SRC);
	{
		unsigned int seen = backends_seen(SVC_ANY6, 1000, 13);

		assert_true(seen == 1u << 4 || seen == 1u << 5);
	}
}

static void hash_src_dport(void **state)
{
	unsigned int seen;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(backends_seen(SVC_WEB4, 80, 0), (1u << 1) | (1u << 2));	/* control */
	xt_set_hash_fields(SVC_WEB4, XLB_HASH_SRC_DPORT);
	seen = backends_seen(SVC_WEB4, 80, 0);
	assert_true(seen == 1u << 1 || seen == 1u << 2);
	/* the destination port counts: a port-0 service's ports spread one client */
	xt_set_hash_fields(SVC_ANY6, XLB_HASH_SRC_DPORT);
	assert_int_equal(backends_seen(SVC_ANY6, 1000, 13), (1u << 4) | (1u << 5));
	seen = backends_seen(SVC_ANY6, 1000, 0);
	assert_true(seen == 1u << 4 || seen == 1u << 5);
}

/*
 * The packet path and xlb_flow_hash_fields agree on every field set: GUE's
 * source port shows 14 bits of the hash the table slot was read with, for
 * each flow.  The wrong field set predicts other ports (the test can fail).
 */
static void hash_agrees_with_userspace(void **state)
{
	struct pb in, want;

	(void)state;
	SKIP_IF_NEEDED();
	set_fwd(4, XLB_FWD_GUE, 0);
	set_fwd(5, XLB_FWD_GUE, 0);
	for (__u8 fields = 0; fields <= XLB_HASH_FIELDS_MAX; fields++) {
		unsigned int wrong = 0;

		xt_set_hash_fields(SVC_ANY6, fields);
		for (__u16 i = 0; i < 16; i++) {
			struct xlb_flow_key key;

			tcp6(&in, 43000 + i * 11, 2000 + i * 3, SYN, 0, false);
			expect_gue(&want, &in, xt_table_pick(&in, SVC_ANY6), SVC_ANY6,
				   XLB_GUE_PORT_DEFAULT, &in);
			run_expect(&in, XDP_REDIRECT, &want, XLB_STAT_REDIRECT);
			xt_flow_key(&in, &key);
			wrong += (xlb_flow_hash_fields(&key, XLB_HASH_SEED, (fields + 1) % 3) & 0x3fff) !=
				 (xt_hash(&in, SVC_ANY6) & 0x3fff);
		}
		assert_true(wrong > 0);
	}
}

/*
 * A service whose hash fields changed from "src" to the 5-tuple
 * (xlb_replaced holds the previous placement with its fields): a flow
 * without state goes where the previous hash put it, read with the previous
 * fields.
 */
static void replaced_hash_fields(void **state)
{
	__u32 prev_ids[TABLE_M];
	struct xlb_replaced rep = { .table_size = TABLE_M, .hash_fields = XLB_HASH_SRC };
	struct pb in, want;
	int fd, moved = 0;

	(void)state;
	SKIP_IF_NEEDED();
	for (__u32 i = 0; i < TABLE_M; i++)
		prev_ids[i] = (i * 7 + 3) % 5 < 2 ? 1 : 2;	/* another placement than the table's */
	fd = xlb_dp_new_table(prev_ids, TABLE_M);
	assert_true(fd >= 0);
	assert_int_equal(xlb_dp_set_replaced(&xt_dp, 0, SVC_WEB4, &rep, fd), 0);
	close(fd);
	for (__u16 sport = 44000; sport < 44032; sport++) {
		struct xlb_flow_key key;
		__u32 cur, prev;

		tcp4(&in, VIP4, sport, 80, ACK, 0, false);
		xt_flow_key(&in, &key);
		cur = xt_table_pick(&in, SVC_WEB4);
		prev = prev_ids[xlb_table_index(xlb_flow_hash_fields(&key, XLB_HASH_SEED,
								      XLB_HASH_SRC), TABLE_M)];
		moved += prev != cur;
		xt_expect(&want, &in, prev);
		run_expect(&in, XDP_TX, &want, XLB_STAT_TX);
	}
	assert_true(moved > 0 && moved < 32);	/* both kinds of flow were seen */
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
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(gue_ipv4, reset),
		cmocka_unit_test_setup(gue_ipv6, reset),
		cmocka_unit_test_setup(gue_second_chance, reset),
		cmocka_unit_test_setup(gue_too_big, reset),
		cmocka_unit_test_setup(l2_ipv4, reset),
		cmocka_unit_test_setup(l2_ipv6, reset),
		cmocka_unit_test_setup(l2_unresolved_neighbour, reset),
		cmocka_unit_test_setup(l2_no_second_chance, reset),
		cmocka_unit_test_setup(l2_backend_behind_gateway, reset),
		cmocka_unit_test_setup(hash_src, reset),
		cmocka_unit_test_setup(hash_src_dport, reset),
		cmocka_unit_test_setup(hash_agrees_with_userspace, reset),
		cmocka_unit_test_setup(replaced_hash_fields, reset),
	};

	return cmocka_run_group_tests_name("fwd", tests, group_setup, group_teardown);
}
