/*
 * XDP links on an interface: making and pinning one, what a pinned one is
 * to its interface, and checking that what attach made holds.  Shared by
 * the balancer's loader and the decap's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "log.h"

enum xlb_mode xlb_xdp_mode(__u32 ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return XLB_MODE_DEFAULT;
	if (q.attach_mode == XDP_ATTACHED_DRV)
		return XLB_MODE_NATIVE;
	if (q.attach_mode == XDP_ATTACHED_SKB)
		return XLB_MODE_GENERIC;
	return XLB_MODE_DEFAULT;
}

__u32 xlb_xdp_prog_id(__u32 ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return 0;
	return q.prog_id;
}

int xlb_link_ifindex(int link_fd, __u32 *ifindex, __u32 *prog_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(link_fd, &info, &len))
		return -errno;
	if (info.type != BPF_LINK_TYPE_XDP)
		return -EINVAL;
	*ifindex = info.xdp.ifindex;
	if (prog_id)
		*prog_id = info.prog_id;
	return 0;
}

static int describe_busy(const char *ifname, __u32 ifindex, int err)
{
	__u32 id = xlb_xdp_prog_id(ifindex);

	if (id)
		return xlb_errf(-EBUSY, "another XDP program (id %u) is attached to %s; xlb does "
				"not replace it: remove it first (ip link set dev %s xdp off)",
				id, ifname, ifname);
	return xlb_errf(err, "cannot attach XDP to %s: %s", ifname, strerror(-err));
}

int xlb_link_xdp(const char *ifname, __u32 ifindex, int prog_fd, enum xlb_mode mode,
		 const char *pin_path)
{
	LIBBPF_OPTS(bpf_link_create_opts, lopts);
	int fd, err;

	lopts.flags = mode == XLB_MODE_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &lopts);
	if (fd < 0) {
		err = -errno;
		if (err == -EBUSY || err == -EEXIST)
			return describe_busy(ifname, ifindex, err);
		if (mode != XLB_MODE_GENERIC && (err == -EOPNOTSUPP || err == -EINVAL))
			return xlb_errf(-EINVAL, "%s does not support native XDP (%s); use --mode "
					"generic", ifname, strerror(-err));
		return xlb_errf(err, "cannot attach XDP to %s: %s", ifname, strerror(-err));
	}
	if (bpf_obj_pin(fd, pin_path)) {
		err = -errno;
		bpf_link_detach(fd);
		close(fd);
		return xlb_errf(err, "cannot pin link at %s: %s", pin_path, strerror(-err));
	}
	return fd;
}

enum xlb_link_state xlb_pinned_link(const char *pin_path, __u32 ifindex)
{
	__u32 link_if = 0;
	int fd = bpf_obj_get(pin_path);
	bool live;

	if (fd < 0)
		return access(pin_path, F_OK) ? XLB_LINK_NONE : XLB_LINK_DEFUNCT;
	/* a link whose device went away reports ifindex 0; a new device a new index */
	live = !xlb_link_ifindex(fd, &link_if, NULL) && link_if && link_if == ifindex;
	close(fd);
	return live ? XLB_LINK_LIVE : XLB_LINK_DEFUNCT;
}

int xlb_verify_link(const char *ifname, const char *pin_path, __u32 ifindex, int prog_fd)
{
	struct bpf_prog_info pinfo = {};
	__u32 plen = sizeof(pinfo), link_if = 0, link_prog = 0, running;
	int fd, err;

	if (bpf_obj_get_info_by_fd(prog_fd, &pinfo, &plen))
		return xlb_errf(-errno, "cannot read the loaded program: %s", strerror(errno));
	fd = bpf_obj_get(pin_path);
	if (fd < 0)
		return xlb_errf(-EIO, "attach did not hold: no link is pinned at %s (%s); nothing "
				"keeps the program on %s", pin_path, strerror(errno), ifname);
	err = xlb_link_ifindex(fd, &link_if, &link_prog);
	close(fd);
	if (err || link_if != ifindex || link_prog != pinfo.id)
		return xlb_errf(-EIO, "attach did not hold: the link pinned at %s is on ifindex %u "
				"with program %u, not on %s (ifindex %u) with program %u", pin_path,
				link_if, link_prog, ifname, ifindex, pinfo.id);
	running = xlb_xdp_prog_id(ifindex);
	if (running != pinfo.id)
		return xlb_errf(-EIO, "attach did not hold: %s runs XDP program %u, not %u",
				ifname, running, pinfo.id);
	return 0;
}

/* Create the XDP link and pin it.  Returns the link fd. */
