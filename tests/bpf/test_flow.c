/*
 * `xlb flow` against the real program: after real changes (moved slots, a
 * drained, a removed and an added backend, a table placed anew), for every
 * probe of >= 10,000 flows (IPv4 and IPv6, TCP and UDP, SYN and not, moved
 * and unmoved slots, remembered and not) xlb_flow_explain()'s answer is the
 * backend the program sends the packet to (the tunnel's outer destination).
 */
#define _GNU_SOURCE
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
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include "change.h"
#include "flow.h"
#include "loader.h"
#include "moved.h"
#include "log.h"
#include "netutil.h"
#include "pktbuild.h"
#include "testnet.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define SKIP_IF_NEEDED() do { if (skip_why) { fprintf(stderr, "# skipped: %s\n", skip_why); skip(); } } while (0)

static const char *skip_why;
static struct testnet_xlb tx;	/* the veth xlb is attached to */

#define VIP4	"192.0.2.10"
#define VIP6	"2001:db8:a::10"
#define SVC(name, vip, port, proto, size, bes) "{\"name\":\"" name "\",\"vip\":\"" vip \
	"\",\"port\":" #port ",\"protocol\":\"" proto "\",\"table_size\":" #size "," \
	"\"flow_idle_timeout\":600,\"guards\":{\"max_churn\":1,\"max_share\":1}," \
	"\"backends\":[" bes "]}"
#define B4(n) "{\"address\":\"198.51.100." #n "\"}"
#define B6(n) "{\"address\":\"2001:db8:b::" #n "\"}"
#define S4(n, s) "{\"address\":\"198.51.100." #n "\",\"state\":\"" s "\"}"
#define S6(n, s) "{\"address\":\"2001:db8:b::" #n "\",\"state\":\"" s "\"}"

/* Three generations: the first; one backend drained and one added; one removed, a table resized. */
static const char *const configs[] = {
	"{\"second_chance\":true,\"services\":["
	SVC("web4", VIP4, 80, "tcp", 1009, B4(1) "," B4(2) "," B4(3)) ","
	SVC("dns4", VIP4, 53, "udp", 509, B4(1) "," B4(2) "," B4(3)) ","
	SVC("web6", VIP6, 443, "tcp", 1009, B6(1) "," B6(2) "," B6(3)) ","
	SVC("dns6", VIP6, 53, "udp", 509, B6(1) "," B6(2) "," B6(3)) "]}",
	"{\"second_chance\":true,\"services\":["
	SVC("web4", VIP4, 80, "tcp", 1009, B4(1) "," B4(2) "," S4(3, "drain") "," B4(4)) ","
	SVC("dns4", VIP4, 53, "udp", 509, B4(1) "," B4(2) "," S4(3, "drain") "," B4(4)) ","
	SVC("web6", VIP6, 443, "tcp", 1009, B6(1) "," B6(2) "," S6(3, "drain") "," B6(4)) ","
	SVC("dns6", VIP6, 53, "udp", 509, B6(1) "," B6(2) "," S6(3, "drain") "," B6(4)) "]}",
	"{\"second_chance\":true,\"services\":["
	SVC("web4", VIP4, 80, "tcp", 1009, B4(2) "," S4(3, "drain") "," B4(4)) ","
	SVC("dns4", VIP4, 53, "udp", 509, B4(1) "," S4(2, "down") "," S4(3, "drain") "," B4(4)) ","
	SVC("web6", VIP6, 443, "tcp", 1009, B6(1) "," S6(2, "down") "," S6(3, "drain") "," B6(4)) ","
	SVC("dns6", VIP6, 53, "udp", 1021, B6(1) "," B6(2) "," S6(3, "drain") "," B6(4)) "]}",
};

struct tsvc {
	const char *name, *vip;
	__u16 port;
	__u8 proto;
	int v6;
};

static const struct tsvc svcs[] = {
	{ "web4", VIP4, 80, IPPROTO_TCP, 0 },
	{ "dns4", VIP4, 53, IPPROTO_UDP, 0 },
	{ "web6", VIP6, 443, IPPROTO_TCP, 1 },
	{ "dns6", VIP6, 53, IPPROTO_UDP, 1 },
};
#define NR_SVCS		(sizeof(svcs) / sizeof(svcs[0]))
#define FLOWS		1300	/* per service; each probed twice */

