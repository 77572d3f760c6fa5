/*
 * Table shares, the one copy: how many of a Maglev table's slots each
 * backend holds — in the table a configuration gives (plan, backend list)
 * and in the table the data plane holds (stats, table, daemon metrics),
 * with the check that the two agree.
 */
#ifndef XLB_SHARES_H
#define XLB_SHARES_H

#include <stdbool.h>
#include "assign.h"
#include "config.h"
#include "dataplane.h"

/* share[id] = slots of id / m, for ids 0..nr_ids-1 (others ignored). */
void xlb_table_shares(const __u32 *table, __u32 m, double *share, __u32 nr_ids);
/* Share of each backend (by index in s) in the table s gives; 0 or -ENOMEM. */
int xlb_config_shares(const struct xlb_service_conf *s, double *share);

/* A service's live table as the data plane holds it. */
struct xlb_live_table {
	__u32 m;			/* slots; 0: no live table (no backend holds slots) */
	__u32 *ids;			/* slot -> (current) backend id */
	__u32 moved;			/* slots a change moved, not yet released */
	__u32 *slots;			/* backend id -> slots, XLB_MAX_BACKENDS entries */
	bool matches;			/* equals the table the configuration s gives */
	char fingerprint[17];		/* FNV-1a of each slot's backend address: equal on
					   nodes that send every flow to the same backend */
};

/* Read the live table of s (numbered by a) from slot; 0 or -errno (message set). */
int xlb_live_table_read(const struct xlb_dp *dp, __u32 slot, const struct xlb_assign *a,
			const struct xlb_service_conf *s, struct xlb_live_table *t);
/* The share of a backend id in it (0 when there is no table). */
double xlb_live_share(const struct xlb_live_table *t, __u32 id);
void xlb_live_table_free(struct xlb_live_table *t);

#endif
