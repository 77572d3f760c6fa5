/*
 * History: every applied configuration as STATE/<ifname>/history/<gen>.json
 * with time, user, reason, fingerprint, forced, and a reference to its body
 * (the configuration and the backend id assignment) kept once per distinct
 * content as history/bodies/<id>.json: a health flip back and forth adds two
 * small records, not two copies of the configuration.  Records older than
 * the newest `history.keep` (default XLB_HISTORY_KEEP) are pruned, never the
 * running or the previous generation, nor the one a rollout in progress
 * returns to; a body goes with its last record.  A record is written
 * "pending" before the switch
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
	char body[17];			/* id of the body in bodies/, "" when inline */
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
/*
 * Retention, looked at when live_gen is a multiple of keep/16 + 1 (so at
 * most keep + keep/16 + 1 records exist): delete the oldest down to keep,
 * never live_gen, the newest applied one below it, or the start generation
 * of a running or paused rollout (its rollback target), then the bodies no
 * record names.  Returns the number of records deleted or -errno.
 */
int xlb_history_prune(const char *dir, __u32 keep, __u64 live_gen);
/* The same at once, whatever the generation: what `xlb config prune` does.  It
 * only deletes (records, then unnamed bodies): it works on a full disk. */
int xlb_history_prune_now(const char *dir, __u32 keep, __u64 live_gen);


struct xlb_history_usage {
	__u32 records, bodies;
	__u64 bytes;			/* of records and bodies */
	__u64 free_bytes;		/* available to us on the file system */
	__u64 oldest;			/* generation, 0 if none */
};
int xlb_history_usage(const char *dir, struct xlb_history_usage *u);

/* Metadata as JSON (the keys of `xlb -j config history`); steals nothing. */
json_t *xlb_record_meta_json(const struct xlb_record *r);
void xlb_record_free(struct xlb_record *r);

#endif
