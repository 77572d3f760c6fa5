/*
 * The health block of a service (struct xlb_health, part of config.h's
 * contract, kept here so that its options' module, confighealth.c, needs
 * nothing of config.c): parse, validate and canonical form of the options of
 * issue 25.
 */
#ifndef XLB_HEALTHCONF_H
#define XLB_HEALTHCONF_H

#include <stdbool.h>
#include <jansson.h>
#include "xlb_abi.h"
#include "diag.h"

enum xlb_health_type { XLB_HEALTH_NONE = 0, XLB_HEALTH_TCP, XLB_HEALTH_HTTP, XLB_HEALTH_HTTPS,
		       XLB_HEALTH_DNS };

/*
 * Which way a check goes (issue 25).  TUNNEL (the default): to VIP:port
 * through the encapsulation the data plane uses for the backend (IP-in-IP /
 * IP6IP6), so it crosses the backend's decap, its VIP on loopback and its
 * listener, and the answer comes back by direct return.  DIRECT: to the
 * backend's own address, as before issue 25.
 */
enum xlb_health_via { XLB_VIA_TUNNEL = 0, XLB_VIA_DIRECT };

#define XLB_HEALTH_STATUS_MAX	8	/* expect_status: ranges */
#define XLB_HEALTH_TEXT_MAX	256	/* host, body_match, query */

/* An accepted status range, lo..hi inclusive ("200", "200-399"). */
struct xlb_status_range {
	__u16 lo, hi;
};

struct xlb_health {
	enum xlb_health_type type;
	enum xlb_health_via via;
	__u16 port;		/* 0: the service port */
	char path[256];		/* HTTP(S) path */
	__u32 interval_ms, timeout_ms, rise, fall;
	/* http, https */
	char host[XLB_HEALTH_TEXT_MAX];	/* Host header, and SNI and the name verified for
					   https; "": the VIP's address */
	struct xlb_status_range expect_status[XLB_HEALTH_STATUS_MAX];
	__u32 nr_expect_status;		/* 0: 200-399 */
	char body_match[XLB_HEALTH_TEXT_MAX];	/* "": any body; else a substring the
						   first 64 KiB of the body must hold */
	/* https */
	bool verify;			/* certificate chain and name (default true) */
	char ca_file[256];		/* PEM CAs; "": the system's */
	/* dns (UDP services) */
	char query[XLB_HEALTH_TEXT_MAX];	/* the name asked */
	__u16 qtype;			/* 1 A (default for IPv4 services), 28 AAAA, ... */
	__u8 expect_rcode;		/* default 0 (NOERROR) */
	bool has_expect_answer;
	union xlb_addr expect_answer;	/* an address the answer must hold */
	__u8 expect_answer_family;
};

/* via, host, expect_status, body_match, verify, ca_file, query, qtype,
 * expect_rcode, expect_answer of h (an object; out->type set; family: the VIP's). */
void xlb_health_parse_more(json_t *h, const char *path, __u8 family, struct xlb_health *out,
			   struct xlb_diags *d);
/* What needs the service (proto: IPPROTO_TCP or _UDP): the protocol's check types,
 * qtype and answer agree.  path: the service's. */
void xlb_health_validate_more(const struct xlb_health *h, __u8 proto, const char *path,
			      struct xlb_diags *d);
/* Add the options not at their defaults to o (existing fingerprints stay). */
void xlb_health_form_more(const struct xlb_health *h, __u8 family, json_t *o);
/* The check accepts this HTTP status (200-399 when expect_status is not given). */
bool xlb_health_status_ok(const struct xlb_health *h, long status);
const char *xlb_dns_rcode_name(unsigned int rcode);
const char *xlb_dns_qtype_name(__u16 qtype);

#endif
