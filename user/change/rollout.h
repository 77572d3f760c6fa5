/*
 * Stepped changes (rollouts): a target configuration reached from the
 * running one in N steps, each a normal generation (source "rollout"), with
 * the daemon judging the signals between steps and rolling the whole change
 * back to the generation it started from when one crosses its threshold.
 *
 * The CLI validates, plans and guards every step, then writes the rollout
 * (rollout.json beside the history) for the daemon, which alone moves it on;
 * requests (pause, resume, abort) are written into the same file, under the
 * interface lock.
 */
#ifndef XLB_ROLLOUT_H
#define XLB_ROLLOUT_H

#include <stdbool.h>
#include "config.h"

#define XLB_ROLLOUT_MAX_STEPS	100

/*
 * Step k (1..n) of the way from `from` to `to`, in out (to be freed):
 * weights interpolated (k/n of the way); a backend new in `to` enters with
 * k/n of its weight; one leaving goes down to 0 and is removed at step n; a
 * state other than active is reached at step n (drain and down after the
 * weight has gone to 0), active from step 1.  Services added or removed, and
 * every other setting, take `to`'s from step 1.  Step n is `to`.
 */
int xlb_rollout_step(const struct xlb_config *from, const struct xlb_config *to, __u32 k,
		     __u32 n, struct xlb_config *out);

/*
 * Every step validated and guarded against the one before (the guards hold
 * at each step, not only at the end): 0, -EINVAL (not valid), -EPERM (a
 * guard refuses a step and force is not set), why says which; -ENOMEM.
 */
int xlb_rollout_check(const struct xlb_config *from, const struct xlb_config *to, __u32 n,
		      bool force, char *why, size_t len);

/* What one step saw of one backend, and of the data plane. */
struct xlb_rollout_backend {
	char service[XLB_NAME_MAX];
	char address[64];
	double table_share;		/* in the step's live table */
	__u64 new_flows;		/* during the step */
	__u64 health_failures;		/* failed checks during the step */
	bool went_down;			/* a health verdict took it out during the step */
	__u64 syns, syn_retries;	/* SYNs of its moved slots, and those sent again */
};

struct xlb_rollout_signals {
	struct xlb_rollout_backend *be;
	__u32 nr_be;
	__u64 drops;			/* data-plane drops during the step */
	double seconds;			/* the step's length */
};

/*
 * Judge a step of the services that the rollout changes (cfg: the step's
 * configuration, for the thresholds): true when a signal crossed its
 * threshold, why says which and by how much.
 */
bool xlb_rollout_judge(const struct xlb_config *cfg, const struct xlb_config *changed,
		       const struct xlb_rollout_signals *s, char *why, size_t len);

enum xlb_rollout_state {
	XLB_ROLLOUT_RUNNING,
	XLB_ROLLOUT_PAUSED,
	XLB_ROLLOUT_DONE,
	XLB_ROLLOUT_ROLLED_BACK,	/* a signal crossed its threshold */
	XLB_ROLLOUT_ABORTED,		/* by hand: rolled back */
	XLB_ROLLOUT_FAILED,		/* a step or the rollback could not be applied */
};
extern const char *const xlb_rollout_state_names[];

struct xlb_rollout {
	char id[16];			/* r + 8 hex digits */
	enum xlb_rollout_state state;
	char request[16];		/* "", pause, resume, abort: for the daemon */
	__u64 start_gen;		/* the generation it started from (rollback target) */
	__u32 steps, step;		/* step: the last applied, 0 before the first */
	__u64 step_ms;
	__s64 started_unix, step_unix_ms;	/* wall clock: when, when the step began */
	char user[64], reason[256], why[512];
	bool forced;
	__u64 gens[XLB_ROLLOUT_MAX_STEPS + 1];	/* generations of the steps (and rollback) */
	__u32 nr_gens;
	__u64 rollback_gen;
	struct xlb_config target;	/* with its hash key (file mode 0600) */
};

/* The rollout of an interface's history directory: 0, -ENOENT, -EINVAL (message set). */
int xlb_rollout_read(const char *hist, struct xlb_rollout *r);
/* Write it as a state file (xlb_write_state_file: never through a link, durable), mode 0600. */
int xlb_rollout_write(const char *hist, const struct xlb_rollout *r);
void xlb_rollout_free(struct xlb_rollout *r);
bool xlb_rollout_active(const struct xlb_rollout *r);
json_t *xlb_rollout_to_json(const struct xlb_rollout *r);

/*
 * Is a rollout active in hist: false, or true with why ("rollout ID is
 * running (step K of N): one at a time ...").
 */
bool xlb_rollout_busy(const char *hist, char *why, size_t len);

/* What starts a rollout: its target, N steps of step_ms, and the record's who/why. */
struct xlb_rollout_start {
	const struct xlb_config *target;
	__u64 start_gen;		/* the live generation: where a rollback returns */
	__u32 steps;
	__u64 step_ms;
	const char *reason;
	const char *user;		/* who starts it; NULL: the caller (xlb_who) */
	bool forced;
};

/*
 * Write a new running rollout's record in hist (a fresh id, the caller as
 * its user) for the daemon to take up; id gets its id.  0, or -errno with
 * xlb_errmsg() set.
 */
int xlb_rollout_begin(const char *hist, const struct xlb_rollout_start *st, char *id,
		      size_t idlen);

/*
 * Start a stepped change of interface ifname (history hist, running the
 * configuration `running`, live generation st->start_gen) to st->target,
 * for its daemon to take up: refused, with the message set, when no daemon
 * runs for ifname (-ESRCH), another rollout is active (-EBUSY), the target
 * changes nothing (-EALREADY), a step is not valid (-EINVAL) or a guard
 * refuses one and st->forced is not set (-EPERM); else the record written
 * (xlb_rollout_begin) and 0, id its id.  Other errors: -errno.
 */
int xlb_rollout_start(const char *hist, const char *ifname, const struct xlb_config *running,
		      const struct xlb_rollout_start *st, char *id, size_t idlen);

/* "10s", "500ms", "2m", "1h" or seconds: milliseconds, or -EINVAL. */
long long xlb_duration_ms(const char *s);

/* The daemon of an interface: its lock (held while it runs), /run/xlb/DEV.daemon. */
int xlb_daemon_lock(const char *ifname);
/* Does a daemon run for ifname (its lock is held)? */
bool xlb_daemon_running(const char *ifname);

#endif
