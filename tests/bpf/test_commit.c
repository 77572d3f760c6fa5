/* The change path on a real attached program: tables, flows, rollback, failures. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include "change.h"
#include "fault.h"
#include "history.h"
#include "loader.h"
#include "moved.h"
#include "log.h"
#include "netutil.h"
#include "pktbuild.h"
#include "testnet.h"
#include "../../bpf/hash.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static const char *skip_why;
static struct testnet_xlb tx;	/* the veth xlb is attached to */

#define VIP "192.0.2.10"
#define CFG(bes) "{\"services\":[{\"name\":\"web\",\"vip\":\"" VIP "\",\"port\":80," \
	"\"protocol\":\"tcp\",\"table_size\":1009,\"guards\":{\"max_churn\":1,\"max_share\":1}," \
	"\"backends\":[" bes "]}]}"
#define CFGU(idle, bes) "{\"services\":[{\"name\":\"dns\",\"vip\":\"" VIP "\",\"port\":80," \
	"\"protocol\":\"udp\",\"table_size\":1009,\"flow_idle_timeout\":" #idle "," \
	"\"guards\":{\"max_churn\":1,\"max_share\":1},\"backends\":[" bes "]}]}"
#define CFGT(idle, bes) "{\"services\":[{\"name\":\"web\",\"vip\":\"" VIP "\",\"port\":80," \
	"\"protocol\":\"tcp\",\"table_size\":1009,\"flow_idle_timeout\":" #idle "," \
	"\"guards\":{\"max_churn\":1,\"max_share\":1},\"backends\":[" bes "]}]}"
#define B(n) "{\"address\":\"198.51.100." #n "\"}"
#define BW(n, w) "{\"address\":\"198.51.100." #n "\",\"weight\":" #w "}"
#define BS(n, s) "{\"address\":\"198.51.100." #n "\",\"state\":\"" s "\"}"

#define SKIP_IF_NEEDED() do { if (skip_why) { fprintf(stderr, "# skipped: %s\n", skip_why); skip(); } } while (0)

/*
 * Apply a configuration text through the library's one change path; its
 * result.  hex: a hash key, as a configuration naming a key file would have.
 */
static int apply_with_key(const char *text, const char *hex, bool force)
{
	struct xlb_change ch = { .force = force, .reason = "test", .source = "apply" };
	struct xlb_diags d = { 0 };
	struct xlb_change_result r;
	struct xlb_config cfg;
	struct xlb_ctl c;
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	int err;

	assert_non_null(j);
	assert_int_equal(xlb_config_from_json(j, &cfg, &d), 0);
	json_decref(j);
	if (hex) {
		assert_int_equal(xlb_hash_key_parse(hex, &cfg.hash_key), 0);
		snprintf(cfg.hash_key_file, sizeof(cfg.hash_key_file), "/etc/xlb/hash.key");
		xlb_config_seed(&cfg);
	}
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, false, &c), 0);
	ch.cfg = &cfg;
	err = xlb_change(&c, &ch, &r);
	xlb_change_result_free(&r);
	xlb_config_free(&cfg);
	xlb_ctl_close(&c);
	return err;
}

static int apply(const char *text, bool force)
{
	return apply_with_key(text, NULL, force);
}

static int rollback_to(__u64 gen)
{
	struct xlb_change ch = { .reason = "test rollback", .source = "rollback" };
	struct xlb_change_result r;
	struct xlb_record rec;
	struct xlb_ctl c;
	int err;

	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, false, &c), 0);
	assert_int_equal(xlb_history_read(c.hist, gen, XLB_RECORD_FULL, &rec), 0);
	ch.cfg = &rec.config;
	ch.prefer = &rec.assign;
	err = xlb_change(&c, &ch, &r);
	xlb_change_result_free(&r);
	xlb_record_free(&rec);
	xlb_ctl_close(&c);
	return err;
}

/*
 * Send a TCP (flags) or UDP (proto IPPROTO_UDP) packet from src:sport to the
 * VIP's port 80; returns the backend's last octet (0: none).
 */
