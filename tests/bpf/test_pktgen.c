/*
 * The benchmark's programs through BPF_PROG_TEST_RUN: pktgen's frames (flow
 * fields, checksums, headers restored over whatever the page held; the XDP
 * program, the tc program and the sockets' pktgen_frame() byte for byte
 * alike), the trivial forwarder's rewrite, the sink's count; and pktgen's
 * refusals.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include "xlb_pktgen.h"
#include "pktgen.skel.h"
#include "fwd.skel.h"
#include "sink.skel.h"
#include "pktbuild.h"
#include "../tools/pktgen.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static const char *skip_why;

#define SKIP_UNLESS_ROOT() do {						\
	if (skip_why) {							\
		fprintf(stderr, "# skipped: %s\n", skip_why);		\
		skip();							\
	}								\
} while (0)

static struct pktgen_spec spec(const char *src, const char *dst, const char *proto,
			       unsigned long flows, unsigned long ports, unsigned long size)
{
	struct pktgen_spec s = { .src = src, .dst = dst, .proto = proto, .sport = 1024,
				 .dport = 53, .flows = flows, .ports = ports, .size = size };

	memcpy(s.dmac, PB_MAC_NODE, 6);
	memcpy(s.smac, PB_MAC_CLIENT, 6);
	return s;
}

/* One's-complement sum of n bytes (n even), big-endian words. */
static __u32 sum16(const __u8 *p, int n, __u32 sum)
{
	for (int i = 0; i < n; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	return sum;
}

static __u16 fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* Checksums of a finished frame verify: IPv4 header and L4 over the pseudo-header. */
static void assert_checksums(const __u8 *f, __u32 len, bool v6, __u8 proto)
{
	int l3 = ETH_HLEN, l4 = l3 + (v6 ? 40 : 20);
	int l4len = v6 ? (f[l3 + 4] << 8 | f[l3 + 5]) : (f[l3 + 2] << 8 | f[l3 + 3]) - 20;
	__u32 sum;

	assert_true(l4 + l4len <= (int)len);
	if (!v6)
		assert_int_equal(fold(sum16(f + l3, 20, 0)), 0xffff);
	sum = v6 ? sum16(f + l3 + 8, 32, 0) : sum16(f + l3 + 12, 8, 0);
	sum += proto + l4len;
	sum = sum16(f + l4, l4len & ~1, sum);
	if (l4len & 1)
		sum += f[l4 + l4len - 1] << 8;
	assert_int_equal(fold(sum), 0xffff);
}

/* out is frame k as the sockets' engines write it (pktgen_frame), byte for byte. */
static void expect_frame(const struct pktgen_cfg *cfg, const struct pb *tmpl, int k,
			 const __u8 *out, const char *who)
{
	__u8 want[PB_MAX];

	memcpy(want, tmpl->d, tmpl->len);
	pktgen_frame(cfg, want, k);
	if (memcmp(out, want, tmpl->len)) {
		pb_diff(out, tmpl->len, want, tmpl->len);
		fail_msg("frame %d: the %s program and pktgen_frame() differ", k, who);
	}
}

/*
 * The tc engine's program on the template as a trigger with a budget of one
 * frame (no clone made: a test run must not transmit): frame k, byte for
 * byte pktgen_frame()'s.  Then: a trigger beyond the budget is dropped, and
 * other traffic (another generator's triggers too) passes untouched.
 */
static void run_pktgen_tc(const struct pktgen_spec *s, int frames)
{
	struct __sk_buff skb = { .mark = PKTGEN_MARK_BASE + 6 };
	__u32 budget_key = PKTGEN_TC_BUDGET, made_key = PKTGEN_TC_MADE;
	__u64 one = 1, made = 0;
	struct pktgen_bpf *skel;
	struct pktgen_cfg cfg;
	__u8 out[PB_MAX];
	struct pb tmpl;
	char why[256];
	int map, prog;

	assert_int_equal(pktgen_template(s, &tmpl, &cfg, why, sizeof(why)), 0);
	skel = pktgen_bpf__open();
	assert_non_null(skel);
	skel->rodata->cfg = cfg;
	skel->rodata->tc_trigger_mark = PKTGEN_MARK_BASE + 6;
	bpf_program__set_autoload(skel->progs.pktgen_tx, false);
	bpf_program__set_autoload(skel->progs.pktgen_probe, false);
	assert_int_equal(pktgen_bpf__load(skel), 0);
	map = bpf_map__fd(skel->maps.pktgen_tc);
	prog = bpf_program__fd(skel->progs.pktgen_clone);
	for (int k = 0; k <= frames; k++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = tmpl.d, .data_size_in = tmpl.len,
			    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &skb,
			    .ctx_size_in = sizeof(skb));

		/* the last run: no budget left */
		if (k < frames)
			assert_int_equal(bpf_map_update_elem(map, &budget_key, &one, BPF_ANY), 0);
		assert_int_equal(bpf_prog_test_run_opts(prog, &o), 0);
		if (k == frames) {
			assert_int_equal(o.retval, TC_ACT_SHOT);
			break;
		}
		assert_int_equal(o.retval, TC_ACT_OK);
		assert_int_equal(o.data_size_out, tmpl.len);
		expect_frame(&cfg, &tmpl, k, out, "tc");
	}
	assert_int_equal(bpf_map_lookup_elem(map, &made_key, &made), 0);
	assert_int_equal(made, frames);
	/* not a trigger (mark 0), another generator's trigger: passed as it came */
	for (__u32 mark = 0; mark <= PKTGEN_MARK_BASE + 8; mark += PKTGEN_MARK_BASE + 8) {
		struct __sk_buff other = { .mark = mark };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = tmpl.d, .data_size_in = tmpl.len,
			    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &other,
			    .ctx_size_in = sizeof(other));

		assert_int_equal(bpf_map_update_elem(map, &budget_key, &one, BPF_ANY), 0);
		assert_int_equal(bpf_prog_test_run_opts(prog, &o), 0);
		assert_int_equal(o.retval, TC_ACT_OK);
		assert_memory_equal(out, tmpl.d, tmpl.len);
	}
	pktgen_bpf__destroy(skel);
}

