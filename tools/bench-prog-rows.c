/*
 * bench-prog's rows: each balancer case with the output it must give (checked
 * byte for byte first) and the path its counters must show once timed; a
 * row whose counters say otherwise fails the run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include "bpf/xlbtest.h"
#include "testnet.h"
#include "netutil.h"
#include "maglev.h"
#include "../bpf/hash.h"
#include "xlb_bench.h"
#include "bench-prog.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* The services bench-prog adds next to the BPF tests' (slot 0, after theirs). */
enum { SVC_BIG = 7, SVC_GUE, SVC_L2, SVC_SRC };
#define VIP_BIG		"192.0.2.30"
#define VIP_GUE		"192.0.2.31"
#define VIP_L2		"192.0.2.32"
#define VIP_SRC		"192.0.2.33"
#define BIG_M		65537
#define BIG_FIRST	101	/* ids 101..200: 198.51.100.101..200 */
#define BIG_N		100
#define ID_GUE		201
#define ID_L2		202
#define ID_SRC		203	/* ids 203..206: 198.51.100.1..4 */
#define SRC_M		13
#define GUE_PORT	6080

enum kind { K_IPIP, K_PREV, K_BIG, K_GUE, K_L2, K_SRC, K_PASS };
enum tables { T_ANY, T_EMPTY, T_FULL };

struct row {
	const char *name;
	enum bp_path path;
	enum kind kind;
	int verdict;
	__u32 vary_mod;
	int repeat;		/* 0: -n */
	bool moved;		/* web4's every slot moved (prev = the other backend) */
	bool warm_flow;		/* its SYN and itself once first: a known flow */
	bool fib_every;
	__u32 flow_rate;	/* 0: unlimited (no guard) */
	enum tables tables;
	struct pb pkt;
};

static __u32 big_table[BIG_M];

static void tcp4(struct pb *b, __u16 sport, __u8 flags, const char *dst)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
	pb_ipv4(b, CLIENT4, dst, IPPROTO_TCP);
	pb_tcp(b, sport, 80, flags);
	pb_payload(b, 10);
	pb_finish(b);
}

static int add_service(__u32 index, const char *vip, __u8 hash_fields, const __u32 *ids, __u32 m)
{
	struct xlb_service_key key = { .port = htons(80), .proto = IPPROTO_TCP };
	struct xlb_service svc = { .index = index, .table_size = m, .hash_fields = hash_fields };

	xlb_addr_parse(vip, &key.vip, &key.family);
	return xlb_dp_set_service(&xt_dp, 0, key, &svc) ?:
	       xlb_dp_set_vip(&xt_dp, 0, &key.vip, key.family) ?:
	       xlb_dp_set_table(&xt_dp, 0, index, ids, m);
}

static int add_backend(__u32 id, const char *addr, __u32 service, __u8 fwd)
{
	struct xlb_backend be = { .state = XLB_BACKEND_ACTIVE, .gen = 1, .service = service,
				  .fwd = fwd };

	if (fwd == XLB_FWD_GUE)
		be.gue_port = htons(GUE_PORT);
	xlb_addr_parse(addr, &be.addr, &be.family);
	return xlb_dp_set_backend(&xt_dp, 0, id, &be);
}

