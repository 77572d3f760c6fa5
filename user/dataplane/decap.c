/*
 * The decap loader: bpf/decap.bpf.c on a backend whose kernel has no ipip
 * module, attached by a pinned XDP link like the balancer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "decap.skel.h"
#include "decap.h"
#include "log.h"
#include "netutil.h"


static int decap_add(int map_fd, const char *s)
{
	struct xlb_decap_key k = { 0 };
	__u32 one = 1;

	if (xlb_addr_parse(s, &k.addr, &k.family))
		return xlb_errf(-EINVAL, "'%s' is not an IPv4 or IPv6 address", s);
	if (bpf_map_update_elem(map_fd, &k, &one, BPF_ANY))
		return xlb_errf(-errno, "cannot add %s: %s", s, strerror(errno));
	return 0;
}

/* DEV's own addresses: the ones a load balancer tunnels to. */
static int decap_add_own(int map_fd, const char *ifname, __u32 *n)
{
	static const __u8 fams[] = { XLB_FAMILY_V4, XLB_FAMILY_V6 };
	struct xlb_decap_key k;
	__u32 one = 1;

	for (size_t i = 0; i < sizeof(fams); i++) {
		memset(&k, 0, sizeof(k));
		if (xlb_if_first_addr(ifname, fams[i], &k.addr))
			continue;
		k.family = fams[i];
		if (bpf_map_update_elem(map_fd, &k, &one, BPF_ANY))
			return xlb_errf(-errno, "cannot add an address of %s", ifname);
		(*n)++;
	}
	return 0;
}

/* The pin directory of DEV, checked to be an interface name (never "..", never a path). */
static int decap_dir(const char *ifname, char *dir, size_t len)
{
	int err = xlb_pin_dir(ifname, dir, len);	/* the same name rules */

	if (err)
		return err;
	snprintf(dir, len, "%s/%s", XLB_DECAP_ROOT, ifname);
	return 0;
}

/*
 * Pins already there: a live link refuses; pins of a link whose device went
 * away (a namespace removed, a driver reloaded) are removed, and said so.
 */
static int decap_clear_defunct(const char *ifname, __u32 ifindex, const char *dir,
			       struct xlb_decap_info *info)
{
	char path[512];

	if (access(dir, F_OK))
		return 0;
	snprintf(path, sizeof(path), "%s/link", dir);
	if (xlb_pinned_link(path, ifindex) == XLB_LINK_LIVE)
		return xlb_errf(-EEXIST, "decap is already attached to %s (xlb decap detach %s)",
				ifname, ifname);
	pr_warn("%s holds decap pins of a link whose device is gone (the interface was "
		"deleted and made again): replacing them\n", dir);
	xlb_remove_pins(dir);
	if (!access(dir, F_OK))
		return xlb_errf(-EBUSY, "cannot remove the defunct pins in %s", dir);
	info->replaced_defunct = true;
	return 0;
}

/* A prefix into an LPM pair (decap_from4/6 or decap_peer4/6); opt names it in errors. */
static int prefix_add(struct bpf_map *m4, struct bpf_map *m6, const char *opt, const char *s)
{
	struct xlb_decap_from4 k4 = { 0 };
	struct xlb_decap_from6 k6 = { 0 };
	union xlb_addr a;
	__u32 one = 1, len;
	__u8 fam;
	int err;

	if (xlb_prefix_parse(s, &a, &fam, &len))
		return xlb_errf(-EINVAL, "%s '%s' is not an IPv4 or IPv6 address or prefix "
				"(ADDR or ADDR/LEN)", opt, s);
	if (fam == XLB_FAMILY_V4) {
		k4.prefixlen = len;
		k4.addr = a.v4;
		err = bpf_map_update_elem(bpf_map__fd(m4), &k4, &one, BPF_ANY);
	} else {
		k6.prefixlen = len;
		memcpy(k6.addr, a.v6, 16);
		err = bpf_map_update_elem(bpf_map__fd(m6), &k6, &one, BPF_ANY);
	}
	if (err)
		return xlb_errf(-errno, "cannot add %s %s: %s", opt, s, strerror(errno));
	return 0;
}