/* The services' "hash" (enum xlb_hash_fields), set as the parser would; svcs' order. */
static __u8 hash_of[NR_SVCS];

static int apply(const char *text)
{
	struct xlb_change ch = { .force = true, .reason = "test", .source = "apply" };
	struct xlb_diags d = { 0 };
	struct xlb_change_result r;
	struct xlb_config cfg;
	struct xlb_ctl c;
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	int err;

	if (!j)
		fail_msg("bad test configuration: %s", je.text);
	assert_int_equal(xlb_config_from_json(j, &cfg, &d), 0);
	json_decref(j);
	for (size_t i = 0; i < NR_SVCS; i++) {
		struct xlb_service_conf *s = (void *)xlb_config_service(&cfg, svcs[i].name);

		if (s) {
			s->hash_fields = hash_of[i];
			s->flow_idle_timeout += hash_of[i];	/* a change even where not shown */
		}
	}
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, false, &c), 0);
	ch.cfg = &cfg;
	err = xlb_change(&c, &ch, &r);
	xlb_change_result_free(&r);
	xlb_config_free(&cfg);
	xlb_ctl_close(&c);
	return err;
}

/* Flow i of service s: its client address and port. */
static void flow_client(const struct tsvc *s, int i, char *addr, size_t len, __u16 *port)
{
	if (s->v6)
		snprintf(addr, len, "2001:db8:c::%x:%x", i / 200 + 1, i % 200 + 1);
	else
		snprintf(addr, len, "203.0.113.%d", i % 250 + 1);
	*port = 20000 + i;
}

/*
 * Send one packet of a flow (TCP flags, or UDP); *to gets the tunnel's outer
 * destination ("" when the program sends it to no backend).
 */
static void send_flow(const struct tsvc *s, const char *client, __u16 port, __u8 flags,
		      char *to, size_t len)
{
	struct xdp_md ctx = { .ingress_ifindex = testnet_ifindex(tx.ifname) };
	__u8 out[PB_MAX + 128];
	struct pb in;

	pb_init(&in);
	pb_eth(&in, PB_MAC_NODE, PB_MAC_CLIENT, s->v6 ? ETH_P_IPV6 : ETH_P_IP);
	if (s->v6)
		pb_ipv6(&in, client, s->vip, s->proto);
	else
		pb_ipv4(&in, client, s->vip, s->proto);
	if (s->proto == IPPROTO_UDP) {
		pb_udp(&in, port, s->port);
		pb_payload(&in, 16);
	} else {
		pb_tcp(&in, port, s->port, flags);
	}
	pb_finish(&in);
	ctx.data_end = in.len;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in.d, .data_size_in = in.len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	assert_int_equal(bpf_prog_test_run_opts(tx.prog_fd, &o), 0);
	to[0] = '\0';
	if (o.retval != XDP_TX && o.retval != XDP_REDIRECT)
		return;
	if (out[12] == 0x08 && out[13] == 0x00) {
		assert_int_equal(out[14 + 9], IPPROTO_IPIP);
		inet_ntop(AF_INET, out + 14 + 16, to, len);
	} else {
		assert_true(out[12] == 0x86 && out[13] == 0xdd);
		inet_ntop(AF_INET6, out + 14 + 24, to, len);
	}
}

/* Where xlb flow says a packet of the flow goes: a new connection (SYN) or one under way. */
static const char *said(const struct xlb_flow_explain *e, int syn)
{
	if (syn)	/* a SYN is a new connection, whatever is remembered */
		return e->current;
	if (e->remembered[0])
		return e->remembered;
	return e->syn[0] ? e->syn : e->unseen;
}

struct tally {
	unsigned tried, agree, v4, v6, tcp, udp, moved, unmoved, remembered, fresh, syn, nonsyn;
	unsigned stale, naive_wrong, mutant_caught;
};

/* An answer that is wrong: another backend's address (the negative control). */
static void mutate(const char *right, char *wrong, size_t len)
{
	snprintf(wrong, len, "%s", right[0] ? "" : "198.51.100.1");
	if (right[0] && strchr(right, ':'))
		snprintf(wrong, len, "%s", strcmp(right, "2001:db8:b::1") ? "2001:db8:b::1" :
					   "2001:db8:b::2");
	else if (right[0])
		snprintf(wrong, len, "%s", strcmp(right, "198.51.100.1") ? "198.51.100.1" :
					   "198.51.100.2");
}

