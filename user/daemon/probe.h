/*
 * Health probes: one non-blocking TCP connect or HTTP GET per backend,
 * driven by the caller's epoll loop.  A probe owns its socket and yields a
 * verdict; what a verdict means for the configuration is health.c's.
 */
#ifndef XLB_PROBE_H
#define XLB_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "config.h"

enum xlb_probe_phase { XLB_PROBE_IDLE, XLB_PROBE_CONNECT, XLB_PROBE_READ };

enum xlb_probe_result {
	XLB_PROBE_PENDING,	/* under way: wait for its fd or its deadline */
	XLB_PROBE_OK,
	XLB_PROBE_FAILED,	/* the backend failed the check */
	XLB_PROBE_UNCHECKED,	/* this host could not make the check (no fd, no
				   port, no memory): no verdict on the backend */
};

struct xlb_probe {
	int fd;			/* -1 when idle */
	enum xlb_probe_phase phase;
	__u64 deadline_ms;
	char buf[160];		/* the start of an HTTP answer */
	size_t len;
	char why[64];		/* FAILED, UNCHECKED: what failed */
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

void xlb_probe_init(struct xlb_probe *p);
/* Start a probe; its fd joins epfd with tag as data.  PENDING or a verdict. */
enum xlb_probe_result xlb_probe_start(struct xlb_probe *p, const struct xlb_probe_target *t,
				      __u64 now_ms, int epfd, __u32 tag);
/* Its fd is ready: go on.  PENDING or a verdict (the probe is idle again). */
enum xlb_probe_result xlb_probe_progress(struct xlb_probe *p, const struct xlb_probe_target *t,
					 int epfd, __u32 tag);
/* Past its deadline: FAILED ("timeout"), or PENDING. */
enum xlb_probe_result xlb_probe_expire(struct xlb_probe *p, __u64 now_ms, int epfd);
/* The probe's entry moved in the caller's table: re-point its epoll data. */
void xlb_probe_retag(struct xlb_probe *p, int epfd, __u32 tag);
void xlb_probe_stop(struct xlb_probe *p, int epfd);

#endif
