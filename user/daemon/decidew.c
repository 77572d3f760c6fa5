/*
 * What the fleet's decisions write (decide.h): decide_write, the leader's
 * transaction conditioned on its term, and decide_event, a node's own record
 * of what it decided.  Both asynchronous, on decide/'s store handle.
 *
 * Event records: decide/events/ID, ID the unix time in microseconds (16
 * digits, made unique per daemon) then "-NODE"; {"kind", "node", "term",
 * "when" (RFC 3339 UTC with milliseconds), "what", "why"}.
 */
#define _GNU_SOURCE
#include <sys/time.h>
#include "state.h"
#include "decide.h"

struct decide_wr {
	struct daemon *d;
	__s64 term;			/* 0: an event alone, no condition */
	char value[256];		/* decide/leader as the leader wrote it (the condition) */
	char kind[32];
	decide_done_fn done;
	void *ctx;
};

void decide_event_key(struct daemon *d, char *buf, size_t len)
{
	struct ddecide *c = &d->dc;
	struct timeval tv;
	__u64 us;
	char name[128];

	gettimeofday(&tv, NULL);
	us = (__u64)tv.tv_sec * 1000000 + (__u64)tv.tv_usec;
	if (us <= c->last_event_us)
		us = c->last_event_us + 1;	/* two in one microsecond stay two */
	c->last_event_us = us;
	snprintf(name, sizeof(name), "%016llu-%s", (unsigned long long)us, d->o->node);
	xlb_fleet_key(buf, len, d->o->store->fleet, "decide/events", name);
}

char *decide_event_json(struct daemon *d, const char *kind, __s64 term, const char *what,
			const char *why)
{
	struct timeval tv;
	struct tm tm;
	time_t t;
	char when[40], day[32];
	json_t *j;
	char *text;

	gettimeofday(&tv, NULL);
	t = tv.tv_sec;
	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when, sizeof(when), "%s.%03ldZ", day, (long)(tv.tv_usec / 1000));
	j = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s}", "kind", kind, "node", d->o->node, "term",
		      (json_int_t)term, "when", when, "what", what ?: "", "why", why ?: "");
	text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return text;
}

/* The leader's write answered: done, or deposed when its term condition failed. */
static void write_done(void *ctx, int err, json_t *answer)
{
	struct decide_wr *w = ctx;
	struct daemon *d = w->d;
	struct ddecide *c = &d->dc;
	json_t *r = json_object_get(json_array_get(json_object_get(answer, "responses"), 0),
				    "response_range");
	json_t *kv = json_array_get(json_object_get(r, "kvs"), 0);
	bool ok = !err && json_is_true(json_object_get(answer, "succeeded"));
	char *v = kv ? xlb_store_b64(kv, "value", NULL) : NULL;

	if (err && !w->term) {
		dlog(4, "decide: cannot record the %s event: %s", w->kind, xlb_errmsg());
	} else if (err) {
		dlog(4, "decide: the %s write of term %lld failed: %s", w->kind, (long long)w->term,
		     xlb_errmsg());
	} else if (!ok && w->term && (!kv || xlb_store_i64(kv, "create_revision") != w->term ||
		   !v || strcmp(v, w->value))) {
		if (c->leading && c->term == w->term)
			decide_lose(d, true, "a %s write's term condition failed: decide/leader is %s",
				    w->kind, kv ? "another's now" : "gone");
		err = -ESTALE;
	}
	if (w->done)
		w->done(d, err, ok, w->ctx);
	free(v);
	free(w);
}

/* ops[] and the event record, conditioned on cmp[] (and the term, when term). */
static int post(struct daemon *d, bool conditioned, const struct xlb_cmp *cmp, size_t nr_cmp,
		const struct xlb_op *ops, size_t nr_ops, const char *kind, const char *what,
		const char *why, decide_done_fn done, void *ctx)
{
	struct ddecide *c = &d->dc;
	__s64 term = conditioned ? c->term : c->leader_term;
	struct xlb_cmp *all = calloc(nr_cmp + 2, sizeof(*all));
	struct xlb_op *put = calloc(nr_ops + 1, sizeof(*put)), fail = { .type = XLB_OP_GET };
	struct decide_wr *w = calloc(1, sizeof(*w));
	char lkey[256], ekey[300], *event = decide_event_json(d, kind, term, what, why);
	size_t n = 0;
	json_t *body = NULL;
	int err = -ENOMEM;

	xlb_fleet_key(lkey, sizeof(lkey), d->o->store->fleet, "decide", "leader");
	decide_event_key(d, ekey, sizeof(ekey));
	if (!all || !put || !w || !event)
		goto out;
	if (conditioned) {
		all[n++] = (struct xlb_cmp){ .key = lkey, .target = XLB_CMP_CREATE,
					     .result = XLB_CMP_EQUAL, .number = term };
		all[n++] = (struct xlb_cmp){ .key = lkey, .target = XLB_CMP_VALUE,
					     .result = XLB_CMP_EQUAL, .value = c->term_value };
	}
	memcpy(all + n, cmp, nr_cmp * sizeof(*cmp));
	memcpy(put, ops, nr_ops * sizeof(*ops));
	put[nr_ops] = (struct xlb_op){ .type = XLB_OP_PUT, .key = ekey, .value = event };
	fail.key = lkey;
	body = xlb_store_txn_json(all, n + nr_cmp, put, nr_ops + 1, &fail, conditioned);
	err = body ? 0 : xlb_errf(-EINVAL, "decide: a %s write has a compare or an operation "
				  "without a key, value or kind", kind);
	if (err)
		goto out;
	*w = (struct decide_wr){ .d = d, .term = conditioned ? term : 0, .done = done, .ctx = ctx };
	snprintf(w->kind, sizeof(w->kind), "%s", kind);
	snprintf(w->value, sizeof(w->value), "%s", c->term_value);
	err = xlb_store_async_post(c->st, "/v3/kv/txn", body, write_done, w);
	if (!err)
		w = NULL;
out:
	json_decref(body);
	free(event);
	free(all);
	free(put);
	free(w);
	return err;
}

int decide_write(struct daemon *d, const struct xlb_cmp *cmp, size_t nr_cmp,
		 const struct xlb_op *ops, size_t nr_ops, const char *kind, const char *what,
		 const char *why, decide_done_fn done, void *ctx)
{
	struct ddecide *c = &d->dc;

	if (!c->st || !c->leading)
		return -ESTALE;
	return post(d, true, cmp, nr_cmp, ops, nr_ops, kind, what, why, done, ctx);
}

void decide_event(struct daemon *d, const char *kind, const char *what, const char *why)
{
	struct ddecide *c = &d->dc;
	int err;

	if (!c->st)
		return;
	err = post(d, false, NULL, 0, NULL, 0, kind, what, why, NULL, NULL);
	if (err)
		dlog(4, "decide: cannot record the %s event (%s: %s): %s", kind, what, why,
		     xlb_errmsg());
}
