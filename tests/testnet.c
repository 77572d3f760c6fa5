/* A network namespace of the test's own, set up with `ip`. */
#define _GNU_SOURCE
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testnet.h"

void testnet_backend_mac(int family, int n, __u8 mac[6])
{
	const __u8 m[6] = { 0x02, 0, 0, 0, family == 4 ? 0x01 : 0x03, n };

	memcpy(mac, m, 6);
}

int testnet_ifindex(const char *name)
{
	return if_nametoindex(name);
}

int testnet_setup(const char **why)
{
	static const char *const cmds[] = {
		"ip link set lo up",
		"ip link add xlb0 address 02:00:00:00:00:fe type veth peer name xlb1",
		"ip link add xlb2 address 02:00:00:00:02:fe type veth peer name xlb3",
		"ip link set xlb0 up && ip link set xlb1 up && ip link set xlb2 up && ip link set xlb3 up",
		"ip addr add 198.51.100.254/24 dev xlb0",
		"ip -6 addr add 2001:db8:b::fe/64 dev xlb2 nodad",
		"sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1",
		"sysctl -qw net.ipv4.conf.xlb0.forwarding=1 net.ipv6.conf.xlb2.forwarding=1",
		"for i in 1 2 3 4; do ip neigh replace 198.51.100.$i lladdr 02:00:00:00:01:0$i "
		"dev xlb0 nud permanent; ip -6 neigh replace 2001:db8:b::$i lladdr "
		"02:00:00:00:03:0$i dev xlb2 nud permanent; done",
	};
	char cmd[512];

	if (geteuid() != 0) {
		*why = "needs root (network namespace, BPF)";
		return -1;
	}
	if (unshare(CLONE_NEWNET)) {
		*why = "cannot create a network namespace";
		return -1;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s >/dev/null 2>&1", cmds[i]);
		if (system(cmd) != 0) {
			fprintf(stderr, "# testnet: failed: %s\n", cmds[i]);
			*why = "cannot set up the test network (ip/sysctl failed)";
			return -1;
		}
	}
	return 0;
}
