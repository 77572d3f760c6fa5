/*
 * The health checks' way through the tunnel (hcpath.h): the NOARP veth
 * xlbhcIFINDEX (peer xlbhcIFINDEXp) with bpf/hc.bpf.c on its tc egress, the
 * fwmark rules and default routes of xlb's table, and the marks' slots.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/rtnetlink.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "hc.skel.h"
#include "hcpath.h"
#include "log.h"
#include "netutil.h"
#include "rtnl.h"

/* Rules sit before main (32766); the table and priority are the interface's own. */
#define HC_TABLE_BASE	0x584c0000u
#define HC_PRIO_BASE	20000u
#define HC_PRIO_SPAN	10000u
#define HC_TUNNEL_ROOM	40u	/* the larger outer header (IPv6) */
#define HC_MTU_MIN	1280u

struct xlb_hcpath {
	char ifname[IF_NAMESIZE];
	char veth[IF_NAMESIZE], peer[IF_NAMESIZE];
	int ifindex, veth_ifindex;
	__u32 table, prio;
	bool has[2];			/* [0] IPv4, [1] IPv6: a tunnel source */
	union xlb_addr src[2];
	struct hc_bpf *skel;
	__u32 next;			/* where the next claim starts looking */
	__u8 used[XLB_HC_SLOTS / 8];
	char note[512];
};

static int fam_index(__u8 family) { return family == XLB_FAMILY_V6; }

static struct xlb_rtnl_rule rule_of(const struct xlb_hcpath *hp, int af)
{
	return (struct xlb_rtnl_rule){ .family = af, .mark = XLB_HC_MARK,
				       .mask = XLB_HC_MARK_MASK, .table = hp->table,
				       .prio = hp->prio };
}

/* The rules (all of them, also a crashed daemon's duplicates) and the veth. */
static void remove_all(const struct xlb_hcpath *hp)
{
	static const int afs[] = { AF_INET, AF_INET6 };

	for (int i = 0; i < 2; i++) {
		struct xlb_rtnl_rule r = rule_of(hp, afs[i]);

		for (int n = 0; n < 64 && xlb_rtnl_rule(&r, false) == 0; n++)
			;
	}
	xlb_rtnl_link_del(hp->veth);	/* its routes go with it */
}

static int read_int(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Answers come back on the XDP interface from the VIP to the tunnel source:
 * strict reverse-path filtering drops them unless the route to the VIP
 * leaves by that interface.  Said once, at open (hp->note).
 */
static void check_sysctls(struct xlb_hcpath *hp)
{
	size_t len = 0;
	char path[128];
	int all, dev;

	for (int i = 0; i < 2; i++)	/* bpf_fib_lookup from the interface needs it */
		if (hp->has[i] && xlb_if_forwarding(hp->ifname, i ? XLB_FAMILY_V6 : XLB_FAMILY_V4) == 0)
			len += snprintf(hp->note + len, sizeof(hp->note) - len, "%sIPv%d forwarding "
					"is off on %s: checks via tunnel find no route to their "
					"backends", len ? "; " : "", i ? 6 : 4, hp->ifname);
	if (!hp->has[0] || len >= sizeof(hp->note))
		return;
	all = read_int("/proc/sys/net/ipv4/conf/all/rp_filter");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", hp->ifname);
	dev = read_int(path);
	if ((all > dev ? all : dev) == 1)
		snprintf(hp->note + len, sizeof(hp->note) - len, "%srp_filter is strict (1) on %s: "
			 "the checks' answers (from the VIP to the tunnel source) are dropped unless "
			 "the route to the VIP leaves by %s; loose (2) or off (0) takes them",
			 len ? "; " : "", hp->ifname, hp->ifname);
}

/* The interface's MTU less the outer header (sysfs would show another namespace's). */
static __u32 mtu_of(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return HC_MTU_MIN;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	err = ioctl(fd, SIOCGIFMTU, &ifr);
	close(fd);
	if (err || ifr.ifr_mtu < (int)(HC_MTU_MIN + HC_TUNNEL_ROOM))
		return HC_MTU_MIN;
	return ifr.ifr_mtu - HC_TUNNEL_ROOM;
}

/* The veth pair: no addresses (no IPv6 link-local, no NDP), NOARP, both ends up. */
static int make_veth(struct xlb_hcpath *hp)
{
	const char *names[] = { hp->veth, hp->peer };
	char path[128];
	int err;

	err = xlb_rtnl_veth_add(hp->veth, hp->peer, mtu_of(hp->ifname));
	if (err)
		return xlb_errf(err, "cannot create the veth %s for the health checks: %s", hp->veth,
				strerror(-err));
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/addr_gen_mode", names[i]);
		xlb_sysctl_write(path, "1");	/* absent without IPv6: nothing to quiet */
		err = xlb_rtnl_link_up(names[i], true);
		if (err)
			return xlb_errf(err, "cannot set %s up: %s", names[i], strerror(-err));
	}
	hp->veth_ifindex = if_nametoindex(hp->veth);
	return hp->veth_ifindex ? 0 : xlb_errf(-ENODEV, "%s is gone", hp->veth);
}

