/*
 * The fleet's keyspace in the store (the contract; doc/xlb.8 FLEET STORE and
 * DESIGN.md say the same).  Under one prefix per fleet, /xlb/fleets/FLEET/:
 *
 *   config/FP        a configuration body (xlb_config_to_json: the hash key
 *                    itself left out, its file's path and id kept; each node
 *                    reads the key from that file), stored once by its
 *                    fingerprint FP, written only when absent, never rewritten
 *   desired          the desired record: {"generation", "fingerprint",
 *                    "hash_key_id", "who", "when", "reason", "source"
 *                    (apply|rollback|forced), "forced", "replaces"
 *                    (the generation it replaced, 0 for the first),
 *                    "write_id" (32 random hex digits the writing command
 *                    drew: how it knows its own record when the store
 *                    failed during its write; absent in records written by
 *                    hand)}
 *   history/GEN      every desired record, GEN zero-padded to 20 digits,
 *                    written in the same transaction as desired
 *   nodes/NODE       a node's status, under its lease (gone when the node is):
 *                    {"node", "generation" (applied fleet generation, 0: none),
 *                    "fingerprint" (of its base configuration), "tables"
 *                    {SERVICE: table fingerprint}, "hash_key_id", "attached",
 *                    "announcing", "health" {"up", "down"}, "refused"
 *                    {"generation", "why"} or null, "error" or null,
 *                    "local_change" {"who", "when", "reason"} or null,
 *                    "store_lost_since" or null, "updated", "lease_ttl"}
 *   members/NODE     every node the fleet has seen, no lease (it outlives the
 *                    node's status): {"node", "first_seen", "last_seen",
 *                    "generation" (applied when written)}, times RFC 3339
 *                    UTC; the node's daemon writes it when it first
 *                    publishes after its start, whenever its applied
 *                    generation changes and every 10 minutes besides (so
 *                    last_seen is within 10 minutes of its last status);
 *                    fleet status names a member without a status record
 *                    lost; xlb fleet forget NODE deletes it (only while NODE
 *                    has no status record)
 *
 *
 * The fleet decides together (issue 24), under /xlb/fleets/FLEET/decide/
 * (every daemon watches this prefix):
 *
 *   decide/leader    the fleet's leader, under the leader's own status lease
 *                    (gone when it is): {"node", "since" (RFC 3339),
 *                    "elections" (how many this daemon won)}.  Won by a
 *                    transaction that holds only while the key does not
 *                    exist (create_revision 0).  The key's create revision is
 *                    the leader's TERM: every write a leader makes is a
 *                    transaction conditioned on decide/leader's create
 *                    revision being its term, so a deposed leader writes
 *                    nothing.
 *   decide/health    the fleet's health verdicts, written by the leader:
 *                    {"term", "leader", "seq" (counts up), "when",
 *                    "generation" (the desired generation it was judged
 *                    against), "down" {SERVICE: [ADDRESS, ...]} (every
 *                    backend the fleet holds down: its configuration says
 *                    active, the fleet's view says failed, min_active
 *                    permitting), "floor" [SERVICE, ...] (those where the
 *                    floor kept failed backends in), "views" {SERVICE:
 *                    {ADDRESS: {"up": N, "down": N}}} (how many nodes saw
 *                    each)}.  Every node lays it over the desired
 *                    configuration (instead of its own verdicts) while the
 *                    store answers, and for a grace after it stops.
 *   decide/rollout   the fleet's stepped change, if any: {"id", "state"
 *                    (running|paused|done|rolled_back|aborted|failed),
 *                    "request" (""|pause|resume|abort: the CLI's, for the
 *                    leader), "start_gen", "from_fp", "target_fp", "steps",
 *                    "step" (the last written, 0 before the first),
 *                    "step_ms", "gens" [the generations written, in
 *                    order], "step_since" (when every live node had step
 *                    "step" applied; null while waiting), "who", "reason",
 *                    "forced", "started", "why" (the signal that rolled it
 *                    back, or the error)}.  The CLI creates it (conditioned
 *                    on none being active) and writes requests; the leader
 *                    writes each step's desired, history/GEN and the
 *                    rollout record in one transaction conditioned on its
 *                    term, the rollout's and desired's mod revisions: no
 *                    step is written twice or skipped.
 *   decide/events/ID every decision with who made it and why, ID the unix
 *                    time in microseconds (16 digits) then "-NODE":
 *                    {"kind" (election|verdict|fallback|rejoin|step|rollback|
 *                    done|paused|resumed|aborted|failed|withdrawn), "node",
 *                    "term", "when", "what", "why"}; written in the same
 *                    transaction as what it records when there is one.
 *                    An election's record is written in the transaction
 *                    that wins it, before the term is known: its "term" is
 *                    0 and its own mod revision is the term; a leader that
 *                    stops resigns (decide/leader deleted, conditioned on
 *                    its term) with an "election" record whose "what" says
 *                    it resigns.
 *
 * A node's status record (nodes/NODE) also carries, for the leader:
 *   "views" {SERVICE: {ADDRESS: {"up", "ok_run", "fail_run", "checks"}}}
 *           its own checks' verdicts (after rise and fall), checked services
 *           only;
 *   "fleet_health" {"seq" (the decide/health record it lays over its
 *           tables, 0 none), "mode" ("fleet"|"own": its own verdicts, the
 *           store lost past the grace), "disagree" [{"service", "backend",
 *           "checks"}] (backends this node sees down that the fleet holds
 *           up, for how many checks in a row)};
 *   "counters" {"drops", "backends" {SERVICE: {ADDRESS: {"new_flows",
 *           "health_failures", "syns", "syn_retries"}}}} (running totals:
 *           the leader sums the differences over a rollout step's window).
 *
 * An apply writes the body (a transaction: put when its version is 0), then
 * one transaction conditioned on desired's mod revision (or its absence):
 * desired and history/GEN together, or nothing.
 */