static int send_pkt(const char *src, __u16 sport, __u8 proto, __u8 flags, int *verdict)
{
	struct xdp_md ctx = { .ingress_ifindex = testnet_ifindex(tx.ifname) };
	__u8 out[PB_MAX + 64];
	struct pb in;

	pb_init(&in);
	pb_eth(&in, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
	pb_ipv4(&in, src, VIP, proto);
	if (proto == IPPROTO_UDP) {
		pb_udp(&in, sport, 80);
		pb_payload(&in, 16);
	} else {
		pb_tcp(&in, sport, 80, flags);
	}
	pb_finish(&in);
	ctx.data_end = in.len;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in.d, .data_size_in = in.len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	assert_int_equal(bpf_prog_test_run_opts(tx.prog_fd, &o), 0);
	*verdict = o.retval;
	if (o.retval != XDP_TX && o.retval != XDP_REDIRECT)
		return 0;
	assert_int_equal(out[14 + 9], IPPROTO_IPIP);
	return out[14 + 19];	/* outer destination 198.51.100.N */
}

/* Send a TCP packet from 203.0.113.7:sport; returns the backend's last octet (0: none). */
static int send_tcp(__u16 sport, __u8 flags, int *verdict)
{
	return send_pkt("203.0.113.7", sport, IPPROTO_TCP, flags, verdict);
}

static int send_udp(__u16 sport, int *verdict)
{
	return send_pkt("203.0.113.7", sport, IPPROTO_UDP, 0, verdict);
}



/* The live table entry (cur | prev << 16) of a flow of proto from 203.0.113.7:sport. */
static __u32 table_entry_proto(__u16 sport, __u8 proto)
{
	struct xlb_flow_key k = { .family = XLB_FAMILY_V4, .proto = proto };
	struct xlb_service_key sk = { .port = htons(80), .proto = proto,
				      .family = XLB_FAMILY_V4 };
	struct xlb_service svc;
	struct xlb_ctl c;
	__u32 *ids, m, e;

	inet_pton(AF_INET, "203.0.113.7", &k.src.v4);
	inet_pton(AF_INET, VIP, &k.dst.v4);
	k.sport = htons(sport);
	k.dport = htons(80);
	sk.vip = k.dst;
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	sk.slot = c.live_slot;
	assert_int_equal(bpf_map_lookup_elem(c.dp.services, &sk, &svc), 0);
	assert_int_equal(xlb_dp_get_table_raw(&c.dp, c.live_slot, svc.index, &ids, &m), 0);
	e = ids[xlb_table_index(xlb_flow_hash_fields(&k, svc.hash_seed ?: XLB_HASH_SEED,
						   svc.hash_fields), m)];
	free(ids);
	xlb_ctl_close(&c);
	return e;
}

static __u32 table_entry(__u16 sport)
{
	return table_entry_proto(sport, IPPROTO_TCP);
}

/* The backend (last octet) the live table gives a flow of proto, from the maps. */
static int table_backend_proto(__u16 sport, __u8 proto)
{
	__u32 id = XLB_TABLE_CUR(table_entry_proto(sport, proto)), key;
	struct xlb_backend be;
	struct xlb_ctl c;

	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	key = c.live_slot * XLB_MAX_BACKENDS + id;
	assert_int_equal(bpf_map_lookup_elem(c.dp.backends, &key, &be), 0);
	xlb_ctl_close(&c);
	return ((__u8 *)&be.addr.v4)[3];
}

static int table_backend(__u16 sport)
{
	return table_backend_proto(sport, IPPROTO_TCP);
}

/* The next port from *port on whose flow's slot a change left a previous backend. */
static __u16 next_moved_port(__u16 *port)
{
	while (!XLB_TABLE_PREV(table_entry(*port)) ||
	       XLB_TABLE_PREV(table_entry(*port)) == XLB_TABLE_CUR(table_entry(*port)))
		(*port)++;
	return (*port)++;
}

/* Everything a packet or a later command can see: live slot, its maps, history. */
static char *dump_state(size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	struct xlb_service_key k, next;
	struct xlb_slot_conf conf;
	struct xlb_ctl c;
	void *prev = NULL;
	__u64 *gens;
	__u32 n;

	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	fprintf(f, "slot %u gen %llu\n", c.live_slot, (unsigned long long)c.live_gen);
	assert_int_equal(xlb_dp_get_slot_conf(&c.dp, c.live_slot, &conf), 0);
	fwrite(&conf, sizeof(conf), 1, f);
	while (!bpf_map_get_next_key(c.dp.services, prev, &next)) {
		struct xlb_service v;

		if (next.slot == c.live_slot) {
			assert_int_equal(bpf_map_lookup_elem(c.dp.services, &next, &v), 0);
			fwrite(&next, sizeof(next), 1, f);
			fwrite(&v, sizeof(v), 1, f);
		}
		k = next;
		prev = &k;
	}
	for (__u32 i = 0; i < XLB_MAX_SERVICES; i++) {
		__u32 *ids, m;

		if (xlb_dp_get_table(&c.dp, c.live_slot, i, &ids, &m))
			continue;
		fprintf(f, "table %u:", i);
		fwrite(ids, sizeof(*ids), m, f);
		free(ids);
	}
	for (__u32 id = 0; id < XLB_MAX_BACKENDS; id++) {
		__u32 key = c.live_slot * XLB_MAX_BACKENDS + id;
		struct xlb_backend be;

		assert_int_equal(bpf_map_lookup_elem(c.dp.backends, &key, &be), 0);
		fwrite(&be, sizeof(be), 1, f);
	}
	xlb_history_list(c.hist, &gens, &n);
	for (__u32 i = 0; i < n; i++) {
		char path[700], text[65536];
		FILE *h;
		size_t got;

		snprintf(path, sizeof(path), "%s/%llu.json", c.hist, (unsigned long long)gens[i]);
		h = fopen(path, "r");
		assert_non_null(h);
		got = fread(text, 1, sizeof(text), h);
		fclose(h);
		fprintf(f, "record %llu:", (unsigned long long)gens[i]);
		fwrite(text, 1, got, f);
	}
	free(gens);
	xlb_ctl_close(&c);
	fclose(f);
	return buf;
}

static void flows_land_where_the_table_says(void **state)
{
	int v, hit[5] = { 0 };

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	for (__u16 p = 30000; p < 30060; p++) {
		int be = send_tcp(p, 0x02, &v);

		assert_int_equal(v, XDP_REDIRECT);
		assert_int_equal(be, table_backend(p));
		hit[be]++;
	}
	assert_true(hit[1] > 5 && hit[2] > 5 && hit[3] > 5);
}

/*
 * A hash key changes where new flows land — in the tables and in the packet
 * path's flow hash alike — established flows stay (the previous placement is
 * held: xlb_replaced), and the same key gives the same picks again (every
 * node of a fleet agrees).
 */
static void a_hash_key_keys_the_table_and_the_flow_hash(void **state)
{
	const char *k1 = "00112233445566778899aabbccddeeff", *k2 = "ffeeddccbbaa99887766554433221100";
	int plain[200], keyed[200], v, differ = 0, est;
	struct xlb_hash_key key;
	struct xlb_hash_seeds seeds;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	for (int i = 0; i < 200; i++)
		plain[i] = table_backend(41000 + i);
	est = send_tcp(42000, 0x02, &v);	/* established before the key */
	assert_int_equal(est, table_backend(42000));
	assert_int_equal(apply_with_key(CFG(B(1) "," B(2) "," B(3)), k1, false), 0);
	assert_int_equal(send_tcp(42000, 0x10, &v), est);
	for (int i = 0; i < 200; i++) {
		keyed[i] = send_tcp(41000 + i, 0x02, &v);
		assert_int_equal(v, XDP_REDIRECT);
		assert_int_equal(keyed[i], table_backend(41000 + i));
		differ += keyed[i] != plain[i];
	}
	assert_true(differ > 60);	/* about 2/3 of them with 3 backends */
	/* the packet path reads the key's seed, not the published one */
	xlb_hash_key_parse(k1, &key);
	xlb_hash_seeds(&key, &seeds);
	assert_int_not_equal(seeds.flow, XLB_HASH_SEED);
	/* another key: other picks; the first key again: the same picks */
	assert_int_equal(apply_with_key(CFG(B(1) "," B(2) "," B(3)), k2, false), 0);
	differ = 0;
	for (int i = 0; i < 200; i++)
		differ += table_backend(41000 + i) != keyed[i];
	assert_true(differ > 60);
	assert_int_equal(apply_with_key(CFG(B(1) "," B(2) "," B(3)), k1, false), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(table_backend(41000 + i), keyed[i]);
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(table_backend(41000 + i), plain[i]);
}

/* Release every moved slot and held placement, as flow_idle_timeout later would. */
static void release_all(void)
{
	struct xlb_release r;
	struct xlb_ctl c;

	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, false, &c), 0);
	assert_int_equal(xlb_moved_release(&c, xlb_moved_now() + 1000000, &r), 0);
	assert_int_equal(r.moved, 0);
	xlb_ctl_close(&c);
}

