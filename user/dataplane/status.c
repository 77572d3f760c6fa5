/* xlb status: what is pinned for an interface and what its maps hold. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "dataplane.h"
#include "loader.h"
#include "log.h"
#include "moved.h"

static int map_max(int fd, __u32 *max)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*max = info.max_entries;
	return 0;
}

/* Services and backends present in the active slot. */
static int count_active(const struct xlb_dp *dp, struct xlb_status *st)
{
	struct xlb_service *svcs = calloc(XLB_MAX_SERVICES, sizeof(*svcs));
	struct xlb_backend be;
	int err;

	if (!svcs)
		return xlb_errf(-ENOMEM, "out of memory");
	err = xlb_dp_slot_services(dp, st->active_slot, NULL, svcs, XLB_MAX_SERVICES,
				   &st->services);
	free(svcs);
	st->backends = 0;
	for (__u32 id = 1; !err && id < XLB_MAX_BACKENDS; id++)
		if (!xlb_dp_get_backend(dp, st->active_slot, id, &be) && be.family)
			st->backends++;
	st->services_max = XLB_MAX_SERVICES;
	st->backends_max = XLB_MAX_BACKENDS - 1;
	return err;
}

int xlb_status_get(const char *ifname, struct xlb_status *st)
{
	struct xlb_node_conf node;
	struct xlb_slot_conf conf;
	struct xlb_dp dp;
	char dir[256], path[512];
	__u32 link_if = 0;
	int err, fd;

	xlb_err_clear();
	memset(st, 0, sizeof(*st));
	err = xlb_pin_dir(ifname, dir, sizeof(dir));
	if (err)
		return err;
	snprintf(st->ifname, sizeof(st->ifname), "%s", ifname);
	if (access(dir, F_OK))
		return xlb_errf(-ENOENT, "xlb is not attached to %s", ifname);
	st->ifindex = if_nametoindex(ifname);
	snprintf(path, sizeof(path), "%s/link", dir);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		st->linked = !xlb_link_ifindex(fd, &link_if, &st->prog_id) && link_if &&
			     link_if == st->ifindex;
		close(fd);
	}
	if (st->linked)
		st->mode = xlb_xdp_mode(st->ifindex);
	err = xlb_pinned_version(dir, &st->state_version) ?: xlb_dp_open_pinned(&dp, dir);
	if (err)
		return err;
	err = xlb_dp_active_slot(&dp, &st->active_slot) ?:
	      xlb_dp_get_slot_conf(&dp, st->active_slot, &conf) ?:
	      xlb_dp_count_entries(dp.flows, sizeof(struct xlb_flow_key), &st->flows) ?:
	      map_max(dp.flows, &st->flows_max) ?: count_active(&dp, st) ?:
	      xlb_dp_flood_limited(&dp, &st->flows_limited) ?:
	      xlb_dp_icmp_limited(&dp, &st->icmp_limited) ?: xlb_dp_get_node_conf(&dp, &node);
	for (__u32 i = 0; !err && i < XLB_MAX_SERVICES; i++) {
		__u32 *t, m;

		struct xlb_replaced rep;

		if (xlb_dp_get_table_raw(&dp, st->active_slot, i, &t, &m))
			continue;
		st->moved += !xlb_dp_get_replaced(&dp, st->active_slot, i, &rep) && rep.table_size ?
			     m : xlb_moved_count(t, m);
		free(t);
	}
	if (!err) {
		st->flow_rate = conf.flow_rate ?: XLB_FLOW_RATE_DEFAULT;
		st->icmp_rate = node.icmp_rate ?: XLB_ICMP_RATE_DEFAULT;
		st->generation = conf.generation;
		st->src4 = conf.src4;
		st->src6 = conf.src6;
	}
	xlb_dp_close(&dp);
	return err;
}
