/*
 * A change's whole way, one call for every source of change (config apply,
 * backend edits, rollback, health verdicts, daemon reloads):
 *
 *   xlb_change()  validate -> plan -> guards -> xlb_commit() -> record
 *                 \_____ xlb_change_decide() ___/  (pure: also the fleet's)
 *
 * The caller builds the proposed configuration (a file, an edit of the
 * running one, a history record, a health overlay) and prints the result;
 * it decides nothing.  A new guard or step is added here, once.
 */
#ifndef XLB_CHANGE_H
#define XLB_CHANGE_H

#include <stdbool.h>
#include "assign.h"
#include "config.h"
#include "ctl.h"
#include "plan.h"

struct xlb_change {
	const struct xlb_config *cfg;	/* the proposed configuration */
	const char *source;		/* apply, rollback, backend, health, reload */
	const char *reason;		/* recorded; NULL: "" */
	bool force;			/* apply even when guards refuse */
	bool dry_run;			/* plan and guards only (xlb config plan) */
	unsigned int exempt;		/* enum xlb_guard bits that do not refuse this change:
					   health verdicts skip max_share and max_churn (guards
					   meant for people), never min_active or an empty service */
	const struct xlb_assign *prefer;	/* rollback: the target's numbers */
};

enum xlb_change_outcome {
	XLB_CHANGE_APPLIED,		/* a new generation is live */
	XLB_CHANGE_UNCHANGED,		/* the running configuration is this one */
	XLB_CHANGE_PLANNED,		/* dry run: nothing written */
	XLB_CHANGE_INVALID,		/* validation failed: see diags */
	XLB_CHANGE_REFUSED,		/* guards refused, no --force: see plan */
	XLB_CHANGE_FAILED,		/* a system error: see err, xlb_errmsg() */
};

struct xlb_change_result {
	enum xlb_change_outcome outcome;
	int err;			/* FAILED: -errno */
	struct xlb_diags diags;		/* INVALID: every problem */
	struct xlb_plan plan;		/* from PLANNED on: what changes, refusals */
	bool planned;			/* plan is set */
	bool forced;			/* APPLIED with guards overridden */
	__u64 generation;		/* APPLIED: the new one; else the live one */
	char fingerprint[17];		/* of the proposed configuration */
};

/*
 * Steps 1-3 of a change, pure (no state read or written): validate ch->cfg,
 * fingerprint it, plan it against old and apply the guards.  old: what runs,
 * or the fleet's desired configuration; NULL when there is none (the plan is
 * against an empty configuration).  r->outcome: INVALID, REFUSED, UNCHANGED
 * (old is this configuration already), or PLANNED: it may go ahead, with
 * r->forced when only ch->force lets it (never with dry_run).  0 or -errno.
 */
int xlb_change_decide(const struct xlb_config *old, const struct xlb_change *ch,
		      struct xlb_change_result *r);
/* Run a change against c (opened writable unless dry_run); 0 or -errno = r->err. */
int xlb_change(struct xlb_ctl *c, const struct xlb_change *ch, struct xlb_change_result *r);
void xlb_change_result_free(struct xlb_change_result *r);
/* Exit status of a result: 0 applied/unchanged/planned ok, 1 invalid/refused, 2 failed. */
int xlb_change_exit(const struct xlb_change_result *r);

/*
 * After an attach that found no pinned state (a reboot): nothing is live, so
 * the newest applied generation of the history goes live again through the
 * change path (source "restore", its backend ids kept, its guards' verdict
 * too: it was live).  *from: the generation restored, 0 when something is live
 * already or the history is empty (nothing done).  0 or -errno, message set.
 */
int xlb_restore_live(const char *ifname, const char *state_root, __u64 *from,
		     struct xlb_change_result *r);

#endif
