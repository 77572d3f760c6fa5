/*
 * Health probes (see probe.h): the hand-made TCP connect, and the frame the
 * library probes (probecurl.c, probedns.c) run in: their sockets in the
 * caller's epoll set under the probe's tag, their timers on the loop's tick.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "probe.h"

void xlb_probe_init(struct xlb_probe *p)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->epfd = -1;
}

/*
 * Close a check's socket with a reset, not a FIN: every check of a service
 * through the tunnel comes from one source to one VIP:port, and a closing
 * client would leave each in TIME_WAIT for 60 s (some 470 checks a second
 * would use up the local ports).  HAProxy's checks close the same way.
 */
int xlb_probe_close(int fd)
{
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){ .l_onoff = 1, .l_linger = 0 },
		   sizeof(struct linger));
	return close(fd);
}

void xlb_probe_stop(struct xlb_probe *p, int epfd)
{
	if (p->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, p->fd, NULL);
		xlb_probe_close(p->fd);
	}
	p->fd = -1;
	p->epfd = epfd;
	xlb_probe_curl_stop(p);
	xlb_probe_dns_stop(p);
	for (__u32 i = 0; i < p->nr_fds; i++)	/* the libraries close them */
		epoll_ctl(epfd, EPOLL_CTL_DEL, p->fds[i], NULL);
	p->nr_fds = 0;
	free(p->body);
	p->body = NULL;
	p->len = 0;
	p->timer_ms = 0;
	p->phase = XLB_PROBE_IDLE;
}

void xlb_probe_watch_fd(struct xlb_probe *p, int fd, __u32 events)
{
	struct epoll_event ev = { .events = events, .data.u32 = p->tag };
	__u32 i;

	for (i = 0; i < p->nr_fds && p->fds[i] != fd; i++)
		;
	if (!events) {
		if (i < p->nr_fds) {
			epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
			p->nr_fds--;
			p->fds[i] = p->fds[p->nr_fds];
			p->fdev[i] = p->fdev[p->nr_fds];
		}
		return;
	}
	if (i < p->nr_fds) {
		epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev);
		p->fdev[i] = events;
	} else if (p->nr_fds < XLB_PROBE_FDS) {
		p->fds[p->nr_fds] = fd;
		p->fdev[p->nr_fds++] = events;
		epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev);
	}
}

int xlb_probe_ready(int fd, __u32 *events)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN | POLLOUT };

	*events = 0;
	if (poll(&pf, 1, 0) < 0)
		return -errno;
	*events = pf.revents;
	return 0;
}

/* A library's check is over: its result, class and why (the first word stands). */
static void lib_end(struct xlb_probe *p, enum xlb_probe_result r, enum xlb_probe_class cls,
		    const char *fmt, va_list ap)
{
	if (p->done)
		return;
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	p->cls = cls;
	p->result = r;
	if (r == XLB_PROBE_OK)
		p->why[0] = '\0';
	p->done = true;
}

void xlb_probe_end(struct xlb_probe *p, enum xlb_probe_class cls, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lib_end(p, cls == XLB_PC_NONE ? XLB_PROBE_OK : XLB_PROBE_FAILED, cls, fmt, ap);
	va_end(ap);
}

void xlb_probe_unchecked(struct xlb_probe *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lib_end(p, XLB_PROBE_UNCHECKED, XLB_PC_NONE, fmt, ap);
	va_end(ap);
}

static socklen_t sockaddr_of(const union xlb_addr *a, __u8 family, __u16 port,
			     struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == XLB_FAMILY_V4) {
		struct sockaddr_in *sin = (void *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = a->v4;
		return sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (void *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a->v6, 16);
		return sizeof(*sin6);
	}
}

int xlb_probe_prepare_fd(int fd, const struct xlb_probe_target *t)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (t->mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &t->mark, sizeof(t->mark)))
		return -errno;
	if (!t->bind_src)
		return 0;
	len = sockaddr_of(&t->src, t->family, 0, &ss);
	/* the port is picked at connect, per 4-tuple: many checks share the source */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &(int){ 1 }, sizeof(int));
	return bind(fd, (void *)&ss, len) ? -errno : 0;
}

/* The verdict of the hand-made probe (and of a library's, taken): the probe idle. */
static enum xlb_probe_result verdict(struct xlb_probe *p, int epfd, enum xlb_probe_class cls,
				     const char *why)
{
	xlb_probe_stop(p, epfd);
	snprintf(p->why, sizeof(p->why), "%s", cls == XLB_PC_NONE ? "" : why);
	p->cls = cls;
	return cls == XLB_PC_NONE ? XLB_PROBE_OK : XLB_PROBE_FAILED;
}

/* Errors of this host, not of the backend: out of descriptors, ports or memory. */
bool xlb_probe_local_error(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM ||
	       err == EAGAIN || err == EADDRNOTAVAIL || err == EPERM || err == EACCES;
}

static enum xlb_probe_result unchecked(struct xlb_probe *p, int epfd, int err)
{
	xlb_probe_stop(p, epfd);
	snprintf(p->why, sizeof(p->why), "%s", strerror(err));
	p->cls = XLB_PC_NONE;
	return XLB_PROBE_UNCHECKED;
}