#ifndef XLB_FLEETSTORE_H
#define XLB_FLEETSTORE_H

#include <stdbool.h>
#include <linux/types.h>
#include <jansson.h>
#include "config.h"
#include "store.h"

#define XLB_FLEET_PREFIX	"/xlb/fleets/"

struct xlb_fleet_desired {
	__u64 generation;		/* 0: the fleet has none yet */
	char fingerprint[17];
	char hash_key_id[17];		/* "" when the configuration has no key */
	char who[64], when[32], reason[256], source[16];
	bool forced;
	__u64 replaces;
	char write_id[33];		/* the writing command's random id, 32 hex ("" none) */
	__s64 mod_rev;			/* of the desired key when read (0: absent) */
	/* xlb_fleet_write_desired's out only: the store error after which the
	 * write was confirmed by reading desired back ("" when it answered) */
	char confirmed_after[300];
};

/* Keys: buf gets /xlb/fleets/FLEET/what[/name]. */
void xlb_fleet_key(char *buf, size_t len, const char *fleet, const char *what, const char *name);

/* desired (d->generation 0 and mod_rev 0 when the fleet has none). */
int xlb_fleet_read_desired(struct xlb_store *s, const char *fleet, struct xlb_fleet_desired *d);
int xlb_fleet_desired_from_json(json_t *j, struct xlb_fleet_desired *d);
json_t *xlb_fleet_desired_to_json(const struct xlb_fleet_desired *d);
/*
 * config/FP into cfg, validated (a body that does not parse or validate, or
 * whose fingerprint is not FP, is refused: -EINVAL with diags).  The hash key
 * comes from the file the configuration names on this host; when its id is
 * not the record's, -EKEYREJECTED saying so.
 */
int xlb_fleet_read_config(struct xlb_store *s, const char *fleet,
			  const struct xlb_fleet_desired *d, struct xlb_config *cfg,
			  struct xlb_diags *diags);
/* Every history record, oldest first (malloc'd array). */
int xlb_fleet_read_history(struct xlb_store *s, const char *fleet,
			   struct xlb_fleet_desired **recs, size_t *nr);

/*
 * Write cfg as the fleet's desired configuration, replacing *prev (as read:
 * its mod_rev is the condition); the new record in *out.  When the store
 * fails during the final transaction (it may have been applied) or its
 * condition failed, desired is read back (across members, until a
 * deadline): this command's own record (its write_id) is success, with
 * out->confirmed_after saying the error; another's is -ESTALE (another
 * apply won since prev was read: nothing of this one written but perhaps
 * the body, which is content-addressed and harmless); prev still there is
 * written again (the condition makes a late copy of the first harmless);
 * desired that cannot be read is -EINPROGRESS: the outcome is unknown.
 */
int xlb_fleet_write_desired(struct xlb_store *s, const char *fleet,
			    const struct xlb_fleet_desired *prev, const struct xlb_config *cfg,
			    const char *source, const char *reason, bool forced,
			    struct xlb_fleet_desired *out);

/*
 * Shared by the commands and the leader's rollout driver (fleetrollout.h):
 * xlb_fleet_history_key: history/GEN's key; xlb_fleet_random_id: 32 random
 * hex digits (a write_id); xlb_fleet_config_body: the body config/FP holds
 * (malloc'd; fp gets its fingerprint), NULL out of memory;
 * xlb_fleet_put_config: config/FP written when absent (content-addressed:
 * safe to send again), -EINVAL when another body is there;
 * xlb_fleet_desired_next: the record that replaces prev (generation + 1)
 * with configuration fp and hash key id key_id, a fresh write_id, "when" now.
 */
void xlb_fleet_history_key(char *buf, size_t len, const char *fleet, __u64 gen);
void xlb_fleet_random_id(char out[33]);
char *xlb_fleet_config_body(const struct xlb_config *cfg, char fp[17]);
int xlb_fleet_put_config(struct xlb_store *s, const char *fleet, const struct xlb_config *cfg,
			 char fp[17]);
void xlb_fleet_desired_next(const struct xlb_fleet_desired *prev, const char *fp,
			    const char *key_id, const char *source, const char *who,
			    const char *reason, bool forced, struct xlb_fleet_desired *out);

/*
 * Nodes' status records as published (JSON objects), with "lease_age_ms"
 * (since the node last kept its lease alive, as the store counts it, whole
 * seconds; null when unknown) and "status_age_ms" (since its "updated") added.
 */
int xlb_fleet_read_nodes(struct xlb_store *s, const char *fleet, json_t **nodes);

/* Member records (JSON objects; one that is not JSON: {"node", "error"}). */
int xlb_fleet_read_members(struct xlb_store *s, const char *fleet, json_t **members);
/*
 * Delete members/NODE, in one transaction conditioned on NODE having no
 * status record: -EBUSY when it has one (a live node is not forgotten),
 * -ENOENT when NODE is no member; *member the record deleted.
 */
int xlb_fleet_forget(struct xlb_store *s, const char *fleet, const char *node, json_t **member);

/*
 * decide/leader as {"node", "term" (its create revision), "since",
 * "elections", "lease"}; *leader NULL when the fleet has none.
 */
int xlb_fleet_read_leader(struct xlb_store *s, const char *fleet, json_t **leader);
/*
 * Every decide/events record in the store's order of writes (revision),
 * each with "id" (its key's last part) and "revision" added; an election's
 * record (written before its term is known) gets its own revision as term.
 */
int xlb_fleet_read_events(struct xlb_store *s, const char *fleet, json_t **events);

#endif
