/* A network namespace of the test's own, set up with `ip`. */
#define _GNU_SOURCE
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "testnet.h"
#include "loader.h"

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

int testnet_attach(const char *tag, __u32 flows, struct testnet_xlb *x, const char **why)
{
	struct xlb_attach_opts o = { .flows = flows, .src4 = TN_NODE4, .src6 = TN_NODE6 };
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	struct xlb_attach_info ai;
	int link, n = getpid() % 100000;
	char cmd[512];

	x->prog_fd = -1;
	snprintf(x->ifname, sizeof(x->ifname), "%s%d", tag, n);
	snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name %sp%d && ip link set %s up "
		 "&& ip link set %sp%d up && sysctl -qw net.ipv4.conf.%s.forwarding=1 && "
		 "sysctl -qw net.ipv6.conf.all.forwarding=1", x->ifname, tag, n, x->ifname, tag,
		 n, x->ifname);
	snprintf(x->state_dir, sizeof(x->state_dir), "/tmp/xlb-test-%s-%d", tag, getpid());
	o.ifname = x->ifname;
	if (system(cmd) || xlb_attach(&o, &ai)) {
		*why = "cannot attach to the test interface";
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "%s/%s/link", XLB_PIN_ROOT, x->ifname);
	link = bpf_obj_get(cmd);
	if (link < 0 || bpf_obj_get_info_by_fd(link, &info, &len)) {
		*why = "cannot open the pinned link";
		return -1;
	}
	x->prog_fd = bpf_prog_get_fd_by_id(info.prog_id);
	close(link);
	return 0;
}

int testnet_detach(struct testnet_xlb *x)
{
	char cmd[128];

	if (x->ifname[0])
		xlb_detach(x->ifname);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", x->state_dir);
	return x->state_dir[0] && system(cmd) ? -1 : 0;
}