/* A connect's error as a verdict's class and reason. */
static enum xlb_probe_result connect_failed(struct xlb_probe *p, int epfd, int err)
{
	if (err == ECONNREFUSED)
		return verdict(p, epfd, XLB_PC_REFUSED, "connect refused");
	if (err == ETIMEDOUT)
		return verdict(p, epfd, XLB_PC_TIMEOUT, "timeout");
	return verdict(p, epfd, XLB_PC_ERROR, strerror(err));
}

static enum xlb_probe_result tcp_start(struct xlb_probe *p, const struct xlb_probe_target *t,
				       int epfd, __u32 tag)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(&t->addr, t->family, t->port, &ss);
	int err;

	p->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return unchecked(p, epfd, errno);
	err = xlb_probe_prepare_fd(p->fd, t);
	if (err)
		return unchecked(p, epfd, -err);
	if (connect(p->fd, (void *)&ss, len) && errno != EINPROGRESS)
		return xlb_probe_local_error(errno) ? unchecked(p, epfd, errno) :
		       connect_failed(p, epfd, errno);
	p->phase = XLB_PROBE_CONNECT;
	epoll_ctl(epfd, EPOLL_CTL_ADD, p->fd, &(struct epoll_event){ .events = EPOLLOUT,
		  .data.u32 = tag });
	return XLB_PROBE_PENDING;
}

/* A library's check ended (or not yet): its verdict, the probe idle. */
static enum xlb_probe_result lib_result(struct xlb_probe *p, int epfd)
{
	enum xlb_probe_result r = p->result;
	char why[sizeof(p->why)];
	enum xlb_probe_class cls = p->cls;

	if (!p->done)
		return XLB_PROBE_PENDING;
	snprintf(why, sizeof(why), "%s", p->why);
	xlb_probe_stop(p, epfd);
	snprintf(p->why, sizeof(p->why), "%s", why);
	p->cls = cls;
	return r;
}

enum xlb_probe_result xlb_probe_start(struct xlb_probe *p, const struct xlb_probe_target *t,
				      __u64 now_ms, int epfd, __u32 tag)
{
	enum xlb_probe_result r;

	xlb_probe_stop(p, epfd);
	p->deadline_ms = now_ms + t->timeout_ms;
	p->epfd = epfd;
	p->tag = tag;
	p->via = t->via;
	p->cls = XLB_PC_NONE;
	p->done = false;
	p->why[0] = '\0';
	if (t->type == XLB_HEALTH_TCP || !t->health)
		return tcp_start(p, t, epfd, tag);
	p->hc = *t->health;
	p->tgt = *t;
	p->tgt.health = &p->hc;
	p->tgt.path = p->hc.path;
	p->phase = XLB_PROBE_LIB;
	r = t->type == XLB_HEALTH_DNS ? xlb_probe_dns_start(p, &p->tgt, now_ms) :
	    xlb_probe_curl_start(p, &p->tgt, now_ms);
	if (r != XLB_PROBE_PENDING && !p->done)
		p->done = true, p->result = r;
	return lib_result(p, epfd);
}

static void lib_step(struct xlb_probe *p, int fd)
{
	if (p->channel)
		xlb_probe_dns_step(p, fd);
	else if (p->multi)
		xlb_probe_curl_step(p, fd);
}

enum xlb_probe_result xlb_probe_progress(struct xlb_probe *p, const struct xlb_probe_target *t,
					 int epfd, __u32 tag)
{
	int err = 0, fds[XLB_PROBE_FDS];
	socklen_t el = sizeof(err);
	__u32 n = p->nr_fds;

	(void)t;
	(void)tag;
	if (p->phase == XLB_PROBE_LIB) {
		memcpy(fds, p->fds, sizeof(fds));
		for (__u32 i = 0; i < n && !p->done; i++)
			lib_step(p, fds[i]);
		return lib_result(p, epfd);
	}
	if (p->phase != XLB_PROBE_CONNECT)
		return XLB_PROBE_PENDING;
	getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err)
		return connect_failed(p, epfd, err);
	return verdict(p, epfd, XLB_PC_NONE, "");
}

enum xlb_probe_result xlb_probe_expire(struct xlb_probe *p, __u64 now_ms, int epfd)
{
	if (p->phase == XLB_PROBE_IDLE)
		return XLB_PROBE_PENDING;
	if (p->phase == XLB_PROBE_LIB && p->multi) {
		xlb_probe_curl_step(p, -1);	/* the shared multi handle's own timer */
	} else if (p->phase == XLB_PROBE_LIB && p->timer_ms && now_ms >= p->timer_ms) {
		p->timer_ms = 0;
		lib_step(p, -1);
	}
	if (p->phase == XLB_PROBE_LIB && p->done)
		return lib_result(p, epfd);
	/* the libraries time out at timeout_ms themselves; this is the backstop */
	if (now_ms < p->deadline_ms + (p->phase == XLB_PROBE_LIB ? 100 : 0))
		return XLB_PROBE_PENDING;
	return verdict(p, epfd, XLB_PC_TIMEOUT, "timeout");
}

void xlb_probe_retag(struct xlb_probe *p, int epfd, __u32 tag)
{
	p->tag = tag;
	p->epfd = epfd;
	if (p->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_MOD, p->fd, &(struct epoll_event){ .events = EPOLLOUT,
			  .data.u32 = tag });
	for (__u32 i = 0; i < p->nr_fds; i++)
		epoll_ctl(epfd, EPOLL_CTL_MOD, p->fds[i], &(struct epoll_event){
			  .events = p->fdev[i], .data.u32 = tag });
}
