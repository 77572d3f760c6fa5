/*
 * Commit: the last steps of a change (see change.h for the whole way) —
 * assign numbers, compute the idle slot's contents from the live slot
 * (xlb_slot_plan, slotplan.h: pure) and write them in one pass, record the
 * generation as pending,
 * switch with one map write, finalise the record.  Called with the
 * interface lock held (struct xlb_ctl opened writable).
 */
#ifndef XLB_COMMIT_H
#define XLB_COMMIT_H

#include "assign.h"
#include "ctl.h"
#include "history.h"
#include "plan.h"

/* What the record says of a change. */
struct xlb_commit_meta {
	const char *source;		/* apply, rollback, backend, health, reload */
	const char *reason;
	bool forced;			/* guards refused, overridden */
	const struct xlb_assign *prefer;	/* rollback: the target's numbers */
};

/*
 * Make cfg (validated, planned against c->running, guards passed or
 * overridden) the live generation; *gen gets its number.  Any failure before
 * the switch leaves the live slot and the history untouched.
 */
int xlb_commit(struct xlb_ctl *c, const struct xlb_config *cfg, const struct xlb_plan *plan,
	       const struct xlb_commit_meta *meta, __u64 *gen);

#endif