/* Slot 0: the BPF tests' configuration, then the big table and the modes' services. */
static int write_config(void)
{
	__u32 one[1], src[SRC_M];
	char a[32];
	int err = xt_write_config(0, 0);

	for (__u32 i = 0; i < BIG_N && !err; i++) {
		snprintf(a, sizeof(a), "198.51.100.%u", BIG_FIRST + i);
		err = add_backend(BIG_FIRST + i, a, SVC_BIG, XLB_FWD_IPIP);
	}
	err = err ?: add_service(SVC_BIG, VIP_BIG, XLB_HASH_5TUPLE, big_table, BIG_M);
	one[0] = ID_GUE;
	err = err ?: add_backend(ID_GUE, "198.51.100.1", SVC_GUE, XLB_FWD_GUE) ?:
		     add_service(SVC_GUE, VIP_GUE, XLB_HASH_5TUPLE, one, 1);
	one[0] = ID_L2;
	err = err ?: add_backend(ID_L2, "198.51.100.2", SVC_L2, XLB_FWD_L2) ?:
		     add_service(SVC_L2, VIP_L2, XLB_HASH_5TUPLE, one, 1);
	for (__u32 i = 0; i < 4 && !err; i++) {
		snprintf(a, sizeof(a), "198.51.100.%u", i + 1);
		err = add_backend(ID_SRC + i, a, SVC_SRC, XLB_FWD_IPIP);
	}
	for (__u32 j = 0; j < SRC_M; j++)
		src[j] = ID_SRC + j % 4;
	return err ?: add_service(SVC_SRC, VIP_SRC, XLB_HASH_SRC, src, SRC_M);
}

/* Neighbours of the 100 backends (02:00:00:00:04:NN) and their Maglev table. */
int bp_rows_setup(void)
{
	struct xlb_maglev_backend b[BIG_N];
	char cmd[128];
	FILE *ip = popen("ip -b - >/dev/null", "w");

	if (!ip)
		return -errno;
	for (__u32 i = 0; i < BIG_N; i++) {
		fprintf(ip, "neigh replace 198.51.100.%u lladdr 02:00:00:00:04:%02x dev xlb0 "
			"nud permanent\n", BIG_FIRST + i, i + 1);
		b[i] = (struct xlb_maglev_backend){ .family = XLB_FAMILY_V4, .weight = 100,
						    .id = BIG_FIRST + i };
		snprintf(cmd, sizeof(cmd), "198.51.100.%u", BIG_FIRST + i);
		inet_pton(AF_INET, cmd, &b[i].addr.v4);
	}
	if (pclose(ip) != 0) {
		fprintf(stderr, "bench-prog: cannot add the 100 backends' neighbours (ip -b)\n");
		return -EIO;
	}
	return xlb_maglev_build(b, BIG_N, BIG_M, big_table) ?: write_config();
}

static const struct row rows_tmpl[] = {
	{ "tcp known flow (v4 ACK)", BP_STATELESS, K_IPIP, XDP_TX },
	{ "tcp known flow, fib/packet", BP_STATELESS, K_IPIP, XDP_TX, .fib_every = true },
	{ "tcp new flow (v4 SYN)", BP_STATELESS, K_IPIP, XDP_TX, BP_VARY_NEW },
	{ "tcp known flow (v6 ACK)", BP_STATELESS, K_IPIP, XDP_REDIRECT },
	{ "udp known flow (v4)", BP_STATELESS, K_IPIP, XDP_TX },
	{ "non-vip pass", BP_PASS, K_PASS, XDP_PASS },
	{ "mix of 100000 flows (v4)", BP_STATELESS, K_IPIP, XDP_TX, 100000 },
	{ "M=65537, 100 backends, 100000 flows", BP_STATELESS, K_BIG, XDP_TX, 100000 },
	{ "gue known flow (v4)", BP_STATELESS, K_GUE, XDP_TX },
	{ "l2 known flow (v4)", BP_STATELESS, K_L2, XDP_TX },
	{ "hash src known flow (v4)", BP_STATELESS, K_SRC, XDP_TX },
	/* slots a change moved: the connection tables are consulted */
	{ "moved slot: known flow", BP_MOVED_HIT, K_IPIP, XDP_TX, .moved = true,
	  .warm_flow = true },
	{ "moved slot: SYN, empty tables", BP_MOVED_NEW, K_IPIP, XDP_TX, BP_VARY_NEW, 20000,
	  .moved = true, .tables = T_EMPTY },
	{ "moved slot: mix of 100000 flows", BP_MOVED_MIX, K_PREV, XDP_TX, 100000, .moved = true },
	{ "moved slot: SYN, full tables", BP_MOVED_NEW, K_IPIP, XDP_TX, BP_VARY_NEW, 100000,
	  .moved = true, .tables = T_FULL },
	{ "moved slot: SYN flood, guard refuses", BP_GUARD_REFUSED, K_IPIP, XDP_TX, BP_VARY_NEW,
	  200000, .moved = true, .flow_rate = 1, .tables = T_FULL },
};
#define NR_ROWS (sizeof(rows_tmpl) / sizeof(rows_tmpl[0]))

