/*
 * Health logic without I/O: the rise/fall state machine, jittered schedule,
 * the min_active floor, and the distribution watch.  The daemon feeds them
 * check results and counters; unit tests feed them by hand.
 */
#ifndef XLB_HEALTH_H
#define XLB_HEALTH_H

#include <stdbool.h>
#include <linux/types.h>
#include "config.h"

struct xlb_hstate {
	bool up;		/* the check's verdict after rise/fall */
	__u32 ok_run;		/* consecutive successes */
	__u32 fail_run;		/* consecutive failures */
	__u64 checks, failures;	/* totals */
	__u64 next_ms;		/* when the next check starts */
};

/* A backend starts up (it is in the table already): fall failures take it out. */
void xlb_hstate_init(struct xlb_hstate *h);
/* One result; true when the verdict flips. */
bool xlb_hstate_record(struct xlb_hstate *h, bool ok, __u32 rise, __u32 fall);
/* Next start: interval with +-10 % jitter from *seed (xorshift), so checks do not align. */
__u64 xlb_health_next(__u64 now_ms, __u32 interval_ms, __u32 *seed);

/*
 * The floor.  n candidates (backends the configuration has active with a
 * weight), healthy[i] their verdicts, fail_run[i] their failure runs.  Sets
 * down[i] for those to take out: every unhealthy one, unless that leaves
 * fewer than min_active; then the unhealthy ones with the shortest failure
 * runs stay in (fail open).  Returns true when the floor was hit.
 */
bool xlb_health_floor(__u32 n, const bool *healthy, const __u32 *fail_run, __u32 min_active,
		      bool *down);

/* One backend as the health policy sees it (NULL view: not checked yet). */
struct xlb_health_view {
	bool up;		/* its verdict after rise/fall */
	__u32 fail_run;
	bool health_down;	/* the daemon holds it down */
};

/*
 * The health overlay of one service on a configuration: backends it wants
 * active that are unhealthy go down, never below min_active (fail open);
 * those the daemon holds down come back when healthy.  An operator's drain
 * or down stays.  views[j] is backend j's, NULL when it has none yet
 * (healthy).  held[j] is set to whether the daemon holds it down now.
 * Returns true when a state changed; *floor_hit when the floor kept some in.
 */
bool xlb_health_overlay(struct xlb_service_conf *s, const struct xlb_health_view *const *views,
			bool *held, bool *floor_hit);

/*
 * Distribution watch of one backend: its observed share of the service's new
 * flows over a sliding window against its table share.
 */
#define XLB_WATCH_MAX_SAMPLES	600

struct xlb_watch {
	__u64 t_ms[XLB_WATCH_MAX_SAMPLES];
	__u64 mine[XLB_WATCH_MAX_SAMPLES];	/* backend's new_flows counter */
	__u64 all[XLB_WATCH_MAX_SAMPLES];	/* service's new_flows counter */
	__u32 head, count;
	double deviation;		/* |observed - table share|, 0 if too few flows */
	__u64 above_since_ms;		/* deviation above threshold since, 0 = not */
	bool alert;
};

struct xlb_watch_opts {
	__u32 window_ms;		/* sliding window */
	double threshold;		/* deviation that counts (share points, 0..1) */
	__u32 for_ms;			/* how long above threshold before alerting */
	__u64 min_flows;		/* fewer new flows in the window: no verdict */
};

/* Add a sample; returns true when the alert starts (false->true). */
bool xlb_watch_sample(struct xlb_watch *w, const struct xlb_watch_opts *o, __u64 now_ms,
		      __u64 mine, __u64 all, double table_share);

#endif
