/*
 * The fleet decides together (issue 24): every daemon with --store reads
 * /xlb/fleets/F/decide/ and watches it, on a store handle of its own (one
 * watch per handle: the follow job's watches desired).
 *
 *   read      one transaction of three gets (leader, health, rollout: one
 *             revision for the three) and a range of the newest events
 *             (decidelog.c, for the page), then a watch of the prefix from the
 *             revision after it; when the watch ends for any reason
 *             (compacted, canceled, the stream closed, the store lost) the
 *             three are read again and watched from there, so nothing is
 *             missed; failures wait 250 ms doubling to 5 s; nothing blocks
 *   dispatch  decide/leader -> the leadership below; decide/health ->
 *             verdicts_record(); decide/rollout -> fleetroll_record();
 *             decide/events/ID -> decide_log_event() (the page's decisions)
 *   election  a daemon stands when it has read decide/ and found no leader,
 *             holds the follow job's status lease and the store answers: one
 *             transaction, create_revision(decide/leader) == 0 -> the leader
 *             record under that lease and an "election" event record; the
 *             term is the key's create revision (the transaction's revision)
 *   deposed   decide/leader deleted, or naming another node, term or value;
 *             the lease changed or not kept alive for its TTL; a write whose
 *             term condition failed (decidew.c): the daemon stops leading
 *   resign    decide_stop deletes decide/leader (conditioned on the term)
 *             before the follow job revokes the lease: another daemon stands
 *             on the next turn of its loop instead of after the lease's TTL
 */
#define _GNU_SOURCE
#include "state.h"
#include "decide.h"

#define DECIDE_RETRY_MS		250
#define DECIDE_RETRY_MAX_MS	5000
#define DECIDE_STOP_MS		500	/* the resignation's bound at stop */

static void decide_key(struct daemon *d, char *buf, size_t len, const char *name)
{
	xlb_fleet_key(buf, len, d->o->store->fleet, "decide", name);
}

/* The next wait after a failure: 250 ms doubling up to 5 s. */
static __u64 backoff(__u64 *cur)
{
	*cur = *cur ? *cur * 2 : DECIDE_RETRY_MS;
	if (*cur > DECIDE_RETRY_MAX_MS)
		*cur = DECIDE_RETRY_MAX_MS;
	return now_ms() + *cur;
}

json_t *decide_prefix_body(const char *prefix)
{
	size_t len = strlen(prefix);
	char *end = strdup(prefix), *k, *e;
	json_t *j = NULL;

	if (!end || !len)
		goto out;
	end[len - 1]++;		/* every key under prefix sorts before it */
	k = follow_b64(prefix, len);
	e = follow_b64(end, len);
	if (k && e)
		j = json_pack("{s:s,s:s}", "key", k, "range_end", e);
	free(k);
	free(e);
out:
	free(end);
	return j;
}

/* A kv's value as JSON (NULL when absent or not JSON). */
static json_t *kv_json(json_t *kv, char *text, size_t len)
{
	size_t n = 0;
	char *v = kv ? xlb_store_b64(kv, "value", &n) : NULL;
	json_t *j = v ? json_loadb(v, n, 0, NULL) : NULL;

	if (text)
		snprintf(text, len, "%s", v && n < len ? v : "");
	free(v);
	return j;
}

/* ---- the leadership ---------------------------------------------------------- */

static void sync_metrics(struct daemon *d)
{
	struct ddecide *c = &d->dc;

	pthread_mutex_lock(&d->lock);
	c->m.leading = c->leading;
	c->m.term = c->leader_term;
	c->m.elections = c->elections;
	c->m.changes = c->changes;
	snprintf(c->m.leader, sizeof(c->m.leader), "%s", c->leader);
	snprintf(c->m.since, sizeof(c->m.since), "%s", c->since);
	decide_log_sync(d);
	pthread_mutex_unlock(&d->lock);
}

