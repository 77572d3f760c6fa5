/*
 * Loading: the balancer with its maps and an XDP link pinned under
 * /sys/fs/bpf/xlb/<ifname>/, so the data plane forwards with no xlb process
 * running.  Attaching again adopts the pins (maps kept, program replaced
 * atomically through the link): that is also how an upgrade is rolled out.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xlb.skel.h"
#include "dataplane.h"
#include "loader.h"
#include "log.h"
#include "moved.h"
#include "netutil.h"
#include "offload.h"
#include "upgrade.h"

#define XLB_LOCK_DIR		"/run/xlb"

const char *xlb_mode_name(enum xlb_mode mode)
{
	switch (mode) {
	case XLB_MODE_NATIVE:
		return "native";
	case XLB_MODE_GENERIC:
		return "generic";
	default:
		return "unknown";
	}
}

int xlb_mode_parse(const char *s, enum xlb_mode *mode)
{
	if (!strcmp(s, "native"))
		*mode = XLB_MODE_NATIVE;
	else if (!strcmp(s, "generic"))
		*mode = XLB_MODE_GENERIC;
	else
		return -EINVAL;
	return 0;
}

int xlb_pin_dir(const char *ifname, char *buf, size_t len)
{
	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE || strchr(ifname, '/') ||
	    !strcmp(ifname, ".") || !strcmp(ifname, ".."))
		return xlb_errf(-EINVAL, "'%s' is not an interface name", ifname ? ifname : "");
	snprintf(buf, len, "%s/%s", XLB_PIN_ROOT, ifname);
	return 0;
}

int xlb_make_dir(const char *path)
{
	if (mkdir(path, 0700) && errno != EEXIST)
		return xlb_errf(-errno, "cannot create %s: %s", path, strerror(errno));
	return 0;
}

/* Exclusive lock per interface: attach, detach and commits serialise on it. */
static int lock_dev(const char *ifname, int how)
{
	char path[128];
	int fd, err;

	err = xlb_make_dir(XLB_LOCK_DIR);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/%s.lock", XLB_LOCK_DIR, ifname);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return xlb_errf(-errno, "cannot open lock %s: %s", path, strerror(errno));
	if (flock(fd, how)) {
		err = -errno;
		close(fd);
		return xlb_errf(err, "cannot lock %s: %s", path, strerror(-err));
	}
	return fd;
}

int xlb_lock_dev(const char *ifname)
{
	return lock_dev(ifname, LOCK_EX);
}

int xlb_trylock_dev(const char *ifname)
{
	return lock_dev(ifname, LOCK_EX | LOCK_NB);
}

static bool path_exists(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Pin every map of the object in dir; a map already pinned there is reused. */
static int set_pin_paths(struct bpf_object *obj, const char *dir)
{
	struct bpf_map *map;
	char path[512];

	bpf_object__for_each_map(map, obj) {
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		if (bpf_map__set_pin_path(map, path))
			return xlb_errf(-errno, "cannot set pin path %s", path);
	}
	return 0;
}

/* Run fn on every pin in dir. */
static void each_pin(const char *dir, int (*fn)(const char *path))
{
	struct dirent *de;
	char path[512];
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fn(path);
	}
	closedir(d);
}

static int owner_only(const char *path)
{
	return chmod(path, 0600);
}

void xlb_chmod_pins(const char *dir)
{
	each_pin(dir, owner_only);
}

void xlb_remove_pins(const char *dir)
{
	each_pin(dir, unlink);
	rmdir(dir);
}

/* Keep the connection table's size when adopting unless told otherwise. */
static int size_flows(struct xlb_bpf *skel, const char *dir, __u32 flows)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/xlb_flows", dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return flows ? bpf_map__set_max_entries(skel->maps.xlb_flows, flows) : 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	close(fd);
	if (flows && info.max_entries && flows != info.max_entries)
		return xlb_errf(-EINVAL, "--flows %u differs from the pinned connection table "
				"(%u entries); detach first to resize it", flows, info.max_entries);
	return bpf_map__set_max_entries(skel->maps.xlb_flows,
					info.max_entries ? info.max_entries : flows);
}