/* Flows remembered now (connection table and new connections), and flows the flood guard left out. */
static void flow_counts(__u32 *entries, __u64 *limited)
{
	struct xlb_ctl c;

	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	__u32 syns;

	assert_int_equal(xlb_dp_count_entries(c.dp.flows, sizeof(struct xlb_flow_key), entries), 0);
	assert_int_equal(xlb_dp_count_syns(&c.dp, &syns), 0);
	*entries += syns;
	assert_int_equal(xlb_dp_flood_limited(&c.dp, limited), 0);
	xlb_ctl_close(&c);
}

static void set_flow_rate(__u32 rate)
{
	struct xlb_slot_conf conf;
	struct xlb_ctl c;

	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, false, &c), 0);
	for (__u32 slot = 0; slot < XLB_SLOTS; slot++) {
		assert_int_equal(xlb_dp_get_slot_conf(&c.dp, slot, &conf), 0);
		conf.flow_rate = rate;
		assert_int_equal(xlb_dp_set_slot_conf(&c.dp, slot, &conf), 0);
	}
	xlb_ctl_close(&c);
}

/*
 * The flood guard: past flow_rate new entries in a second a CPU forwards new
 * flows by the table without remembering them (counted), and remembers again
 * in the next second; established flows keep their entries and backends.
 * Entries are made only in slots a change moved: the flows here are there.
 */