static int load_prog(struct xlb_hcpath *hp)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = hp->veth_ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts);
	struct xlb_hc_conf conf = { .src4 = hp->src[0], .src6 = hp->src[1],
				    .fib_ifindex = hp->ifindex };
	__u32 zero = 0;
	int err;

	hp->skel = hc_bpf__open_and_load();
	if (!hp->skel)
		return xlb_errf(-errno, "cannot load the health checks' tc program: %s",
				strerror(errno));
	err = bpf_map_update_elem(bpf_map__fd(hp->skel->maps.hc_conf), &zero, &conf, BPF_ANY);
	if (err)
		return xlb_errf(-errno, "cannot write hc_conf: %s", strerror(errno));
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return xlb_errf(err, "cannot add clsact to %s: %s", hp->veth, strerror(-err));
	opts.prog_fd = bpf_program__fd(hp->skel->progs.xlb_hc);
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		return xlb_errf(err, "cannot attach the tc program to %s egress: %s", hp->veth,
				strerror(-err));
	return 0;
}

/* Rules and default routes for each family with a tunnel source. */
static int route_marks(struct xlb_hcpath *hp)
{
	static const int afs[] = { AF_INET, AF_INET6 };

	for (int i = 0; i < 2; i++) {
		struct xlb_rtnl_rule r = rule_of(hp, afs[i]);
		const char *v = i ? "IPv6" : "IPv4";
		int err;

		if (!hp->has[i])
			continue;
		err = xlb_rtnl_default_route(afs[i], hp->veth_ifindex, hp->table);
		if (err)
			return xlb_errf(err, "cannot add the %s default route dev %s table %u: %s", v,
					hp->veth, hp->table, strerror(-err));
		err = xlb_rtnl_rule(&r, true);
		if (err)
			return xlb_errf(err, "cannot add the %s rule fwmark 0x%x/0x%x lookup %u "
					"priority %u: %s", v, r.mark, r.mask, r.table, r.prio,
					strerror(-err));
	}
	return 0;
}

/*
 * Marks are one space per namespace: another daemon's rule (another
 * interface's table) would take this one's checks, or this one its, and
 * send them to the wrong backend.  Refused, saying which rule to remove.
 */
static int refuse_neighbour(const struct xlb_hcpath *hp)
{
	static const int afs[] = { AF_INET, AF_INET6 };
	__u32 tables[8];

	for (int i = 0; i < 2; i++) {
		int n = xlb_rtnl_rule_tables(afs[i], XLB_HC_MARK, XLB_HC_MARK_MASK, tables, 8);

		for (int j = 0; j < n; j++)
			if (tables[j] != hp->table)
				return xlb_errf(-EBUSY, "another xlb's checks use the marks of this "
						"network namespace (rule fwmark 0x%x/0x%x lookup %u): one "
						"daemon per namespace checks via tunnel (a crashed one's: "
						"ip %s rule del fwmark 0x%x/0x%x lookup %u)", XLB_HC_MARK,
						XLB_HC_MARK_MASK, tables[j], i ? "-6" : "-4",
						XLB_HC_MARK, XLB_HC_MARK_MASK, tables[j]);
	}
	return 0;
}

static void set_source(struct xlb_hcpath *hp, int i, const union xlb_addr *a)
{
	if (a && !xlb_addr_is_zero(a)) {
		hp->has[i] = true;
		hp->src[i] = *a;
	}
}

int xlb_hcpath_open(const char *ifname, const union xlb_addr *src4, const union xlb_addr *src6,
		    struct xlb_hcpath **out)
{
	struct xlb_hcpath *hp = calloc(1, sizeof(*hp));
	int err;

