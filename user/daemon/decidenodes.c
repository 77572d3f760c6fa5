/*
 * The leader's view of the live nodes (decide_nodes): nodes/ read with a
 * range, then watched from the revision after it on a third store handle
 * (the follow job's watches desired, decide.c's decide/); when the watch
 * ends for any reason, read again.  Every change of a node's status record
 * (put, deleted with its lease, read again) calls verdicts_nodes_changed()
 * at once: the leader judges on the turn of the loop the event came in.
 * Opened when the daemon becomes the leader, closed when it stops leading.
 */
#define _GNU_SOURCE
#include "state.h"
#include "decide.h"

#define NODES_RETRY_MS		250
#define NODES_RETRY_MAX_MS	5000

json_t *decide_nodes(const struct daemon *d)
{
	return d->dc.leading ? d->dc.nodes : NULL;
}

static void nodes_failed(struct daemon *d, const char *what)
{
	struct ddecide *c = &d->dc;

	c->nodes_backoff_ms = c->nodes_backoff_ms ? c->nodes_backoff_ms * 2 : NODES_RETRY_MS;
	if (c->nodes_backoff_ms > NODES_RETRY_MAX_MS)
		c->nodes_backoff_ms = NODES_RETRY_MAX_MS;
	c->nodes_retry_ms = now_ms() + c->nodes_backoff_ms;
	c->nodes_need_range = true;
	dlog(7, "decide: cannot %s nodes/ (tried again in %llu ms): %s", what,
	     (unsigned long long)c->nodes_backoff_ms, xlb_errmsg());
}

/* The node's name of a nodes/NODE key (NULL when the key is not one). */
static const char *node_name(struct daemon *d, const char *key)
{
	char prefix[256];
	size_t n;

	xlb_fleet_key(prefix, sizeof(prefix), d->o->store->fleet, "nodes", "");
	n = strlen(prefix);
	return !strncmp(key, prefix, n) && key[n] ? key + n : NULL;
}

/* One kv into obj (deleted, or a value that is not JSON: out). */
static void take_node(struct daemon *d, json_t *obj, json_t *kv, bool deleted)
{
	char *key = xlb_store_b64(kv, "key", NULL), *v = NULL;
	const char *name = key ? node_name(d, key) : NULL;
	size_t len = 0;
	json_t *j = NULL;

	if (!name)
		goto out;
	if (!deleted && (v = xlb_store_b64(kv, "value", &len)))
		j = json_loadb(v, len, 0, NULL);
	if (json_is_object(j)) {
		/* for the judge: a record put before a store outage is not a vote after it */
		json_object_set_new(j, "_mod_rev", json_integer(xlb_store_i64(kv, "mod_revision")));
		json_object_set_new(obj, name, json_incref(j));
	}
	else
		json_object_del(obj, name);
	if (!deleted && !json_is_object(j))
		dlog(4, "decide: nodes/%s is not a JSON object: left out of the leader's view",
		     name);
out:
	json_decref(j);
	free(v);
	free(key);
}

static void nodes_range_done(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct ddecide *c = &d->dc;
	json_t *kv, *obj;
	size_t i;

	c->nodes_busy = false;
	if (err)
		return nodes_failed(d, "read");
	if (!c->nodes)
		return;		/* dropped meanwhile */
	obj = json_object();
	json_array_foreach(json_object_get(answer, "kvs"), i, kv)
		take_node(d, obj, kv, false);
	json_decref(c->nodes);
	c->nodes = obj;
	c->nodes_need_range = false;
	c->nodes_backoff_ms = 0;
	c->nodes_rev = xlb_store_i64(json_object_get(answer, "header"), "revision") + 1;
	dlog(6, "decide: the leader sees %zu live nodes", json_object_size(obj));
	verdicts_nodes_changed(d);
}

static void nodes_event(void *ctx, json_t *res)
{
	struct daemon *d = ctx;
	struct ddecide *c = &d->dc;
	json_t *ev;
	size_t i, n = 0;

	if (xlb_store_i64(res, "compact_revision") > 0 ||
	    json_is_true(json_object_get(res, "canceled"))) {
		xlb_store_watch_stop(c->nst);
		c->nodes_watch = false;
		c->nodes_need_range = true;
		return;
	}
	json_array_foreach(json_object_get(res, "events"), i, ev) {
		json_t *kv = json_object_get(ev, "kv");
		const char *type = json_string_value(json_object_get(ev, "type"));
		__s64 rev = xlb_store_i64(kv, "mod_revision");

		take_node(d, c->nodes, kv, type && !strcmp(type, "DELETE"));
		if (rev >= c->nodes_rev)
			c->nodes_rev = rev + 1;
		n++;
	}
	if (n)
		verdicts_nodes_changed(d);
}

static void nodes_end(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct ddecide *c = &d->dc;

	(void)answer;
	if (!c->nodes_watch)
		return;
	c->nodes_watch = false;
	c->nodes_need_range = true;
	if (err == -EHOSTUNREACH)
		nodes_failed(d, "watch");
}

static void nodes_start(struct daemon *d)
{
	struct ddecide *c = &d->dc;

	if (!c->nst && xlb_store_open(&c->nst, d->o->store)) {
		c->nst = NULL;
		return nodes_failed(d, "open the store for");
	}
	if (!c->nodes)
		c->nodes = json_object();
}

/* While leading: nodes/ read, then watched; read again after the watch ends. */
void decide_nodes_tick(struct daemon *d)
{
	struct ddecide *c = &d->dc;
	char prefix[256];
	json_t *body;

	if (!c->leading || now_ms() < c->nodes_retry_ms)
		return;
	nodes_start(d);
	if (!c->nst)
		return;
	if (c->nodes_watch && (c->nodes_need_range || !d->fl.reachable)) {
		xlb_store_watch_stop(c->nst);
		c->nodes_watch = false;
		c->nodes_need_range = true;
	}
	if (!d->fl.reachable || c->nodes_busy || c->nodes_watch)
		return;
	xlb_fleet_key(prefix, sizeof(prefix), d->o->store->fleet, "nodes", "");
	if (c->nodes_need_range) {
		body = decide_prefix_body(prefix);
		c->nodes_busy = body && !xlb_store_async_post(c->nst, "/v3/kv/range", body,
							      nodes_range_done, d);
		json_decref(body);
		if (!c->nodes_busy)
			nodes_failed(d, "read");
		return;
	}
	c->nodes_watch = !xlb_store_watch_start(c->nst, prefix, true, c->nodes_rev, nodes_event,
						nodes_end, d);
	if (!c->nodes_watch)
		nodes_failed(d, "watch");
}

/* Not leading: the view and its handle go. */
void decide_nodes_drop(struct daemon *d)
{
	struct ddecide *c = &d->dc;

	if (c->nst) {
		xlb_store_watch_stop(c->nst);
		xlb_store_async_cancel_all(c->nst);
		xlb_store_close(c->nst);
		c->nst = NULL;
	}
	json_decref(c->nodes);
	c->nodes = NULL;
	c->nodes_busy = c->nodes_watch = false;
	c->nodes_need_range = true;
	c->nodes_backoff_ms = c->nodes_retry_ms = 0;
}