static void build_packet(struct row *r, __u16 sport)
{
	const char *dst = r->kind == K_BIG ? VIP_BIG : r->kind == K_GUE ? VIP_GUE :
			  r->kind == K_L2 ? VIP_L2 : r->kind == K_SRC ? VIP_SRC :
			  r->kind == K_PASS ? OTHER4 : VIP4;
	bool syn = r->path == BP_MOVED_NEW || r->path == BP_GUARD_REFUSED ||
		   !strcmp(r->name, "tcp new flow (v4 SYN)");
	struct pb *b = &r->pkt;

	if (strstr(r->name, "v6")) {
		pb_init(b);
		pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IPV6);
		pb_ipv6(b, CLIENT6, VIP6, IPPROTO_TCP);
		pb_tcp(b, sport, 443, 0x10);
		pb_payload(b, 10);
		pb_finish(b);
	} else if (strstr(r->name, "udp")) {
		pb_init(b);
		pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
		pb_ipv4(b, CLIENT4, VIP4, IPPROTO_UDP);
		pb_udp(b, sport, 53);
		pb_payload(b, 30);
		pb_finish(b);
	} else {
		tcp4(b, sport, syn ? 0x02 : 0x10, dst);
	}
}

static __u32 hash_of(const struct pb *p, __u8 fields)
{
	struct xlb_flow_key k;

	xt_flow_key(p, &k);
	return xlb_flow_hash_fields(&k, XLB_HASH_SEED, fields);
}

/* The IP-in-IP output a backend id gives (the BPF tests' oracle), for every id used. */
static void expect_ipip(struct pb *want, const struct pb *in, __u32 id)
{
	__u8 mac[6] = { 2, 0, 0, 0, 4, 0 };
	__u32 n = 0;
	char a[32];

	if (id >= BIG_FIRST && id < BIG_FIRST + BIG_N) {
		mac[5] = id - BIG_FIRST + 1;
		snprintf(a, sizeof(a), "198.51.100.%u", id);
		pb_expect_encap(want, in, mac, PB_MAC_NODE, TN_NODE4, a);
		return;
	}
	n = id == ID_GUE ? 1 : id == ID_L2 ? 2 : id >= ID_SRC ? id - ID_SRC + 1 : 0;
	if (!n) {
		xt_expect(want, in, id);	/* the BPF tests' backends */
		return;
	}
	testnet_backend_mac(4, n, mac);
	snprintf(a, sizeof(a), "198.51.100.%u", n);
	pb_expect_encap(want, in, mac, PB_MAC_NODE, TN_NODE4, a);
}

/*
 * GUE from the IP-in-IP oracle: outer protocol UDP, 8 bytes longer (checksum
 * again), then the UDP header (source port from the flow hash, checksum 0).
 */
static void expect_gue(struct pb *want, const struct pb *in)
{
	struct pb ipip;
	__u32 h = hash_of(in, XLB_HASH_5TUPLE), ilen = in->len - in->ip_off[0], sum = 0;
	__u8 *ip, udp[8];
	__u16 sport = XLB_GUE_SPORT_MIN + (h & 0x3fff), tot;

	expect_ipip(&ipip, in, ID_GUE);
	*want = ipip;
	ip = want->d + 14;
	tot = ((ip[2] << 8) | ip[3]) + 8;
	ip[2] = tot >> 8;
	ip[3] = tot;
	ip[9] = IPPROTO_UDP;
	ip[10] = ip[11] = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (ip[i] << 8) | ip[i + 1];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = ~sum >> 8;
	ip[11] = ~sum;
	udp[0] = sport >> 8; udp[1] = sport;
	udp[2] = GUE_PORT >> 8; udp[3] = GUE_PORT & 0xff;
	udp[4] = (ilen + 8) >> 8; udp[5] = ilen + 8;
	udp[6] = udp[7] = 0;
	memcpy(want->d + 34, udp, 8);
	memcpy(want->d + 42, ipip.d + 34, ipip.len - 34);
	want->len = ipip.len + 8;
}

