/*
 * What a node that follows a fleet says of itself: its status record
 * nodes/NODE in the store, under its lease (the JSON form fleetstore.h
 * documents), put on every change and every FOLLOW_PUBLISH_MS besides; its
 * member record members/NODE, without a lease (it outlives the status, so
 * fleet status names a node that was lost), put when it first publishes
 * after its start, when its applied generation changes and every
 * FOLLOW_MEMBER_MS besides: one write per node per generation applied, not
 * one per status (20 nodes idle: 0.03 writes/s); and
 * fleet.json in its state directory (fleetfile.h), which the CLI reads to
 * refuse local changes and writes to record a forced one.  And whether it
 * may announce on the fleet's behalf (follow_announce_why, the gate).
 */
#define _GNU_SOURCE
#include "state.h"
#include "decide.h"

#define FOLLOW_PUBLISH_MS	30000	/* the lease keeps it alive; a put is a revision the store keeps */
#define FOLLOW_MEMBER_MS	(10 * 60 * 1000)
#define FOLLOW_MEMBER_RETRY_MS	1000
#define FOLLOW_PUT_RETRY_MS	1000	/* a failed status put waits, doubling ... */
#define FOLLOW_PUT_RETRY_MAX_MS	10000	/* ... up to this */
#define FOLLOW_GRACE_MS		10000	/* an announced VIP waits for a new generation */

