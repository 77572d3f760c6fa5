/*
 * The change path writes a service's forwarding and hash fields (issue 26)
 * on a real attached program: backend records carry "forward"/"gue_port",
 * the packets follow; a change of "hash" places every flow anew like a
 * table_size change, established flows kept through xlb_replaced.
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
#include <linux/if_ether.h>
#include "change.h"
#include "loader.h"
#include "log.h"
#include "moved.h"
#include "netutil.h"
#include "pktbuild.h"
#include "testnet.h"
#include "../../bpf/hash.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static const char *skip_why;
static struct testnet_xlb tx;

#define VIP "192.0.2.10"
#define CFG "{\"services\":[{\"name\":\"web\",\"vip\":\"" VIP "\",\"port\":80," \
	"\"protocol\":\"tcp\",\"table_size\":1009,\"guards\":{\"max_churn\":1,\"max_share\":1}," \
	"\"backends\":[{\"address\":\"198.51.100.1\"},{\"address\":\"198.51.100.2\"}," \
	"{\"address\":\"198.51.100.3\"}]}]}"

#define SKIP_IF_NEEDED() do { if (skip_why) { fprintf(stderr, "# skipped: %s\n", skip_why); skip(); } } while (0)

/*
 * CFG with the service's forward, gue_port and hash fields set (as the
 * parser would), and another flow_idle_timeout each time: every apply is a
 * change that is written, whether or not the recorded configuration (what
 * the next change is planned against) shows these fields.
 */
static int apply(__u8 forward, __u16 gue_port, __u8 hash_fields)
{
	static __u32 idle = 30;
	struct xlb_change ch = { .reason = "test", .source = "apply" };
	struct xlb_diags d = { 0 };
	struct xlb_change_result r;
	struct xlb_config cfg;
	struct xlb_ctl c;
	json_error_t je;
	json_t *j = json_loads(CFG, 0, &je);
	int err;

	assert_non_null(j);
	assert_int_equal(xlb_config_from_json(j, &cfg, &d), 0);
	json_decref(j);
	cfg.services[0].forward = forward;
	cfg.services[0].gue_port = gue_port;
	cfg.services[0].hash_fields = hash_fields;
	cfg.services[0].flow_idle_timeout = idle++;
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, false, &c), 0);
	ch.cfg = &cfg;
	err = xlb_change(&c, &ch, &r);
	xlb_change_result_free(&r);
	xlb_config_free(&cfg);
	xlb_ctl_close(&c);
	return err;
}

