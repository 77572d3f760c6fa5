/*
 * A commit's new slot contents as a pure function: from the new
 * configuration, its numbers and what the live slot holds (read before,
 * struct xlb_live), every write the idle slot needs — backends, tables (new,
 * or the live one where nothing changed), moved slots with their previous
 * backends, previous placements of services placed anew, service records,
 * VIPs, counters to reset, slot settings.  No map, no clock, no I/O: commit.c
 * reads the live slot, calls xlb_slot_plan(), then writes the plan in one
 * pass through dataplane.h.
 */
#ifndef XLB_SLOTPLAN_H
#define XLB_SLOTPLAN_H

#include <stdbool.h>
#include "assign.h"
#include "config.h"
#include "plan.h"

/* What the live slot holds of a service of the new configuration (by position). */
struct xlb_live_service {
	bool found;			/* a live service record with the same key */
	struct xlb_service svc;		/* that record */
	__u32 *table, table_m;		/* the live table of its live index, entries as
					   published (NULL: none) */
	struct xlb_replaced rep;	/* the previous placement it holds (table_size 0: none) */
	__u32 *prev, prev_m;		/* that placement's table */
};

/* The live slot, as far as the new contents depend on it. */
struct xlb_live {
	struct xlb_live_service *svcs;	/* one per service of the new configuration */
	struct xlb_backend *backends;	/* [XLB_MAX_BACKENDS]: by id (at least those the
					   live tables above name) */
	struct xlb_slot_conf conf;
	bool replaced_maps;		/* state that has xlb_replaced and xlb_prev_tables */
};

struct xlb_slot_input {
	const struct xlb_config *cfg;	/* the new configuration */
	const struct xlb_assign *assign;	/* its numbers */
	const struct xlb_config *running;	/* the live generation's configuration */
	const struct xlb_assign *live_assign;	/* and its numbers */
	const struct xlb_plan *plan;	/* the planner's tables (NULL: computed here) */
	const struct xlb_live *live;
	__u32 now;			/* xlb_moved_now() */
	__u64 gen;			/* the new generation */
};

struct xlb_write_backend {
	__u32 id;
	struct xlb_backend be;
	bool reset;			/* a new backend: its counters start at zero */
};

struct xlb_write_service {
	struct xlb_service_key key;	/* slot: written by the writer */
	struct xlb_service svc;
	bool has_table;			/* a table and a service record (else only the VIP) */
	bool reuse;			/* publish the live table of live_index unchanged */
	__u32 live_index;
	__u32 *table;			/* else this one, svc.table_size entries */
	bool replaced;			/* hold a previous placement: rep and rep_table */
	struct xlb_replaced rep;
	__u32 *rep_table;		/* rep.table_size entries */
	bool reset;			/* a new service index: its counters start at zero */
};

struct xlb_slot_write {
	struct xlb_write_backend *backends;
	__u32 nr_backends;
	struct xlb_write_service *svcs;
	__u32 nr;
	struct xlb_slot_conf conf;
};

/* 0, or -errno with xlb_errf's message; out is to be freed either way. */
int xlb_slot_plan(const struct xlb_slot_input *in, struct xlb_slot_write *out);
void xlb_slot_write_free(struct xlb_slot_write *w);

#endif
