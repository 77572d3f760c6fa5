/*
 * DNS probes on c-ares: one channel per probe, its UDP socket in the
 * daemon's epoll set under the probe's tag (ARES_OPT_SOCK_STATE_CB), its
 * timeouts on the loop's tick; SO_MARK through ares_set_socket_configure_callback (before c-ares connects the socket), the
 * source through ares_set_local_ip4/6.  The verdict: the answer's rcode
 * against expect_rcode, then expect_answer among its addresses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <ares.h>
#include "probe.h"

static __u64 mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static void on_state(void *data, ares_socket_t fd, int readable, int writable)
{
	xlb_probe_watch_fd(data, fd, (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0));
}

static int on_socket(ares_socket_t fd, int type, void *data)
{
	struct xlb_probe *p = data;
	int err;

	(void)type;
	if (!p->tgt.mark)
		return ARES_SUCCESS;
	/* the source is c-ares' own (ares_set_local_ip*): only the mark here */
	err = p->tgt.mark ? setsockopt(fd, SOL_SOCKET, SO_MARK, &p->tgt.mark,
				       sizeof(p->tgt.mark)) : 0;
	if (err) {
		xlb_probe_unchecked(p, "socket: %s", strerror(errno));
		return -1;
	}
	return ARES_SUCCESS;
}

static bool holds_answer(const struct xlb_health *h, const unsigned char *abuf, int alen)
{
	struct ares_addrttl a4[16];
	struct ares_addr6ttl a6[16];
	int n = 16;

	if (h->expect_answer_family == XLB_FAMILY_V4) {
		if (ares_parse_a_reply(abuf, alen, NULL, a4, &n) != ARES_SUCCESS)
			return false;
		for (int i = 0; i < n; i++)
			if (a4[i].ipaddr.s_addr == h->expect_answer.v4)
				return true;
		return false;
	}
	if (ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n) != ARES_SUCCESS)
		return false;
	for (int i = 0; i < n; i++)
		if (!memcmp(&a6[i].ip6addr, h->expect_answer.v6, 16))
			return true;
	return false;
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct xlb_probe *p = arg;
	unsigned int rcode;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED)
		return;
	if (status == ARES_ETIMEOUT)
		return xlb_probe_end(p, XLB_PC_TIMEOUT, "timeout");
	if (status == ARES_ECONNREFUSED)
		return xlb_probe_end(p, XLB_PC_REFUSED, "connect refused");
	if (status == ARES_ENOMEM)
		return xlb_probe_unchecked(p, "c-ares: out of memory");
	if (status != ARES_SUCCESS || alen < 12)
		return xlb_probe_end(p, XLB_PC_ERROR, "DNS: %s", ares_strerror(status));
	rcode = abuf[3] & 0x0f;
	if (rcode != p->hc.expect_rcode)
		return xlb_probe_end(p, XLB_PC_DNS, "DNS %s", xlb_dns_rcode_name(rcode));
	if (p->hc.has_expect_answer && !holds_answer(&p->hc, abuf, alen))
		return xlb_probe_end(p, XLB_PC_ANSWER, "answer mismatch");
	xlb_probe_end(p, XLB_PC_NONE, "DNS %s", xlb_dns_rcode_name(rcode));
}

static void set_timer(struct xlb_probe *p)
{
	struct timeval tv, *t;

	if (!p->channel)
		return;
	t = ares_timeout(p->channel, NULL, &tv);
	p->timer_ms = t ? mono_ms() + t->tv_sec * 1000ull + t->tv_usec / 1000 : 0;
}

/* The channel: the target as its one server, our timeout, one try, no checks of
 * its own on the answer (a SERVFAIL is a verdict, not a reason to retry). */
static int channel_of(struct xlb_probe *p, const struct xlb_probe_target *t)
{
	struct ares_options o = { .flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH,
				  .timeout = t->timeout_ms, .tries = 1,
				  .sock_state_cb = on_state, .sock_state_cb_data = p };
	struct ares_addr_port_node srv = { .family = t->family == XLB_FAMILY_V4 ? AF_INET :
					   AF_INET6, .udp_port = t->port, .tcp_port = t->port };
	ares_channel ch;
	int rc;

	rc = ares_init_options(&ch, &o, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
			       ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS)
		return rc;
	p->channel = ch;
	if (t->family == XLB_FAMILY_V4)
		memcpy(&srv.addr.addr4, &t->addr.v4, 4);
	else
		memcpy(&srv.addr.addr6, t->addr.v6, 16);
	rc = ares_set_servers_ports(ch, &srv);
	if (rc != ARES_SUCCESS)
		return rc;
	ares_set_socket_configure_callback(ch, on_socket, p);
	if (t->bind_src && t->family == XLB_FAMILY_V4)
		ares_set_local_ip4(ch, ntohl(t->src.v4));
	else if (t->bind_src)
		ares_set_local_ip6(ch, (const unsigned char *)t->src.v6);
	return ARES_SUCCESS;
}

enum xlb_probe_result xlb_probe_dns_start(struct xlb_probe *p, const struct xlb_probe_target *t,
					  __u64 now_ms)
{
	static bool init;
	unsigned char *q = NULL;
	int rc, len;

	(void)now_ms;
	if (!init && ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS)
		init = true;
	rc = channel_of(p, t);
	if (rc == ARES_SUCCESS)
		rc = ares_create_query(t->health->query, 1 /* C_IN */, t->health->qtype,
				       (unsigned short)random(), 1, &q, &len, 0);
	if (rc != ARES_SUCCESS) {
		xlb_probe_unchecked(p, "c-ares: %s", ares_strerror(rc));
		return XLB_PROBE_UNCHECKED;
	}
	ares_send(p->channel, q, len, on_answer, p);
	ares_free_string(q);
	set_timer(p);
	return XLB_PROBE_PENDING;
}

void xlb_probe_dns_step(struct xlb_probe *p, int fd)
{
	__u32 ev = 0;

	if (!p->channel)
		return;
	if (fd >= 0)
		xlb_probe_ready(fd, &ev);
	ares_process_fd(p->channel, fd >= 0 && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? fd :
			ARES_SOCKET_BAD, fd >= 0 && (ev & EPOLLOUT) ? fd : ARES_SOCKET_BAD);
	set_timer(p);
}

void xlb_probe_dns_stop(struct xlb_probe *p)
{
	if (p->channel)
		ares_destroy(p->channel);
	p->channel = NULL;
}
