/*
 * The BPF tests' private network: the test process moves into a new network
 * namespace (gone when it exits) holding two veth pairs with fixed MACs,
 * addresses and permanent neighbours, so bpf_fib_lookup answers exactly.
 *
 *   xlb0 02:00:00:00:00:fe  198.51.100.254/24   IPv4 backends 198.51.100.1-4
 *   xlb2 02:00:00:00:02:fe  2001:db8:b::fe/64   IPv6 backends 2001:db8:b::1-4
 *   198.51.100.50: routed, no neighbour;  203.0.113.99: no route
 */
#ifndef XLB_TESTNET_H
#define XLB_TESTNET_H

#include <linux/types.h>
#include <net/if.h>

#define TN_NODE4	"198.51.100.254"
#define TN_NODE6	"2001:db8:b::fe"

/* 0, or -1 with a reason in *why (not root, no netns...). */
int testnet_setup(const char **why);
int testnet_ifindex(const char *name);
/* MAC of backend n (1..4) of a family (4 or 6). */
void testnet_backend_mac(int family, int n, __u8 mac[6]);

/*
 * A veth of the private network (a peer of its own, forwarding on) with xlb
 * attached through the library's real attach path, a state directory of its
 * own under /tmp, and the attached program's fd for BPF_PROG_TEST_RUN.
 */
struct testnet_xlb {
	char ifname[IF_NAMESIZE];
	char state_dir[64];
	int prog_fd;
};
/* 0, or -1 with a reason in *why; tag: two letters that name the test's veth. */
int testnet_attach(const char *tag, __u32 flows, struct testnet_xlb *x, const char **why);
/* Detach and remove the state directory: 0, or -1. */
int testnet_detach(struct testnet_xlb *x);

#endif