static bool same(const __u8 *out, __u32 len, const struct pb *want)
{
	return len == want->len && !memcmp(out, want->d, len);
}

/* The backend an ACK without state in a moved slot goes to: the previous one. */
static __u32 prev_of(const struct pb *p)
{
	__u32 cur = xt_table_pick(p, SVC_WEB4);

	return cur == 1 ? 2 : 1;
}

/* The src-hash row: 16 source ports, all to the backend the source alone picks. */
static int verify_src(struct row *r, const char **skip)
{
	__u8 out[PB_MAX + 256];
	int by_src = 0, by_tuple = 0;
	struct pb p, want;
	__u32 len;

	for (__u16 port = 41000; port < 41016; port++) {
		__u32 s = ID_SRC + xlb_table_index(hash_of(&r->pkt, XLB_HASH_SRC), SRC_M) % 4;
		__u32 t;

		tcp4(&p, port, 0x10, VIP_SRC);
		t = ID_SRC + xlb_table_index(hash_of(&p, XLB_HASH_5TUPLE), SRC_M) % 4;
		if (xt_run(&p, "xlb0", out, &len) != XDP_TX)
			break;
		expect_ipip(&want, &p, s);
		by_src += same(out, len, &want);
		expect_ipip(&want, &p, t);
		by_tuple += same(out, len, &want);
	}
	if (by_src == 16)
		return 0;
	if (by_tuple == 16) {
		*skip = "the data path hashes the 5-tuple (hash src not implemented)";
		return 0;
	}
	fprintf(stderr, "bench-prog: %s: %d of 16 ports went where the source alone sends them\n",
		r->name, by_src);
	return -1;
}

/* One run's verdict and bytes: what the timed runs will produce.  *skip: mode absent. */
static int verify(struct row *r, const char **skip)
{
	__u8 out[PB_MAX + 256];
	struct pb want, ipip;
	__u32 len;
	int v;

	*skip = NULL;
	if (r->kind == K_SRC)
		return verify_src(r, skip);
	v = xt_run(&r->pkt, "xlb0", out, &len);
	if (v != r->verdict) {
		fprintf(stderr, "bench-prog: %s: verdict %d, want %d\n", r->name, v, r->verdict);
		return -1;
	}
	switch (r->kind) {
	case K_PASS: want = r->pkt; break;
	case K_PREV: expect_ipip(&want, &r->pkt, prev_of(&r->pkt)); break;
	case K_BIG:
		expect_ipip(&want, &r->pkt,
			    big_table[xlb_table_index(hash_of(&r->pkt, 0), BIG_M)]);
		break;
	case K_GUE: expect_gue(&want, &r->pkt); break;
	case K_L2:
		want = r->pkt;
		testnet_backend_mac(4, 2, want.d);
		memcpy(want.d + 6, PB_MAC_NODE, 6);
		break;
	default:
		expect_ipip(&want, &r->pkt, xt_table_pick(&r->pkt, r->pkt.ip_family[0] == 6 ?
						SVC_ANY6 : r->pkt.l4_proto == IPPROTO_UDP ?
						SVC_DNS4 : SVC_WEB4));
	}
	if (same(out, len, &want))
		return 0;
	if (r->kind == K_GUE || r->kind == K_L2) {
		expect_ipip(&ipip, &r->pkt, r->kind == K_GUE ? ID_GUE : ID_L2);
		if (same(out, len, &ipip)) {
			*skip = r->kind == K_GUE ? "the data path sends IP-in-IP (gue not implemented)"
						 : "the data path sends IP-in-IP (l2 not implemented)";
			return 0;
		}
	}
	fprintf(stderr, "bench-prog: %s: output differs from the expected bytes\n", r->name);
	pb_diff(out, len, want.d, want.len);
	return -1;
}

