/* Fleet rollouts from the command line (fleetsteps.c), for cmd_fleet.c. */
#ifndef XLB_FLEETSTEPS_H
#define XLB_FLEETSTEPS_H

#include <stdbool.h>
#include "config.h"
#include "fleetrollout.h"
#include "store.h"

/* decide/rollout into r (r->mod_rev 0 when absent): 0, -EINVAL (not a record, said), -errno. */
int fleetroll_read(struct xlb_store *s, const char *fleet, struct xlb_fleet_rollout *r);
/* A plain apply or rollback (verb) while a rollout is active: refused (said): the exit status. */
int fleetroll_guard(struct xlb_store *s, const struct xlb_store_opts *o, const char *verb);

struct fleetroll_start {
	const struct xlb_fleet_desired *desired;	/* as read: the start */
	const struct xlb_config *from, *target;
	unsigned int steps;
	long long step_ms;
	const char *reason;
	bool force;
};
/* Every step checked, the target's body written, the record created: the exit status. */
int fleetroll_start(struct xlb_store *s, const struct xlb_store_opts *o,
		    const struct fleetroll_start *st);
/* xlb fleet rollout status|pause|resume|abort */
int do_fleet_rollout(int argc, char **argv);

#endif
