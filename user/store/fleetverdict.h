/*
 * The fleet's health verdicts, judged without I/O (issue 24): from the live
 * nodes' status records (their "views", fleetstore.h), the configuration the
 * leader judges against and the previous decide/health record, the new
 * record's "down", "floor" and "views".  verdicts.c (the daemon's leader)
 * feeds it what the store holds; unit tests feed it by hand.
 *
 * A backend's fleet state is down when strictly more than half of the nodes
 * that check it (publish a view of it) see it down: their verdicts are after
 * their own rise and fall, so a fleet verdict needs a majority of nodes each
 * past its fall.  A tie stays up (1 of 2 nodes is not a majority).  No voter:
 * the previous record's state stands.  Then the min_active floor, fleet-wide,
 * through xlb_health_overlay (health.h): never below it (fail open).
 */
#ifndef XLB_FLEETVERDICT_H
#define XLB_FLEETVERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "config.h"

/* A backend whose fleet state changed, or a service whose floor changed. */
struct xlb_fleet_change {
	char service[XLB_NAME_MAX];
	char backend[64];		/* its address ("" for a floor change alone) */
	bool down;			/* its state in the new record */
	char why[200];			/* "2 of 3 nodes see it down" */
};

struct xlb_fleet_verdict {
	json_t *down;			/* {SERVICE: [ADDRESS, ...]} */
	json_t *floor;			/* [SERVICE, ...] */
	json_t *views;			/* {SERVICE: {ADDRESS: {"up": N, "down": N}}} */
	bool changed;			/* down, floor or views differ from the previous record */
	struct xlb_fleet_change *changes;
	size_t nr_changes;
};

/*
 * Judge.  nodes: JSON object NODE -> status record (anything not an object,
 * views or counts that are not what fleetstore.h says, are left out: no
 * vote); cfg: the configuration judged against, without health verdicts laid
 * over it (the backends the configuration has active are candidates); prev:
 * the previous decide/health record or NULL.  Only services with a health
 * check are judged.  0, or -ENOMEM.
 */
int xlb_fleet_judge(json_t *nodes, const struct xlb_config *cfg, json_t *prev,
		    struct xlb_fleet_verdict *out);
void xlb_fleet_verdict_free(struct xlb_fleet_verdict *v);

/* Is ADDRESS of SERVICE in a record's "down" (tolerant of any JSON)? */
bool xlb_fleet_record_down(json_t *record, const char *service, const char *address);
/* Its "views" counts of one backend (0, 0 when it has none). */
void xlb_fleet_record_views(json_t *record, const char *service, const char *address,
			    unsigned int *up, unsigned int *down);

#endif