static void the_flood_guard_forwards_without_remembering(void **state)
{
	__u32 e0, e1, e2;
	__u64 l0, l1, l2;
	int est[20], v;
	__u16 port = 43000, ests[20];
	cpu_set_t all, one;

	(void)state;
	SKIP_IF_NEEDED();
	/* the guard counts per CPU, and a test run runs where its caller does */
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_int_equal(apply(CFG(B(1) "," B(2)), false), 0);
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	for (int i = 0; i < 20; i++) {
		ests[i] = next_moved_port(&port);
		est[i] = send_tcp(ests[i], 0x02, &v);
		assert_int_equal(est[i], table_backend(ests[i]));
	}
	set_flow_rate(50);
	/* at the limit first (the clock is read only there), then a window later */
	flow_counts(&e0, &l0);
	l1 = l0;
	for (int i = 0; i < 200 && l1 == l0; i++) {
		send_tcp(next_moved_port(&port), 0x02, &v);
		flow_counts(&e1, &l1);
	}
	assert_true(l1 > l0);
	sleep(1);	/* the guard's next window: it is time itself that passes */
	flow_counts(&e0, &l0);
	for (int i = 0; i < 80; i++) {
		__u16 p = next_moved_port(&port);

		assert_int_equal(send_tcp(p, 0x02, &v), table_backend(p));
		assert_int_equal(v, XDP_REDIRECT);
	}
	flow_counts(&e1, &l1);
	assert_int_equal(e1 - e0, 50);
	assert_int_equal(l1 - l0, 30);
	for (int i = 0; i < 20; i++)	/* established flows: answered, never limited */
		assert_int_equal(send_tcp(ests[i], 0x10, &v), est[i]);
	flow_counts(&e1, &l2);
	assert_int_equal(l2, l1);
	sleep(1);	/* the next window */
	send_tcp(next_moved_port(&port), 0x02, &v);
	flow_counts(&e2, &l2);
	assert_int_equal(e2 - e1, 1);
	assert_int_equal(l2, l1);
	/* an unmoved slot makes no entry at all, guard or not */
	while (XLB_TABLE_PREV(table_entry(port)))
		port++;
	send_tcp(port, 0x02, &v);
	flow_counts(&e0, &l0);
	assert_int_equal(e0, e2);
	assert_int_equal(l0, l2);
	set_flow_rate(0);	/* the default again */
	sched_setaffinity(0, sizeof(all), &all);
}

/*
 * Two changes in a row.  A flow that sent a packet between them keeps its
 * backend; a flow idle across both keeps it unless both changes moved its
 * slot, in which case it takes the backend of the first change — the limit
 * the man page states (LIMITS), tested here to behave exactly so.
 */
static void two_changes_in_a_row(void **state)
{
	int before[400], mid[400], v, limited = 0, kept_idle = 0;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	for (int i = 0; i < 400; i++)
		before[i] = send_tcp(50000 + i, 0x02, &v);
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3) "," B(4)), false), 0);
	for (int i = 0; i < 400; i++) {
		mid[i] = table_backend(50000 + i);
		if (i % 2 == 0)	/* active between the changes */
			assert_int_equal(send_tcp(50000 + i, 0x10, &v), before[i]);
	}
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3) "," B(4) "," B(5)), false), 0);
	for (int i = 0; i < 400; i++) {
		int be = send_tcp(50000 + i, 0x10, &v), now = table_backend(50000 + i);

		if (i % 2 == 0 || mid[i] == before[i] || now == mid[i]) {
			assert_int_equal(be, before[i]);
			kept_idle += i % 2;
		} else {
			assert_int_equal(be, mid[i]);	/* moved twice while idle */
			limited++;
		}
	}
	assert_true(kept_idle > 100);
	assert_true(limited > 0 && limited < 40);
}

/*
 * A change and its rollback: flows older than both keep their backend,
 * active or idle; connections opened between them keep theirs too.
 */
