/*
 * The fleet decides together (issue 24; the keys: fleetstore.h, decide/).
 *
 * decide.c and verdicts.c (every daemon with --store): a second store handle
 * watches decide/ (the leader, the fleet's health record, the rollout);
 * every daemon stands for election when decide/leader is absent; the leader
 * also watches nodes/ (their views and counters) and writes the fleet's
 * health verdicts; every node lays decide/health over its tables, falls
 * back to its own verdicts when the store has been lost past the grace, and
 * withdraws its VIPs when it alone sees a backend down.
 *
 * fleetroll.c (the leader only): moves decide/rollout on, step by step.
 *
 * This header is the contract between them.
 */
#ifndef XLB_DAEMON_DECIDE_H
#define XLB_DAEMON_DECIDE_H

#include <stdbool.h>
#include <linux/types.h>
#include <jansson.h>
#include "store.h"

struct daemon;

/* Every daemon: started with the follow job, polled on every loop turn. */
int decide_start(struct daemon *d);
void decide_poll(struct daemon *d);
void decide_second(struct daemon *d);	/* once a second: metrics, page, logs */
void decide_stop(struct daemon *d);	/* resigns (deletes decide/leader if it holds it) */

/* Is this daemon the fleet's leader now, and its term (decide/leader's create revision). */
bool decide_leading(const struct daemon *d, __s64 *term);

/*
 * The leader's view of the live nodes: a JSON object NODE -> status record
 * (nodes/NODE as published, kept current by the leader's watch); NULL when
 * not leading.  Borrowed.
 */
json_t *decide_nodes(const struct daemon *d);

/*
 * Write a decision as one transaction conditioned on this leader's term and
 * on cmp[] (may be empty), doing ops[] and the event record (kind, what,
 * why: decide/events/...) together; done(ctx, err, succeeded) when answered
 * (err 0 and succeeded false: a condition failed; -ESTALE: not leading).
 * Returns 0 when sent (done is called once, unless the daemon stops first:
 * requests in flight at decide_stop are dropped), -ESTALE when this daemon
 * does not lead (done not called), -errno when it cannot be sent.  The term
 * condition is decide/leader's create revision being the term and its value
 * the one this leader wrote (a hand-written record over it fences it too);
 * when it fails the daemon stops leading and reads decide/ again.
 */
typedef void (*decide_done_fn)(struct daemon *d, int err, bool succeeded, void *ctx);
int decide_write(struct daemon *d, const struct xlb_cmp *cmp, size_t nr_cmp,
		 const struct xlb_op *ops, size_t nr_ops, const char *kind, const char *what,
		 const char *why, decide_done_fn done, void *ctx);

/* An event record alone (a fallback, a rejoin, a withdrawal: a node's own decision). */
void decide_event(struct daemon *d, const char *kind, const char *what, const char *why);

/*
 * Why this node withdraws its VIPs for the fleet's health ("" when it need
 * not): it alone sees a backend down that the fleet holds up.
 */
void decide_announce_why(struct daemon *d, char *why, size_t len);

/*
 * verdicts.c: decide.c hands it decide/health as read or watched (value
 * borrowed, NULL: absent or deleted; mod_rev its revision, 0 when absent);
 * verdicts_tick every loop turn (after decide's own work); while leading,
 * verdicts_nodes_changed when a node's status record changed in
 * decide_nodes() (or it was read again, or a node is gone).
 */
void verdicts_record(struct daemon *d, json_t *value, __s64 mod_rev);
void verdicts_tick(struct daemon *d);
void verdicts_nodes_changed(struct daemon *d);

/* fleetroll.c: decide.c hands it decide/rollout as watched (value NULL: deleted). */
void fleetroll_record(struct daemon *d, json_t *value, __s64 mod_rev);
/* fleetroll.c: every loop turn while leading (after decide_poll). */
void fleetroll_tick(struct daemon *d);
/* fleetroll.c: the "counters" object of this node's status record (new reference). */
json_t *fleetroll_counters(struct daemon *d);

#endif