	if (!hp)
		return xlb_errf(-ENOMEM, "out of memory");
	snprintf(hp->ifname, sizeof(hp->ifname), "%s", ifname);
	hp->ifindex = if_nametoindex(ifname);
	if (!hp->ifindex) {
		free(hp);
		return xlb_errf(-ENODEV, "no interface %s for the health checks' path", ifname);
	}
	snprintf(hp->veth, sizeof(hp->veth), "xlbhc%d", hp->ifindex);
	if (snprintf(hp->peer, sizeof(hp->peer), "xlbhc%dp", hp->ifindex) >= IF_NAMESIZE) {
		err = hp->ifindex;
		free(hp);
		return xlb_errf(-ENAMETOOLONG, "ifindex %d of %s is too large for a veth name",
				err, ifname);
	}
	hp->table = HC_TABLE_BASE + hp->ifindex;
	hp->prio = HC_PRIO_BASE + hp->ifindex % HC_PRIO_SPAN;
	set_source(hp, 0, src4);
	set_source(hp, 1, src6);
	err = refuse_neighbour(hp);
	if (err) {
		free(hp);
		return err;
	}
	remove_all(hp);		/* a crashed daemon's leftovers */
	err = make_veth(hp) ?: load_prog(hp) ?: route_marks(hp);
	if (err) {
		xlb_hcpath_close(hp);
		return err;
	}
	check_sysctls(hp);
	*out = hp;
	return 0;
}

void xlb_hcpath_close(struct xlb_hcpath *hp)
{
	if (!hp)
		return;
	remove_all(hp);
	hc_bpf__destroy(hp->skel);
	free(hp);
}

const union xlb_addr *xlb_hcpath_source(const struct xlb_hcpath *hp, __u8 family)
{
	int i = fam_index(family);

	return hp && hp->has[i] ? &hp->src[i] : NULL;
}

const char *xlb_hcpath_note(const struct xlb_hcpath *hp)
{
	return hp ? hp->note : "";
}

const char *xlb_hcpath_veth(const struct xlb_hcpath *hp)
{
	return hp ? hp->veth : "";
}

int xlb_hcpath_claim(struct xlb_hcpath *hp, const struct xlb_hc_target *t, __u32 *mark)
{
	if (!hp->has[fam_index(t->family)])
		return xlb_errf(-ENOENT, "no tunnel source for IPv%u checks (attach --src%u)",
				t->family, t->family);
	for (__u32 n = 0; n < XLB_HC_SLOTS; n++) {
		__u32 slot = (hp->next + n) % XLB_HC_SLOTS;

		if (hp->used[slot / 8] & (1u << (slot % 8)))
			continue;
		if (bpf_map_update_elem(bpf_map__fd(hp->skel->maps.hc_targets), &slot, t, BPF_ANY))
			return xlb_errf(-errno, "cannot write hc_targets: %s", strerror(errno));
		hp->used[slot / 8] |= 1u << (slot % 8);
		hp->next = (slot + 1) % XLB_HC_SLOTS;
		*mark = XLB_HC_MARK | slot;
		return 0;
	}
	return xlb_errf(-ENOSPC, "all %u health check marks are in flight", XLB_HC_SLOTS);
}

/*
 * The slot is free for a claim; its entry stays until then.  The probe's
 * socket outlives the probe (its FIN, the ACK of the backend's FIN) and
 * those packets still go to the same backend, not dropped into half-closed
 * sockets there.  Claims go round the slots, so an entry is rewritten only
 * after every other slot was claimed once since.
 */
void xlb_hcpath_release(struct xlb_hcpath *hp, __u32 mark)
{
	__u32 slot = mark & ~XLB_HC_MARK_MASK;

	if (!hp || (mark & XLB_HC_MARK_MASK) != XLB_HC_MARK)
		return;
	hp->used[slot / 8] &= ~(1u << (slot % 8));
}

int xlb_hcpath_stats(const struct xlb_hcpath *hp, __u64 *sent, __u64 *dropped)
{
	int ncpu = libbpf_num_possible_cpus();

	*sent = *dropped = 0;
	if (ncpu < 0)
		return ncpu;
	__u64 vals[ncpu];

	for (__u32 r = 0; r < XLB_HC_MAX; r++) {
		if (bpf_map_lookup_elem(bpf_map__fd(hp->skel->maps.hc_stats), &r, vals))
			return -errno;
		for (int c = 0; c < ncpu; c++)
			*(r == XLB_HC_SENT ? sent : dropped) += vals[c];
	}
	return 0;
}
