/* What a change does, per service, and which guards refuse it. */
#ifndef XLB_PLAN_H
#define XLB_PLAN_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>
#include "config.h"

enum xlb_guard {
	XLB_GUARD_EMPTY = 1 << 0,	/* no backend would take new flows */
	XLB_GUARD_MIN_ACTIVE = 1 << 1,	/* fewer backends with slots than min_active */
	XLB_GUARD_MAX_SHARE = 1 << 2,	/* one backend above max_share of the slots */
	XLB_GUARD_MAX_CHURN = 1 << 3,	/* more than max_churn of new flows move */
};

struct xlb_plan_backend {
	union xlb_addr addr;
	__u8 family;
	bool in_old, in_new;
	__u32 weight_old, weight_new;
	__u8 state_old, state_new;
	double share_old, share_new;	/* of the table's slots */
};

struct xlb_plan_service {
	char name[XLB_NAME_MAX];
	bool in_old, in_new;
	bool changed;			/* anything differs */
	bool shares_known;		/* shares computed (changed services only) */
	struct xlb_plan_backend *bes;
	__u32 nr_bes;
	double churn;			/* share of new flows that move; -1: n/a */
	bool replaced;			/* table_size, "hash" or the hash key changed: every
					   flow is placed anew (established ones by the held
					   previous placement) */
	/* "forward", "gue_port", "hash" before and after (the same when not in both) */
	__u8 forward_old, forward_new;
	__u8 hash_old, hash_new;
	__u16 gue_port_old, gue_port_new;
	__u32 holders;			/* backends with slots after */
	__u32 refused;			/* enum xlb_guard bits */
	char why[4][200];
	__u32 nr_why;
	__u32 *table;			/* the new table, ids = index in bes + 1 */
	__u32 table_size;
};

struct xlb_plan {
	struct xlb_plan_service *svcs;
	__u32 nr;
	bool changed;
	__u32 refused;			/* union of the services' */
};

/* old may be empty (nothing running).  Builds the tables to compare them. */
int xlb_plan_build(const struct xlb_config *old, const struct xlb_config *new,
		   struct xlb_plan *plan);
void xlb_plan_free(struct xlb_plan *plan);
json_t *xlb_plan_to_json(const struct xlb_plan *plan);
/* "added", "removed", "state", "weight" or "same". */
const char *xlb_plan_change_name(const struct xlb_plan_backend *b);
const char *xlb_guard_name(enum xlb_guard g);

#endif
