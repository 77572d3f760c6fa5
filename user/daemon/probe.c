/* Non-blocking TCP and HTTP health probes; see probe.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "probe.h"

void xlb_probe_init(struct xlb_probe *p)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

void xlb_probe_stop(struct xlb_probe *p, int epfd)
{
	if (p->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, p->fd, NULL);
		close(p->fd);
	}
	p->fd = -1;
	p->phase = XLB_PROBE_IDLE;
}

static enum xlb_probe_result verdict(struct xlb_probe *p, int epfd, bool ok, const char *why)
{
	xlb_probe_stop(p, epfd);
	snprintf(p->why, sizeof(p->why), "%s", ok ? "" : why);
	return ok ? XLB_PROBE_OK : XLB_PROBE_FAILED;
}

/* Errors of this host, not of the backend: out of descriptors, ports or memory. */
static bool local_error(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM ||
	       err == EAGAIN || err == EADDRNOTAVAIL;
}

static enum xlb_probe_result unchecked(struct xlb_probe *p, int epfd, int err)
{
	xlb_probe_stop(p, epfd);
	snprintf(p->why, sizeof(p->why), "%s", strerror(err));
	return XLB_PROBE_UNCHECKED;
}

static socklen_t sockaddr_of(const struct xlb_probe_target *t, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (t->family == XLB_FAMILY_V4) {
		struct sockaddr_in *sin = (void *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(t->port);
		sin->sin_addr.s_addr = t->addr.v4;
		return sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (void *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(t->port);
		memcpy(&sin6->sin6_addr, t->addr.v6, 16);
		return sizeof(*sin6);
	}
}

static void watch(struct xlb_probe *p, int epfd, int op, __u32 tag)
{
	epoll_ctl(epfd, op, p->fd, &(struct epoll_event){
		  .events = p->phase == XLB_PROBE_CONNECT ? EPOLLOUT : EPOLLIN, .data.u32 = tag });
}

/*
 * Through the tunnel: the mark (policy routing sends the socket's packets to
 * the tunnel's veth) and the tunnel source, before connect.  0 or errno.
 */
static int path_of(int fd, const struct xlb_probe_target *t)
{
	struct xlb_probe_target src = *t;
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	if (t->mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &t->mark, sizeof(t->mark)))
		return errno;
	if (!t->bind_src)
		return 0;
	src.addr = t->src;
	src.port = 0;
	len = sockaddr_of(&src, &ss);
	/* the port is picked at connect, per 4-tuple: many checks share the source */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	return bind(fd, (void *)&ss, len) ? errno : 0;
}

enum xlb_probe_result xlb_probe_start(struct xlb_probe *p, const struct xlb_probe_target *t,
				      __u64 now_ms, int epfd, __u32 tag)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(t, &ss);
	int err;

	xlb_probe_stop(p, epfd);
	p->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return unchecked(p, epfd, errno);
	err = path_of(p->fd, t);
	if (err)	/* this host's: no permission for SO_MARK, the source gone */
		return unchecked(p, epfd, err);
	p->deadline_ms = now_ms + t->timeout_ms;
	p->len = 0;
	if (connect(p->fd, (void *)&ss, len) && errno != EINPROGRESS)
		return local_error(errno) ? unchecked(p, epfd, errno) :
		       verdict(p, epfd, false, strerror(errno));
	p->phase = XLB_PROBE_CONNECT;
	watch(p, epfd, EPOLL_CTL_ADD, tag);
	return XLB_PROBE_PENDING;
}

/* "HTTP/1.x NNN": 2xx and 3xx pass. */
static bool http_ok(const char *line, char *why, size_t len)
{
	int code;

	if (sscanf(line, "HTTP/%*d.%*d %d", &code) != 1) {
		snprintf(why, len, "not an HTTP answer");
		return false;
	}
	snprintf(why, len, "HTTP %d", code);
	return code >= 200 && code < 400;
}

static enum xlb_probe_result connected(struct xlb_probe *p, const struct xlb_probe_target *t,
				       int epfd, __u32 tag)
{
	char req[400];
	int err = 0;
	socklen_t el = sizeof(err);

	getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err)
		return verdict(p, epfd, false, strerror(err));
	if (t->type == XLB_HEALTH_TCP)
		return verdict(p, epfd, true, "");
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nUser-Agent: xlb-health\r\n"
		 "Connection: close\r\n\r\n", t->path);
	if (send(p->fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
		return verdict(p, epfd, false, "send failed");
	p->phase = XLB_PROBE_READ;
	watch(p, epfd, EPOLL_CTL_MOD, tag);
	return XLB_PROBE_PENDING;
}

enum xlb_probe_result xlb_probe_progress(struct xlb_probe *p, const struct xlb_probe_target *t,
					 int epfd, __u32 tag)
{
	char why[64];
	int saved;
	ssize_t n;
	bool ok;

	if (p->phase == XLB_PROBE_IDLE)
		return XLB_PROBE_PENDING;
	if (p->phase == XLB_PROBE_CONNECT)
		return connected(p, t, epfd, tag);
	n = recv(p->fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len, 0);
	if (n < 0 && errno == EAGAIN)
		return XLB_PROBE_PENDING;
	if (n > 0)
		p->len += n;
	p->buf[p->len] = '\0';
	if (!strstr(p->buf, "\r\n") && n > 0 && p->len < sizeof(p->buf) - 1)
		return XLB_PROBE_PENDING;
	saved = errno;
	ok = http_ok(p->buf, why, sizeof(why));
	if (n < 0)	/* the answer so far decides; the error says why */
		snprintf(why, sizeof(why), "%s", strerror(saved));
	return verdict(p, epfd, ok, why);
}

enum xlb_probe_result xlb_probe_expire(struct xlb_probe *p, __u64 now_ms, int epfd)
{
	if (p->phase == XLB_PROBE_IDLE || now_ms < p->deadline_ms)
		return XLB_PROBE_PENDING;
	return verdict(p, epfd, false, "timeout");
}

void xlb_probe_retag(struct xlb_probe *p, int epfd, __u32 tag)
{
	if (p->fd >= 0)
		watch(p, epfd, EPOLL_CTL_MOD, tag);
}
