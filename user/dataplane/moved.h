/*
 * Moved slots: the previous backend a change leaves in a table slot (so that
 * flows older than the change keep their backend without every flow keeping
 * state), its release once no flow needs it, and the marking of state pinned
 * by a version that remembered every flow.  Table entries: xlb_abi.h.
 */
#ifndef XLB_MOVED_H
#define XLB_MOVED_H

#include <stdbool.h>
#include "ctl.h"

/*
 * What a backend id of the live table is to the new slot: XLB_ID_SAME when
 * the id names the same backend (same gen) in both, XLB_ID_UP when that
 * backend can also take flows (not down).
 */
#define XLB_ID_SAME	1
#define XLB_ID_UP	2

/*
 * Give each slot of `table` (m current ids, built for a new configuration) its
 * previous backend, from `live` (the live table of the same service with
 * entries as published, live_m slots; NULL: a new service).  ids[id] holds
 * the XLB_ID_* bits of every id.  A different size moves every flow: nothing
 * is kept.  Returns the slots left moved; *fresh counts those this change
 * moved (their current backend changed).
 */
__u32 xlb_moved_merge(__u32 *table, __u32 m, const __u32 *live, __u32 live_m,
		      const __u8 *ids, __u32 *fresh);

/* Slots of a table (entries as published) that are moved. */
__u32 xlb_moved_count(const __u32 *table, __u32 m);

/* CLOCK_MONOTONIC seconds, the clock of the packet path's xlb_moved_seen. */
__u32 xlb_moved_now(void);

struct xlb_release {
	__u32 services;		/* services whose table was republished */
	__u32 released;		/* slots released */
	__u32 replaced;		/* previous placements of replaced services released */
	__u32 moved;		/* slots still moved afterwards, in all (a replaced
				   service's every slot while it holds its previous placement) */
	__u32 forgotten;	/* connection-table entries removed with them */
	__u32 moved_by_index[XLB_MAX_SERVICES];	/* slots still moved, per service index */
};

/*
 * Release, in the live slot of an interface opened writable, every moved slot
 * whose previous backend no flow has needed for its service's
 * flow_idle_timeout (and whose change is older than that): the service's
 * table is republished without them (one map write), then the remembered
 * flows of those slots are forgotten.  now: xlb_moved_now(), or later (tests).
 */
int xlb_moved_release(struct xlb_ctl *c, __u32 now, struct xlb_release *r);

/*
 * State pinned by a version that remembered every flow (xlb_version < 3):
 * mark moved (prev = cur) each slot of the live tables where a remembered
 * flow holds a backend other than the table's, so that it keeps it.  Done
 * before the new program takes over.  *marked: slots marked.
 */
int xlb_moved_adopt(const struct xlb_dp *dp, __u32 *marked);

#endif