static int from_add(struct decap_bpf *skel, const char *s)
{
	return prefix_add(skel->maps.decap_from4, skel->maps.decap_from6, "--from", s);
}

/* The second chance's peers: a packet whose inner tunnel names another destination is dropped. */
static int decap_peers(const struct xlb_decap_opts *o, struct decap_bpf *skel, __u32 *n)
{
	int err = 0;

	for (int i = 0; i < o->nr_peers && !err; i++)
		err = prefix_add(skel->maps.decap_peer4, skel->maps.decap_peer6, "--peer",
				 o->peers[i]);
	*n = o->nr_peers;
	return err;
}

/*
 * The GUE ports into info (host order): each 1..65535, or "off" alone (none);
 * none given: XLB_GUE_PORT_DEFAULT.
 */
static int gue_ports_parse(const struct xlb_decap_opts *o, struct xlb_decap_info *info)
{
	info->nr_gue_ports = 0;
	if (!o->nr_gue_ports) {
		info->gue_ports[info->nr_gue_ports++] = XLB_GUE_PORT_DEFAULT;
		return 0;
	}
	if (o->nr_gue_ports > XLB_DECAP_GUE_PORTS_MAX)
		return xlb_errf(-EINVAL, "at most %d --gue-port ports", XLB_DECAP_GUE_PORTS_MAX);
	for (int i = 0; i < o->nr_gue_ports; i++) {
		const char *s = o->gue_ports[i];
		char *end;
		unsigned long v;

		if (!strcmp(s, "off")) {
			if (o->nr_gue_ports > 1)
				return xlb_errf(-EINVAL, "--gue-port off refuses GUE: it takes no "
						"other --gue-port");
			return 0;
		}
		errno = 0;
		v = strtoul(s, &end, 10);
		if (s[0] < '0' || s[0] > '9' || *end || errno || v < 1 || v > 65535)
			return xlb_errf(-EINVAL, "--gue-port '%s' is not a UDP port (1..65535) "
					"or off", s);
		info->gue_ports[info->nr_gue_ports++] = v;
	}
	return 0;
}

/* The GUE ports into decap_gue_ports (empty: GUE refused). */
static int gue_ports_fill(const struct xlb_decap_info *info, struct decap_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.decap_gue_ports);
	__u32 one = 1;

	for (__u32 i = 0; i < info->nr_gue_ports; i++) {
		__be16 port = htons(info->gue_ports[i]);

		if (bpf_map_update_elem(fd, &port, &one, BPF_ANY))
			return xlb_errf(-errno, "cannot add GUE port %u: %s", info->gue_ports[i],
					strerror(errno));
	}
	return 0;
}

/*
 * The options, checked before anything is touched: sources named (or
 * --any-source), every prefix well formed, and --second-chance exactly with
 * peers, none of them /0 (that would make the decap a relay again).
 */
static int decap_check(const struct xlb_decap_opts *o)
{
	union xlb_addr a;
	__u32 len;
	__u8 fam;

	if (!o->nr_from == !o->any_source)
		return xlb_errf(-EINVAL, o->any_source ? "--from and --any-source exclude each other"
				: "say which balancers may tunnel to %s: --from PREFIX (repeatable), "
				"or --any-source to accept IP-in-IP from anywhere", o->ifname);
	for (int i = 0; i < o->nr_from; i++)
		if (xlb_prefix_parse(o->from[i], &a, &fam, &len))
			return xlb_errf(-EINVAL, "--from '%s' is not an IPv4 or IPv6 address or "
					"prefix (ADDR or ADDR/LEN)", o->from[i]);
	if (o->second_chance && !o->nr_peers)
		return xlb_errf(-EINVAL, "--second-chance sends packets on to other backends: "
				"say which, --peer PREFIX (repeatable)");
	if (o->nr_peers && !o->second_chance)
		return xlb_errf(-EINVAL, "--peer names where second chances may go: "
				"add --second-chance");
	for (int i = 0; i < o->nr_peers; i++) {
		if (xlb_prefix_parse(o->peers[i], &a, &fam, &len))
			return xlb_errf(-EINVAL, "--peer '%s' is not an IPv4 or IPv6 address or "
					"prefix (ADDR or ADDR/LEN)", o->peers[i]);
		if (len == 0)
			return xlb_errf(-EINVAL, "--peer '%s' would send second chances anywhere: "
					"name the other backends", o->peers[i]);
	}
	return 0;
}

