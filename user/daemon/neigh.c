/*
 * L2 direct return's neighbours.  A service with "forward": "l2" sends each
 * frame to its backend's MAC from bpf_fib_lookup; while the kernel has no
 * resolved neighbour for a backend the packet path drops its packets
 * (drop:no_neigh_l2) and cannot resolve it itself.  So every
 * NEIGH_EVERY_MS the daemon asks the kernel to resolve or confirm each L2
 * backend's neighbour (NTF_USE, as traffic to it would), and says once per
 * backend when it cannot be on the segment: no route, or a route through a
 * gateway (the frame would go to the gateway's MAC).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <sys/socket.h>
#include "state.h"
#include "rtnl.h"

#define NEIGH_EVERY_MS	2000

static bool l2_backend(struct daemon *d, const struct dbackend *b)
{
	const struct xlb_service_conf *s;

	if (!b->present)
		return false;
	s = xlb_config_service(&d->running, b->service);
	return s && s->forward == XLB_FWD_L2;
}

static void kick(struct dbackend *b)
{
	int af = b->family == XLB_FAMILY_V4 ? AF_INET : AF_INET6, oif = 0, err;
	char a[INET6_ADDRSTRLEN];
	bool gw = false;

	err = xlb_rtnl_route_get(af, &b->addr, &oif, &gw);
	if (!err && !gw)
		err = xlb_rtnl_neigh_use(af, &b->addr, oif);
	if (!err && !gw) {
		b->neigh_said = false;
		return;
	}
	if (b->neigh_said)
		return;
	b->neigh_said = true;
	inet_ntop(af, &b->addr, a, sizeof(a));
	if (gw)
		dlog(4, "service %s backend %s (forward l2): the route to it goes through a gateway: "
		     "L2 direct return needs the backend on this node's segment", b->service, a);
	else
		dlog(4, "service %s backend %s (forward l2): cannot resolve its neighbour: %s",
		     b->service, a, strerror(-err));
}

void neigh_tick(struct daemon *d, __u64 now)
{
	static __u64 last_ms;

	if (now - last_ms < NEIGH_EVERY_MS)
		return;
	last_ms = now;
	for (__u32 i = 0; i < d->nr_be; i++)
		if (l2_backend(d, &d->be[i]))
			kick(&d->be[i]);
}