/* A TCP packet from 203.0.113.7:sport to VIP:80 through the attached program. */
static int send_tcp(__u16 sport, __u8 flags, struct pb *out, struct pb *in)
{
	struct xdp_md ctx = { .ingress_ifindex = testnet_ifindex(tx.ifname) };

	pb_init(in);
	pb_eth(in, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
	pb_ipv4(in, "203.0.113.7", VIP, IPPROTO_TCP);
	pb_tcp(in, sport, 80, flags);
	pb_finish(in);
	ctx.data_end = in->len;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->d, .data_size_in = in->len,
		    .data_out = out->d, .data_size_out = PB_MAX, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	assert_int_equal(bpf_prog_test_run_opts(tx.prog_fd, &o), 0);
	out->len = o.data_size_out;
	return o.retval;
}

/* The backend (last octet) an IP-in-IP packet went to, 0 when it was not one. */
static int backend_of(__u16 sport, __u8 flags)
{
	struct pb in, out;
	int v = send_tcp(sport, flags, &out, &in);

	if (v != XDP_REDIRECT || out.d[14 + 9] != IPPROTO_IPIP)
		return 0;
	return out.d[14 + 19];
}

static void live_service(struct xlb_ctl *c, struct xlb_service *svc, struct xlb_replaced *rep)
{
	struct xlb_service_key sk = { .port = htons(80), .proto = IPPROTO_TCP,
				      .family = XLB_FAMILY_V4, .slot = c->live_slot };

	inet_pton(AF_INET, VIP, &sk.vip.v4);
	assert_int_equal(bpf_map_lookup_elem(c->dp.services, &sk, svc), 0);
	assert_int_equal(xlb_dp_get_replaced(&c->dp, c->live_slot, svc->index, rep), 0);
}

/* Every backend record of the live slot says fwd / gue_port (network order). */
static void records_say_n(__u8 fwd, __u16 gue_port, int want)
{
	struct xlb_ctl c;
	int n = 0;

	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	for (__u32 id = 1; id < XLB_MAX_BACKENDS; id++) {
		struct xlb_backend be;

		if (xlb_dp_get_backend(&c.dp, c.live_slot, id, &be) || be.family == XLB_FAMILY_NONE)
			continue;
		assert_int_equal(be.fwd, fwd);
		assert_int_equal(be.gue_port, htons(gue_port));
		n++;
	}
	xlb_ctl_close(&c);
	assert_int_equal(n, want);
}

static void records_say(__u8 fwd, __u16 gue_port)
{
	records_say_n(fwd, gue_port, 3);
}

static void forward_is_written_and_followed(void **state)
{
	struct pb in, out, want;
	__u8 mac[6];
	int be;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(XLB_FWD_IPIP, 0, XLB_HASH_5TUPLE), 0);
	records_say(XLB_FWD_IPIP, 0);
	be = backend_of(50000, 0x02);
	assert_true(be >= 1 && be <= 3);
	assert_int_equal(apply(XLB_FWD_GUE, 0, XLB_HASH_5TUPLE), 0);
	records_say(XLB_FWD_GUE, XLB_GUE_PORT_DEFAULT);
	assert_int_equal(send_tcp(50001, 0x02, &out, &in), XDP_REDIRECT);
	assert_int_equal(out.d[14 + 9], IPPROTO_UDP);
	assert_int_equal((out.d[14 + 22] << 8) | out.d[14 + 23], XLB_GUE_PORT_DEFAULT);
	assert_int_equal(apply(XLB_FWD_GUE, 7000, XLB_HASH_5TUPLE), 0);
	records_say(XLB_FWD_GUE, 7000);
	assert_int_equal(send_tcp(50001, 0x02, &out, &in), XDP_REDIRECT);
	assert_int_equal((out.d[14 + 22] << 8) | out.d[14 + 23], 7000);
	/* L2: the frame as it came, to the backend's MAC (testnet: 02:00:00:00:01:0N) */
	assert_int_equal(apply(XLB_FWD_L2, 0, XLB_HASH_5TUPLE), 0);
	records_say(XLB_FWD_L2, 0);
	assert_int_equal(send_tcp(50000, 0x02, &out, &in), XDP_REDIRECT);
	testnet_backend_mac(4, be, mac);
	want = in;
	memcpy(want.d, mac, 6);
	memcpy(want.d + 6, PB_MAC_NODE, 6);	/* xlb0's */
	if (out.len != want.len || memcmp(out.d, want.d, out.len)) {
		pb_diff(out.d, out.len, want.d, want.len);
		fail_msg("not the frame with the backend's MAC");
	}
	assert_int_equal(apply(XLB_FWD_IPIP, 0, XLB_HASH_5TUPLE), 0);
	records_say(XLB_FWD_IPIP, 0);
	assert_int_equal(backend_of(50000, 0x02), be);
}

/*
 * "hash" 5-tuple -> src: every flow is placed anew; established flows keep
 * their backend (xlb_replaced holds the 5-tuple placement, with its fields),
 * new ones from one client all go to one backend; applying the same again
 * places nothing anew (control).
 */