/* The allowed outer sources: the prefixes given, or all of them when told so. */
static int decap_allow(const struct xlb_decap_opts *o, struct decap_bpf *skel, __u32 *n)
{
	static const char *const any[] = { "0.0.0.0/0", "::/0" };
	int err = 0;

	for (int i = 0; i < o->nr_from && !err; i++)
		err = from_add(skel, o->from[i]);
	for (int i = 0; o->any_source && i < 2 && !err; i++)
		err = from_add(skel, any[i]);
	*n = o->any_source ? 2 : o->nr_from;
	return err;
}

/* The accepted outer destinations: those given, or DEV's own addresses. */
static int decap_fill(const struct xlb_decap_opts *o, struct decap_bpf *skel, __u32 *n)
{
	int map_fd = bpf_map__fd(skel->maps.decap_addrs), err = 0;

	for (int i = 0; i < o->nr_addrs && !err; i++)
		err = decap_add(map_fd, o->addrs[i]);
	*n = o->nr_addrs;
	if (!err && !o->nr_addrs)
		err = decap_add_own(map_fd, o->ifname, n);
	return err;
}

static int decap_pin_maps(struct decap_bpf *skel, const char *dir)
{
	struct bpf_map *maps[] = { skel->maps.decap_addrs, skel->maps.decap_from4,
				   skel->maps.decap_from6, skel->maps.decap_peer4,
				   skel->maps.decap_peer6, skel->maps.decap_stats,
				   skel->maps.decap_gue_ports };
	char path[512];

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(maps[i]));
		if (bpf_obj_pin(bpf_map__fd(maps[i]), path))
			return xlb_errf(-errno, "cannot pin %s: %s", path, strerror(errno));
	}
	return 0;
}

int xlb_decap_attach(const struct xlb_decap_opts *o, struct xlb_decap_info *info)
{
	struct decap_bpf *skel;
	char dir[256], path[512];
	__u32 ifindex;
	int err, fd;

	xlb_err_clear();
	memset(info, 0, sizeof(*info));
	err = decap_dir(o->ifname, dir, sizeof(dir));
	if (err)
		return err;
	err = decap_check(o) ?: gue_ports_parse(o, info);	/* before anything is touched */
	if (err)
		return err;
	ifindex = if_nametoindex(o->ifname);
	if (!ifindex)
		return xlb_errf(-ENODEV, "no interface named %s", o->ifname);
	err = xlb_ensure_bpffs() ?: xlb_make_dir(XLB_DECAP_ROOT) ?:
	      decap_clear_defunct(o->ifname, ifindex, dir, info);
	if (err)
		return err;
	skel = decap_bpf__open_and_load();
	if (!skel)
		return xlb_errf(-errno, "cannot load the decap program: %s", strerror(errno));
	err = decap_allow(o, skel, &info->nr_from) ?: decap_peers(o, skel, &info->nr_peers) ?:
	      decap_fill(o, skel, &info->nr_addrs) ?: gue_ports_fill(info, skel) ?:
	      xlb_make_dir(dir);
	if (err)
		goto out;
	snprintf(path, sizeof(path), "%s/link", dir);
	fd = xlb_link_xdp(o->ifname, ifindex, bpf_program__fd(skel->progs.xlb_decap), o->mode, path);
	if (fd < 0) {
		err = fd;
		xlb_remove_pins(dir);
		goto out;
	}
	err = decap_pin_maps(skel, dir) ?:
	      xlb_verify_link(o->ifname, path, ifindex, bpf_program__fd(skel->progs.xlb_decap));
	if (err) {
		bpf_link_detach(fd);
		xlb_remove_pins(dir);
	} else {
		xlb_chmod_pins(dir);
		/* the second chance's route lookups are made as if from lo: forwarding on
		 * there (and nowhere else) lets them answer; nothing arrives on lo to forward */
		static const __u8 fams[] = { XLB_FAMILY_V4, XLB_FAMILY_V6 };

		for (int i = 0; i < 2; i++)
			if (xlb_if_forwarding("lo", fams[i]) == 0 &&
			    xlb_if_set_forwarding("lo", fams[i], 1))
				info->lo_forwarding_failed = true;
	}
	close(fd);
out:
	decap_bpf__destroy(skel);
	return err;
}

