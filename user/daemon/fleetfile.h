/*
 * fleet.json: what a node that follows a fleet in the store records beside
 * its history, STATE/<ifname>/fleet.json, written through the one state-file
 * writer (fsutil.h), always under the interface's lock (the CLI holds it while
 * it changes; the daemon takes it without waiting, or holds it while it
 * applies):
 *
 *   {"fleet", "node", "store": [URL...], "applied": {"generation",
 *    "fingerprint"} or null, "refused": {"generation", "why"} or null,
 *    "local_change": {"who", "when", "reason"} or null, "updated"}
 *
 * Its presence is what makes local changes (config apply, backend ...,
 * config rollback) refused unless forced with a reason.
 */
#ifndef XLB_FLEETFILE_H
#define XLB_FLEETFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* STATE/<ifname>/fleet.json from the interface's history directory (…/history). */
void xlb_fleetfile_path(const char *hist, char *out, size_t len);
/*
 * Read it: 0 with *out NULL when there is none, 0 with a new reference, or
 * -EINVAL when it is damaged (message names the file) — a damaged file still
 * means the node follows a fleet.
 */
int xlb_fleetfile_read(const char *path, json_t **out);
int xlb_fleetfile_write(const char *path, json_t *j);
/* Record a forced local change {who, when, reason} (the caller holds the lock). */
int xlb_fleetfile_local_change(const char *path, const char *reason);
/* The current UTC time as ISO 8601 (…Z) into out. */
void xlb_fleet_now_iso(char *out, size_t len);

#endif