/* The slot settings a row runs with: next-hop cache or not, the flood guard's rate. */
static int set_slot(bool fib_every, __u32 flow_rate)
{
	struct xlb_slot_conf conf;

	for (__u32 slot = 0; slot < XLB_SLOTS; slot++) {
		if (xlb_dp_get_slot_conf(&xt_dp, slot, &conf))
			return -1;
		conf.flags = fib_every ? conf.flags | XLB_SLOT_F_FIB_EVERY_PACKET
				       : conf.flags & ~XLB_SLOT_F_FIB_EVERY_PACKET;
		conf.flow_rate = flow_rate ?: XLB_FLOW_RATE_UNLIMITED;
		if (xlb_dp_set_slot_conf(&xt_dp, slot, &conf))
			return -1;
	}
	return 0;
}

/* Mark every slot of web4's table in slot 0 moved, from the other backend (1 <-> 2). */
static int move_all(void)
{
	__u32 *t, m;
	int err = xlb_dp_get_table_raw(&xt_dp, 0, SVC_WEB4, &t, &m);

	for (__u32 i = 0; !err && i < m; i++)
		t[i] = XLB_TABLE_ENTRY(XLB_TABLE_CUR(t[i]), XLB_TABLE_CUR(t[i]) == 1 ? 2 : 1);
	err = err ?: xlb_dp_set_table(&xt_dp, 0, SVC_WEB4, t, m);
	free(t);
	return err;
}

static void clear_syns(void)
{
	xlb_dp_clear_syns(&xt_dp);
}

/* What one CPU's LRU list of a map holds (BPF_F_NO_COMMON_LRU: max / possible CPUs). */
static __u32 per_cpu_capacity(int map_fd)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(map_fd, &info, &len))
		return 0;
	return info.max_entries / libbpf_num_possible_cpus();
}

/*
 * Full tables for ncpu CPUs: ACKs without state in moved slots fill xlb_flows
 * (each is remembered with its previous backend), each CPU past its own LRU
 * list's capacity; SYNs fill xlb_syn_cells (shared by the CPUs: each sends
 * three times its share).  0, or -1 with the counts said.
 */
static int fill_tables(int ncpu)
{
	struct pb ack, syn;
	struct bp_load l = { .target_fd = bpf_program__fd(xt_skel->progs.xlb_balance),
			     .head_delta = 20, .vary_mod = BP_VARY_NEW };
	__u32 fcap = per_cpu_capacity(xt_dp.flows), v;
	__u32 scap = XLB_SYN_SETS * XLB_SYN_WAYS / ncpu;	/* a CPU's share of the cells */
	__u32 flows, syns;
	int saved = bp_rounds, err;
	__u64 ns;

	tcp4(&ack, 42000, 0x10, VIP4);
	tcp4(&syn, 42001, 0x02, VIP4);
	bp_rounds = 3;
	l.pkt = &ack;
	l.repeat = fcap / 2 + 1;	/* three rounds: 1.5 x a CPU's share */
	err = set_slot(false, 0) ?: bp_time(&l, ncpu, &ns, &v);
	l.pkt = &syn;
	l.repeat = scap + 1;
	err = err ?: bp_time(&l, ncpu, &ns, &v);
	bp_rounds = saved;
	if (err)
		return err;
	flows = bp_entries(xt_dp.flows);
	syns = bp_syn_entries();
	if (flows < (__u64)fcap * ncpu * 95 / 100 || syns < (__u64)scap * ncpu * 95 / 100) {
		fprintf(stderr, "bench-prog: FAIL: the tables did not fill: xlb_flows %u (want "
			"%u), xlb_syn_cells %u (want %u)\n", flows, fcap * ncpu, syns, scap * ncpu);
		return -1;
	}
	return 0;
}

