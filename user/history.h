/*
 * History: every applied configuration as STATE/<ifname>/history/<gen>.json
 * with time, user, reason, fingerprint, forced, the configuration and the
 * backend id assignment.  A record is written "pending" before the switch
 * and finalised after it; the live generation in the maps is the truth, so
 * a controller killed in between leaves a pending record that the next
 * command finalises (the switch happened) or deletes (it did not).
 *
 * Records are read back through struct xlb_record only, and checked like
 * user input: a damaged record is an error that names the file and field.
 */
#ifndef XLB_HISTORY_H
#define XLB_HISTORY_H

#include <stdbool.h>
#include <jansson.h>
#include <linux/types.h>
#include "assign.h"
#include "config.h"

#define XLB_STATE_DEFAULT	"/var/lib/xlb"

struct xlb_record {
	__u64 generation;
	char time[32];			/* UTC, ISO 8601 */
	__s64 unix_time;
	char user[64];
	char reason[512];
	char source[32];		/* apply, rollback, backend, health, reload */
	char fingerprint[17];
	bool forced;			/* guards refused and --force overrode them */
	bool pending;			/* written, not (yet) switched in */
	char (*overridden)[256];	/* the guards' refusals that were overridden */
	__u32 nr_overridden;
	bool full;			/* config and assign below were read */
	struct xlb_config config;
	struct xlb_assign assign;
};

enum xlb_record_part { XLB_RECORD_META, XLB_RECORD_FULL };

int xlb_history_dir(const char *state_root, const char *ifname, char *out, size_t len);
/* Write a record atomically (tmp file, fsync, rename); r must be full. */
int xlb_history_write(const char *dir, const struct xlb_record *r);
/* The record of gen: 0, -ENOENT (none) or -EINVAL (damaged), message set. */
int xlb_history_read(const char *dir, __u64 gen, enum xlb_record_part part,
		     struct xlb_record *r);
/* Generations with records, ascending; *gens malloc'd. */
int xlb_history_list(const char *dir, __u64 **gens, __u32 *n);
/* Every readable record's metadata, ascending; *recs malloc'd (free each). */
int xlb_history_records(const char *dir, struct xlb_record **recs, __u32 *n);
/* The newest applied (not pending) generation below gen, 0 if none. */
__u64 xlb_history_before(const char *dir, __u64 gen);
/* Finalise or delete pending records against the live generation. */
int xlb_history_reconcile(const char *dir, __u64 live_gen);

/* Metadata as JSON (the keys of `xlb -j config history`); steals nothing. */
json_t *xlb_record_meta_json(const struct xlb_record *r);
void xlb_record_free(struct xlb_record *r);

#endif
