/* A small rtnetlink client (rtnl.h): build a request, send it, wait for its ack. */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include "rtnl.h"

#define RTNL_BUF	1024

struct rtnl_req {
	union {
		struct nlmsghdr nh;
		char buf[RTNL_BUF];
	};
};

static void *req_init(struct rtnl_req *r, __u16 type, __u16 flags, size_t body)
{
	memset(r, 0, sizeof(*r));
	r->nh.nlmsg_len = NLMSG_LENGTH(body);
	r->nh.nlmsg_type = type;
	r->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	r->nh.nlmsg_seq = 1;
	return NLMSG_DATA(&r->nh);
}

/* Append an attribute; NULL when the request is full. */
static struct rtattr *attr(struct rtnl_req *r, __u16 type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)(r->buf + NLMSG_ALIGN(r->nh.nlmsg_len));

	if (NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_SPACE(len) > sizeof(r->buf))
		return NULL;
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (data)
		memcpy(RTA_DATA(a), data, len);
	else
		memset(RTA_DATA(a), 0, len);
	r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_SPACE(len);
	return a;
}

static int attr_u32(struct rtnl_req *r, __u16 type, __u32 v)
{
	return attr(r, type, &v, sizeof(v)) ? 0 : -E2BIG;
}

/* A nested attribute ends where the request ends now. */
static void nest_end(struct rtnl_req *r, struct rtattr *nest)
{
	nest->rta_len = r->buf + r->nh.nlmsg_len - (char *)nest;
}

/* A netlink socket with r sent on it: its fd, or -errno. */
static int send_req(struct rtnl_req *r)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), err;

	if (fd < 0)
		return -errno;
	if (sendto(fd, r->buf, r->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Send the request, wait for its acknowledgement: 0 or the kernel's -errno. */
static int talk(struct rtnl_req *r)
{
	char buf[4096];
	int fd, err = -EIO;
	ssize_t n;

	fd = send_req(r);
	if (fd < 0)
		return fd;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
			goto out;
		}
	}
out:
	close(fd);
	return err;
}

/* One rule of a dump: its table when its fwmark/mask are mark/mask, else 0. */
static __u32 rule_table(struct nlmsghdr *h, __u32 mark, __u32 mask)
{
	struct fib_rule_hdr *fr = NLMSG_DATA(h);
	int len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*fr));
	__u32 m = 0, k = 0, table = fr->table;
	bool has_mark = false;

	for (struct rtattr *a = (struct rtattr *)((char *)fr + NLMSG_ALIGN(sizeof(*fr)));
	     RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == FRA_FWMARK)
			m = *(__u32 *)RTA_DATA(a), has_mark = true;
		else if (a->rta_type == FRA_FWMASK)
			k = *(__u32 *)RTA_DATA(a);
		else if (a->rta_type == FRA_TABLE)
			table = *(__u32 *)RTA_DATA(a);
	}
	return has_mark && m == mark && k == mask ? table : 0;
}

int xlb_rtnl_rule_tables(int family, __u32 mark, __u32 mask, __u32 *tables, int max)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct rtnl_req r;
	struct fib_rule_hdr *h = req_init(&r, RTM_GETRULE, NLM_F_DUMP, sizeof(*h));
	char buf[8192];
	int fd, n = 0;
	ssize_t got;

	r.nh.nlmsg_flags &= ~NLM_F_ACK;
	h->family = family;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (sendto(fd, r.buf, r.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	for (;;) {
		got = recv(fd, buf, sizeof(buf), 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			goto fail;
		for (struct nlmsghdr *m = (struct nlmsghdr *)buf; NLMSG_OK(m, (size_t)got);
		     m = NLMSG_NEXT(m, got)) {
			__u32 t;

			if (m->nlmsg_type == NLMSG_DONE || m->nlmsg_type == NLMSG_ERROR) {
				close(fd);
				return n;
			}
			t = rule_table(m, mark, mask);
			if (t && n < max)
				tables[n++] = t;
		}
	}
fail:
	n = -errno;
	close(fd);
	return n;
}

int xlb_rtnl_veth_add(const char *name, const char *peer, __u32 mtu)
{
	struct rtattr *info, *data, *peer_a;
	struct ifinfomsg *pi;
	struct rtnl_req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	if (!attr(&r, IFLA_IFNAME, name, strlen(name) + 1) || attr_u32(&r, IFLA_MTU, mtu))
		return -E2BIG;
	info = attr(&r, IFLA_LINKINFO, NULL, 0);
	if (!info || !attr(&r, IFLA_INFO_KIND, "veth", 4))
		return -E2BIG;
	data = attr(&r, IFLA_INFO_DATA, NULL, 0);
	peer_a = data ? attr(&r, VETH_INFO_PEER, NULL, sizeof(*pi)) : NULL;
	if (!peer_a)
		return -E2BIG;
	pi = RTA_DATA(peer_a);
	pi->ifi_family = AF_UNSPEC;
	if (!attr(&r, IFLA_IFNAME, peer, strlen(peer) + 1) || attr_u32(&r, IFLA_MTU, mtu))
		return -E2BIG;
	nest_end(&r, peer_a);
	nest_end(&r, data);
	nest_end(&r, info);
	return talk(&r);
}

int xlb_rtnl_link_del(const char *name)
{
	struct rtnl_req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_DELLINK, 0, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = if_nametoindex(name);
	if (!ifi->ifi_index)
		return -ENODEV;
	return talk(&r);
}

int xlb_rtnl_link_up(const char *name, bool noarp)
{
	struct rtnl_req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, 0, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = if_nametoindex(name);
	if (!ifi->ifi_index)
		return -ENODEV;
	ifi->ifi_flags = IFF_UP | (noarp ? IFF_NOARP : 0);
	ifi->ifi_change = IFF_UP | IFF_NOARP;
	return talk(&r);
}

int xlb_rtnl_rule(const struct xlb_rtnl_rule *rule, bool add)
{
	struct rtnl_req r;
	struct fib_rule_hdr *h = req_init(&r, add ? RTM_NEWRULE : RTM_DELRULE,
					  add ? NLM_F_CREATE | NLM_F_EXCL : 0, sizeof(*h));

	h->family = rule->family;
	h->action = FR_ACT_TO_TBL;
	h->table = RT_TABLE_UNSPEC;	/* FRA_TABLE holds it (more than 8 bits) */
	if (attr_u32(&r, FRA_FWMARK, rule->mark) || attr_u32(&r, FRA_FWMASK, rule->mask) ||
	    attr_u32(&r, FRA_TABLE, rule->table) || attr_u32(&r, FRA_PRIORITY, rule->prio))
		return -E2BIG;
	return talk(&r);
}

int xlb_rtnl_default_route(int family, int ifindex, __u32 table)
{
	struct rtnl_req r;
	struct rtmsg *rt = req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*rt));

	rt->rtm_family = family;
	rt->rtm_table = RT_TABLE_UNSPEC;
	rt->rtm_protocol = RTPROT_STATIC;
	rt->rtm_scope = RT_SCOPE_LINK;
	rt->rtm_type = RTN_UNICAST;
	if (attr_u32(&r, RTA_TABLE, table) || attr_u32(&r, RTA_OIF, ifindex))
		return -E2BIG;
	return talk(&r);
}

