/*
 * The health checks' way through the tunnel (issue 25).  A check of a
 * tunnelled backend connects to VIP:port from the tunnel source (the
 * attach's --src4/--src6) with SO_MARK set to a mark claimed here.  Policy
 * routing sends marked packets (fwmark XLB_HC_MARK/XLB_HC_MARK_MASK) out of
 * a NOARP veth, xlbhcIFINDEX; a tc egress program there looks the mark up
 * (map hc_targets: the backend's address), wraps the packet in the same
 * IP-in-IP / IP6IP6 header the XDP program writes for that backend (outer
 * source: the tunnel source) and hands it to the neighbour layer on the
 * route to the backend.  The backend's decap, its VIP on loopback and its
 * listener see what a client's packet shows them; the answer comes back by
 * direct return, VIP to the tunnel source, like a client's.  Unmarked
 * packets never take that route, so the node's own traffic is unaffected,
 * and a marked one whose mark is unknown is dropped, never sent in clear.
 *
 * Everything is made by xlb_hcpath_open and removed by xlb_hcpath_close (and
 * replaced at the next open after a crash); the data plane never needs it.
 */
#ifndef XLB_HCPATH_H
#define XLB_HCPATH_H

#include <stdbool.h>
#include <linux/types.h>
#include "xlb_abi.h"

/* XLB_HC_MARK, XLB_HC_MARK_MASK, XLB_HC_SLOTS: in xlb_abi.h (the tc program's too) */

struct xlb_hcpath;

/*
 * Make the path for the XDP interface ifname (its veth, tc program, rules and
 * routes, IPv4 and IPv6) with the tunnel sources src4/src6 (NULL or all-zero:
 * no checks through the tunnel for that family).  0 or -errno with
 * xlb_errmsg() saying what failed and where.
 */
int xlb_hcpath_open(const char *ifname, const union xlb_addr *src4, const union xlb_addr *src6,
		    struct xlb_hcpath **out);
void xlb_hcpath_close(struct xlb_hcpath *hp);

/* The tunnel source of a family (XLB_FAMILY_V4/V6); NULL: none. */
const union xlb_addr *xlb_hcpath_source(const struct xlb_hcpath *hp, __u8 family);

/*
 * A mark for one check of target t (backend, family, and its service's
 * forwarding: fwd, gue_port in network order): packets with it go to that
 * backend the way the service's do until it is released (and after, until
 * the slot is claimed again: the closed socket's last packets still reach
 * it).  0 or -errno (-ENOSPC: every slot in flight; -ENOENT: no tunnel
 * source for the family).
 */
int xlb_hcpath_claim(struct xlb_hcpath *hp, const struct xlb_hc_target *t, __u32 *mark);
void xlb_hcpath_release(struct xlb_hcpath *hp, __u32 mark);

/*
 * What an operator should hear of at open ("" nothing): forwarding off on
 * the interface (no route for the tc program), strict rp_filter on the
 * answers' path.  The veth's name (xlbhcIFINDEX).
 */
const char *xlb_hcpath_note(const struct xlb_hcpath *hp);
const char *xlb_hcpath_veth(const struct xlb_hcpath *hp);

/* Packets the tc program sent, and dropped (unknown mark, no room, no route). */
int xlb_hcpath_stats(const struct xlb_hcpath *hp, __u64 *sent, __u64 *dropped);

#endif
