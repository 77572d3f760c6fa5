/* The packet parser compiled for the host: runts, policy verdicts, flow keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../bpf/parse.h"
#include "../../bpf/hash.h"
#include "names.h"
#include "pktbuild.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static int parse(const __u8 *d, __u32 len, struct xlb_pkt *pkt)
{
	/* a private heap copy ending where the frame ends, NET_IP_ALIGN-ed */
	__u8 *buf = malloc(len + 2), *copy = buf + 2;
	int res;

	memcpy(copy, d, len);
	memset(pkt, 0, sizeof(*pkt));
	res = xlb_parse_packet(copy, copy + len, pkt);
	free(buf);
	return res;
}

static void runts_are_dropped(void **state)
{
	static const __u8 frame[13] = { 2, 0, 0, 0, 0, 0xfe, 2, 0, 0, 0, 0, 0xcc, 8 };
	struct xlb_pkt pkt;

	(void)state;
	for (__u32 len = 0; len < sizeof(frame); len++) {
		assert_int_equal(parse(frame, len, &pkt), XLB_PARSE_DROP);
		assert_int_equal(pkt.reason, XLB_DROP_MALFORMED_L2);
	}
}

static void truncated_vlan_is_dropped(void **state)
{
	struct xlb_pkt pkt;
	struct pb b;

	(void)state;
	pb_init(&b);
	pb_eth(&b, PB_MAC_NODE, PB_MAC_CLIENT, 0x8100);
	pb_bytes(&b, "\x00", 1);
	assert_int_equal(parse(b.d, b.len, &pkt), XLB_PARSE_DROP);
	assert_int_equal(pkt.reason, XLB_DROP_MALFORMED_L2);
}

static void every_ip_header_prefix_is_handled(void **state)
{
	struct xlb_pkt pkt;
	struct pb b;

	(void)state;
	pb_init(&b);
	pb_eth(&b, PB_MAC_NODE, PB_MAC_CLIENT, 0x0800);
	pb_ipv4(&b, "203.0.113.7", "192.0.2.10", IPPROTO_TCP);
	pb_tcp(&b, 1234, 80, 0x02);
	pb_finish(&b);
	/* every cut inside the IP header is malformed L3; the whole frame is a flow */
	for (__u32 len = 14; len < 34; len++) {
		assert_int_equal(parse(b.d, len, &pkt), XLB_PARSE_DROP);
		assert_int_equal(pkt.reason, XLB_DROP_MALFORMED_L3);
	}
	assert_int_equal(parse(b.d, b.len, &pkt), XLB_PARSE_FLOW);
	assert_int_equal(pkt.flow.family, XLB_FAMILY_V4);
	assert_int_equal(ntohs(pkt.flow.sport), 1234);
	assert_int_equal(ntohs(pkt.flow.dport), 80);
	assert_int_equal(pkt.flow.proto, IPPROTO_TCP);
	assert_int_equal(pkt.tcp_flags, 0x02);
	assert_int_equal(pkt.ip_len, 40);
	assert_int_equal(pkt.l3_off, 14);
}

static void icmp_quote_reverses_the_flow(void **state)
{
	struct xlb_pkt pkt;
	struct pb b;
	__be32 client, vip;

	(void)state;
	pb_init(&b);
	pb_eth(&b, PB_MAC_NODE, PB_MAC_CLIENT, 0x0800);
	pb_ipv4(&b, "198.51.100.77", "192.0.2.10", IPPROTO_ICMP);
	pb_icmp(&b, 3, 4, 1400);
	pb_ipv4(&b, "192.0.2.10", "203.0.113.7", IPPROTO_TCP);
	pb_tcp(&b, 80, 40000, 0x10);
	pb_finish(&b);
	assert_int_equal(parse(b.d, b.len, &pkt), XLB_PARSE_FLOW);
	inet_pton(AF_INET, "203.0.113.7", &client);
	inet_pton(AF_INET, "192.0.2.10", &vip);
	assert_int_equal(pkt.flow.src.v4, client);
	assert_int_equal(pkt.flow.dst.v4, vip);
	assert_int_equal(ntohs(pkt.flow.sport), 40000);
	assert_int_equal(ntohs(pkt.flow.dport), 80);
	assert_true(pkt.icmp_err);
}

static void flow_hash_is_stable(void **state)
{
	struct xlb_flow_key k = { .family = XLB_FAMILY_V4, .proto = IPPROTO_TCP };
	struct xlb_flow_key k6 = { .family = XLB_FAMILY_V6, .proto = IPPROTO_TCP };

	(void)state;
	inet_pton(AF_INET, "203.0.113.7", &k.src.v4);
	inet_pton(AF_INET, "192.0.2.10", &k.dst.v4);
	k.sport = htons(40000);
	k.dport = htons(80);
	inet_pton(AF_INET6, "2001:db8:c::7", k6.src.v6);
	inet_pton(AF_INET6, "2001:db8:a::10", k6.dst.v6);
	k6.sport = htons(40000);
	k6.dport = htons(80);
	/*
	 * Pinned values: every xlb node must compute these, in every release,
	 * or nodes behind ECMP stop agreeing on flows.  Changing the hash is an
	 * ABI change.
	 */
	assert_int_equal(xlb_flow_hash(&k, XLB_HASH_SEED), 0x7e2ded77u);
	assert_int_equal(xlb_flow_hash(&k6, XLB_HASH_SEED), 0xf6554923u);
	k.sport = htons(40001);
	assert_int_not_equal(xlb_flow_hash(&k, XLB_HASH_SEED), 0x7e2ded77u);
}

