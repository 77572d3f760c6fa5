/*
 * The fleet's stepped change (decide/rollout, fleetstore.h): its record, and
 * the pure decisions the leader's driver (daemon/fleetroll.c) and the CLI
 * (cmd/fleetsteps.c) make on it, apart from the store so they can be
 * tested alone.
 *
 *   the record      JSON in and out; a record that is not one is refused
 *                   with what is wrong (the leader leaves it alone then)
 *   the next action what the leader does with a record, the nodes' status
 *                   records and what it holds itself (xlb_fleet_rollout_next)
 *   the signals     the nodes' "counters" at the window's start and end,
 *                   summed over the nodes into struct xlb_rollout_signals
 *                   for xlb_rollout_judge
 */
#ifndef XLB_FLEETROLLOUT_H
#define XLB_FLEETROLLOUT_H

#include <stdbool.h>
#include <linux/types.h>
#include <jansson.h>
#include "fleetstore.h"
#include "rollout.h"

struct xlb_fleet_rollout {
	char id[16];			/* r + 8 hex digits */
	enum xlb_rollout_state state;
	char request[16];		/* "", pause, resume, abort */
	char request_by[320];		/* who asked it, and why ("" none; absent in JSON) */
	__u64 start_gen;		/* the desired generation it started from */
	char from_fp[17], target_fp[17];
	__u32 steps, step;		/* step: the last written, 0 before the first */
	__u64 step_ms;
	__u64 gens[XLB_ROLLOUT_MAX_STEPS + 1];
	__u32 nr_gens;
	char step_since[40];		/* RFC 3339 UTC with ms; "" for null (waiting) */
	char who[64], reason[256], started[32], why[512];
	bool forced;
	__s64 mod_rev;			/* of decide/rollout when read (0: absent) */
};

/* running or paused: one at a time, and no plain apply meanwhile. */
bool xlb_fleet_rollout_active(const struct xlb_fleet_rollout *r);
/* 0, or -EINVAL with xlb_errmsg() saying which field is wrong (r zeroed first). */
int xlb_fleet_rollout_from_json(json_t *j, struct xlb_fleet_rollout *r);
json_t *xlb_fleet_rollout_to_json(const struct xlb_fleet_rollout *r);
/* The record's text as stored (malloc'd), NULL when out of memory. */
char *xlb_fleet_rollout_text(const struct xlb_fleet_rollout *r);
/* Milliseconds since the epoch of an RFC 3339 UTC time ("...Z", fraction optional); -1. */
long long xlb_fleet_time_ms(const char *s);
/* Now as RFC 3339 UTC with milliseconds. */
void xlb_fleet_now_ms_iso(char *buf, size_t len);
/* "rollout ID is running (step K of N) ..." : why another change must wait. */
void xlb_fleet_rollout_busy(const struct xlb_fleet_rollout *r, const char *fleet, char *why,
			    size_t len);

/* What the leader does next with a rollout. */
enum xlb_fleetroll_action {
	XLB_FR_NONE,		/* nothing: not active, paused, or its window is not over */
	XLB_FR_PAUSE,		/* a pause request: state paused */
	XLB_FR_RESUME,		/* a resume request: running, the window watched again */
	XLB_FR_CLEAR,		/* a request that changes nothing (pause while paused ...) */
	XLB_FR_ABORT,		/* an abort request: roll back, state aborted */
	XLB_FR_WRITE_STEP,	/* write step + 1 */
	XLB_FR_WAIT,		/* some live node does not run the step's generation yet */
	XLB_FR_APPLIED,		/* every live node runs it: write step_since, snapshot */
	XLB_FR_RESTART,		/* step_since is written but this leader has no snapshot */
	XLB_FR_JUDGE,		/* the window is over: judge (then next step, done or back) */
	XLB_FR_REFUSED,		/* a node refused the step's generation: failed, roll back */
	XLB_FR_OUTSIDE,		/* desired moved past the step outside the rollout: failed */
	XLB_FR_DONE,		/* judged good, the last step: done */
	XLB_FR_ROLLBACK,	/* judged bad: roll the fleet back, rolled_back */
};
extern const char *const xlb_fleetroll_action_names[];

struct xlb_fleetroll_view {
	__u64 desired_gen;	/* desired's generation as the leader last saw it */
	bool have_snapshot;	/* it holds the counters of this step's window start */
	long long window_ms;	/* wall clock ms when its window started (its snapshot) */
	long long now_ms;	/* wall clock ms */
};

/*
 * The next action for r, nodes (JSON object NODE -> status record: the live
 * nodes) and what the leader holds; why says what it waits for or what
 * failed.
 */
enum xlb_fleetroll_action xlb_fleet_rollout_next(const struct xlb_fleet_rollout *r,
						 json_t *nodes,
						 const struct xlb_fleetroll_view *v,
						 char *why, size_t len);

/* After XLB_FR_JUDGE: the next step, done, or the rollback (bad: a signal crossed). */
enum xlb_fleetroll_action xlb_fleet_rollout_judged(const struct xlb_fleet_rollout *r, bool bad);

/*
 * The counters of every node at the window's start (snap: NODE -> "counters"
 * object) and now (nodes: NODE -> status record), summed into sig (sig->be
 * malloc'd: free it).  A node in only one of them (gone, or come, during the
 * window) is left out; a counter below its snapshot (the node's daemon
 * restarted) counts from 0, never negative.  table_share is the mean of the
 * nodes' (their tables are the fleet's).  nodes_counted gets how many nodes
 * were summed.  0 or -ENOMEM.
 */
int xlb_fleet_rollout_sum(json_t *snap, json_t *nodes, double seconds,
			  struct xlb_rollout_signals *sig, unsigned int *nodes_counted);

#endif
