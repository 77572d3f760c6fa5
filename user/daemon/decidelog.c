/*
 * What the status page and the metrics show of the fleet's decisions (issue
 * 24: one account of every decision), on every daemon with --store:
 *
 *   events    decide/events/ID as decide.c reads and watches it: the newest
 *             XLB_PAGE_EVENTS kept in d->dc.m (under d->lock), newest first,
 *             in the order of their IDs (the time in microseconds, then the
 *             node), each once: the first read (a range of decide/events/,
 *             newest first, limit XLB_PAGE_EVENTS, in the transaction that
 *             reads leader, health and rollout) and the watch may both bring
 *             one; a read again (compaction, a cancel) replaces the list
 *   rollout   decide/rollout as watched (d->fr.rec), copied for the metrics
 *             thread and the page with the rollbacks this node wrote
 */
#define _GNU_SOURCE
#include "state.h"
#include "decide.h"

/* e into the newest-first list, in its place by ID, once; the oldest falls off (under d->lock). */
static void keep(struct daemon *d, const struct xlb_page_event *e)
{
	struct xlb_page_event *ev = d->dc.m.events;
	__u32 n = d->dc.m.nr_events, i;

	for (i = 0; i < n; i++) {
		int c = strcmp(e->id, ev[i].id);

		if (!c)
			return;		/* kept already */
		if (c > 0)
			break;
	}
	if (i >= XLB_PAGE_EVENTS)
		return;			/* older than every one kept */
	if (n == XLB_PAGE_EVENTS)
		n--;
	memmove(&ev[i + 1], &ev[i], (n - i) * sizeof(*ev));
	ev[i] = *e;
	d->dc.m.nr_events = n + 1;
}

static void field(char *dst, size_t len, json_t *j, const char *name)
{
	snprintf(dst, len, "%s", json_string_value(json_object_get(j, name)) ?: "");
}

/* The record of kv (key: its full key) as the page shows it; false when it is not one. */
static bool parse(const char *key, json_t *kv, struct xlb_page_event *e)
{
	const char *id = key ? strrchr(key, '/') : NULL;
	size_t n = 0;
	char *v = kv ? xlb_store_b64(kv, "value", &n) : NULL;
	json_t *j = v ? json_loadb(v, n, 0, NULL) : NULL;
	bool ok = json_is_object(j) && id && id[1];

	free(v);
	memset(e, 0, sizeof(*e));
	if (ok) {
		snprintf(e->id, sizeof(e->id), "%s", id + 1);
		field(e->kind, sizeof(e->kind), j, "kind");
		field(e->node, sizeof(e->node), j, "node");
		field(e->when, sizeof(e->when), j, "when");
		field(e->what, sizeof(e->what), j, "what");
		field(e->why, sizeof(e->why), j, "why");
	} else {
		dlog(6, "decide: %s at revision %lld is not an event record: not shown",
		     key ?: "an event", (long long)xlb_store_i64(kv, "mod_revision"));
	}
	json_decref(j);
	return ok;
}

void decide_log_event(struct daemon *d, const char *key, json_t *kv)
{
	struct xlb_page_event e;

	if (!parse(key, kv, &e))
		return;
	pthread_mutex_lock(&d->lock);
	keep(d, &e);
	pthread_mutex_unlock(&d->lock);
}

void decide_log_range(struct daemon *d, json_t *resp)
{
	struct xlb_page_event ev[XLB_PAGE_EVENTS];
	json_t *kv;
	size_t i, n = 0;

	if (!resp)
		return;		/* not asked for: the list is what the watch brought */
	json_array_foreach(json_object_get(resp, "kvs"), i, kv) {
		char *key = xlb_store_b64(kv, "key", NULL);

		if (n < XLB_PAGE_EVENTS && parse(key, kv, &ev[n]))
			n++;
		free(key);
	}
	pthread_mutex_lock(&d->lock);
	d->dc.m.nr_events = 0;
	for (i = 0; i < n; i++)
		keep(d, &ev[i]);
	d->dc.m.events_read = true;
	pthread_mutex_unlock(&d->lock);
}

/* The range of the newest events: a request_range op for the read's transaction (NULL: none). */
json_t *decide_log_range_op(struct daemon *d)
{
	char prefix[256];
	json_t *r;

	xlb_fleet_key(prefix, sizeof(prefix), d->o->store->fleet, "decide/events", "");
	r = decide_prefix_body(prefix);
	if (r && (json_object_set_new(r, "limit", json_integer(XLB_PAGE_EVENTS)) ||
		  json_object_set_new(r, "sort_order", json_string("DESCEND")) ||
		  json_object_set_new(r, "sort_target", json_string("KEY")))) {
		json_decref(r);
		r = NULL;
	}
	return r ? json_pack("{s:o}", "request_range", r) : NULL;
}

void decide_log_sync(struct daemon *d)
{
	const struct xlb_fleet_rollout *r = &d->fr.rec;
	struct xlb_page_rollout *p = &d->dc.m.rollout;

	memset(p, 0, sizeof(*p));
	p->have = r->mod_rev != 0;
	if (p->have) {
		snprintf(p->id, sizeof(p->id), "%s", r->id);
		snprintf(p->state, sizeof(p->state), "%s", xlb_rollout_state_names[r->state]);
		snprintf(p->request, sizeof(p->request), "%s", r->request);
		snprintf(p->why, sizeof(p->why), "%s", r->why);
		p->step = r->step;
		p->steps = r->steps;
	}
	d->dc.m.rollout_state = r->state;
	d->dc.m.rollbacks = d->fr.rollbacks;
}