/* This daemon no longer leads: said with why; the leader's work dropped. */
void decide_lose(struct daemon *d, bool reread, const char *fmt, ...)
{
	struct ddecide *c = &d->dc;
	char why[300];
	va_list ap;

	if (!c->leading)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	dlog(4, "decide: node %s lost the leadership of fleet %s (term %lld): %s",
	     d->o->node, d->o->store->fleet, (long long)c->term, why);
	c->leading = false;
	c->term = c->term_lease = 0;
	c->term_value[0] = '\0';
	decide_nodes_drop(d);
	if (reread)
		c->need_range = true;
	sync_metrics(d);
}

/* This daemon leads from now on, with term (decide/leader's create revision). */
static void become(struct daemon *d, __s64 term, __s64 lease, const char *value,
		   __u64 elections, const char *how)
{
	struct ddecide *c = &d->dc;
	json_t *j;

	if (c->leading && c->term == term)
		return;
	c->leading = true;
	c->term = term;
	c->term_lease = lease;
	snprintf(c->term_value, sizeof(c->term_value), "%s", value);
	c->elections = elections;
	c->elect_backoff_ms = 0;
	if (c->leader_term != term) {
		c->changes += c->have_read;
		c->leader_term = term;
	}
	c->leader_lease = lease;
	c->leader_elections = elections;
	snprintf(c->leader, sizeof(c->leader), "%s", d->o->node);
	snprintf(c->leader_value, sizeof(c->leader_value), "%s", value);
	j = json_loads(value, 0, NULL);
	snprintf(c->since, sizeof(c->since), "%s",
		 json_string_value(json_object_get(j, "since")) ?: "");
	json_decref(j);
	c->nodes_need_range = true;
	dlog(5, "decide: node %s won the election: it leads fleet %s, term %lld (%s; %llu "
	     "elections won by this daemon)", d->o->node, d->o->store->fleet, (long long)term, how,
	     (unsigned long long)elections);
	sync_metrics(d);
}

/* decide/leader as read or watched (kv NULL: absent or deleted). */
static void take_leader(struct daemon *d, json_t *kv)
{
	struct ddecide *c = &d->dc;
	char value[256], node[64] = "", since[32] = "";
	json_t *j = kv_json(kv, value, sizeof(value));
	__s64 term = kv ? xlb_store_i64(kv, "create_revision") : 0;
	__s64 lease = kv ? xlb_store_i64(kv, "lease") : 0;

	snprintf(node, sizeof(node), "%s", json_string_value(json_object_get(j, "node")) ?: "");
	snprintf(since, sizeof(since), "%s", json_string_value(json_object_get(j, "since")) ?: "");
	if (!term && c->leader_term) {
		snprintf(c->gone, sizeof(c->gone), "the leader %s (term %lld) is gone: it resigned, "
			 "its lease ended or the key was deleted", c->leader, (long long)c->leader_term);
		dlog(5, "decide: fleet %s has no leader: %s", d->o->store->fleet, c->gone);
		decide_lose(d, false, "decide/leader was deleted");
	} else if (term && c->leading && (term != c->term || strcmp(node, d->o->node) ||
					  strcmp(value, c->term_value))) {
		if (term == c->term)
			decide_lose(d, false, "decide/leader was written over: it names %s now "
				    "(the same term)", node[0] ? node : "no node");
		else
			decide_lose(d, false, "decide/leader names %s, term %lld",
				    node[0] ? node : "no node", (long long)term);
	}
	if (term && term != c->leader_term) {
		c->changes += c->have_read;
		if (!(c->elect_busy && !strcmp(node, d->o->node)))	/* become() says it */
			dlog(6, "decide: the leader of fleet %s is %s (term %lld, since %s)",
			     d->o->store->fleet, node[0] ? node : "?", (long long)term, since);
	}
	c->leader_term = term;
	c->leader_lease = lease;
	c->leader_elections = json_integer_value(json_object_get(j, "elections"));
	snprintf(c->leader, sizeof(c->leader), "%s", node);
	snprintf(c->since, sizeof(c->since), "%s", since);
	snprintf(c->leader_value, sizeof(c->leader_value), "%s", value);
	json_decref(j);
	sync_metrics(d);
}