struct bound {
	const char *counter;
	__u64 got;
	bool at_least;		/* got >= want, else got <= want */
	__u64 want;
};

/* The counters a row's path must move, and those it must not. */
static int path_bounds(const struct row *r, const struct bp_counters *d, __u64 n, __u64 timed,
		       struct bound *b)
{
	int i = 0;

	switch (r->path) {
	case BP_STATELESS:
		b[i++] = (struct bound){ "xlb_stats tx+redirect", d->fwd, true, n };
		b[i++] = (struct bound){ "xlb_events flow_new", d->flow_new, false, 0 };
		b[i++] = (struct bound){ "xlb_events flow_hit", d->flow_hit, false, 0 };
		b[i++] = (struct bound){ "xlb_moved_stats packets", d->moved, false, 0 };
		break;
	case BP_PASS:
		b[i++] = (struct bound){ "xlb_stats pass:not_vip", d->pass_not_vip, true, n };
		b[i++] = (struct bound){ "xlb_stats tx+redirect", d->fwd, false, 0 };
		break;
	case BP_MOVED_HIT:
		b[i++] = (struct bound){ "xlb_events flow_hit", d->flow_hit, true, n };
		b[i++] = (struct bound){ "xlb_events flow_new", d->flow_new, false, 0 };
		b[i++] = (struct bound){ "xlb_moved_stats packets", d->moved, true, n };
		break;
	case BP_MOVED_NEW:
		b[i++] = (struct bound){ "xlb_events flow_new", d->flow_new, true, n };
		b[i++] = (struct bound){ "xlb_syn_stats syns", d->syns, true, n };
		b[i++] = (struct bound){ "xlb_flood limited", d->limited, false, 0 };
		b[i++] = (struct bound){ "xlb_moved_stats packets", d->moved, true, n };
		break;
	case BP_MOVED_MIX:
		b[i++] = (struct bound){ "xlb_events flow_hit", d->flow_hit, true, timed };
		b[i++] = (struct bound){ "xlb_events flow_hit+flow_new", d->flow_hit + d->flow_new,
					 true, n };
		b[i++] = (struct bound){ "xlb_moved_stats packets", d->moved, true, n };
		break;
	case BP_GUARD_REFUSED:
		b[i++] = (struct bound){ "xlb_flood limited", d->limited, true, n * 99 / 100 };
		b[i++] = (struct bound){ "xlb_events flow_new", d->flow_new, false, n / 100 };
		b[i++] = (struct bound){ "xlb_moved_stats packets", d->moved, true, n };
		break;
	}
	return i;
}

static int check_path(const struct row *r, int ncpu, const struct bp_counters *a,
		      const struct bp_counters *z, __u64 n, __u64 timed)
{
	struct bp_counters d = {
		z->fwd - a->fwd, z->pass_not_vip - a->pass_not_vip, z->flow_new - a->flow_new,
		z->flow_hit - a->flow_hit, z->syns - a->syns, z->limited - a->limited,
		z->moved - a->moved,
	};
	struct bound b[8];
	int nb = path_bounds(r, &d, n, timed, b), bad = 0;

	for (int i = 0; i < nb; i++) {
		if (b[i].at_least ? b[i].got >= b[i].want : b[i].got <= b[i].want)
			continue;
		fprintf(stderr, "bench-prog: FAIL: row \"%s\" (%d CPU): %s grew by %llu, want %s "
			"%llu (%llu packets)\n", r->name, ncpu, b[i].counter,
			(unsigned long long)b[i].got, b[i].at_least ? "at least" : "at most",
			(unsigned long long)b[i].want, (unsigned long long)n);
		bad = 1;
	}
	/* a set of XLB_SYN_WAYS cells overflows now and then: 90% of them, at most all */
	if (r->tables == T_EMPTY && (bp_syn_entries() > (__u32)(r->repeat * ncpu) ||
				     bp_syn_entries() < (__u32)(r->repeat * ncpu) * 9 / 10)) {
		fprintf(stderr, "bench-prog: FAIL: row \"%s\" (%d CPU): xlb_syn_cells holds %u "
			"after a round of %d new flows per CPU into an emptied table\n", r->name,
			ncpu, bp_syn_entries(), r->repeat);
		bad = 1;
	}
	return bad;
}