static void run_pktgen(const struct pktgen_spec *s, int frames)
{
	bool v6 = strchr(s->src, ':') != NULL, tcp = strcmp(s->proto, "udp");
	int saddr_off = ETH_HLEN + (v6 ? 20 : 12), l4 = ETH_HLEN + (v6 ? 40 : 20);
	struct pktgen_bpf *skel;
	struct pktgen_cfg cfg;
	struct pb tmpl, junk;
	__u8 out[PB_MAX];
	char why[256];
	__u32 first;

	assert_int_equal(pktgen_template(s, &tmpl, &cfg, why, sizeof(why)), 0);
	assert_int_equal(tmpl.len, s->size - 4);
	skel = pktgen_bpf__open();
	assert_non_null(skel);
	skel->rodata->cfg = cfg;
	assert_int_equal(pktgen_bpf__load(skel), 0);
	/* a recycled page: the headers overwritten by whoever had the frame */
	junk = tmpl;
	memset(junk.d, 0xa5, l4 + (tcp ? 20 : 8));
	memcpy(&first, tmpl.d + saddr_off, 4);
	first = ntohl(first);
	for (int k = 0; k < frames; k++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = junk.d, .data_size_in = junk.len,
			    .data_out = out, .data_size_out = sizeof(out));
		unsigned long flow = k % s->flows, ports = cfg.ports;
		__u32 saddr;

		assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.pktgen_tx), &o), 0);
		assert_int_equal(o.retval, XDP_TX);
		assert_int_equal(o.data_size_out, tmpl.len);
		assert_int_equal((out[l4] << 8) | out[l4 + 1], s->sport + flow % ports);
		memcpy(&saddr, out + saddr_off, 4);
		assert_int_equal(ntohl(saddr), first + flow / ports);
		assert_checksums(out, o.data_size_out, v6, tcp ? IPPROTO_TCP : IPPROTO_UDP);
		expect_frame(&cfg, &tmpl, k, out, "XDP");
		/* everything else is the template's */
		for (__u32 i = 0; i < tmpl.len; i++) {
			bool varies = (i >= (__u32)saddr_off && i < (__u32)saddr_off + 4) ||
				      i == (__u32)l4 || i == (__u32)l4 + 1 ||
				      (!v6 && (i == ETH_HLEN + 10 || i == ETH_HLEN + 11)) ||
				      i == (__u32)l4 + (tcp ? 16 : 6) || i == (__u32)l4 + (tcp ? 17 : 7);
			if (!varies && out[i] != tmpl.d[i])
				fail_msg("frame %d byte %u: %02x, template %02x", k, i, out[i], tmpl.d[i]);
		}
	}
	pktgen_bpf__destroy(skel);
}