/* One probe: xlb flow's answer first, then the packet; counted in t. */
static void probe(struct xlb_ctl *c, const struct tsvc *ts, int i, int syn, struct tally *t)
{
	const struct xlb_service_conf *s = xlb_config_service(&c->running, ts->name);
	struct xlb_flow_key k = { .proto = ts->proto, .dport = htons(ts->port) };
	char client[64], to[64], wrong[64];
	struct xlb_flow_explain e;
	const char *want;
	__u16 port;

	assert_non_null(s);
	flow_client(ts, i, client, sizeof(client), &port);
	assert_int_equal(xlb_addr_parse(client, &k.src, &k.family), 0);
	k.dst = s->vip;
	k.sport = htons(port);
	assert_int_equal(xlb_flow_explain(c, s, &k, &e), 0);
	want = said(&e, syn && ts->proto == IPPROTO_TCP);
	send_flow(ts, client, port, ts->proto == IPPROTO_TCP ? (syn ? 0x02 : 0x10) : 0,
		  to, sizeof(to));
	t->tried++;
	if (!strcmp(want, to))
		t->agree++;
	else if (t->tried - t->agree <= 5)
		fprintf(stderr, "# disagree: %s %s:%u %s: xlb flow says '%s' (slot %u, current %s, "
			"previous %s%s, remembered %s, syn %s, unseen %s), the program sent it to '%s'\n",
			ts->name, client, port, syn ? "SYN" : "non-SYN", want, e.slot, e.current,
			e.previous, e.previous_usable ? "" : " unusable", e.remembered, e.syn,
			e.unseen, to);
	mutate(want, wrong, sizeof(wrong));
	t->mutant_caught += strcmp(wrong, to) != 0;
	t->naive_wrong += strcmp(e.current, to) != 0;	/* "the table decides": wrong when moved */
	*(ts->v6 ? &t->v6 : &t->v4) += 1;
	*(ts->proto == IPPROTO_TCP ? &t->tcp : &t->udp) += 1;
	*(e.moved ? &t->moved : &t->unmoved) += 1;
	t->stale += e.stale;
	*(e.remembered[0] || e.syn[0] ? &t->remembered : &t->fresh) += 1;
	*(syn && ts->proto == IPPROTO_TCP ? &t->syn : &t->nonsyn) += 1;
}

/* Packets that leave state behind: a SYN (moved slots: xlb_syn_cells) or one under way. */
static void warm(int gen)
{
	char client[64], to[64];
	__u16 port;

	for (size_t s = 0; s < NR_SVCS; s++)
		for (int i = gen; i < FLOWS; i += 3) {
			flow_client(&svcs[s], i, client, sizeof(client), &port);
			send_flow(&svcs[s], client, port, i % 2 ? 0x02 : 0x10, to, sizeof(to));
		}
}

static void xlb_flow_agrees_with_the_program(void **state)
{
	struct tally t = { 0 };
	struct xlb_ctl c;

	(void)state;
	SKIP_IF_NEEDED();
	if (*state)	/* the hash fields case: every service another hash than the 5-tuple's */
		memcpy(hash_of, (__u8[NR_SVCS]){ XLB_HASH_SRC, XLB_HASH_SRC_DPORT, XLB_HASH_SRC,
						 XLB_HASH_SRC_DPORT }, NR_SVCS);
	assert_int_equal(apply(configs[0]), 0);
	warm(0);
	assert_int_equal(apply(configs[1]), 0);
	warm(1);
	assert_int_equal(apply(configs[2]), 0);
	warm(2);
	memset(hash_of, 0, sizeof(hash_of));
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	for (int round = 0; round < 2; round++)
		for (size_t s = 0; s < NR_SVCS; s++)
			for (int i = 0; i < FLOWS; i++)
				probe(&c, &svcs[s], i, (i / 3 + round) % 2, &t);
	xlb_ctl_close(&c);
	printf("# flow agreement: %u tried, %u agree (v4 %u, v6 %u; tcp %u, udp %u; moved %u, "
	       "unmoved %u; remembered %u, not %u, stale %u; SYN %u, non-SYN %u)\n", t.tried, t.agree,
	       t.v4, t.v6, t.tcp, t.udp, t.moved, t.unmoved, t.remembered, t.fresh, t.stale, t.syn,
	       t.nonsyn);
	printf("# negative controls: a wrong answer caught %u of %u; \"the table decides\" "
	       "wrong %u times\n", t.mutant_caught, t.tried, t.naive_wrong);
	assert_true(t.tried >= 10000);
	assert_int_equal(t.agree, t.tried);
	/* every kind of flow was tried, and the comparison can fail */
	assert_true(t.v4 && t.v6 && t.tcp && t.udp && t.syn && t.nonsyn);
	assert_true(t.moved >= 1000 && t.unmoved >= 1000 && t.remembered >= 500 && t.fresh >= 1000);
	assert_int_equal(t.mutant_caught, t.tried);
	assert_true(t.naive_wrong > 0);
}