static void a_change_and_its_rollback(void **state)
{
	int before[300], newer[300], v, moved = 0;
	struct xlb_ctl c;
	__u64 g1;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	g1 = c.live_gen;
	xlb_ctl_close(&c);
	for (int i = 0; i < 300; i++)
		before[i] = send_tcp(53000 + i, 0x02, &v);
	assert_int_equal(apply(CFG(B(1) "," BW(2, 400) "," B(3)), false), 0);
	for (int i = 0; i < 300; i++) {
		if (i % 2 == 0)
			assert_int_equal(send_tcp(53000 + i, 0x10, &v), before[i]);
		newer[i] = send_tcp(54000 + i, 0x02, &v);
		assert_int_equal(newer[i], table_backend(54000 + i));
		assert_int_equal(send_tcp(54000 + i, 0x10, &v), newer[i]);
	}
	assert_int_equal(rollback_to(g1), 0);
	for (int i = 0; i < 300; i++) {
		assert_int_equal(send_tcp(53000 + i, 0x10, &v), before[i]);
		assert_int_equal(send_tcp(54000 + i, 0x10, &v), newer[i]);
		moved += newer[i] != table_backend(54000 + i);
	}
	assert_true(moved > 10);	/* the rollback moved some of them: they stayed */
}

/*
 * A flow this node never saw (ECMP moved it here mid-connection) reaches the
 * backend the node that saw its SYN picked: in an unmoved slot by the table,
 * in a moved slot (a flow older than the change) by the previous backend.
 */
static void a_flow_arriving_mid_connection(void **state)
{
	int there[300], v, in_moved = 0, in_unmoved = 0;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	for (int i = 0; i < 300; i++)
		there[i] = table_backend(55000 + i);	/* what any node picked for its SYN */
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3) "," B(6)), false), 0);
	for (int i = 0; i < 300; i++) {
		bool moved = XLB_TABLE_PREV(table_entry(55000 + i)) != 0;

		assert_int_equal(send_tcp(55000 + i, 0x18, &v), there[i]);	/* PSH|ACK */
		in_moved += moved;
		in_unmoved += !moved;
	}
	assert_true(in_moved > 20 && in_unmoved > 20);
}

/* UDP: flows older than a change keep their backend; new ones follow once the hold is over. */
static void udp_flows_across_a_change(void **state)
{
	int before[300], v, moved = 0, followed = 0;
	__u16 fresh = 58000;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFGU(2, B(1) "," B(2) "," B(3)), false), 0);
	for (int i = 0; i < 300; i++) {
		before[i] = send_udp(56000 + i, &v);
		assert_int_equal(before[i], table_backend_proto(56000 + i, IPPROTO_UDP));
	}
	assert_int_equal(apply(CFGU(2, B(1) "," B(2) "," B(3) "," B(4)), false), 0);
	for (int i = 0; i < 300; i++) {
		assert_int_equal(send_udp(56000 + i, &v), before[i]);
		moved += before[i] != table_backend_proto(56000 + i, IPPROTO_UDP);
	}
	assert_true(moved > 20);
	/* during the hold a new flow of a moved slot is taken as older: the previous backend */
	for (;; fresh++) {
		__u32 e = table_entry_proto(fresh, IPPROTO_UDP);

		if (!XLB_TABLE_PREV(e) || XLB_TABLE_PREV(e) == XLB_TABLE_CUR(e))
			continue;
		int got = send_udp(fresh, &v);

		assert_int_not_equal(got, table_backend_proto(fresh, IPPROTO_UDP));
		fresh++;
		break;
	}
	/* a new flow of a moved slot takes the new backend once flow_idle_timeout (2 s) is over */
	for (time_t end = time(NULL) + 10; time(NULL) < end && !followed; fresh++) {
		__u32 e = table_entry_proto(fresh, IPPROTO_UDP);

		if (!XLB_TABLE_PREV(e) || XLB_TABLE_PREV(e) == XLB_TABLE_CUR(e))
			continue;
		followed = send_udp(fresh, &v) == table_backend_proto(fresh, IPPROTO_UDP);
		if (!followed)
			usleep(100000);	/* the hold is a time: poll it, deadline above */
	}
	assert_true(followed);
	for (int i = 0; i < 300; i++)	/* and the old ones were remembered: they stay */
		assert_int_equal(send_udp(56000 + i, &v), before[i]);
}

/*
 * A SYN flood right after a change: 10,000 established flows (half of them
 * active since the change, half idle), then spoofed SYNs at ten times the
 * connection table's capacity.  Every one of the 10,000 stays on its backend.
 */