static void test_pktgen_v4_udp(void **state)
{
	struct pktgen_spec s = spec("203.0.113.10", "192.0.2.10", "udp", 7, 3, 64);

	(void)state;
	SKIP_UNLESS_ROOT();
	run_pktgen(&s, 15);
	run_pktgen_tc(&s, 15);
}

static void test_pktgen_v4_syn_big(void **state)
{
	struct pktgen_spec s = spec("203.0.113.250", "192.0.2.10", "syn", 40, 4, 1518);

	(void)state;
	SKIP_UNLESS_ROOT();
	s.sport = 65532;	/* up to 65535 */
	run_pktgen(&s, 41);
	run_pktgen_tc(&s, 41);
}

static void test_pktgen_v6_udp(void **state)
{
	struct pktgen_spec s = spec("2001:db8:c::fffe", "2001:db8:a::10", "udp", 5, 2, 66);

	(void)state;
	SKIP_UNLESS_ROOT();
	run_pktgen(&s, 11);
	run_pktgen_tc(&s, 11);
}

static void test_pktgen_v6_ack(void **state)
{
	struct pktgen_spec s = spec("2001:db8:c::10", "2001:db8:a::10", "ack", 1, 0, 200);

	(void)state;
	SKIP_UNLESS_ROOT();
	run_pktgen(&s, 3);
	run_pktgen_tc(&s, 3);
}

static void expect_refusal(struct pktgen_spec s, const char *want)
{
	struct pktgen_cfg cfg;
	struct pb pkt;
	char why[256] = "";

	assert_int_equal(pktgen_template(&s, &pkt, &cfg, why, sizeof(why)), -EINVAL);
	if (!strstr(why, want))
		fail_msg("error '%s' does not say '%s'", why, want);
}

static void test_pktgen_refusals(void **state)
{
	(void)state;
	expect_refusal(spec("203.0.113.10", "2001:db8:a::10", "udp", 1, 0, 64),
		       "not two IPv4 or two IPv6 addresses");
	expect_refusal(spec("203.0.113.10", "192.0.2.300", "udp", 1, 0, 64),
		       "not two IPv4 or two IPv6 addresses");
	expect_refusal(spec("2001:db8:c::10", "2001:db8:a::10", "udp", 1, 0, 64),
		       "--size 64: an IPv6 UDP frame needs at least 66 bytes");
	expect_refusal(spec("2001:db8:c::10", "2001:db8:a::10", "syn", 1, 0, 77),
		       "--size 77: an IPv6 TCP frame needs at least 78 bytes");
	struct pktgen_spec s = spec("203.0.113.10", "192.0.2.10", "udp", 100, 10, 64);
	s.sport = 65530;
	expect_refusal(s, "--sport 65530 with --ports 10: ports beyond 65535");
	expect_refusal(spec("255.255.255.254", "192.0.2.10", "udp", 200000, 1000, 64),
		       "run past the address space");
}