static void every_reason_has_a_name(void **state)
{
	(void)state;
	for (int i = 0; i < XLB_STAT_MAX; i++)
		assert_non_null(xlb_stat_names[i]);
	for (int i = 0; i < XLB_EV_MAX; i++)
		assert_non_null(xlb_event_names[i]);
	for (int i = 0; i < XLB_DECAP_MAX; i++)
		assert_non_null(xlb_decap_names[i]);
}

/*
 * Seeds for the rules the fuzzer's oracle states apart from the first six:
 * fragments (IPv6 later with payload that reads as headers, IPv4 later, IPv6
 * atomic), ICMP errors to the node about a VIP's flow, one VLAN tag.
 */
static void extra_seed(struct pb *b, int i)
{
	static const __u8 garbage[8] = { 60, 0xff, 1, 4, 0, 0, 0, 0 };
	const char *node = "198.51.100.254", *node6 = "2001:db8:b::fe";

	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, i == 2 ? 0x8100 : i == 1 || i == 3 ? 0x0800 : 0x86dd);
	if (i == 0) {		/* IPv6 later fragment to the node */
		pb_ipv6(b, "2001:db8:c::7", node6, IPPROTO_FRAGMENT);
		pb_ipv6_frag(b, 60, 185, true);
		pb_bytes(b, garbage, sizeof(garbage));
	} else if (i == 1) {	/* IPv4 later fragment: MF clear, offset 185 */
		pb_ipv4(b, "203.0.113.7", "192.0.2.10", IPPROTO_TCP);
		pb_tcp(b, 40010, 80, 0x02);
		b->d[14 + 7] = 185;
	} else if (i == 2) {
		pb_vlan(b, 100, 0x0800);
		pb_ipv4(b, "203.0.113.7", "192.0.2.10", IPPROTO_UDP);
		pb_udp(b, 40011, 53);
	} else if (i == 3) {	/* ICMP frag-needed to the node about a VIP's flow */
		pb_ipv4(b, "198.51.100.77", node, IPPROTO_ICMP);
		pb_icmp(b, 3, 4, 1400);
		pb_ipv4(b, "192.0.2.10", "203.0.113.7", IPPROTO_TCP);
	} else if (i == 4) {	/* IPv6 atomic fragment, options, TCP */
		pb_ipv6(b, "2001:db8:c::7", "2001:db8:a::10", IPPROTO_FRAGMENT);
		pb_ipv6_frag(b, 60, 0, false);
		pb_ipv6_ext(b, IPPROTO_TCP, 8);
	} else if (i == 5) {	/* ICMPv6 packet too big to the node about a VIP's flow */
		pb_ipv6(b, "2001:db8:ff::1", node6, IPPROTO_ICMPV6);
		pb_icmp(b, 2, 0, 1280);
		pb_ipv6(b, "2001:db8:a::10", "2001:db8:c::7", IPPROTO_TCP);
	}
	if (i >= 3 || i == 0)
		pb_tcp(b, 80, 40012, 0x10);
	pb_finish(b);
}

static void write_seed(const char *dir, int i, const struct pb *b)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%d", dir, i);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b->d, 1, b->len, f), b->len);
	assert_int_equal(fclose(f), 0);
}

/* With XLB_DUMP_CORPUS=DIR, write seed packets for the fuzzer. */
static void dump_corpus(void **state)
{
	const char *dir = getenv("XLB_DUMP_CORPUS");
	struct pb seeds[6];

	(void)state;
	if (!dir)
		skip();
	for (int i = 0; i < 6; i++) {
		struct pb extra;

		extra_seed(&extra, i);
		write_seed(dir, 6 + i, &extra);
	}
	for (int i = 0; i < 6; i++) {
		struct pb *b = &seeds[i];

		pb_init(b);
		pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, i < 3 ? 0x0800 : 0x86dd);
		if (i < 3)
			pb_ipv4(b, "203.0.113.7", "192.0.2.10", i == 2 ? IPPROTO_ICMP : IPPROTO_TCP);
		else
			pb_ipv6(b, "2001:db8:c::7", "2001:db8:a::10",
				i == 4 ? IPPROTO_HOPOPTS : i == 5 ? IPPROTO_ICMPV6 : IPPROTO_UDP);
		if (i == 4)
			pb_ipv6_ext(b, IPPROTO_TCP, 16);
		if (i == 2 || i == 5) {
			pb_icmp(b, i == 2 ? 3 : 2, i == 2 ? 4 : 0, 1400);
			if (i == 2)
				pb_ipv4(b, "192.0.2.10", "203.0.113.7", IPPROTO_TCP);
			else
				pb_ipv6(b, "2001:db8:a::10", "2001:db8:c::7", IPPROTO_TCP);
		}
		if (i == 3)
			pb_udp(b, 5353, 53);
		else
			pb_tcp(b, 40000 + i, 80, 0x02);
		pb_finish(b);
		write_seed(dir, i, b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(runts_are_dropped),
		cmocka_unit_test(truncated_vlan_is_dropped),
		cmocka_unit_test(every_ip_header_prefix_is_handled),
		cmocka_unit_test(icmp_quote_reverses_the_flow),
		cmocka_unit_test(flow_hash_is_stable),
		cmocka_unit_test(every_reason_has_a_name),
	};
	const struct CMUnitTest corpus[] = { cmocka_unit_test(dump_corpus) };

	if (getenv("XLB_DUMP_CORPUS"))
		return cmocka_run_group_tests(corpus, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