int xlb_decap_detach(const char *ifname)
{
	char dir[256], path[512];
	int fd, err = decap_dir(ifname, dir, sizeof(dir));

	xlb_err_clear();
	if (err)
		return err;
	if (access(dir, F_OK))
		return xlb_errf(-ENOENT, "decap is not attached to %s", ifname);
	snprintf(path, sizeof(path), "%s/link", dir);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		bpf_link_detach(fd);
		close(fd);
	}
	xlb_remove_pins(dir);
	return 0;
}

int xlb_decap_stats(const char *ifname, __u64 counts[XLB_DECAP_MAX])
{
	int ncpu = libbpf_num_possible_cpus(), fd, err;
	char dir[256], path[512];
	__u64 *vals;

	xlb_err_clear();
	err = decap_dir(ifname, dir, sizeof(dir));
	if (err)
		return err;
	if (ncpu <= 0)
		return xlb_errf(-EINVAL, "cannot count the CPUs");
	snprintf(path, sizeof(path), "%s/decap_stats", dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return xlb_errf(-errno, "decap is not attached to %s (no %s)", ifname, path);
	vals = calloc(ncpu, sizeof(*vals));
	err = vals ? 0 : xlb_errf(-ENOMEM, "out of memory");
	for (__u32 r = 0; r < XLB_DECAP_MAX && !err; r++) {
		counts[r] = 0;
		if (bpf_map_lookup_elem(fd, &r, vals)) {
			/* a decap attached by an older version has fewer counters: 0 */
			if (errno == ENOENT && r >= XLB_DECAP_CHANCE_LOCAL)
				continue;
			err = xlb_errf(-errno, "cannot read %s: %s", path, strerror(errno));
		}
		for (int c = 0; !err && c < ncpu; c++)
			counts[r] += vals[c];
	}
	free(vals);
	close(fd);
	return err;
}

static int cmp_port(const void *a, const void *b)
{
	return (int)*(const __u16 *)a - (int)*(const __u16 *)b;
}

int xlb_decap_gue_ports(const char *ifname, __u16 ports[XLB_DECAP_GUE_PORTS_MAX], __u32 *n)
{
	char dir[256], path[512];
	__be16 key, next, *prev = NULL;
	int fd, err;

	xlb_err_clear();
	*n = 0;
	err = decap_dir(ifname, dir, sizeof(dir));
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/decap_gue_ports", dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT :
		       xlb_errf(-errno, "cannot open %s: %s", path, strerror(errno));
	while (*n < XLB_DECAP_GUE_PORTS_MAX && !bpf_map_get_next_key(fd, prev, &next)) {
		ports[(*n)++] = ntohs(next);
		key = next;
		prev = &key;
	}
	close(fd);
	qsort(ports, *n, sizeof(ports[0]), cmp_port);	/* a hash map's order is none */
	return 0;
}