/* The trivial forwarder: VIP traffic rewritten to a backend and redirected. */
static void test_fwd(void **state)
{
	struct fwd_bpf *skel;
	struct pb in;
	__u8 out[PB_MAX];
	const char *protos[] = { "udp", "tcp" };

	(void)state;
	SKIP_UNLESS_ROOT();
	skel = fwd_bpf__open();
	assert_non_null(skel);
	inet_pton(AF_INET, "192.0.2.10", (void *)&skel->rodata->cfg.vip);
	skel->rodata->cfg.port = htons(53);
	skel->rodata->cfg.nr_backends = 2;
	for (int i = 0; i < 2; i++) {
		char a[32];

		snprintf(a, sizeof(a), "198.51.100.%d", i + 1);
		inet_pton(AF_INET, a, (void *)&skel->rodata->cfg.backends[i].addr);
		skel->rodata->cfg.backends[i].ifindex = 1;
		memset((void *)skel->rodata->cfg.backends[i].dmac, 0x10 + i, 6);
		memset((void *)skel->rodata->cfg.backends[i].smac, 0x20 + i, 6);
	}
	assert_int_equal(fwd_bpf__load(skel), 0);
	for (int p = 0; p < 2; p++) {
		int seen[2] = { 0 };

		for (int sport = 1000; sport < 1064; sport++) {
			LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in.d, .data_out = out,
				    .data_size_out = sizeof(out));
			int b;

			pb_init(&in);
			pb_eth(&in, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
			pb_ipv4(&in, "203.0.113.10", "192.0.2.10", p ? IPPROTO_TCP : IPPROTO_UDP);
			if (p)
				pb_tcp(&in, sport, 53, 0x02);
			else
				pb_udp(&in, sport, 53);
			pb_payload(&in, 20);
			pb_finish(&in);
			o.data_size_in = in.len;
			assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.fwd), &o), 0);
			assert_int_equal(o.retval, XDP_REDIRECT);
			b = out[ETH_HLEN + 19] - 1;	/* last byte of the new destination */
			assert_true(b == 0 || b == 1);
			seen[b]++;
			assert_int_equal(out[0], 0x10 + b);
			assert_int_equal(out[6], 0x20 + b);
			assert_checksums(out, o.data_size_out, false,
					 p ? IPPROTO_TCP : IPPROTO_UDP);
			if (sport == 1000)
				fprintf(stderr, "# %s flows spread over backends\n", protos[p]);
		}
		/* 64 flows over 2 backends by hash: both get some */
		assert_true(seen[0] > 8 && seen[1] > 8);
	}
	/* not the VIP's port: passed unchanged */
	{
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in.d, .data_out = out,
			    .data_size_out = sizeof(out));

		pb_init(&in);
		pb_eth(&in, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
		pb_ipv4(&in, "203.0.113.10", "192.0.2.10", IPPROTO_UDP);
		pb_udp(&in, 1000, 54);
		pb_finish(&in);
		o.data_size_in = in.len;
		assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.fwd), &o), 0);
		assert_int_equal(o.retval, XDP_PASS);
		assert_memory_equal(out, in.d, in.len);
	}
	fwd_bpf__destroy(skel);
}

/*
 * The forwarder's L2 direct return: only the MACs change (the backend holds
 * the VIP), XDP_TX when the backend is behind the interface the frame came in
 * on (lo in BPF_PROG_RUN), redirected otherwise.
 */
static void test_fwd_l2(void **state)
{
	struct fwd_bpf *skel;
	struct pb in;
	__u8 out[PB_MAX];
	int seen[2] = { 0 };

	(void)state;
	SKIP_UNLESS_ROOT();
	skel = fwd_bpf__open();
	assert_non_null(skel);
	inet_pton(AF_INET, "192.0.2.10", (void *)&skel->rodata->cfg.vip);
	skel->rodata->cfg.port = htons(80);
	skel->rodata->cfg.nr_backends = 2;
	skel->rodata->l2 = 1;
	for (int i = 0; i < 2; i++) {
		inet_pton(AF_INET, i ? "198.51.100.2" : "198.51.100.1",
			  (void *)&skel->rodata->cfg.backends[i].addr);
		skel->rodata->cfg.backends[i].ifindex = 1 + i;	/* 1: lo, where test runs come in */
		memset((void *)skel->rodata->cfg.backends[i].dmac, 0x10 + i, 6);
		memset((void *)skel->rodata->cfg.backends[i].smac, 0x20 + i, 6);
	}
	assert_int_equal(fwd_bpf__load(skel), 0);
	for (int sport = 1000; sport < 1064; sport++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in.d, .data_out = out,
			    .data_size_out = sizeof(out));
		int b;

		pb_init(&in);
		pb_eth(&in, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
		pb_ipv4(&in, "203.0.113.10", "192.0.2.10", IPPROTO_TCP);
		pb_tcp(&in, sport, 80, 0x10);
		pb_payload(&in, 20);
		pb_finish(&in);
		o.data_size_in = in.len;
		assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.fwd), &o), 0);
		assert_int_equal(o.data_size_out, in.len);
		b = out[0] - 0x10;
		assert_true(b == 0 || b == 1);
		seen[b]++;
		assert_int_equal(o.retval, b ? XDP_REDIRECT : XDP_TX);
		assert_int_equal(out[5], 0x10 + b);
		assert_int_equal(out[6], 0x20 + b);
		assert_int_equal(out[11], 0x20 + b);
		/* every byte after the MACs as it came: addresses, checksums */
		assert_memory_equal(out + 12, in.d + 12, in.len - 12);
	}
	assert_true(seen[0] > 8 && seen[1] > 8);
	fwd_bpf__destroy(skel);
}