static void a_syn_flood_evicts_no_established_flow(void **state)
{
	enum { N = 10000 };
	static int before[N];
	__u32 capacity, entries;
	__u64 limited;
	int v, lost = 0;
	struct xlb_ctl c;
	char src[32];

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	assert_int_equal(bpf_obj_get_info_by_fd(c.dp.flows, &info, &len), 0);
	capacity = info.max_entries;
	xlb_ctl_close(&c);
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	release_all();	/* what earlier tests moved: a clean start */
	for (int i = 0; i < N; i++) {	/* established: SYN, then the handshake's ACK */
		before[i] = send_tcp(10000 + i, 0x02, &v);
		assert_int_equal(send_tcp(10000 + i, 0x10, &v), before[i]);
	}
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3) "," B(4)), false), 0);
	for (int i = 0; i < N; i += 2)
		assert_int_equal(send_tcp(10000 + i, 0x10, &v), before[i]);
	flow_counts(&entries, &limited);
	assert_true(entries > N / 16);	/* the active flows of moved slots are remembered */
	for (__u32 i = 0; i < 10 * capacity; i++) {
		snprintf(src, sizeof(src), "198.18.%u.%u", (i >> 8) & 0xff, i & 0xff);
		send_pkt(src, 1024 + (i >> 16), IPPROTO_TCP, 0x02, &v);
		assert_int_equal(v, XDP_REDIRECT);
	}
	for (int i = 0; i < N; i++)
		lost += send_tcp(10000 + i, 0x10, &v) != before[i];
	fprintf(stderr, "# syn flood of %u (10x the %u-entry table) after a change: %d of %d "
		"established flows lost\n", 10 * capacity, capacity, lost, N);
	assert_int_equal(lost, 0);
}

/*
 * Moved slots are released once no flow has needed their previous backend
 * for flow_idle_timeout (never while one does), their remembered flows
 * forgotten with them, until nothing is moved.
 */
static void moved_slots_are_released_when_idle(void **state)
{
	int before[200], v;
	__u32 entries, still;
	__u64 limited;
	struct xlb_release r;
	struct xlb_ctl c;
	__u32 t0;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFGT(1, B(1) "," B(2) "," B(3)), false), 0);
	for (int i = 0; i < 200; i++)
		before[i] = send_tcp(57000 + i, 0x02, &v);
	assert_int_equal(apply(CFGT(1, B(1) "," B(2) "," B(3) "," B(4)), false), 0);
	t0 = xlb_moved_now();
	for (int i = 0; i < 200; i++)	/* every flow active: the slots it needs are seen now */
		assert_int_equal(send_tcp(57000 + i, 0x10, &v), before[i]);
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, false, &c), 0);
	assert_int_equal(xlb_moved_release(&c, t0 + 1, &r), 0);
	still = r.moved;
	assert_true(r.released > 0);	/* slots no flow of ours is in */
	assert_true(still > 0);		/* the ones our flows need stay */
	xlb_ctl_close(&c);
	for (int i = 0; i < 200; i++)
		assert_int_equal(send_tcp(57000 + i, 0x10, &v), before[i]);
	flow_counts(&entries, &limited);
	assert_true(entries > 0);
	/* nobody needs them past the timeout: all released, the state gone */
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, false, &c), 0);
	assert_int_equal(xlb_moved_release(&c, xlb_moved_now() + 5, &r), 0);
	xlb_ctl_close(&c);
	assert_int_equal(r.released, still);
	assert_int_equal(r.moved, 0);
	assert_true(r.forgotten > 0);
	flow_counts(&entries, &limited);
	assert_int_equal(entries, 0);
	for (int i = 0; i < 200; i++)	/* from the table alone now */
		assert_int_equal(send_tcp(57000 + i, 0x10, &v), table_backend(57000 + i));
}

/*
 * Another table_size places every flow anew: established flows keep their
 * backends by the held previous placement (idle ones too), new flows follow
 * the new table, and once released the service is stateless again.
 */
static void a_new_table_size_keeps_established_flows(void **state)
{
	const char *big = "{\"services\":[{\"name\":\"web\",\"vip\":\"" VIP "\",\"port\":80,"
			  "\"protocol\":\"tcp\",\"table_size\":2003,\"guards\":{\"max_churn\":1,"
			  "\"max_share\":1},\"backends\":[" B(1) "," B(2) "," B(3) "]}]}";
	int before[300], v, moved = 0;
	__u32 entries;
	__u64 limited;
	struct xlb_release r;
	struct xlb_ctl c;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	for (int i = 0; i < 300; i++) {
		before[i] = send_tcp(59000 + i, 0x02, &v);
		assert_int_equal(send_tcp(59000 + i, 0x10, &v), before[i]);
	}
	assert_int_equal(apply(big, false), 0);
	for (int i = 0; i < 300; i++) {
		assert_int_equal(send_tcp(59000 + i, 0x10, &v), before[i]);
		moved += table_backend(59000 + i) != before[i];
		/* a new connection follows the new table */
		assert_int_equal(send_tcp(60000 + i, 0x02, &v), table_backend(60000 + i));
		assert_int_equal(send_tcp(60000 + i, 0x10, &v), table_backend(60000 + i));
	}
	assert_true(moved > 60);	/* most moved, and stayed */
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, false, &c), 0);
	assert_int_equal(xlb_moved_release(&c, xlb_moved_now(), &r), 0);
	assert_int_equal(r.replaced, 0);	/* needed now: held */
	assert_int_equal(xlb_moved_release(&c, xlb_moved_now() + 100000, &r), 0);
	xlb_ctl_close(&c);
	assert_int_equal(r.replaced, 1);
	assert_int_equal(r.moved, 0);
	flow_counts(&entries, &limited);
	assert_int_equal(entries, 0);
	for (int i = 0; i < 300; i++)
		assert_int_equal(send_tcp(59000 + i, 0x10, &v), table_backend(59000 + i));
}