/* ---- reading and watching decide/ ------------------------------------------- */

/* One key of decide/ as read or watched (kv NULL or deleted: absent). */
static void dispatch(struct daemon *d, const char *key, json_t *kv, bool deleted)
{
	char k[256];
	json_t *j;

	decide_key(d, k, sizeof(k), "leader");
	if (!strcmp(key, k))
		return take_leader(d, deleted ? NULL : kv);
	decide_key(d, k, sizeof(k), "events/");
	if (!strncmp(key, k, strlen(k))) {
		if (!deleted)
			decide_log_event(d, key, kv);	/* kept for the page */
		return;
	}
	decide_key(d, k, sizeof(k), "health");
	if (strcmp(key, k)) {
		decide_key(d, k, sizeof(k), "rollout");
		if (strcmp(key, k))
			return;		/* nothing else is watched for */
	}
	j = deleted ? NULL : kv_json(kv, NULL, 0);
	if (!deleted && kv && !j) {
		dlog(4, "decide: %s at revision %lld is not JSON: ignored", key,
		     (long long)xlb_store_i64(kv, "mod_revision"));
		return;
	}
	if (!strcmp(strrchr(key, '/'), "/health"))
		verdicts_record(d, j, j ? xlb_store_i64(kv, "mod_revision") : 0);
	else
		fleetroll_record(d, j, j ? xlb_store_i64(kv, "mod_revision") : 0);
	json_decref(j);
}

static void store_failed(struct daemon *d, const char *what)
{
	struct ddecide *c = &d->dc;

	c->retry_ms = backoff(&c->backoff_ms);
	if (strcmp(c->lost_said, xlb_errmsg())) {
		snprintf(c->lost_said, sizeof(c->lost_said), "%s", xlb_errmsg());
		dlog(4, "decide: cannot %s (tried again in %llu ms): %s", what,
		     (unsigned long long)c->backoff_ms, c->lost_said);
	}
}

static void range_done(void *ctx, int err, json_t *answer)
{
	static const char *const names[] = { "leader", "health", "rollout" };
	struct daemon *d = ctx;
	struct ddecide *c = &d->dc;
	json_t *resps = json_object_get(answer, "responses");
	char key[256];

	c->range_busy = false;
	if (err)
		return store_failed(d, "read decide/");
	for (size_t i = 0; i < 3; i++) {
		json_t *r = json_object_get(json_array_get(resps, i), "response_range");
		json_t *kv = json_array_get(json_object_get(r, "kvs"), 0);

		decide_key(d, key, sizeof(key), names[i]);
		dispatch(d, key, kv, kv == NULL);
	}
	decide_log_range(d, json_object_get(json_array_get(resps, 3), "response_range"));
	if (!c->have_read)
		dlog(6, "decide: fleet %s's leader: %s", d->o->store->fleet,
		     c->leader_term ? c->leader : "none yet");
	c->have_read = true;
	c->need_range = false;
	c->backoff_ms = 0;
	c->lost_said[0] = '\0';
	c->watch_rev = xlb_store_i64(json_object_get(answer, "header"), "revision") + 1;
	c->retry_ms = 0;
}

static void range_tick(struct daemon *d)
{
	struct ddecide *c = &d->dc;
	struct xlb_op ops[3] = { { .type = XLB_OP_GET }, { .type = XLB_OP_GET },
				 { .type = XLB_OP_GET } };
	char keys[3][256];
	json_t *body;

	if (!c->need_range || c->range_busy || now_ms() < c->retry_ms || !d->fl.reachable)
		return;
	decide_key(d, keys[0], sizeof(keys[0]), "leader");
	decide_key(d, keys[1], sizeof(keys[1]), "health");
	decide_key(d, keys[2], sizeof(keys[2]), "rollout");
	for (int i = 0; i < 3; i++)
		ops[i].key = keys[i];
	body = xlb_store_txn_json(NULL, 0, ops, 3, NULL, 0);
	/* and the newest events, for the page (without them: those watched from now on) */
	json_array_append_new(json_object_get(body, "success"), decide_log_range_op(d));
	c->range_busy = body && !xlb_store_async_post(c->st, "/v3/kv/txn", body, range_done, d);
	if (!c->range_busy)
		store_failed(d, "read decide/");
	json_decref(body);
}

