/*
 * A small rtnetlink client: one request at a time, each waited for its
 * acknowledgement.  What xlb needs of it: a veth pair, link flags and MTU,
 * fwmark rules and a default route in a table (the health checks' path); a
 * route's device and a neighbour resolved (L2 direct return's backends).
 */
#ifndef XLB_RTNL_H
#define XLB_RTNL_H

#include <linux/types.h>
#include <stdbool.h>

/* A veth pair name <-> peer with an MTU.  0 or -errno. */
int xlb_rtnl_veth_add(const char *name, const char *peer, __u32 mtu);
/* Delete a link by name: 0, -ENODEV when there is none, or -errno. */
int xlb_rtnl_link_del(const char *name);
/* Set a link up, with IFF_NOARP when noarp.  0 or -errno. */
int xlb_rtnl_link_up(const char *name, bool noarp);

/* An fwmark rule (AF_INET or AF_INET6): mark/mask lookup table, at prio. */
struct xlb_rtnl_rule {
	int family;
	__u32 mark, mask, table, prio;
};
/* Add (EEXIST is an error) or delete (-ENOENT when there is none) a rule. */
int xlb_rtnl_rule(const struct xlb_rtnl_rule *r, bool add);

/* The tables of rules (family) whose fwmark/mask are mark/mask: count (up to max) or -errno. */
int xlb_rtnl_rule_tables(int family, __u32 mark, __u32 mask, __u32 *tables, int max);

/* "default dev ifindex table table" (AF_INET or AF_INET6), replacing one there. */
int xlb_rtnl_default_route(int family, int ifindex, __u32 table);

/*
 * The route to dst (AF_INET or AF_INET6, network order): its device, and
 * whether it goes through a gateway.  0, -ENETUNREACH or -errno.
 */
int xlb_rtnl_route_get(int family, const void *dst, int *oif, bool *gateway);
/*
 * Ask the kernel to resolve (or confirm) the neighbour addr on ifindex, as
 * traffic to it would (NTF_USE): the entry is made when there is none and a
 * solicitation goes out when it is not reachable; an entry set by hand
 * (permanent, noarp) is left as it is.  0 or -errno.
 */
int xlb_rtnl_neigh_use(int family, const void *addr, int ifindex);
/* Does the neighbour addr on ifindex have a usable MAC (NUD_VALID)?  1, 0 or -errno. */
int xlb_rtnl_neigh_valid(int family, const void *addr, int ifindex);

#endif
