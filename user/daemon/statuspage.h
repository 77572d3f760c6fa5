/*
 * The daemon's status page (GET / on its metrics address): plain HTML and
 * CSS, refreshed by the browser, read-only.  Rendered from the same snapshot
 * as the metrics plus the history and the announcements, and testable alone.
 */
#ifndef XLB_STATUSPAGE_H
#define XLB_STATUSPAGE_H

#include <stdio.h>
#include "history.h"
#include "metrics.h"

struct xlb_page_vip {
	char proto[64];			/* BIRD protocol: xlb_ADDRESS */
	bool announced;
	char why[200];			/* why withdrawn */
};

struct xlb_page {
	const struct xlb_metrics *m;
	const char *node;		/* host name */
	const char *ifname;
	const struct xlb_record *recent;	/* newest first; [0] is the running one */
	__u32 nr_recent;
	const struct xlb_page_vip *vips;
	__u32 nr_vips;
	bool has_announce;
	bool drained;
	const char *fleet_why;		/* "" when the fleet agrees or is not checked */
	__u32 refresh_s;		/* the page reloads itself every so many seconds */
	const char *now;		/* UTC, ISO 8601 */
};

/* The HTML of p into f. */
void xlb_status_page(const struct xlb_page *p, FILE *f);

#endif