static void established_flows_stay_new_flows_follow(void **state)
{
	int before[100], v, moved_new = 0;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	for (int i = 0; i < 100; i++)
		before[i] = send_tcp(31000 + i, 0x02, &v);
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3) "," B(4)), false), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(send_tcp(31000 + i, 0x10, &v), before[i]);	/* ACKs stay */
		int be = send_tcp(32000 + i, 0x02, &v);				/* new flows */

		assert_int_equal(be, table_backend(32000 + i));
		moved_new += be == 4;
	}
	assert_true(moved_new > 10);
}

static void drain_keeps_flows_down_rehashes(void **state)
{
	int first[60], v;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	for (int i = 0; i < 60; i++)
		first[i] = send_tcp(33000 + i, 0x02, &v);
	assert_int_equal(apply(CFG(B(1) "," BS(2, "drain") "," B(3)), false), 0);
	for (int i = 0; i < 60; i++) {
		assert_int_equal(send_tcp(33000 + i, 0x10, &v), first[i]);
		assert_int_not_equal(send_tcp(34000 + i, 0x02, &v), 2);
	}
	assert_int_equal(apply(CFG(B(1) "," BS(2, "down") "," B(3)), false), 0);
	for (int i = 0; i < 60; i++) {
		int be = send_tcp(33000 + i, 0x10, &v);

		assert_int_not_equal(be, 2);
		if (first[i] != 2)
			assert_int_equal(be, first[i]);
	}
}

static void rollback_restores_tables_byte_for_byte(void **state)
{
	char *a, *b;
	size_t la, lb;
	struct xlb_ctl c;
	__u64 g1;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," BW(2, 300) "," B(3)), false), 0);
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	g1 = c.live_gen;
	xlb_ctl_close(&c);
	a = dump_state(&la);
	assert_int_equal(apply(CFG(B(1) "," B(5) "," B(6)), false), 0);
	assert_int_equal(rollback_to(g1), 0);
	b = dump_state(&lb);
	/* the maps' part, up to the history records, is identical but for the generation */
	char *ra = memmem(a, la, "table ", 6), *rb = memmem(b, lb, "table ", 6);
	char *ea = memmem(a, la, "record ", 7), *eb = memmem(b, lb, "record ", 7);

	assert_non_null(ra);
	assert_int_equal(ea - ra, eb - rb);
	assert_memory_equal(ra, rb, ea - ra);
	free(a);
	free(b);
}

static void a_failure_at_any_step_changes_nothing(void **state)
{
	static const char *const steps[] = { "backends", "tables", "services", "conf", "record",
					     "switch" };

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," B(2)), false), 0);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t la, lb;
		char *a = dump_state(&la), *b;
		int v, be_before = send_tcp(35000 + i, 0x02, &v);

		setenv("XLB_FAIL_AT", steps[i], 1);
		assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3) "," B(4)), false), -EIO);
		unsetenv("XLB_FAIL_AT");
		b = dump_state(&lb);
		if (la != lb || memcmp(a, b, la))
			fail_msg("failure at '%s' changed the live state or the history", steps[i]);
		assert_int_equal(send_tcp(35100 + i, 0x02, &v), table_backend(35100 + i));
		assert_int_equal(send_tcp(35000 + i, 0x10, &v), be_before);
		free(a);
		free(b);
	}
}

/* A failure's message is its own; a success leaves none behind. */
static void every_result_has_its_own_message(void **state)
{
	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," B(2)), false), 0);
	setenv("XLB_FAIL_AT", "tables", 1);
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), -EIO);
	unsetenv("XLB_FAIL_AT");
	assert_non_null(strstr(xlb_errmsg(), "injected failure at step 'tables'"));
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);	/* applied */
	assert_string_equal(xlb_errmsg(), "unknown error");
	setenv("XLB_FAIL_AT", "switch", 1);
	assert_int_equal(apply(CFG(B(1) "," B(2)), false), -EIO);
	unsetenv("XLB_FAIL_AT");
	assert_non_null(strstr(xlb_errmsg(), "step 'switch'"));
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);	/* unchanged */
	assert_string_equal(xlb_errmsg(), "unknown error");
}

