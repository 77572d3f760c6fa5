/*
 * bench-prog: cost of the balancer per packet through BPF_PROG_TEST_RUN,
 * as ratios against a MAC-swap baseline measured in the same run.
 *
 * Every iteration sees the original packet: a harness program restores it
 * and tail-calls the program under test; the harness's own cost (harness
 * tail-calling a program that only returns) is subtracted.  Each case's
 * verdict and output bytes are checked before it is timed.
 *
 * The encap baseline is the cheapest IP-in-IP encapsulator (head grown, a
 * fixed outer header, XDP_TX) through the same harness: the balancer's
 * encapsulating cases and it both pay the harness's restore of the head, so
 * "vs encap" is the balancer's cost over the work any IP-in-IP balancer does.
 *
 * -F: flood survival instead.  ESTABLISHED flows are made, a change moves
 * about half of them to another table slot owner (only their entries keep
 * them), a flood of spoofed SYNs at FACTOR times the connection table's
 * capacity (-f: its size) follows, and the report says how many
 * established flows still reach their backend: with the flood guard off and on.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include "baseline.skel.h"
#include "xlb_bench.h"
#include "bpf/xlbtest.h"
#include "testnet.h"
#include "moved.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct bcase {
	const char *name;
	int verdict;
	int backend;		/* expected backend id; 0: pass, output unchanged */
	__u32 vary_mod;		/* distinct client addresses cycled through */
	const char *ifname;
	bool warm;		/* run once first so the flow is known */
	bool fib_every;		/* bpf_fib_lookup per packet, no next-hop cache */
	int repeat;		/* iterations per round; 0 = -n */
	bool guard;		/* the flood guard at its default rate (else off:
				   every new flow makes an entry, its full cost) */
	bool moved;		/* every slot of web4 moved by a change (prev = the
				   other backend): the connection-table path */
	struct pb pkt;
};

static struct baseline_bpf *base;
static int repeat = 2000000, rounds = 9;

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * ns per iteration (x1000) of prog_fd on pkt, from the kernel's own timing:
 * each BPF_PROG_TEST_RUN call has milliseconds of fixed set-up cost, so the
 * wall clock around it says nothing about a packet.
 */
static int time_prog(int prog_fd, const struct pb *pkt, const char *ifname, __u32 *verdict,
		     __u64 *ns_x1000)
{
	struct xdp_md ctx = { .data_end = pkt->len, .ingress_ifindex = testnet_ifindex(ifname) };
	__u8 out[PB_MAX + 256];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt->d, .data_size_in = pkt->len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = repeat);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	*verdict = o.retval;
	*ns_x1000 = (__u64)o.duration * 1000;
	return 0;
}

/* Arm the harness with pkt and the program it calls. */
static __u32 vary_base;	/* distinct flows across rounds and cases */

static int arm(const struct pb *pkt, int target_fd, __s32 head_delta, __u32 vary_mod)
{
	struct xlb_bench_pkt bp = { .len = pkt->len, .head_delta = head_delta,
				    .vary_off = pkt->ip_off[0] + 12, .vary_mod = vary_mod,
				    .vary_base = vary_base };
	__u32 zero = 0;

	memcpy(bp.bytes, pkt->d, pkt->len);
	if (bpf_map_update_elem(bpf_map__fd(base->maps.bench_pkt), &zero, &bp, BPF_ANY))
		return -errno;
	if (bpf_map_update_elem(bpf_map__fd(base->maps.bench_target), &zero, &target_fd, BPF_ANY))
		return -errno;
	return 0;
}

static void tcp4(struct pb *b, __u16 sport, __u8 flags, const char *dst)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
	pb_ipv4(b, CLIENT4, dst, IPPROTO_TCP);
	pb_tcp(b, sport, 80, flags);
	pb_payload(b, 10);
	pb_finish(b);
}