static void a_hash_change_replaces_like_a_table_size(void **state)
{
	int before[200], moved = 0, first = 0;
	struct xlb_replaced rep;
	struct xlb_service svc;
	struct xlb_release r;
	struct xlb_ctl c;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(XLB_FWD_IPIP, 0, XLB_HASH_5TUPLE), 0);
	for (int i = 0; i < 200; i++) {
		before[i] = backend_of(51000 + i, 0x02);
		assert_int_equal(backend_of(51000 + i, 0x10), before[i]);
	}
	assert_int_equal(apply(XLB_FWD_IPIP, 0, XLB_HASH_SRC), 0);
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	live_service(&c, &svc, &rep);
	xlb_ctl_close(&c);
	assert_int_equal(svc.hash_fields, XLB_HASH_SRC);
	assert_int_equal(rep.table_size, 1009);
	assert_int_equal(rep.hash_fields, XLB_HASH_5TUPLE);
	for (int i = 0; i < 200; i++) {
		int now = backend_of(53000 + i, 0x02);	/* a new connection */

		assert_int_equal(backend_of(51000 + i, 0x10), before[i]);
		first = first ?: now;
		assert_int_equal(now, first);		/* one client, one backend */
		moved += now != before[i];
	}
	assert_true(moved > 60);
	/* the same hash again: nothing placed anew, the held placement carried */
	assert_int_equal(apply(XLB_FWD_IPIP, 0, XLB_HASH_SRC), 0);
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, false, &c), 0);
	live_service(&c, &svc, &rep);
	assert_int_equal(rep.hash_fields, XLB_HASH_5TUPLE);
	assert_int_equal(xlb_moved_release(&c, xlb_moved_now() + 100000, &r), 0);
	assert_int_equal(r.replaced, 1);
	assert_int_equal(xlb_dp_get_replaced(&c.dp, c.live_slot, svc.index, &rep), 0);
	assert_int_equal(rep.table_size, 0);
	xlb_ctl_close(&c);
	assert_int_equal(apply(XLB_FWD_IPIP, 0, XLB_HASH_SRC), 0);
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	live_service(&c, &svc, &rep);
	xlb_ctl_close(&c);
	assert_int_equal(rep.table_size, 0);	/* no change of hash: nothing held */
	/* src -> src-dport: the held placement says src, and is read so */
	for (int i = 0; i < 200; i++) {
		before[i] = backend_of(55000 + i, 0x02);
		assert_int_equal(before[i], first);
	}
	assert_int_equal(apply(XLB_FWD_IPIP, 0, XLB_HASH_SRC_DPORT), 0);
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	live_service(&c, &svc, &rep);
	xlb_ctl_close(&c);
	assert_int_equal(svc.hash_fields, XLB_HASH_SRC_DPORT);
	assert_int_equal(rep.hash_fields, XLB_HASH_SRC);
	for (int i = 0; i < 200; i++)
		assert_int_equal(backend_of(55000 + i, 0x10), first);
}

/*
 * An L2 backend the node reaches through a gateway is refused with the
 * reason, and nothing of the change is applied: the live generation and the
 * backend records stay; the same backend tunnelled (IP-in-IP) is fine.
 */
static void an_l2_backend_behind_a_gateway_is_refused(void **state)
{
	const char *cfg = "{\"services\":[{\"name\":\"web\",\"vip\":\"" VIP "\",\"port\":80,"
		"\"protocol\":\"tcp\",\"table_size\":1009,\"forward\":\"%s\","
		"\"guards\":{\"max_churn\":1,\"max_share\":1,\"min_active\":1},"
		"\"backends\":[{\"address\":\"198.51.100.1\"},{\"address\":\"203.0.113.99\"}]}]}";
	struct xlb_change ch = { .reason = "test", .source = "apply" };
	struct xlb_change_result r;
	struct xlb_diags d = { 0 };
	struct xlb_config conf;
	struct xlb_ctl c;
	__u64 gen_before;
	char text[1024];
	int err;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(XLB_FWD_L2, 0, XLB_HASH_5TUPLE), 0);
	assert_int_equal(system("ip route replace 203.0.113.99/32 via 198.51.100.1 dev xlb0"), 0);
	for (int ipip = 0; ipip < 2; ipip++) {
		json_t *j;

		snprintf(text, sizeof(text), cfg, ipip ? "ipip" : "l2");
		j = json_loads(text, 0, NULL);
		assert_non_null(j);
		assert_int_equal(xlb_config_from_json(j, &conf, &d), 0);
		json_decref(j);
		assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, false, &c), 0);
		gen_before = c.live_gen;
		ch.cfg = &conf;
		err = xlb_change(&c, &ch, &r);
		xlb_change_result_free(&r);
		if (!ipip) {
			assert_int_not_equal(err, 0);
			assert_non_null(strstr(xlb_errmsg(), "203.0.113.99"));
			assert_non_null(strstr(xlb_errmsg(), "gateway"));
			assert_int_equal(c.live_gen, gen_before);	/* nothing applied */
			xlb_ctl_close(&c);
			records_say_n(XLB_FWD_L2, 0, 3);		/* the live slot as before */
			xlb_config_free(&conf);
			continue;
		} else {
			assert_int_equal(err, 0);
			assert_int_equal(c.live_gen, gen_before + 1);
		}
		xlb_ctl_close(&c);
		xlb_config_free(&conf);
	}
	assert_int_equal(system("ip route del 203.0.113.99/32"), 0);
	/* the IP-in-IP change went live with its two backends */
	records_say_n(XLB_FWD_IPIP, 0, 2);
}

static int setup(void **state)
{
	(void)state;
	if (!testnet_setup(&skip_why))
		testnet_attach("xf", 4096, &tx, &skip_why);
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
		cmocka_unit_test(forward_is_written_and_followed),
		cmocka_unit_test(a_hash_change_replaces_like_a_table_size),
		cmocka_unit_test(an_l2_backend_behind_a_gateway_is_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
