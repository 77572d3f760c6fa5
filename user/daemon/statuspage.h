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

/* One decision of the fleet (decide/events/ID) as the page shows it. */
#define XLB_PAGE_EVENTS	8		/* the newest, kept by every daemon */
struct xlb_page_event {
	char id[96];			/* the key's last part: time (us) then -NODE; sorts by time */
	char kind[16], node[64], when[40], what[300], why[512];
};

/* decide/rollout as watched: the fleet's stepped change, moved on by the leader. */
struct xlb_page_rollout {
	bool have;			/* the record is there (false: none) */
	char id[16], state[16];		/* state: running|paused|done|rolled_back|aborted|failed */
	char request[16];		/* "" none, pause, resume, abort */
	__u32 step, steps;
	char why[512];			/* what rolled it back, or the error ("" none) */
};

/* The fleet this node follows in the store (xlb daemon --store): what the page shows. */
struct xlb_page_fleet {
	char fleet[64], node[64];
	char endpoint[256];		/* the endpoint that answered last ("" none yet) */
	bool reachable;
	char lost_since[32];		/* UTC, ISO 8601: unreachable since ("" never lost) */
	char lost_why[300];		/* why it cannot be reached */
	bool have_desired;		/* read since the daemon started */
	__u64 desired;			/* generation (0: the fleet has none) */
	char who[64], when[32], reason[256], source[16];
	bool forced;
	__u64 applied;			/* 0: none */
	char applied_fp[17];
	__u64 refused;			/* 0: none */
	char refused_why[400];
	bool local_change;		/* forced beside the fleet */
	char local_who[64], local_when[32], local_reason[256];
	bool has_lease;
	__u64 lease_age_s;		/* since it was granted or kept alive */
	char gate_why[300];		/* why the fleet keeps VIPs unannounced ("" open) */
	bool health_fleet;		/* the fleet's health verdicts laid over the tables */
	__u64 health_seq;		/* decide/health's seq laid over them (0: none) */
	__u32 health_disagree;		/* backends this node alone sees down */
	char health_sick[300];		/* why it withdraws its VIPs ("" it need not) */
	char leader[64];		/* the fleet's leader as decide/leader says ("" none) */
	char leader_since[32];		/* RFC 3339, as its record says */
	__s64 leader_term;		/* its term (0: none) */
	bool leading;			/* this node leads */
	__u64 elections;		/* elections this daemon won */
	struct xlb_page_rollout rollout;
	struct xlb_page_event events[XLB_PAGE_EVENTS];	/* newest first */
	__u32 nr_events;
	bool events_read;		/* the newest were read from the store at start (else:
					 * only those seen since this daemon started) */
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
	const struct xlb_page_fleet *fleet;	/* NULL: the node follows no store */
	__u32 refresh_s;		/* the page reloads itself every so many seconds */
	const char *now;		/* UTC, ISO 8601 */
};

/* The HTML of p into f. */
void xlb_status_page(const struct xlb_page *p, FILE *f);

#endif