static void build_cases(struct bcase *c, int *n)
{
	int i = 0;

	c[i] = (struct bcase){ "tcp known flow (v4 ACK)", XDP_TX, -1, 0, "xlb0", true };
	tcp4(&c[i++].pkt, 41000, 0x10, VIP4);
	c[i] = (struct bcase){ "tcp known flow, fib/packet", XDP_TX, -1, 0, "xlb0", true, true };
	tcp4(&c[i++].pkt, 41000, 0x10, VIP4);
	c[i] = (struct bcase){ "tcp new flow (v4 SYN)", XDP_TX, -1, 0xffffffff, "xlb0", false,
			       false, 100000 };
	tcp4(&c[i++].pkt, 41001, 0x02, VIP4);
	c[i] = (struct bcase){ "tcp known flow (v6 ACK)", XDP_REDIRECT, -1, 0, "xlb0", true };
	pb_init(&c[i].pkt);
	pb_eth(&c[i].pkt, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IPV6);
	pb_ipv6(&c[i].pkt, CLIENT6, VIP6, IPPROTO_TCP);
	pb_tcp(&c[i].pkt, 41002, 443, 0x10);
	pb_payload(&c[i].pkt, 10);
	pb_finish(&c[i++].pkt);
	c[i] = (struct bcase){ "udp known flow (v4)", XDP_TX, 3, 0, "xlb0", true };
	pb_init(&c[i].pkt);
	pb_eth(&c[i].pkt, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
	pb_ipv4(&c[i].pkt, CLIENT4, VIP4, IPPROTO_UDP);
	pb_udp(&c[i].pkt, 41003, 53);
	pb_payload(&c[i].pkt, 30);
	pb_finish(&c[i++].pkt);
	c[i] = (struct bcase){ "non-vip pass", XDP_PASS, 0, 0, "xlb0", false };
	tcp4(&c[i++].pkt, 41004, 0x10, OTHER4);
	c[i] = (struct bcase){ "mix of 100000 flows (v4)", XDP_TX, -1, 100000, "xlb0", false };
	tcp4(&c[i++].pkt, 41005, 0x10, VIP4);
	/* last: they leave the connection table full */
	c[i] = (struct bcase){ "syn flood, full table", XDP_TX, -1, 0xffffffff, "xlb0", false };
	tcp4(&c[i++].pkt, 41006, 0x02, VIP4);
	c[i] = (struct bcase){ "syn flood, guard on", XDP_TX, -1, 0xffffffff, "xlb0", false,
			       false, 0, true };
	tcp4(&c[i++].pkt, 41007, 0x02, VIP4);
	/* slots a change moved: the connection table is consulted, SYNs remembered */
	c[i] = (struct bcase){ "moved slot: known flow", XDP_TX, -1, 0, "xlb0", true, false, 0,
			       false, true };
	tcp4(&c[i++].pkt, 41008, 0x10, VIP4);
	c[i] = (struct bcase){ "moved slot: new flow (SYN)", XDP_TX, -1, 0xffffffff, "xlb0", false,
			       false, 100000, false, true };
	tcp4(&c[i++].pkt, 41009, 0x02, VIP4);
	c[i] = (struct bcase){ "moved slot: syn flood, guard", XDP_TX, -1, 0xffffffff, "xlb0",
			       false, false, 0, true, true };
	tcp4(&c[i++].pkt, 41011, 0x02, VIP4);
	*n = i;
}

/* Check one run's verdict and bytes: what the timed runs will produce. */
static int verify(struct bcase *c)
{
	__u8 out[PB_MAX + 256];
	struct pb want;
	__u32 len;
	int v, id;

	v = xt_run(&c->pkt, c->ifname, out, &len);
	if (v != c->verdict) {
		fprintf(stderr, "bench-prog: %s: verdict %d, want %d\n", c->name, v, c->verdict);
		return -1;
	}
	id = c->backend >= 0 ? c->backend
			     : (int)xt_table_pick(&c->pkt, c->pkt.ip_family[0] == 4 ? SVC_WEB4
										   : SVC_ANY6);
	if (id)
		xt_expect(&want, &c->pkt, id);
	else
		want = c->pkt;
	if (len != want.len || memcmp(out, want.d, len)) {
		fprintf(stderr, "bench-prog: %s: output differs from the expected bytes\n",
			c->name);
		pb_diff(out, len, want.d, want.len);
		return -1;
	}
	return 0;
}

/* The slot settings a case runs with: next-hop cache or not, flood guard or not. */
static int set_slot(bool fib_every, bool guard)
{
	struct xlb_slot_conf conf;

	for (__u32 slot = 0; slot < XLB_SLOTS; slot++) {
		if (xlb_dp_get_slot_conf(&xt_dp, slot, &conf))
			return -1;
		conf.flags = fib_every ? conf.flags | XLB_SLOT_F_FIB_EVERY_PACKET
				       : conf.flags & ~XLB_SLOT_F_FIB_EVERY_PACKET;
		conf.flow_rate = guard ? 0 : XLB_FLOW_RATE_UNLIMITED;
		if (xlb_dp_set_slot_conf(&xt_dp, slot, &conf))
			return -1;
	}
	return 0;
}

/* The backend a TCP packet from CLIENT4:sport goes to (last octet of the tunnel's
 * destination), 0 when not forwarded. */
static int backend_of(__u16 sport, __u8 flags)
{
	__u8 out[PB_MAX + 256];
	__u32 len = sizeof(out);
	struct pb p;
	int v;

	tcp4(&p, sport, flags, VIP4);
	v = xt_run(&p, "xlb0", out, &len);
	if (v != XDP_TX && v != XDP_REDIRECT)
		return 0;
	return out[14 + 19];
}

/* Mark every slot of web4's table in a slot moved, from the other backend (1 <-> 2). */
static int move_all(__u32 slot)
{
	__u32 *t, m;
	int err = xlb_dp_get_table_raw(&xt_dp, slot, SVC_WEB4, &t, &m);

	for (__u32 i = 0; !err && i < m; i++)
		t[i] = XLB_TABLE_ENTRY(XLB_TABLE_CUR(t[i]), XLB_TABLE_CUR(t[i]) == 1 ? 2 : 1);
	err = err ?: xlb_dp_set_table(&xt_dp, slot, SVC_WEB4, t, m);
	free(t);
	return err;
}

/* As a commit does: web4's slots in `slot` keep the live slot's backend where it changed. */
static int keep_moved(__u32 live, __u32 slot)
{
	static __u8 bits[XLB_MAX_BACKENDS];
	__u32 *old, *t, lm, m, fresh;
	int err;

	memset(bits, XLB_ID_SAME | XLB_ID_UP, sizeof(bits));
	err = xlb_dp_get_table_raw(&xt_dp, live, SVC_WEB4, &old, &lm);
	if (err)
		return err;
	err = xlb_dp_get_table_raw(&xt_dp, slot, SVC_WEB4, &t, &m);
	if (!err) {
		xlb_moved_merge(t, m, old, lm, bits, &fresh);
		err = xlb_dp_set_table(&xt_dp, slot, SVC_WEB4, t, m);
		free(t);
	}
	free(old);
	return err;
}

/* An empty connection table for the next run. */
static int clear_flows(void)
{
	struct xlb_flow_key k;

	while (!bpf_map_get_next_key(xt_dp.flows, NULL, &k))
		if (bpf_map_delete_elem(xt_dp.flows, &k))
			return -errno;
	return xlb_dp_clear_syns(&xt_dp);
}

static int set_active(__u32 slot)
{
	__u32 zero = 0;

	return bpf_map_update_elem(xt_dp.active, &zero, &slot, BPF_ANY);
}

/* One run of the flood survival scenario; prints its line. */
static int flood_survival(int harness, int xlb, bool guard, __u32 established, __u32 factor,
			  bool json)
{
	int *first = calloc(established, sizeof(*first)), kept = 0, moved = 0, only;
	__u32 flows = 0, v;
	__u64 limited0 = 0, limited = 0, ns;
	struct pb syn;

	if (!first || clear_flows() || xt_write_config(0, 0) || set_active(0) ||
	    set_slot(false, guard))
		return 2;
	for (__u32 i = 0; i < established; i++) {
		first[i] = backend_of(10000 + i, 0x02);
		if (!first[i] || backend_of(10000 + i, 0x10) != first[i])
			return 2;
	}
	/* the change: web4's table holds one backend; the other's slots keep it as previous */
	if (xt_write_config(1, 1) || keep_moved(0, 1) || set_slot(false, guard) || set_active(1))
		return 2;
	only = backend_of(60000, 0x02);	/* where every new flow goes now */
	for (__u32 i = 0; i < established; i++)
		moved += first[i] != only;
	tcp4(&syn, 41010, 0x02, VIP4);
	xlb_dp_flood_limited(&xt_dp, &limited0);
	repeat = factor * xt_flows;
	if (arm(&syn, xlb, 20, 0xffffffff) || time_prog(harness, &syn, "xlb0", &v, &ns))
		return 2;
	for (__u32 i = 0; i < established; i++)
		kept += backend_of(10000 + i, 0x10) == first[i] || first[i] == only;
	xlb_dp_count_entries(xt_dp.flows, sizeof(struct xlb_flow_key), &flows);
	{
		__u32 syns = 0;

		xlb_dp_count_syns(&xt_dp, &syns);
		flows += syns;
	}
	xlb_dp_flood_limited(&xt_dp, &limited);
	limited -= limited0;
	if (json)
		printf("{\"guard\":%s,\"established\":%u,\"moved\":%d,\"flood\":%u,"
		       "\"kept\":%d,\"entries\":%u,\"not_remembered\":%llu}\n",
		       guard ? "true" : "false", established, moved, repeat, kept, flows,
		       (unsigned long long)limited);
	else
		printf("flood guard %-3s  %u established (%d in moved slots), %u spoofed SYNs: "
		       "%d kept their backend (%u entries, %llu new flows not remembered)\n",
		       guard ? "on" : "off", established, moved, repeat, kept, flows,
		       (unsigned long long)limited);
	free(first);
	return 0;
}

/* Mean of the rounds without the fastest and the slowest (x1000 ns). */
static __u64 trimmed_mean(int prog_fd, const struct pb *pkt, const char *ifname, int target,
			  __s32 head_delta, __u32 vary, __u32 *verdict)
{
	__u64 t[32], sum = 0;

	for (int r = 0; r < rounds; r++) {
		if (target >= 0 && arm(pkt, target, head_delta, vary))
			return 0;
		if (time_prog(prog_fd, pkt, ifname, verdict, &t[r]))
			return 0;
		if (vary == 0xffffffff)
			vary_base += repeat;	/* the next round's flows are new too */
	}
	qsort(t, rounds, sizeof(t[0]), cmp_u64);
	for (int r = 1; r < rounds - 1; r++)
		sum += t[r];
	return sum / (rounds - 2);
}

int main(int argc, char **argv)
{
	struct bcase cases[16];
	const char *why = NULL;
	bool json = false, flood = false;
	int n, opt, harness, xlb, null_fd, established = 10000, factor = 10;
	int flows = XLB_DEFAULT_FLOWS;
	__u64 t_base, t_null, t_harness, overhead, t_encap;
	__u32 v;

	while ((opt = getopt(argc, argv, "jn:r:Fe:x:f:")) != -1) {
		if (opt == 'j')
			json = true;
		else if (opt == 'F')
			flood = true;
		else if (opt == 'e')
			established = atoi(optarg);
		else if (opt == 'x')
			factor = atoi(optarg);
		else if (opt == 'f')
			flows = atoi(optarg);
		else if (opt == 'n')
			repeat = atoi(optarg);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else {
			fprintf(stderr, "usage: bench-prog [-j] [-n REPEAT] [-r ROUNDS]\n"
				"       bench-prog -F [-j] [-e ESTABLISHED] [-x FACTOR] [-f FLOWS]\n");
			return 1;
		}
	}
	if (repeat < 1000 || rounds < 3 || rounds > 32 || established < 1 ||
	    established > 50000 || factor < 1 || factor > 20 || flows < 1024 ||
	    flows > (int)XLB_DEFAULT_FLOWS) {
		fprintf(stderr, "bench-prog: -n takes >= 1000, -r 3..32, -e 1..50000, -x 1..20, "
			"-f 1024..%u\n", XLB_DEFAULT_FLOWS);
		return 1;
	}
	xt_flows = flows;
	if (xt_setup(&why)) {
		fprintf(stderr, "bench-prog: %s\n", why);
		return 2;
	}
	base = baseline_bpf__open_and_load();
	if (!base) {
		fprintf(stderr, "bench-prog: cannot load the baseline object\n");
		return 2;
	}
	harness = bpf_program__fd(base->progs.xlb_harness);
	xlb = bpf_program__fd(xt_skel->progs.xlb_balance);
	null_fd = bpf_program__fd(base->progs.xlb_null);
	build_cases(cases, &n);
	if (flood) {
		int rc = flood_survival(harness, xlb, false, established, factor, json) ?:
			 flood_survival(harness, xlb, true, established, factor, json);

		if (rc)
			fprintf(stderr, "bench-prog: the flood scenario failed\n");
		baseline_bpf__destroy(base);
		xt_teardown();
		return rc;
	}

	t_base = trimmed_mean(bpf_program__fd(base->progs.xlb_baseline), &cases[0].pkt, "xlb0",
			     -1, 0, 0, &v);
	t_null = trimmed_mean(null_fd, &cases[0].pkt, "xlb0", -1, 0, 0, &v);
	t_harness = trimmed_mean(harness, &cases[0].pkt, "xlb0", null_fd, 0, 0, &v);
	overhead = t_harness > t_null ? t_harness - t_null : 0;
	t_encap = trimmed_mean(harness, &cases[0].pkt, "xlb0",
			       bpf_program__fd(base->progs.xlb_baseline_encap), 20, 0, &v);
	t_encap = t_encap > overhead ? t_encap - overhead : 0;
	if (!t_base || !t_harness) {
		fprintf(stderr, "bench-prog: timing the baseline failed\n");
		return 2;
	}
	if (!json) {
		printf("repeat %d x %d rounds (trimmed mean); harness overhead %.1f ns subtracted\n",
		       repeat, rounds, overhead / 1000.0);
		printf("%-28s %-12s %8s %7s %9s\n", "case", "verdict", "ns/pkt", "ratio",
		       "vs encap");
		printf("%-28s %-12s %8.1f %7.2f\n", "baseline (mac swap + tx)", "XDP_TX",
		       t_base / 1000.0, 1.0);
		printf("%-28s %-12s %8.1f %7.2f %9.2f\n", "encap baseline (ipip + tx)", "XDP_TX",
		       t_encap / 1000.0, (double)t_encap / t_base, 1.0);
	} else {
		printf("{\"name\":\"baseline\",\"verdict\":\"XDP_TX\",\"ns_per_pkt\":%.1f,"
		       "\"ratio_to_baseline\":1.00}\n", t_base / 1000.0);
		printf("{\"name\":\"encap baseline\",\"verdict\":\"XDP_TX\",\"ns_per_pkt\":%.1f,"
		       "\"ratio_to_baseline\":%.2f}\n", t_encap / 1000.0, (double)t_encap / t_base);
	}
	for (int i = 0; i < n; i++) {
		static const char *const vnames[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS",
						      "XDP_TX", "XDP_REDIRECT" };
		struct bcase *c = &cases[i];
		__s32 delta = c->verdict == XDP_PASS ? 0 : c->pkt.ip_family[0] == 4 ? 20 : 40;
		__u64 t, cost;
		struct pb warm = c->pkt;
		__u8 out[PB_MAX + 256];
		__u32 len;

		if (c->moved && move_all(0))
			return 2;
		if (c->moved && c->warm) {	/* its SYN first: the connection is the table's */
			struct pb syn;

			tcp4(&syn, c->pkt.d[14 + 20] << 8 | c->pkt.d[14 + 21], 0x02, VIP4);
			xt_run(&syn, c->ifname, out, &len);
		}
		if (c->warm)
			xt_run(&warm, c->ifname, out, &len);
		if (verify(c))
			return 1;
		if (set_slot(c->fib_every, c->guard))
			return 2;
		int saved = repeat;

		repeat = c->repeat ? c->repeat : repeat;
		t = trimmed_mean(harness, &c->pkt, c->ifname, xlb, delta, c->vary_mod, &v);
		repeat = saved;
		set_slot(false, false);
		if (c->moved && xt_write_config(0, 0))
			return 2;
		if ((int)v != c->verdict) {
			fprintf(stderr, "bench-prog: %s: timed verdict %u, want %d\n", c->name, v,
				c->verdict);
			return 1;
		}
		cost = t > overhead ? t - overhead : 0;
		if (json)
			printf("{\"name\":\"%s\",\"verdict\":\"%s\",\"ns_per_pkt\":%.1f,"
			       "\"ratio_to_baseline\":%.2f,\"ratio_to_encap\":%.2f}\n", c->name,
			       vnames[c->verdict], cost / 1000.0, (double)cost / t_base,
			       t_encap ? (double)cost / t_encap : 0);
		else
			printf("%-28s %-12s %8.1f %7.2f %9.2f\n", c->name, vnames[c->verdict],
			       cost / 1000.0, (double)cost / t_base,
			       t_encap ? (double)cost / t_encap : 0);
	}
	baseline_bpf__destroy(base);
	xt_teardown();
	return 0;
}
