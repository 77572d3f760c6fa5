/*
 * History: every applied configuration as STATE/<ifname>/history/<gen>.json
 * with time, user, reason, fingerprint, forced, the configuration and the
 * backend id assignment.  A record is written "pending" before the switch
 * and finalised after it; the live generation in the maps is the truth, so
 * a controller killed in between leaves a pending record that the next
 * command finalises (the switch happened) or deletes (it did not).
 */
#ifndef XLB_HISTORY_H
#define XLB_HISTORY_H

#include <jansson.h>
#include <linux/types.h>

#define XLB_STATE_DEFAULT	"/var/lib/xlb"

int xlb_history_dir(const char *state_root, const char *ifname, char *out, size_t len);
/* Write a record atomically (tmp file, fsync, rename). */
int xlb_history_write(const char *dir, __u64 gen, json_t *record);
/* The record of gen, or NULL (errno ENOENT). */
json_t *xlb_history_load(const char *dir, __u64 gen);
/* Generations with records, ascending; *gens malloc'd. */
int xlb_history_list(const char *dir, __u64 **gens, __u32 *n);
/* Finalise or delete pending records against the live generation. */
int xlb_history_reconcile(const char *dir, __u64 live_gen);

#endif