/* The watch cannot go on: decide/ read again, then watched from after it. */
static void reread(struct daemon *d, const char *why)
{
	struct ddecide *c = &d->dc;

	dlog(6, "decide: the watch of decide/ from revision %lld ends (%s): reading it again",
	     (long long)c->watch_rev, why);
	if (c->watch_on)
		xlb_store_watch_stop(c->st);
	c->watch_on = false;
	c->need_range = true;
}

static void watch_event(void *ctx, json_t *res)
{
	struct daemon *d = ctx;
	struct ddecide *c = &d->dc;
	json_t *ev;
	size_t i;

	if (xlb_store_i64(res, "compact_revision") > 0)
		return reread(d, "compacted");
	if (json_is_true(json_object_get(res, "canceled")))
		return reread(d, "canceled by the store");
	json_array_foreach(json_object_get(res, "events"), i, ev) {
		json_t *kv = json_object_get(ev, "kv");
		const char *type = json_string_value(json_object_get(ev, "type"));
		__s64 rev = xlb_store_i64(kv, "mod_revision");
		char *key = xlb_store_b64(kv, "key", NULL);

		if (key)
			dispatch(d, key, kv, type && !strcmp(type, "DELETE"));
		free(key);
		if (rev >= c->watch_rev)
			c->watch_rev = rev + 1;
		if (!c->watch_on)
			return;		/* stopped by what it called */
	}
}

static void watch_end(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct ddecide *c = &d->dc;

	(void)answer;
	if (!c->watch_on)
		return;
	c->watch_on = false;
	c->need_range = true;
	/* compacted or canceled: read again at once; a stream that failed or the store
	 * closed: after a wait (250 ms doubling), not on every turn of the loop */
	if (err && err != -ERANGE && err != -ECANCELED)
		store_failed(d, "watch decide/");
}

static void watch_tick(struct daemon *d)
{
	struct ddecide *c = &d->dc;
	char key[256];

	/* a watch on a lost store may hang: read again once it answers */
	if (c->watch_on && (c->need_range || !d->fl.reachable))
		reread(d, c->need_range ? "read again" : "the store does not answer");
	if (c->watch_on || c->need_range || !c->have_read || now_ms() < c->retry_ms)
		return;
	decide_key(d, key, sizeof(key), "");
	c->watch_on = !xlb_store_watch_start(c->st, key, true, c->watch_rev, watch_event,
					     watch_end, d);
	if (!c->watch_on) {
		c->need_range = true;
		store_failed(d, "watch decide/");
	}
}

/* ---- the election ---------------------------------------------------------------- */

static void elect_done(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct ddecide *c = &d->dc;
	json_t *r = json_object_get(json_array_get(json_object_get(answer, "responses"), 0),
				    "response_range");

	c->elect_busy = false;
	if (err) {
		/* it may have been applied: the watch says so (adopt_tick) */
		c->elect_retry_ms = backoff(&c->elect_backoff_ms);
		dlog(4, "decide: node %s cannot stand for election (tried again in %llu ms): %s",
		     d->o->node, (unsigned long long)c->elect_backoff_ms, xlb_errmsg());
		return;
	}
	if (json_is_true(json_object_get(answer, "succeeded"))) {
		become(d, xlb_store_i64(json_object_get(answer, "header"), "revision"),
		       c->elect_lease, c->elect_value, c->elections + 1, c->gone[0] ? c->gone :
		       "the fleet had no leader yet");
		return;
	}
	take_leader(d, json_array_get(json_object_get(r, "kvs"), 0));
}

