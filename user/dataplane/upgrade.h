/* Carrying pinned counters over to a larger map when an older state is adopted. */
#ifndef XLB_UPGRADE_H
#define XLB_UPGRADE_H

#include <bpf/libbpf.h>
#include "xlb_abi.h"

struct xlb_stats_growth {
	int fd;			/* the larger copy; -1: nothing to grow */
	char path[512];		/* the pin it replaces */
};

void xlb_stats_growth_init(struct xlb_stats_growth *g);
/*
 * Before the load: when dir's pinned xlb_stats is smaller than XLB_STAT_SLOTS,
 * give the object (its map stats) a larger copy with every counter.  The pin
 * is untouched: a failed attach changes nothing.  0 or -errno.
 */
int xlb_stats_growth_prepare(struct xlb_stats_growth *g, const char *dir,
			     struct bpf_map *stats);
/*
 * Once the new program runs: the copy replaces the pin (one rename).  The
 * packets the old program counted since the copy are the only ones lost.
 */
int xlb_stats_growth_commit(struct xlb_stats_growth *g);
void xlb_stats_growth_release(struct xlb_stats_growth *g);

#endif