/*
 * Defect 12: a read-only command read the live generation, a commit landed
 * (switched, then killed before its record was final: pending), and the
 * reader, taking the lock after, reconciled against the generation it had
 * read — dropping the live generation's record as one that never went live.
 */
static __u64 landed;

static int land_a_commit(const char *step)
{
	char hist[512];
	struct xlb_record r;
	__u64 *gens;
	__u32 n;

	if (strcmp(step, "reader") || landed)
		return 0;
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	assert_int_equal(xlb_history_dir(tx.state_dir, tx.ifname, hist, sizeof(hist)), 0);
	assert_int_equal(xlb_history_list(hist, &gens, &n), 0);
	assert_true(n > 0);
	landed = gens[n - 1];
	free(gens);
	/* what a kill at step finalize leaves: live, its record still pending */
	assert_int_equal(xlb_history_read(hist, landed, XLB_RECORD_FULL, &r), 0);
	r.pending = true;
	assert_int_equal(xlb_history_write(hist, &r), 0);
	xlb_record_free(&r);
	return 0;
}

static void a_reader_settles_against_the_live_generation(void **state)
{
	xlb_fault_fn before = xlb_fault_hook;
	struct xlb_record r;
	struct xlb_ctl c;
	__u64 gen;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," B(2)), false), 0);
	landed = 0;
	xlb_fault_hook = land_a_commit;
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, true, &c), 0);
	xlb_fault_hook = before;
	assert_true(landed > 0);
	gen = c.live_gen;
	if (xlb_history_read(c.hist, landed, XLB_RECORD_META, &r))
		fail_msg("the reader dropped the record of live generation %llu: %s",
			 (unsigned long long)landed, xlb_errmsg());
	assert_false(r.pending);	/* settled as applied */
	xlb_record_free(&r);
	xlb_ctl_close(&c);
	assert_int_equal(gen, landed);
	assert_int_equal(xlb_ctl_open(tx.ifname, tx.state_dir, false, &c), 0);	/* running config there */
	assert_int_equal(c.live_gen, landed);
	xlb_ctl_close(&c);
}

static void guards_refuse_without_force(void **state)
{
	const char *skewed = "{\"services\":[{\"name\":\"web\",\"vip\":\"" VIP "\",\"port\":80,"
			     "\"protocol\":\"tcp\",\"table_size\":1009,\"backends\":["
			     BW(1, 900) "," BW(2, 50) "," BW(3, 50) "]}]}";
	size_t la, lb;
	char *a, *b;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1) "," B(2) "," B(3)), false), 0);
	a = dump_state(&la);
	assert_int_equal(apply(skewed, false), -EPERM);
	b = dump_state(&lb);
	assert_true(la == lb && !memcmp(a, b, la));
	assert_int_equal(apply(skewed, true), 0);
	free(a);
	free(b);
}

static void a_forced_empty_service_stops_matching(void **state)
{
	int v;

	(void)state;
	SKIP_IF_NEEDED();
	assert_int_equal(apply(CFG(B(1)), false), 0);
	assert_int_equal(send_tcp(36000, 0x02, &v), 1);
	assert_int_equal(apply(CFG(""), false), -EPERM);
	assert_int_equal(send_tcp(36001, 0x02, &v), 1);
	assert_int_equal(apply(CFG(""), true), 0);
	assert_int_equal(send_tcp(36002, 0x02, &v), 0);
	assert_int_equal(v, XDP_PASS);
}

static int setup(void **state)
{
	(void)state;
	if (!testnet_setup(&skip_why))
		testnet_attach("xc", 4096, &tx, &skip_why);
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
		cmocka_unit_test(flows_land_where_the_table_says),
		cmocka_unit_test(established_flows_stay_new_flows_follow),
		cmocka_unit_test(a_hash_key_keys_the_table_and_the_flow_hash),
		cmocka_unit_test(the_flood_guard_forwards_without_remembering),
		cmocka_unit_test(drain_keeps_flows_down_rehashes),
		cmocka_unit_test(rollback_restores_tables_byte_for_byte),
		cmocka_unit_test(a_failure_at_any_step_changes_nothing),
		cmocka_unit_test(every_result_has_its_own_message),
		cmocka_unit_test(a_reader_settles_against_the_live_generation),
		cmocka_unit_test(guards_refuse_without_force),
		cmocka_unit_test(a_forced_empty_service_stops_matching),
		cmocka_unit_test(two_changes_in_a_row),
		cmocka_unit_test(a_change_and_its_rollback),
		cmocka_unit_test(a_flow_arriving_mid_connection),
		cmocka_unit_test(udp_flows_across_a_change),
		cmocka_unit_test(moved_slots_are_released_when_idle),
		cmocka_unit_test(a_new_table_size_keeps_established_flows),
		cmocka_unit_test(a_syn_flood_evicts_no_established_flow),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