/* The leader record and the election's event, as this daemon would write them. */
static int elect_records(struct daemon *d, char *value, size_t len, char **event)
{
	struct ddecide *c = &d->dc;
	char since[40], what[160];
	json_t *j;
	char *text;

	xlb_fleet_now_iso(since, sizeof(since));
	j = json_pack("{s:s,s:s,s:I}", "node", d->o->node, "since", since, "elections",
		      (json_int_t)(c->elections + 1));
	text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!text || strlen(text) >= len) {
		free(text);
		return -ENOMEM;
	}
	snprintf(value, len, "%s", text);
	free(text);
	snprintf(what, sizeof(what), "%s leads fleet %s", d->o->node, d->o->store->fleet);
	/* the term is this transaction's revision: the event's own mod revision */
	*event = decide_event_json(d, "election", 0, what,
				   c->gone[0] ? c->gone : "the fleet had no leader yet");
	return *event ? 0 : -ENOMEM;
}

/* No leader, a lease, a store that answers: stand (one transaction). */
static void stand_tick(struct daemon *d)
{
	struct ddecide *c = &d->dc;
	char lkey[256], ekey[300], *event = NULL;
	json_t *body = NULL;

	if (c->leading || c->elect_busy || !c->have_read || c->need_range || c->leader_term ||
	    !d->fl.lease || !d->fl.reachable || now_ms() < c->elect_retry_ms)
		return;
	decide_key(d, lkey, sizeof(lkey), "leader");
	decide_event_key(d, ekey, sizeof(ekey));
	if (!elect_records(d, c->elect_value, sizeof(c->elect_value), &event)) {
		struct xlb_cmp cmp = { .key = lkey, .target = XLB_CMP_CREATE,
				       .result = XLB_CMP_EQUAL, .number = 0 };
		struct xlb_op ok[2] = {
			{ .type = XLB_OP_PUT, .key = lkey, .value = c->elect_value,
			  .lease = d->fl.lease },
			{ .type = XLB_OP_PUT, .key = ekey, .value = event },
		};
		struct xlb_op fail = { .type = XLB_OP_GET, .key = lkey };

		body = xlb_store_txn_json(&cmp, 1, ok, 2, &fail, 1);
	}
	c->elect_lease = d->fl.lease;
	c->elect_busy = body && !xlb_store_async_post(c->st, "/v3/kv/txn", body, elect_done, d);
	if (!c->elect_busy)
		c->elect_retry_ms = backoff(&c->elect_backoff_ms);
	json_decref(body);
	free(event);
}

/* The status lease was kept alive within its TTL (the store has not let it expire). */
static bool lease_fresh(const struct daemon *d)
{
	const struct dfollow *f = &d->fl;

	return f->lease && (!f->lease_kept_ms || !f->lease_ttl ||
			    now_ms() - f->lease_kept_ms <= (__u64)f->lease_ttl * 1000);
}

/*
 * decide/leader names this node under its own lease, and it does not lead:
 * its election's answer was lost (the store failed as it answered, or the
 * watch told first and the answer failed).  The store says it won: it leads.
 */
static void adopt_tick(struct daemon *d)
{
	struct ddecide *c = &d->dc;

	if (c->leading || c->elect_busy || !c->leader_term || !d->fl.lease ||
	    c->leader_lease != d->fl.lease || strcmp(c->leader, d->o->node) || !lease_fresh(d))
		return;
	become(d, c->leader_term, c->leader_lease, c->leader_value, c->leader_elections,
	       "decide/leader names it under its own lease: its election's answer was lost");
}

/* The lease decide/leader lives under: changed or let expire, the leadership is gone. */
static void lease_check(struct daemon *d)
{
	struct ddecide *c = &d->dc;
	struct dfollow *f = &d->fl;

	if (!c->leading)
		return;
	if (f->lease != c->term_lease)
		decide_lose(d, false, "the status lease %llx it was elected under %s",
		     (unsigned long long)c->term_lease, f->lease ? "was replaced" : "is gone");
	else if (!lease_fresh(d))
		decide_lose(d, true, "its lease was not kept alive for %lld s: the store let it expire",
		     (long long)f->lease_ttl);
}