/* Send r; copy the first answer of type want into out (up to len). 0 or -errno. */
static int ask(struct rtnl_req *r, __u16 want, void *out, size_t len)
{
	char buf[4096];
	int fd, err = -EIO;
	ssize_t n;

	r->nh.nlmsg_flags &= ~NLM_F_ACK;
	fd = send_req(r);
	if (fd < 0)
		return fd;
	do
		n = recv(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
	     h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			err = ((struct nlmsgerr *)NLMSG_DATA(h))->error ?: -EIO;
			goto out;
		}
		if (h->nlmsg_type == want) {
			/* the callers parse up to nlmsg_len: never more than was copied */
			err = h->nlmsg_len <= len ? 0 : -EMSGSIZE;
			if (!err)
				memcpy(out, h, h->nlmsg_len);
			goto out;
		}
	}
out:
	close(fd);
	return err;
}

int xlb_rtnl_route_get(int family, const void *dst, int *oif, bool *gateway)
{
	size_t alen = family == AF_INET ? 4 : 16;
	struct rtnl_req r, ans;
	struct rtmsg *rt = req_init(&r, RTM_GETROUTE, 0, sizeof(*rt));
	int len, err;

	rt->rtm_family = family;
	rt->rtm_dst_len = alen * 8;
	if (!attr(&r, RTA_DST, dst, alen))
		return -E2BIG;
	err = ask(&r, RTM_NEWROUTE, ans.buf, sizeof(ans.buf));
	if (err)
		return err;
	rt = NLMSG_DATA(&ans.nh);
	len = ans.nh.nlmsg_len - NLMSG_LENGTH(sizeof(*rt));
	*oif = 0;
	*gateway = false;
	for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == RTA_OIF)
			*oif = *(int *)RTA_DATA(a);
		else if (a->rta_type == RTA_GATEWAY || a->rta_type == RTA_VIA)
			*gateway = true;
	}
	return *oif ? 0 : -ENETUNREACH;
}


/* The neighbour entry's NUD state, 0 when there is none, or -errno. */
static int neigh_state(int family, const void *addr, int ifindex)
{
	size_t alen = family == AF_INET ? 4 : 16;
	struct rtnl_req r, ans;
	struct ndmsg *nd = req_init(&r, RTM_GETNEIGH, 0, sizeof(*nd));
	int err;

	nd->ndm_family = family;
	nd->ndm_ifindex = ifindex;
	if (!attr(&r, NDA_DST, addr, alen))
		return -E2BIG;
	err = ask(&r, RTM_NEWNEIGH, ans.buf, sizeof(ans.buf));
	if (err)
		return err == -ENOENT ? 0 : err;
	return ((struct ndmsg *)NLMSG_DATA(&ans.nh))->ndm_state;
}

int xlb_rtnl_neigh_valid(int family, const void *addr, int ifindex)
{
	int st = neigh_state(family, addr, ifindex);

	if (st < 0)
		return st;
	return (st & (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE |
		      NUD_DELAY)) != 0;
}

int xlb_rtnl_neigh_use(int family, const void *addr, int ifindex)
{
	size_t alen = family == AF_INET ? 4 : 16;
	struct rtnl_req r;
	struct ndmsg *nd;
	int st = neigh_state(family, addr, ifindex);

	/* an entry set by hand stays: NTF_USE would make a permanent one incomplete */
	if (st > 0 && (st & (NUD_PERMANENT | NUD_NOARP)))
		return 0;
	nd = req_init(&r, RTM_NEWNEIGH, NLM_F_CREATE, sizeof(*nd));
	nd->ndm_family = family;
	nd->ndm_ifindex = ifindex;
	nd->ndm_flags = NTF_USE;
	nd->ndm_state = NUD_NONE;
	if (!attr(&r, NDA_DST, addr, alen))
		return -E2BIG;
	return talk(&r);
}
