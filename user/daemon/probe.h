/*
 * Health probes: one non-blocking check per backend, driven by the caller's
 * epoll loop: a TCP connect (hand-made), an HTTP or HTTPS GET (libcurl's
 * multi interface, one multi handle per probe), a DNS query (c-ares, one
 * channel per probe).  A probe owns its sockets (each joins epfd with the
 * probe's tag) and yields a verdict with a reason and its class; what a
 * verdict means for the configuration is health.c's.
 */
#ifndef XLB_PROBE_H
#define XLB_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "config.h"
#include "metrics.h"

enum xlb_probe_phase { XLB_PROBE_IDLE, XLB_PROBE_CONNECT, XLB_PROBE_READ,
		       XLB_PROBE_LIB };	/* LIB: libcurl's or c-ares' check under way */

enum xlb_probe_result {
	XLB_PROBE_PENDING,	/* under way: wait for its fd or its deadline */
	XLB_PROBE_OK,
	XLB_PROBE_FAILED,	/* the backend failed the check */
	XLB_PROBE_UNCHECKED,	/* this host could not make the check (no fd, no
				   port, no memory): no verdict on the backend */
};

struct xlb_probe_target {
	union xlb_addr addr;		/* where the socket connects: the VIP through the
					   tunnel, the backend's address direct */
	__u8 family;
	__u16 port;
	enum xlb_health_type type;
	const char *path;		/* HTTP */
	__u32 timeout_ms;
	/* issue 25 */
	const struct xlb_health *health;	/* the service's block: http/https/dns options */
	enum xlb_health_via via;
	union xlb_addr backend;		/* the backend checked (what "why" names) */
	__u32 mark;			/* SO_MARK for the socket (0: none): the tunnel's */
	bool bind_src;			/* bind the socket to src first (the tunnel source) */
	union xlb_addr src;
};

/* Why a check failed, in classes (the metrics' reason label). */
enum xlb_probe_class {
	XLB_PC_NONE = 0,	/* passed, or not checked yet */
	XLB_PC_REFUSED,		/* connect refused (a RST, or ICMP port unreachable) */
	XLB_PC_TIMEOUT,		/* no answer within timeout_ms */
	XLB_PC_TLS,		/* the TLS handshake or the certificate */
	XLB_PC_STATUS,		/* an HTTP status not expected */
	XLB_PC_BODY,		/* the body does not hold body_match */
	XLB_PC_DNS,		/* a DNS rcode not expected */
	XLB_PC_ANSWER,		/* the DNS answer does not hold expect_answer */
	XLB_PC_ERROR,		/* anything else: unreachable, reset, not HTTP ... */
	XLB_PC_MAX
};
#define xlb_probe_class_names xlb_health_reason_names	/* "refused", ... (metrics.c) */
_Static_assert(XLB_PC_MAX == XLB_HEALTH_REASONS, "metrics.h counts every class");

#define XLB_PROBE_FDS	4	/* sockets of one check at once (curl, c-ares) */

struct xlb_probe {
	int fd;			/* tcp: -1 when idle */
	enum xlb_probe_phase phase;
	__u64 deadline_ms;
	char why[128];		/* FAILED, UNCHECKED: what failed ("HTTP 503") */
	enum xlb_probe_class cls;	/* FAILED: its class */
	enum xlb_health_via via;	/* the path of the last check */
	/* http, https (libcurl) and dns (c-ares) */
	void *multi, *easy;	/* CURLM (every probe's one), CURL (this check's) */
	void *conn_to;		/* its CURLOPT_CONNECT_TO list */
	void *channel;		/* ares_channel */
	void *share;		/* CURLSH: this backend's TLS sessions (kept across checks) */
	__u32 share_uses;	/* checks since its last full handshake */
	int fds[XLB_PROBE_FDS];	/* their sockets in epfd */
	__u32 fdev[XLB_PROBE_FDS];	/* and the events each waits for */
	__u32 nr_fds;
	int epfd;
	__u32 tag;
	__u64 timer_ms;		/* the library's next timeout (0: none) */
	char *body;		/* the first 64 KiB of the answer's body */
	char liberr[256];	/* libcurl's error text (CURL_ERROR_SIZE) */
	size_t len;
	bool done;		/* the library's check ended: result, why, cls set */
	enum xlb_probe_result result;
	struct xlb_probe_target tgt;	/* of the check under way (its health: hc) */
	struct xlb_health hc;		/* a copy: a reload may free the service's */
};

void xlb_probe_init(struct xlb_probe *p);
/* Start a probe; its fd joins epfd with tag as data.  PENDING or a verdict. */
enum xlb_probe_result xlb_probe_start(struct xlb_probe *p, const struct xlb_probe_target *t,
				      __u64 now_ms, int epfd, __u32 tag);
/* Its fd is ready: go on.  PENDING or a verdict (the probe is idle again). */
enum xlb_probe_result xlb_probe_progress(struct xlb_probe *p, const struct xlb_probe_target *t,
					 int epfd, __u32 tag);
/* The loop's tick: runs the libraries' timers; past its deadline FAILED
 * ("timeout").  PENDING or a verdict. */
enum xlb_probe_result xlb_probe_expire(struct xlb_probe *p, __u64 now_ms, int epfd);
/* The probe's entry moved in the caller's table: re-point its epoll data. */
void xlb_probe_retag(struct xlb_probe *p, int epfd, __u32 tag);
void xlb_probe_stop(struct xlb_probe *p, int epfd);
/* Errors of this host (descriptors, ports, memory, permission): no verdict. */
bool xlb_probe_local_error(int err);
/* Close a check's socket with a reset (no TIME_WAIT left behind). */
int xlb_probe_close(int fd);

/* probecurl.c, probedns.c: the library probes (the same contract as above). */
enum xlb_probe_result xlb_probe_curl_start(struct xlb_probe *p, const struct xlb_probe_target *t,
					   __u64 now_ms);
void xlb_probe_curl_step(struct xlb_probe *p, int fd);	/* fd -1: its timer */
void xlb_probe_curl_stop(struct xlb_probe *p);
/* Drop the probe's TLS sessions (its backend left, or a full handshake is due). */
void xlb_probe_curl_forget(struct xlb_probe *p);
enum xlb_probe_result xlb_probe_dns_start(struct xlb_probe *p, const struct xlb_probe_target *t,
					  __u64 now_ms);
void xlb_probe_dns_step(struct xlb_probe *p, int fd);
void xlb_probe_dns_stop(struct xlb_probe *p);
/* probe.c: a library socket joins / changes in the probe's epfd (events 0: leaves). */
void xlb_probe_watch_fd(struct xlb_probe *p, int fd, __u32 events);
/* The events an fd of the probe is ready for now (poll, no wait). */
int xlb_probe_ready(int fd, __u32 *events);
/* The verdict of a library probe (cls XLB_PC_NONE: passed): p->done. */
void xlb_probe_end(struct xlb_probe *p, enum xlb_probe_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void xlb_probe_unchecked(struct xlb_probe *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Set SO_MARK and bind the source of a library's fresh socket: 0 or -errno. */
int xlb_probe_prepare_fd(int fd, const struct xlb_probe_target *t);

#endif