/* One row on ncpu CPUs: its ns per packet (harness overhead subtracted); *bad on a path failure. */
static int time_row(struct row *r, int ncpu, __u64 overhead, double *ns, int *bad)
{
	struct bp_load l = { .pkt = &r->pkt,
			     .target_fd = bpf_program__fd(xt_skel->progs.xlb_balance),
			     .head_delta = r->verdict == XDP_PASS || r->kind == K_L2 ? 0 :
					   r->kind == K_GUE ? 28 : r->pkt.ip_family[0] == 4 ? 20 : 40,
			     .vary_mod = r->vary_mod, .repeat = r->repeat ?: bp_repeat,
			     .warm = r->path == BP_MOVED_MIX };
	struct bp_counters a, z;
	__u64 t;
	__u32 v;
	int err;

	if (r->tables == T_EMPTY) {
		l.before_round = clear_syns;
		if (bp_clear(xt_dp.flows) || xlb_dp_clear_syns(&xt_dp))
			return -EIO;
	}
	if (r->tables == T_FULL && fill_tables(ncpu)) {
		*bad = 1;
		return 0;
	}
	err = set_slot(r->fib_every, r->flow_rate) ?: bp_counters(&a) ?:
	      bp_time(&l, ncpu, &t, &v) ?: bp_counters(&z) ?: set_slot(false, 0);
	if (err)
		return err;
	if ((int)v != r->verdict) {
		fprintf(stderr, "bench-prog: FAIL: row \"%s\": timed verdict %u, want %d\n",
			r->name, v, r->verdict);
		*bad = 1;
	}
	*bad |= check_path(r, ncpu, &a, &z, (__u64)ncpu * l.repeat * (bp_rounds + l.warm),
			   (__u64)ncpu * l.repeat * bp_rounds);
	*ns = (t > overhead ? t - overhead : 0) / 1000.0;
	return 0;
}

static const char *const vnames[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
				      "XDP_REDIRECT" };

int bp_rows_run(struct bp_result *res, int *n, int *bad, __u64 overhead[BP_MAX_CPUS], int ncpu)
{
	static struct row rows[NR_ROWS];
	__u8 out[PB_MAX + 256];
	bool moved = false;
	__u32 len;

	for (size_t i = 0; i < NR_ROWS; i++) {
		struct row *r = &rows[i];
		struct bp_result *o = &res[i];
		const char *skip;

		*r = rows_tmpl[i];
		build_packet(r, 41000 + i);
		*o = (struct bp_result){ .name = r->name, .verdict = vnames[r->verdict] };
		if (r->moved && !moved) {
			if (move_all())
				return -EIO;
			moved = true;
		}
		if (r->warm_flow) {	/* its SYN first: the connection is the table's */
			struct pb syn;

			tcp4(&syn, 41000 + i, 0x02, VIP4);
			xt_run(&syn, "xlb0", out, &len);
			xt_run(&r->pkt, "xlb0", out, &len);
		}
		if (verify(r, &skip)) {
			*bad = o->failed = true;
			continue;
		}
		if (skip) {
			o->skipped = true;
			o->note = skip;
			continue;
		}
		for (int c = 1; c <= ncpu; c++) {
			int failed = 0, err = time_row(r, c, overhead[c - 1], &o->ns[c - 1], &failed);

			if (err)
				return err;
			o->failed |= failed;
		}
		*bad |= o->failed;
	}
	*n = NR_ROWS;
	return write_config();
}
