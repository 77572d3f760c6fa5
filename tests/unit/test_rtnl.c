/*
 * rtnl.c's route lookup and neighbour use (L2 direct return's backends), in
 * a network namespace of the test's own with a peer namespace on a veth:
 * the kernel resolves the peer's MAC when asked (no traffic sent by the
 * test), a route through a gateway is told apart, no route is an error.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "rtnl.h"

static char peer[32];

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* The neighbour entry of addr has a MAC (the kernel resolved it). */
static int resolved(const char *addr)
{
	char cmd[128], out[256] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ip neigh show %s", addr);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	if (!fgets(out, sizeof(out), f))
		out[0] = '\0';
	pclose(f);
	return strstr(out, "lladdr") != NULL;
}

static int wait_resolved(const char *addr, int ms)
{
	struct timespec t = { 0, 20 * 1000000 };

	for (int i = 0; i < ms / 20; i++, nanosleep(&t, NULL))
		if (resolved(addr))
			return 1;
	return 0;
}

static int setup(void **state)
{
	(void)state;
	if (geteuid() != 0)
		return 0;	/* each test skips: namespaces need root */
	if (unshare(CLONE_NEWNET))
		return -1;
	snprintf(peer, sizeof(peer), "xlbtrtnl%d", getpid());
	return sh("ip link set lo up && ip netns add %s && "
		  "ip link add trtnla type veth peer trtnlb netns %s && "
		  "ip addr add 198.51.100.254/24 dev trtnla && ip link set trtnla up && "
		  "ip -n %s addr add 198.51.100.7/24 dev trtnlb && ip -n %s link set trtnlb up && "
		  "ip route add 203.0.113.0/24 via 198.51.100.7 && "
		  "ip -6 addr add 2001:db8:b::fe/64 dev trtnla nodad && "
		  "ip -n %s -6 addr add 2001:db8:b::7/64 dev trtnlb nodad",
		  peer, peer, peer, peer, peer) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	if (peer[0])
		sh("ip netns del %s 2>/dev/null", peer);
	return 0;
}

static void test_neighbour_resolved(void **state)
{
	struct in_addr a;
	int oif = -1;
	bool gw = true;

	(void)state;
	if (geteuid())
		skip();
	inet_pton(AF_INET, "198.51.100.7", &a);
	assert_false(resolved("198.51.100.7"));	/* control: nothing did before */
	assert_int_equal(xlb_rtnl_route_get(AF_INET, &a, &oif, &gw), 0);
	assert_int_equal(oif, (int)if_nametoindex("trtnla"));
	assert_false(gw);
	for (int i = 0; i < 20 && !resolved("198.51.100.7"); i++) {
		assert_int_equal(xlb_rtnl_neigh_use(AF_INET, &a, oif), 0);
		wait_resolved("198.51.100.7", 500);
	}
	assert_true(resolved("198.51.100.7"));
	/* again on a resolved entry: still fine */
	assert_int_equal(xlb_rtnl_neigh_use(AF_INET, &a, oif), 0);
}

static void test_neighbour_resolved_v6(void **state)
{
	struct in6_addr a;
	int oif = -1;
	bool gw = true;

	(void)state;
	if (geteuid())
		skip();
	inet_pton(AF_INET6, "2001:db8:b::7", &a);
	assert_int_equal(xlb_rtnl_route_get(AF_INET6, &a, &oif, &gw), 0);
	assert_int_equal(oif, (int)if_nametoindex("trtnla"));
	assert_false(gw);
	/* asked again every 500 ms, as the daemon does every 2 s: the first
	   solicitation may go before the link's IPv6 is ready on a busy machine */
	for (int i = 0; i < 20 && !resolved("2001:db8:b::7"); i++) {
		assert_int_equal(xlb_rtnl_neigh_use(AF_INET6, &a, oif), 0);
		wait_resolved("2001:db8:b::7", 500);
	}
	assert_true(resolved("2001:db8:b::7"));
}

/* An entry set by hand stays as it is (NTF_USE would make it incomplete). */
static void test_permanent_entry_kept(void **state)
{
	struct in_addr a;
	char out[256] = "";
	FILE *f;

	(void)state;
	if (geteuid())
		skip();
	assert_int_equal(sh("ip neigh replace 198.51.100.9 lladdr 02:00:00:00:01:09 dev trtnla "
			    "nud permanent"), 0);
	inet_pton(AF_INET, "198.51.100.9", &a);
	assert_int_equal(xlb_rtnl_neigh_valid(AF_INET, &a, if_nametoindex("trtnla")), 1);
	assert_int_equal(xlb_rtnl_neigh_use(AF_INET, &a, if_nametoindex("trtnla")), 0);
	f = popen("ip neigh show 198.51.100.9", "r");
	assert_non_null(f);
	assert_non_null(fgets(out, sizeof(out), f));
	pclose(f);
	assert_non_null(strstr(out, "02:00:00:00:01:09"));
	assert_non_null(strstr(out, "PERMANENT"));
	/* none there: not valid (the control) */
	inet_pton(AF_INET, "198.51.100.10", &a);
	assert_int_equal(xlb_rtnl_neigh_valid(AF_INET, &a, if_nametoindex("trtnla")), 0);
}

static void test_gateway_and_no_route(void **state)
{
	struct in_addr a;
	int oif = 0;
	bool gw = false;

	(void)state;
	if (geteuid())
		skip();
	inet_pton(AF_INET, "203.0.113.5", &a);
	assert_int_equal(xlb_rtnl_route_get(AF_INET, &a, &oif, &gw), 0);
	assert_true(gw);
	inet_pton(AF_INET, "192.0.2.1", &a);
	assert_int_equal(xlb_rtnl_route_get(AF_INET, &a, &oif, &gw), -ENETUNREACH);
	/* a neighbour on a device that is not there */
	assert_int_not_equal(xlb_rtnl_neigh_use(AF_INET, &a, 99999), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_neighbour_resolved),
		cmocka_unit_test(test_neighbour_resolved_v6),
		cmocka_unit_test(test_permanent_entry_kept),
		cmocka_unit_test(test_gateway_and_no_route),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