static int create_link(const struct xlb_attach_opts *o, __u32 ifindex, int prog_fd,
		       const char *dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/link", dir);
	return xlb_link_xdp(o->ifname, ifindex, prog_fd, o->mode, path);
}

/* Replace the program behind a pinned link; maps (and flows) stay. */
static int adopt_link(const struct xlb_attach_opts *o, __u32 ifindex, int prog_fd,
		      const char *dir, bool *adopted)
{
	char path[512];
	__u32 link_if = 0;
	int fd, err;

	snprintf(path, sizeof(path), "%s/link", dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return create_link(o, ifindex, prog_fd, dir);
	err = xlb_link_ifindex(fd, &link_if, NULL);
	if (err || link_if != ifindex) {
		/* the interface went away with its link; start a new link */
		pr_warn("the link pinned at %s belonged to a device that is gone (%s was deleted "
			"and made again): attaching anew, the pinned maps are kept\n", path,
			o->ifname);
		close(fd);
		unlink(path);
		return create_link(o, ifindex, prog_fd, dir);
	}
	if (o->mode != XLB_MODE_DEFAULT && xlb_xdp_mode(ifindex) != o->mode) {
		close(fd);
		return xlb_errf(-EINVAL, "%s is attached in %s mode; detach it first to change "
				"the mode", o->ifname, xlb_mode_name(xlb_xdp_mode(ifindex)));
	}
	if (bpf_link_update(fd, prog_fd, NULL)) {
		err = -errno;
		close(fd);
		return xlb_errf(err, "cannot replace the program on %s: %s", o->ifname,
				strerror(-err));
	}
	*adopted = true;
	return fd;
}

static int pick_source(const struct xlb_attach_opts *o, const char *given, __u8 family,
		       union xlb_addr *out)
{
	__u8 fam;

	if (given) {
		if (xlb_addr_parse(given, out, &fam) || fam != family)
			return xlb_errf(-EINVAL, "--src%d: '%s' is not an IPv%d address",
					family, given, family);
		return 0;
	}
	if (xlb_if_first_addr(o->ifname, family, out))
		memset(out, 0, sizeof(*out));
	return 0;
}

/*
 * Tunnel sources, the flood guard and the too-big answers' rate: set on a
 * fresh attach, or when given explicitly.
 */
static int set_sources(const struct xlb_attach_opts *o, struct xlb_dp *dp, bool adopted,
		       struct xlb_attach_info *info)
{
	struct xlb_node_conf node;
	struct xlb_slot_conf conf;
	union xlb_addr s4, s6;
	int err;

	err = pick_source(o, o->src4, XLB_FAMILY_V4, &s4);
	if (!err)
		err = pick_source(o, o->src6, XLB_FAMILY_V6, &s6);
	if (err)
		return err;
	for (__u32 slot = 0; slot < XLB_SLOTS; slot++) {
		err = xlb_dp_get_slot_conf(dp, slot, &conf);
		if (err)
			return err;
		if (!adopted || o->src4)
			conf.src4 = s4;
		if (!adopted || o->src6)
			conf.src6 = s6;
		if (!adopted || o->flow_rate)
			conf.flow_rate = o->flow_rate;
		err = xlb_dp_set_slot_conf(dp, slot, &conf);
		if (err)
			return err;
	}
	err = xlb_dp_get_node_conf(dp, &node);
	if (!err && (!adopted || o->icmp_rate)) {
		node.icmp_rate = o->icmp_rate;
		err = xlb_dp_set_node_conf(dp, &node);
	}
	if (err)
		return err;
	info->icmp_rate = node.icmp_rate ?: XLB_ICMP_RATE_DEFAULT;
	return xlb_dp_get_slot_conf(dp, 0, &conf) ?: (info->src4 = conf.src4,
						       info->src6 = conf.src6,
						       info->flow_rate = conf.flow_rate ?:
						       XLB_FLOW_RATE_DEFAULT, 0);
}

/*
 * Generic mode runs after the receive offloads: GRO or LRO would hand xlb
 * coalesced segments with partial checksums, which no tunnel carries
 * (dropped as coalesced: uploads stall).  Refused while one is on.
 */
static int check_generic_offloads(const char *ifname, __u32 ifindex, enum xlb_mode mode,
				  const char *dir)
{
	char off[128], path[512];
	int on;

	snprintf(path, sizeof(path), "%s/link", dir);
	if (mode == XLB_MODE_DEFAULT && xlb_pinned_link(path, ifindex) == XLB_LINK_LIVE)
		mode = xlb_xdp_mode(ifindex);	/* adopting: the mode stays */
	if (mode != XLB_MODE_GENERIC)
		return 0;
	on = xlb_if_coalescing(ifname, off, sizeof(off));
	if (on < 0) {
		pr_warn("cannot read the receive offloads of %s (%s): in generic mode GRO and LRO "
			"must be off, or uploads stall (ethtool -K %s gro off lro off)\n", ifname,
			strerror(-on), ifname);
		return 0;
	}
	if (on)
		return xlb_errf(-EINVAL, "generic mode runs after the receive offloads, and %s "
				"coalesces segments (%d on): xlb would see frames longer than the "
				"MTU that no tunnel carries, and uploads would stall; turn them off "
				"first: ethtool -K %s %s", ifname, on, ifname, off);
	return 0;
}

static void warn_forwarding(const char *ifname)
{
	if (xlb_if_forwarding(ifname, XLB_FAMILY_V4) == 0)
		pr_warn("IPv4 forwarding is off on %s: IPv4 services will drop (fib_failure); "
			"sysctl -w net.ipv4.conf.%s.forwarding=1\n", ifname, ifname);
	if (xlb_if_forwarding(ifname, XLB_FAMILY_V6) == 0)
		pr_warn("IPv6 forwarding is off on %s: IPv6 services will drop (fib_failure); "
			"sysctl -w net.ipv6.conf.%s.forwarding=1\n", ifname, ifname);
}

int xlb_pinned_version(const char *dir, __u32 *version)
{
	char path[512];
	__u32 zero = 0;
	int fd, err = 0;

	*version = path_exists(dir, "xlb_active") ? 1 : 0;
	snprintf(path, sizeof(path), "%s/xlb_version", dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_map_lookup_elem(fd, &zero, version))
		err = xlb_errf(-errno, "cannot read %s: %s", path, strerror(errno));
	close(fd);
	return err;
}

/* Adopt only what this build knows: its own version, or an older one it migrates. */
static int check_version(const char *ifname, const char *dir, __u32 *version)
{
	__u32 v;
	int err = xlb_pinned_version(dir, &v);

	*version = v;
	if (err || !v || (v >= XLB_STATE_VERSION_MIN && v <= XLB_STATE_VERSION))
		return err;
	return xlb_errf(-EBUSY, "the state pinned in %s is of version %u and this xlb knows "
			"versions %u to %u: attach %s with the xlb that pinned it (or a newer "
			"one), or detach it first, which drops the connection table", dir, v,
			XLB_STATE_VERSION_MIN, XLB_STATE_VERSION, ifname);
}

static int write_version(const struct bpf_object *obj)
{
	int fd = bpf_object__find_map_fd_by_name(obj, "xlb_version");
	__u32 zero = 0, v = XLB_STATE_VERSION;

	if (fd < 0 || bpf_map_update_elem(fd, &zero, &v, BPF_ANY))
		return xlb_errf(-EIO, "cannot record the state version in xlb_version");
	return 0;
}

/* Open the object with dir's pins, carried over from an older state, and load it. */
static int load_balancer(const struct xlb_attach_opts *o, const char *dir, bool fresh,
			 __u32 version, struct xlb_stats_growth *grow, struct xlb_bpf **skelp,
			 struct xlb_attach_info *info)
{
	struct xlb_bpf *skel;
	struct xlb_dp dp;
	char why[256];
	int err;

	*skelp = skel = xlb_bpf__open();
	if (!skel)
		return xlb_errf(-errno, "cannot open the balancer object: %s", strerror(errno));
	err = set_pin_paths(skel->obj, dir) ?: size_flows(skel, dir, o->flows) ?:
	      (fresh ? 0 : xlb_stats_growth_prepare(grow, dir, skel->maps.xlb_stats));
	if (err)
		return err;
	err = xlb_bpf__load(skel);
	if (err)
		return xlb_errf(err, "cannot load the balancer on %s: %s%s", o->ifname,
				strerror(-err), fresh ? "" : " (the maps pinned in " XLB_PIN_ROOT
				" differ from this build's: detach first, which drops the "
				"connection table)");
	/* an older version remembered every flow: mark where that matters, then take over */
	if (fresh || version >= 3)
		return 0;
	err = xlb_dp_from_object(&dp, skel->obj) ?: xlb_moved_adopt(&dp, &info->marked);
	if (!err)
		return 0;
	snprintf(why, sizeof(why), "%s", xlb_errmsg());
	return xlb_errf(err, "cannot carry the connection table of state version %u over: %s "
			"(the running program was not replaced)", version, why);
}

/* The program runs on DEV: settings, version, checks, and what attach reports. */
/*
 * Pins of maps this build no longer has, once its program runs: xlb_syns
 * (state before version 5; SYNs of moved slots are in xlb_syn_cells now; the
 * SYNs it held are unanswered ones, whose ACKs take the previous backend and
 * its second chance as when the flood guard refused them).
 */
static void remove_old_pins(const char *dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/xlb_syns", dir);
	if (unlink(path) && errno != ENOENT)
		pr_warn("cannot remove %s, a map this xlb no longer uses: %s\n", path,
			strerror(errno));
}

static int settle_attach(const struct xlb_attach_opts *o, const char *dir, bool fresh,
			 struct xlb_bpf *skel, struct xlb_stats_growth *grow,
			 struct xlb_attach_info *info)
{
	int prog_fd = bpf_program__fd(skel->progs.xlb_balance);
	struct bpf_prog_info pinfo = {};
	__u32 plen = sizeof(pinfo);
	char path[512];
	struct xlb_dp dp;
	int err;

	xlb_chmod_pins(dir);
	snprintf(path, sizeof(path), "%s/link", dir);
	err = xlb_dp_from_object(&dp, skel->obj) ?: set_sources(o, &dp, !fresh, info) ?:
	      write_version(skel->obj) ?: xlb_verify_link(o->ifname, path, info->ifindex, prog_fd) ?:
	      xlb_stats_growth_commit(grow);
	if (err)
		return err;
	if (!fresh)
		remove_old_pins(dir);
	if (!bpf_obj_get_info_by_fd(prog_fd, &pinfo, &plen))
		info->prog_id = pinfo.id;
	info->adopted = !fresh;
	info->mode = xlb_xdp_mode(info->ifindex);
	if (xlb_addr_is_zero(&info->src4) && xlb_addr_is_zero(&info->src6))
		pr_warn("%s has no IPv4 or IPv6 address: set a tunnel source with --src4/--src6 "
			"or services will drop (no_tunnel_source)\n", o->ifname);
	warn_forwarding(o->ifname);
	return 0;
}

int xlb_attach(const struct xlb_attach_opts *o, struct xlb_attach_info *info)
{
	struct xlb_bpf *skel = NULL;
	struct xlb_stats_growth grow;
	bool fresh, adopted = false;
	__u32 version;
	char dir[256];
	int err, lock, link_fd = -1;

	xlb_err_clear();
	xlb_stats_growth_init(&grow);
	memset(info, 0, sizeof(*info));
	err = xlb_pin_dir(o->ifname, dir, sizeof(dir));
	if (err)
		return err;
	info->ifindex = if_nametoindex(o->ifname);
	if (!info->ifindex)
		return xlb_errf(-ENODEV, "no interface named %s", o->ifname);
	err = xlb_ensure_bpffs() ?: xlb_make_dir(XLB_PIN_ROOT) ?: xlb_make_dir(dir);
	if (err)
		return err;
	lock = xlb_lock_dev(o->ifname);
	if (lock < 0)
		return lock;
	fresh = !path_exists(dir, "xlb_active");
	err = check_generic_offloads(o->ifname, info->ifindex, o->mode, dir) ?:
	      check_version(o->ifname, dir, &version) ?:
	      load_balancer(o, dir, fresh, version, &grow, &skel, info);
	if (err)
		goto out;
	link_fd = adopt_link(o, info->ifindex, bpf_program__fd(skel->progs.xlb_balance), dir,
			     &adopted);
	err = link_fd < 0 ? link_fd : settle_attach(o, dir, fresh, skel, &grow, info);
out:
	if (err && fresh) {
		if (link_fd >= 0)
			bpf_link_detach(link_fd);
		xlb_remove_pins(dir);
	}
	if (link_fd >= 0)
		close(link_fd);
	xlb_stats_growth_release(&grow);
	xlb_bpf__destroy(skel);
	close(lock);
	return err;
}

int xlb_detach(const char *ifname)
{
	char dir[256], path[512];
	int err, lock, fd;

	xlb_err_clear();
	err = xlb_pin_dir(ifname, dir, sizeof(dir));
	if (err)
		return err;
	if (access(dir, F_OK))
		return xlb_errf(-ENOENT, "xlb is not attached to %s (no %s)", ifname, dir);
	lock = xlb_lock_dev(ifname);
	if (lock < 0)
		return lock;
	snprintf(path, sizeof(path), "%s/link", dir);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpf_link_detach(fd) && errno != ENOLINK && errno != EINVAL) {
			err = xlb_errf(-errno, "cannot detach from %s: %s", ifname,
				       strerror(errno));
			close(fd);
			close(lock);
			return err;
		}
		close(fd);
	}
	xlb_remove_pins(dir);
	close(lock);
	if (!access(dir, F_OK))
		return xlb_errf(-EBUSY, "cannot remove %s", dir);
	return 0;
}

int xlb_attached(char (*names)[IF_NAMESIZE], int max)
{
	struct dirent *de;
	DIR *d = opendir(XLB_PIN_ROOT);
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= IF_NAMESIZE)
			continue;
		snprintf(names[n++], IF_NAMESIZE, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

int xlb_resolve_dev(const char *ifname, char *out, size_t len)
{
	char names[8][IF_NAMESIZE];
	int n;

	xlb_err_clear();
	if (ifname) {
		snprintf(out, len, "%s", ifname);
		return 0;
	}
	n = xlb_attached(names, 8);
	/* bpffs is shared by network namespaces: count the interfaces of ours */
	for (int i = 0; i < n;) {
		if (if_nametoindex(names[i])) {
			i++;
			continue;
		}
		memmove(names[i], names[i + 1], (n - i - 1) * sizeof(names[0]));
		n--;
	}
	if (n == 0)
		return xlb_errf(-ENOENT, "xlb is not attached to any interface (xlb attach DEV)");
	if (n > 1)
		return xlb_errf(-EINVAL, "xlb is attached to several interfaces: name one");
	snprintf(out, len, "%s", names[0]);
	return 0;
}