/* ---- the job ---------------------------------------------------------------------- */

int decide_start(struct daemon *d)
{
	struct ddecide *c = &d->dc;

	if (!d->o->store)
		return 0;
	if (xlb_store_open(&c->st, d->o->store)) {
		dlog(3, "decide: %s", xlb_errmsg());
		return XLB_EXIT_SYSTEM;
	}
	c->need_range = true;
	return 0;
}

void decide_poll(struct daemon *d)
{
	struct ddecide *c = &d->dc;

	if (!c->st)
		return;
	xlb_store_async_poll(c->st);
	if (c->nst)
		xlb_store_async_poll(c->nst);
	lease_check(d);
	range_tick(d);
	watch_tick(d);
	adopt_tick(d);
	stand_tick(d);
	decide_nodes_tick(d);
	verdicts_tick(d);
	if (c->leading)
		fleetroll_tick(d);
}

bool decide_leading(const struct daemon *d, __s64 *term)
{
	if (term)
		*term = d->dc.leading ? d->dc.term : 0;
	return d->dc.leading;
}

/* Once a second: what the metrics thread and the page read, again. */
void decide_second(struct daemon *d)
{
	if (d->dc.st)
		sync_metrics(d);
}

static void resign_done(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct ddecide *c = &d->dc;

	if (err)
		dlog(4, "decide: node %s cannot resign (%s): decide/leader goes with its lease",
		     d->o->node, xlb_errmsg());
	else if (!json_is_true(json_object_get(answer, "succeeded")))
		dlog(5, "decide: node %s led no more when it stopped (term %lld)", d->o->node,
		     (long long)c->term);
	else
		dlog(5, "decide: node %s resigned the leadership of fleet %s (term %lld): the "
		     "daemon stops", d->o->node, d->o->store->fleet, (long long)c->term);
	c->leading = false;
}

/* Stopping while leading: decide/leader deleted (conditioned on the term), within DECIDE_STOP_MS. */
static void resign(struct daemon *d)
{
	struct ddecide *c = &d->dc;
	char lkey[256], ekey[300], what[160], *event;
	json_t *body = NULL;
	__u64 end = now_ms() + DECIDE_STOP_MS;

	decide_key(d, lkey, sizeof(lkey), "leader");
	decide_event_key(d, ekey, sizeof(ekey));
	snprintf(what, sizeof(what), "%s resigns the leadership of fleet %s", d->o->node,
		 d->o->store->fleet);
	event = decide_event_json(d, "election", c->term, what, "the daemon stops");
	if (event) {
		struct xlb_cmp cmp = { .key = lkey, .target = XLB_CMP_CREATE,
				       .result = XLB_CMP_EQUAL, .number = c->term };
		struct xlb_op ok[2] = { { .type = XLB_OP_DELETE, .key = lkey },
					{ .type = XLB_OP_PUT, .key = ekey, .value = event } };

		body = xlb_store_txn_json(&cmp, 1, ok, 2, NULL, 0);
	}
	if (body && !xlb_store_async_post(c->st, "/v3/kv/txn", body, resign_done, d))
		while (c->leading && now_ms() < end && xlb_store_async_poll(c->st) > 0)
			usleep(5000);
	if (c->leading)
		dlog(4, "decide: node %s could not resign in %d ms: decide/leader goes with its "
		     "lease", d->o->node, DECIDE_STOP_MS);
	json_decref(body);
	free(event);
}

/* Before the follow job revokes the lease: resign, then drop everything. */
void decide_stop(struct daemon *d)
{
	struct ddecide *c = &d->dc;

	if (!c->st)
		return;
	xlb_store_watch_stop(c->st);
	xlb_store_async_cancel_all(c->st);
	c->watch_on = c->range_busy = c->elect_busy = false;
	decide_nodes_drop(d);
	if (c->leading)
		resign(d);
	c->leading = false;
	xlb_store_close(c->st);
	c->st = NULL;
}