/*
 * State pinned by a version that remembered every flow: xlb_moved_adopt()
 * marks moved each slot where a remembered flow holds another backend than
 * the table's, so that the program (which reads no state in an unmoved
 * slot) keeps it there — and xlb flow says so.
 */
static void adopted_state_keeps_remembered_flows(void **state)
{
	const struct tsvc *ts = &svcs[0];
	const struct xlb_service_conf *s;
	struct xlb_ctl c;
	__u32 *ids, m, marked, planted = 0, before = 0;
	int which[64];

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	s = xlb_config_service(&c.running, ts->name);
	assert_non_null(s);
	assert_int_equal(xlb_dp_get_table_raw(&c.dp, c.live_slot,
					      xlb_assign_service(&c.assign, s->name), &ids, &m), 0);
	for (int i = 5000; i < 5400 && planted < 40; i++) {
		struct xlb_flow_key k = { .proto = ts->proto, .dport = htons(ts->port) };
		struct xlb_flow_explain e;
		struct xlb_backend be;
		struct xlb_flow f;
		char client[64], to[64];
		__u32 cur, other = 0;
		__u16 port;

		flow_client(ts, i, client, sizeof(client), &port);
		xlb_addr_parse(client, &k.src, &k.family);
		k.dst = s->vip;
		k.sport = htons(port);
		assert_int_equal(xlb_flow_explain(&c, s, &k, &e), 0);
		if (e.moved)
			continue;
		cur = XLB_TABLE_CUR(ids[e.slot]);
		for (__u32 b = 0; b < m && !other; b++)
			if (XLB_TABLE_CUR(ids[b]) != cur)
				other = XLB_TABLE_CUR(ids[b]);
		assert_int_equal(xlb_dp_get_backend(&c.dp, c.live_slot, other, &be), 0);
		f = (struct xlb_flow){ .backend = other, .gen = be.gen };
		assert_int_equal(bpf_map_update_elem(c.dp.flows, &k, &f, BPF_ANY), 0);
		/* the control: an unmoved slot reads no state, the entry is not followed */
		send_flow(ts, client, port, 0x10, to, sizeof(to));
		before += !strcmp(to, e.current);
		which[planted++] = i;
	}
	free(ids);
	assert_true(planted >= 20);
	assert_int_equal(before, planted);
	assert_int_equal(xlb_moved_adopt(&c.dp, &marked), 0);
	printf("# adopted: %u flows planted in unmoved slots, %u slots marked\n", planted, marked);
	assert_true(marked >= 1);
	for (__u32 n = 0; n < planted; n++) {
		struct xlb_flow_key k = { .proto = ts->proto, .dport = htons(ts->port) };
		struct xlb_flow_explain e;
		char client[64], to[64];
		__u16 port;

		flow_client(ts, which[n], client, sizeof(client), &port);
		xlb_addr_parse(client, &k.src, &k.family);
		k.dst = s->vip;
		k.sport = htons(port);
		assert_int_equal(xlb_flow_explain(&c, s, &k, &e), 0);
		assert_true(e.moved);
		assert_true(e.remembered[0] && strcmp(e.remembered, e.current));
		send_flow(ts, client, port, 0x10, to, sizeof(to));
		assert_string_equal(to, e.remembered);
	}
	xlb_ctl_close(&c);
}

static int setup(void **state)
{
	(void)state;
	if (!testnet_setup(&skip_why))
		testnet_attach("xf", 65536, &tx, &skip_why);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return testnet_detach(&tx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(xlb_flow_agrees_with_the_program),
		{ "xlb_flow_agrees_with_the_program under hash src and src-dport",
		  xlb_flow_agrees_with_the_program, NULL, NULL, (void *)1 },
		cmocka_unit_test(adopted_state_keeps_remembered_flows),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