/* The sink drops and counts IP data, passes ARP and ICMP. */
static void test_sink(void **state)
{
	struct { struct pb pkt; int verdict; } cases[4];
	struct sink_bpf *skel;
	struct sink_stats per_cpu[512], total = { 0 };
	__u8 out[PB_MAX];
	__u32 key = 0;
	int ncpu = libbpf_num_possible_cpus();

	(void)state;
	SKIP_UNLESS_ROOT();
	assert_true(ncpu > 0 && ncpu <= 512);
	for (int i = 0; i < 4; i++)
		pb_init(&cases[i].pkt);
	pb_eth(&cases[0].pkt, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
	pb_ipv4(&cases[0].pkt, "198.51.100.254", "198.51.100.1", IPPROTO_IPIP);
	pb_ipv4(&cases[0].pkt, "203.0.113.10", "192.0.2.10", IPPROTO_UDP);
	pb_udp(&cases[0].pkt, 1000, 53);
	cases[0].verdict = XDP_DROP;
	pb_eth(&cases[1].pkt, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IPV6);
	pb_ipv6(&cases[1].pkt, "2001:db8:c::10", "2001:db8:a::10", IPPROTO_UDP);
	pb_udp(&cases[1].pkt, 1000, 53);
	cases[1].verdict = XDP_DROP;
	pb_eth(&cases[2].pkt, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_ARP);
	pb_payload(&cases[2].pkt, 28);
	cases[2].verdict = XDP_PASS;
	pb_eth(&cases[3].pkt, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
	pb_ipv4(&cases[3].pkt, "198.51.100.254", "198.51.100.1", IPPROTO_ICMP);
	pb_icmp(&cases[3].pkt, 8, 0, 0);
	cases[3].verdict = XDP_PASS;
	skel = sink_bpf__open_and_load();
	assert_non_null(skel);
	for (int i = 0; i < 4; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = cases[i].pkt.d, .data_out = out,
			    .data_size_out = sizeof(out));

		if (i != 2)
			pb_finish(&cases[i].pkt);
		o.data_size_in = cases[i].pkt.len;
		assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sink_drop), &o), 0);
		assert_int_equal(o.retval, cases[i].verdict);
	}
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.sink_stats), &key, per_cpu), 0);
	for (int c = 0; c < ncpu; c++) {
		total.packets += per_cpu[c].packets;
		total.bytes += per_cpu[c].bytes;
		total.passed += per_cpu[c].passed;
	}
	assert_int_equal(total.packets, 2);
	assert_int_equal(total.bytes, cases[0].pkt.len + cases[1].pkt.len);
	assert_int_equal(total.passed, 2);
	sink_bpf__destroy(skel);
}

static int setup(void **state)
{
	cpu_set_t one;

	(void)state;
	if (geteuid())
		skip_why = "needs root (BPF)";
	/* pktgen numbers frames per CPU: keep every run on one */
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pktgen_v4_udp),
		cmocka_unit_test(test_pktgen_v4_syn_big),
		cmocka_unit_test(test_pktgen_v6_udp),
		cmocka_unit_test(test_pktgen_v6_ack),
		cmocka_unit_test(test_pktgen_refusals),
		cmocka_unit_test(test_fwd),
		cmocka_unit_test(test_fwd_l2),
		cmocka_unit_test(test_sink),
	};

	return cmocka_run_group_tests_name("pktgen", tests, setup, NULL);
}