char *follow_b64(const char *text, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = (const unsigned char *)text;
	char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		__u32 v = (__u32)s[i] << 16 | (i + 1 < len ? (__u32)s[i + 1] << 8 : 0) |
			  (i + 2 < len ? s[i + 2] : 0);

		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
		*o++ = i + 1 < len ? abc[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? abc[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/*
 * The fingerprint of the base configuration: the running one without the
 * health verdicts laid over it (the backends the daemon holds down are the
 * configuration's active ones), so it is the fleet's when the node runs it.
 */
void follow_base_fingerprint(struct daemon *d, char out[17])
{
	struct xlb_config base;

	out[0] = '\0';
	if (running_base(d, &base))
		return;
	xlb_config_fingerprint(&base, out);
	xlb_config_free(&base);
}

static json_t *iso_or_null(__s64 unix_s)
{
	char buf[32];
	time_t t = unix_s;
	struct tm tm;

	if (!unix_s)
		return json_null();
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* tables {service: fingerprint}, health {up, down}, under d->lock. */
static void running_parts(struct daemon *d, json_t *o)
{
	json_t *tables = json_object();
	__u32 up = 0, down = 0;

	pthread_mutex_lock(&d->lock);
	for (__u32 t = 0; t < d->nr_tables; t++)
		json_object_set_new(tables, d->tables[t].name, json_string(d->tables[t].fp));
	for (__u32 i = 0; i < d->nr_be; i++) {
		bool dn = d->be[i].health_down || (d->be[i].checked && !d->be[i].h.up);

		down += d->be[i].present && dn;
		up += d->be[i].present && !dn;
	}
	json_object_set_new(o, "announcing", json_boolean(d->announced > 0));
	pthread_mutex_unlock(&d->lock);
	json_object_set_new(o, "tables", tables);
	json_object_set_new(o, "health", json_pack("{s:i,s:i}", "up", up, "down", down));
}

static bool is_attached(struct daemon *d)
{
	char pin[256], path[300];

	if (xlb_pin_dir(d->o->ifname, pin, sizeof(pin)))
		return false;
	snprintf(path, sizeof(path), "%s/link", pin);
	return xlb_pinned_link(path, if_nametoindex(d->o->ifname)) == XLB_LINK_LIVE;
}

/* The status record, in the form fleetstore.h documents. */
static json_t *status_json(struct daemon *d)
{
	struct dfollow *f = &d->fl;
	char fp[17], id[17], now[32];
	json_t *o;

	follow_base_fingerprint(d, fp);
	pthread_mutex_lock(&d->lock);
	xlb_hash_key_id(&d->running.hash_key, id);
	pthread_mutex_unlock(&d->lock);
	xlb_fleet_now_iso(now, sizeof(now));
	o = json_pack("{s:s,s:I,s:s,s:s,s:b}", "node", d->o->node, "generation",
		      (json_int_t)f->applied, "fingerprint", fp, "hash_key_id", id, "attached",
		      is_attached(d));
	if (!o)
		return NULL;
	running_parts(d, o);
	json_object_set_new(o, "refused", f->refused_gen ? json_pack("{s:I,s:s}", "generation",
				(json_int_t)f->refused_gen, "why", f->refused_why) : json_null());
	json_object_set_new(o, "error", f->error[0] ? json_string(f->error) : json_null());
	json_object_set_new(o, "local_change", f->local_change ? json_incref(f->local_change) :
			    json_null());
	json_object_set_new(o, "store_lost_since", iso_or_null(f->lost_since));
	json_object_set_new(o, "updated", json_string(now));
	json_object_set_new(o, "lease_ttl", json_integer(f->lease_ttl));
	json_object_update_new(o, verdicts_status(d));	/* "views", "fleet_health" */
	json_object_set_new(o, "counters", fleetroll_counters(d));
	return o;
}

static void put_done(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct dfollow *f = &d->fl;

	(void)answer;
	f->put_busy = false;
	if (!err) {
		f->put_backoff_ms = 0;
		return;
	}
	/* published again once the store answers, not on every turn of the loop */
	f->put_backoff_ms = f->put_backoff_ms ? f->put_backoff_ms * 2 : FOLLOW_PUT_RETRY_MS;
	if (f->put_backoff_ms > FOLLOW_PUT_RETRY_MAX_MS)
		f->put_backoff_ms = FOLLOW_PUT_RETRY_MAX_MS;
	f->put_retry_ms = now_ms() + f->put_backoff_ms;
	f->dirty = true;
	dlog(7, "fleet: cannot publish the status (tried again in %llu ms): %s",
	     (unsigned long long)f->put_backoff_ms, xlb_errmsg());
}

static void member_done(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct dfollow *f = &d->fl;
	json_t *kv = json_array_get(json_object_get(answer, "kvs"), 0), *j;
	size_t len = 0;
	char *v;

	f->member_busy = false;
	if (err) {
		f->member_put = false;	/* put again, whatever the generation */
		f->member_ms = now_ms() + FOLLOW_MEMBER_RETRY_MS;
		dlog(7, "fleet: cannot %s the member record: %s", f->member_read ? "write" :
		     "read", xlb_errmsg());
		return;
	}
	if (f->member_read) {	/* the put */
		f->member_put = true;
		f->member_ms = now_ms();
		return;
	}
	v = kv ? xlb_store_b64(kv, "value", &len) : NULL;
	j = v ? json_loadb(v, len, 0, NULL) : NULL;
	if (json_is_string(json_object_get(j, "first_seen")))
		snprintf(f->member_first, sizeof(f->member_first), "%s",
			 json_string_value(json_object_get(j, "first_seen")));
	json_decref(j);
	free(v);
	f->member_read = true;
	f->member_ms = 0;
}

/*
 * members/NODE: read once (its first_seen kept), then put when the node
 * first publishes, when its applied generation changes, every FOLLOW_MEMBER_MS.
 */
static void follow_member(struct daemon *d)
{
	struct dfollow *f = &d->fl;
	char key[256], now[32], *k, *v = NULL, *text = NULL;
	json_t *body = NULL, *rec;
	const char *path = "/v3/kv/range";

	if (!f->lease || f->member_busy || now_ms() < f->member_ms ||
	    (f->member_put && f->member_gen == f->applied &&
	     now_ms() - f->member_ms < FOLLOW_MEMBER_MS))
		return;
	xlb_fleet_key(key, sizeof(key), d->o->store->fleet, "members", d->o->node);
	k = follow_b64(key, strlen(key));
	if (f->member_read) {
		xlb_fleet_now_iso(now, sizeof(now));
		if (!f->member_first[0])
			snprintf(f->member_first, sizeof(f->member_first), "%s", now);
		rec = json_pack("{s:s,s:s,s:s,s:I}", "node", d->o->node, "first_seen",
				f->member_first, "last_seen", now, "generation",
				(json_int_t)f->applied);
		text = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(rec);
		v = text ? follow_b64(text, strlen(text)) : NULL;
		body = k && v ? json_pack("{s:s,s:s}", "key", k, "value", v) : NULL;
		path = "/v3/kv/put";
		f->member_gen = f->applied;
	} else if (k) {
		body = json_pack("{s:s}", "key", k);
	}
	f->member_busy = body && !xlb_store_async_post(f->st, path, body, member_done, d);
	if (!f->member_busy)
		f->member_ms = now_ms() + FOLLOW_MEMBER_RETRY_MS;
	json_decref(body);
	free(k);
	free(v);
	free(text);
}

/* On every change and every FOLLOW_PUBLISH_MS: nodes/NODE under the lease. */
void follow_publish(struct daemon *d)
{
	struct dfollow *f = &d->fl;
	char key[256], *k, *v, *text;
	json_t *st, *body;

	follow_member(d);
	if (!f->lease || f->put_busy || now_ms() < f->put_retry_ms ||
	    (!f->dirty && now_ms() - f->published_ms < FOLLOW_PUBLISH_MS))
		return;
	st = status_json(d);
	text = st ? json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(st);
	xlb_fleet_key(key, sizeof(key), d->o->store->fleet, "nodes", d->o->node);
	k = follow_b64(key, strlen(key));
	v = text ? follow_b64(text, strlen(text)) : NULL;
	body = k && v ? json_pack("{s:s,s:s,s:I}", "key", k, "value", v, "lease",
				  (json_int_t)f->lease) : NULL;
	f->put_busy = body && !xlb_store_async_post(f->st, "/v3/kv/put", body, put_done, d);
	if (f->put_busy) {
		f->dirty = false;
		f->published_ms = now_ms();
	}
	json_decref(body);
	free(k);
	free(v);
	free(text);
}

/* fleet.json's path for this interface. */
static void file_path(struct daemon *d, char *out, size_t len)
{
	char hist[512];

	if (xlb_history_dir(d->o->state_root, d->o->ifname, hist, sizeof(hist)))
		snprintf(hist, sizeof(hist), "%s/%s/history", d->o->state_root, d->o->ifname);
	xlb_fleetfile_path(hist, out, len);
}

/*
 * Read fleet.json: a forced local change the CLI recorded (published at
 * once); at start also the generation the node applied, kept when the node
 * still runs it (or runs a forced local change made over it).
 */
void follow_read_file(struct daemon *d, bool at_start)
{
	struct dfollow *f = &d->fl;
	char path[600], fp[17];
	json_t *j, *lc, *ap;

	file_path(d, path, sizeof(path));
	if (xlb_fleetfile_read(path, &j) || !j)
		return;
	lc = json_object_get(j, "local_change");
	lc = json_is_object(lc) ? lc : NULL;
	if (!f->clear_local && !json_equal(lc, f->local_change) && (lc || f->local_change)) {
		if (lc)
			dlog(4, "fleet: a local change was forced on this node by %s: %s",
			     json_string_value(json_object_get(lc, "who")),
			     json_string_value(json_object_get(lc, "reason")));
		json_decref(f->local_change);
		f->local_change = json_incref(lc);
		f->dirty = true;
	}
	ap = json_object_get(j, "applied");
	follow_base_fingerprint(d, fp);
	if (at_start && json_is_object(ap) && (lc || !strcmp(fp, json_string_value(
			json_object_get(ap, "fingerprint")) ?: ""))) {
		f->applied = json_integer_value(json_object_get(ap, "generation"));
		snprintf(f->applied_fp, sizeof(f->applied_fp), "%s",
			 json_string_value(json_object_get(ap, "fingerprint")) ?: "");
	}
	json_decref(j);
}

static json_t *file_json(struct daemon *d)
{
	struct dfollow *f = &d->fl;
	json_t *eps = json_array(), *o;
	char now[32];

	for (unsigned int i = 0; i < d->o->store->nr_endpoints; i++)
		json_array_append_new(eps, json_string(d->o->store->endpoints[i]));
	xlb_fleet_now_iso(now, sizeof(now));
	o = json_pack("{s:s,s:s,s:o,s:s}", "fleet", d->o->store->fleet, "node", d->o->node,
		      "store", eps, "updated", now);
	if (!o)
		return NULL;
	json_object_set_new(o, "applied", f->applied ? json_pack("{s:I,s:s}", "generation",
			    (json_int_t)f->applied, "fingerprint", f->applied_fp) : json_null());
	json_object_set_new(o, "refused", f->refused_gen ? json_pack("{s:I,s:s}", "generation",
			    (json_int_t)f->refused_gen, "why", f->refused_why) : json_null());
	return o;
}

/*
 * Write fleet.json under the interface's lock: held by the caller (locked,
 * the apply), else taken without waiting (busy: the next second).  A local
 * change the CLI recorded stays, unless a fleet generation was applied since.
 */
void follow_write_file(struct daemon *d, bool locked)
{
	struct dfollow *f = &d->fl;
	int lock = locked ? -1 : xlb_trylock_dev(d->o->ifname);
	char path[600];
	json_t *o;

	if (!locked && lock < 0)
		return;		/* a CLI holds it: the next second */
	if (!f->clear_local)
		follow_read_file(d, false);
	o = file_json(d);
	if (o)
		json_object_set_new(o, "local_change", f->local_change && !f->clear_local ?
				    json_incref(f->local_change) : json_null());
	file_path(d, path, sizeof(path));
	if (o && !xlb_fleetfile_write(path, o)) {
		f->file_dirty = false;
		if (f->clear_local && f->local_change) {
			dlog(5, "fleet: the local change is over: the node runs the fleet's "
			     "generation %llu", (unsigned long long)f->applied);
			json_decref(f->local_change);
			f->local_change = NULL;
			f->dirty = true;
		}
		f->clear_local = false;
	} else {
		dlog(3, "fleet: cannot write %s: %s", path, o ? xlb_errmsg() : "out of memory");
	}
	json_decref(o);
	if (lock >= 0)
		close(lock);
}

/*
 * Announced only while the generation applied is the desired one and the hash
 * key is the fleet's.  A VIP announced already keeps FOLLOW_GRACE_MS for a new
 * generation to be applied (reading and applying it takes a moment), so an
 * apply does not withdraw the fleet's VIPs; the grace counts only while the
 * store answers: a store that cannot be read keeps the generation applied
 * announced (fail static), so does a desired record gone from the store.  A
 * generation refused for what it is (FOLLOW_REFUSED_CONTENT: its body
 * invalid, missing or altered) is refused alike by every node: the VIPs
 * announced stay on the generation applied (the refusal is in the status and
 * alerts); one refused for this node's sake (its hash key, a system error)
 * withdraws them after the grace.  The guards refuse on no node: xlb fleet
 * apply judged them.
 */
void follow_announce_why(struct daemon *d, bool announced, char *why, size_t len)
{
	struct dfollow *f = &d->fl;
	bool behind = f->applied != f->desired.generation ||
		      strcmp(f->applied_fp, f->desired.fingerprint);
	bool refused = f->refused_gen && f->refused_gen == f->desired.generation;
	char id[17];

	why[0] = '\0';
	if (!d->o->store)
		return;
	if (!f->have_desired)
		snprintf(why, len, "the fleet's desired generation is not read yet (%s)",
			 f->lost_since ? "the store cannot be reached" : "reading it");
	else if (!f->desired.generation)
		snprintf(why, len, "fleet %s has no desired generation yet", d->o->store->fleet);
	else if (behind && (!announced || (!(refused && f->refused_kind ==
		 FOLLOW_REFUSED_CONTENT) && !f->lost_since && now_ms() - f->desired_ms >
		 FOLLOW_GRACE_MS)))
		snprintf(why, len, "fleet generation %llu %s", (unsigned long long)f->desired.generation,
			 refused ? "was refused here" : "not applied yet");
	if (why[0])
		return;
	xlb_hash_key_id(&d->running.hash_key, id);
	if (strcmp(id, f->desired.hash_key_id))
		snprintf(why, len, "this node's hash key id is %s, the fleet's %s", id[0] ? id : "none",
			 f->desired.hash_key_id[0] ? f->desired.hash_key_id : "none");
}
