/*
 * Following the fleet in the store (xlb daemon --store ... --fleet F --node N).
 * Every request is asynchronous (store.h): started here, completed by
 * xlb_store_async_poll() on the loop's turns; nothing waits on the store.
 *
 *   lease     granted (FOLLOW_TTL s), kept alive every TTL/3, granted again
 *             when lost; the status record lives under it (followpub.c)
 *   desired   read with a range; watched from the revision after the one read,
 *             and after a broken watch or a store that was lost, watched again
 *             from the revision after the last one seen (every generation
 *             written meanwhile comes in order); when that revision is
 *             compacted, the store canceled the watch, or the store is at a
 *             revision before the one seen (restored from a snapshot): read
 *             again, then watched from after it, so no generation is missed
 *   apply     each new generation's body config/FP is read, parsed and
 *             validated here again, its fingerprint and hash key id checked,
 *             then applied through the one change path (source "fleet") with
 *             the guards not refusing: xlb fleet apply judged them against the
 *             previous desired configuration, and a node judging them against
 *             its own tables (a generation it missed, its health verdicts)
 *             would leave the fleet on mixed tables; a generation it cannot
 *             apply is refused with why (enum follow_refusal) and the node
 *             stays on what it runs
 *
 * Fail static: a store that cannot be reached changes nothing the node runs
 * or announces; it is marked (store_lost_since) and the node catches up when
 * the store answers again.  So is a desired record gone from a store after
 * the node applied a generation (deleted, or the store restored empty).
 */
#define _GNU_SOURCE
#include "state.h"

#define FOLLOW_TTL		10	/* seconds: the lease of the status record */
#define FOLLOW_RETRY_MS		1000	/* a failed request is tried again after */
#define FOLLOW_FAILED_RETRY_MS	10000	/* a generation that failed for a system error */

static void set_reachable(struct daemon *d, bool ok, const char *what)
{
	struct dfollow *f = &d->fl;

	if (ok) {
		if (!f->reachable && f->ever_reached && f->lost_since)
			dlog(5, "fleet: the store answers again (%s); catching up",
			     xlb_store_endpoint(f->st));
		else if (!f->ever_reached)
			dlog(6, "fleet: the store answers (%s)", xlb_store_endpoint(f->st));
		f->dirty |= !f->reachable || f->lost_since;
		if (!f->reachable)	/* the status goes at once, not after the failures' backoff */
			f->put_retry_ms = f->put_backoff_ms = 0;
		/* the grace counts only while the store answers: the time lost is not
		 * counted (a generation that came meanwhile starts its grace now) */
		if (f->lost_since)
			f->desired_ms = f->desired_ms > f->lost_ms ? now_ms() :
					f->desired_ms + now_ms() - f->lost_ms;
		f->reachable = f->ever_reached = true;
		f->lost_since = 0;
		f->lost_logged[0] = '\0';
		return;
	}
	if (f->reachable || !f->lost_since) {
		f->lost_since = time(NULL);
		f->lost_ms = now_ms();
		f->dirty = true;
	}
	f->reachable = false;
	if (strcmp(f->lost_logged, xlb_errmsg())) {
		snprintf(f->lost_logged, sizeof(f->lost_logged), "%s", xlb_errmsg());
		dlog(3, "fleet: the store cannot be reached (%s: %s); %s", what, f->lost_logged,
		     f->applied ? "forwarding and announcing go on with the generation applied "
		     "(fail static)" : "not announcing until the desired generation is read and "
		     "applied");
	}
	/* a watch on a lost store may hang: started again from the revision after the
	 * last one seen, which brings what was written meanwhile (or re-reads) */
	if (f->watch_on) {
		xlb_store_watch_stop(f->st);
		f->watch_on = false;
	}
}

/* ---- the lease ------------------------------------------------------------------- */

static void lease_done(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct dfollow *f = &d->fl;
	json_t *r = json_object_get(answer, "result") ?: answer;
	__s64 id, ttl;

	f->lease_busy = false;
	if (err) {
		f->lease_retry_ms = now_ms() + FOLLOW_RETRY_MS;
		return set_reachable(d, false, "lease");
	}
	set_reachable(d, true, "lease");
	id = xlb_store_i64(r, "ID");
	ttl = xlb_store_i64(r, "TTL");
	if (ttl <= 0 || !id) {
		if (f->lease)
			dlog(4, "fleet: lease %llx expired (the store was not reached for %lld s): "
			     "granting another", (unsigned long long)f->lease, (long long)f->lease_ttl);
		f->lease = 0;
		return;
	}
	if (!f->lease) {
		f->dirty = true;	/* a new lease: publish under it at once */
		dlog(6, "fleet: lease %llx granted, %lld s", (unsigned long long)id, (long long)ttl);
	}
	f->lease = id;
	f->lease_ttl = ttl;
	f->lease_kept_ms = now_ms();
}

/* A clean stop's revoke: the lease is over, nothing granted again. */
static void revoke_done(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;

	(void)answer;
	d->fl.lease_busy = false;
	if (err)
		dlog(4, "fleet: cannot revoke lease %llx (%s): the status record goes when it "
		     "expires", (unsigned long long)d->fl.lease, xlb_errmsg());
	else
		dlog(6, "fleet: lease %llx revoked: the status record is gone",
		     (unsigned long long)d->fl.lease);
	d->fl.lease = 0;
}

static void lease_tick(struct daemon *d)
{
	struct dfollow *f = &d->fl;
	const char *path;
	json_t *body;

	if (f->lease_busy || now_ms() < f->lease_retry_ms)
		return;
	if (!f->lease) {
		path = "/v3/lease/grant";
		body = json_pack("{s:i}", "TTL", FOLLOW_TTL);
	} else if (now_ms() - f->lease_kept_ms >= (__u64)f->lease_ttl * 1000 / 3) {
		path = "/v3/lease/keepalive";
		body = json_pack("{s:I}", "ID", (json_int_t)f->lease);
	} else {
		return;
	}
	f->lease_busy = !xlb_store_async_post(f->st, path, body, lease_done, d);
	if (!f->lease_busy)
		f->lease_retry_ms = now_ms() + FOLLOW_RETRY_MS;
	json_decref(body);
}

/* ---- the desired record ------------------------------------------------------ */

/* A range or watch body for key (base64 as the gateway wants it). */
static json_t *key_body(const char *key)
{
	char *k = follow_b64(key, strlen(key));
	json_t *j = k ? json_pack("{s:s}", "key", k) : NULL;

	free(k);
	return j;
}

/* The store has no desired record: after a generation was applied, it stays (fail static). */
static void desired_absent(struct daemon *d, const char *how)
{
	struct dfollow *f = &d->fl;

	if (!f->desired_absent)
		dlog(3, "fleet: the desired record of fleet %s is absent from the store (%s): the "
		     "node stays on generation %llu and goes on announcing it",
		     d->o->store->fleet, how, (unsigned long long)f->applied);
	snprintf(f->error, sizeof(f->error), "the desired record is absent from the store (%s): "
		 "the node stays on generation %llu", how, (unsigned long long)f->applied);
	f->desired_absent = f->dirty = true;
}

static void desired_back(struct daemon *d)
{
	struct dfollow *f = &d->fl;

	if (!f->desired_absent)
		return;
	dlog(5, "fleet: the desired record is in the store again");
	f->desired_absent = false;
	f->error[0] = '\0';
}

/* A desired record as the store holds it (kv: key, value, mod_revision). */
static void take_desired(struct daemon *d, json_t *kv)
{
	struct dfollow *f = &d->fl;
	struct xlb_fleet_desired nd = { 0 };
	size_t len = 0;
	char *v = xlb_store_b64(kv, "value", &len);
	json_t *j = v ? json_loadb(v, len, 0, NULL) : NULL;
	__s64 rev = xlb_store_i64(kv, "mod_revision");

	free(v);
	if (!j || xlb_fleet_desired_from_json(j, &nd)) {
		snprintf(f->error, sizeof(f->error), "the desired record at revision %lld is not "
			 "one (%s): the node stays on generation %llu", (long long)rev,
			 j ? xlb_errmsg() : "not JSON", (unsigned long long)f->applied);
		dlog(3, "fleet: %s", f->error);
		f->dirty = true;
		json_decref(j);
		return;
	}
	json_decref(j);
	nd.mod_rev = rev;
	if (nd.generation != f->desired.generation || strcmp(nd.fingerprint, f->desired.fingerprint))
		f->desired_ms = now_ms();
	if (nd.generation != f->desired.generation || !f->have_desired)
		dlog(5, "fleet: desired generation %llu (configuration %s) by %s, %s: %s",
		     (unsigned long long)nd.generation, nd.fingerprint, nd.who, nd.source,
		     nd.reason);
	f->desired = nd;
	f->have_desired = true;
	f->dirty = true;
	desired_back(d);
}

static void range_done(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct dfollow *f = &d->fl;
	json_t *kvs = json_object_get(answer, "kvs");

	f->range_busy = false;
	if (err) {
		f->range_retry_ms = now_ms() + FOLLOW_RETRY_MS;
		return set_reachable(d, false, "reading desired");
	}
	set_reachable(d, true, "reading desired");
	if (json_array_size(kvs)) {
		take_desired(d, json_array_get(kvs, 0));
	} else if (f->applied && f->desired.generation) {
		desired_absent(d, "deleted, or the store restored empty");
	} else {
		if (!f->have_desired || f->desired.generation)
			dlog(4, "fleet: %s has no desired generation yet (xlb fleet apply)",
			     d->o->store->fleet);
		memset(&f->desired, 0, sizeof(f->desired));
		f->have_desired = true;
	}
	f->need_range = false;
	f->watch_rev = xlb_store_i64(json_object_get(answer, "header"), "revision") + 1;
	f->watch_retry_ms = 0;
}

static void range_tick(struct daemon *d)
{
	struct dfollow *f = &d->fl;
	char key[256];
	json_t *body;

	if (!f->need_range || f->range_busy || now_ms() < f->range_retry_ms)
		return;
	xlb_fleet_key(key, sizeof(key), d->o->store->fleet, "desired", NULL);
	body = key_body(key);
	f->range_busy = body && !xlb_store_async_post(f->st, "/v3/kv/range", body, range_done, d);
	if (!f->range_busy)
		f->range_retry_ms = now_ms() + FOLLOW_RETRY_MS;
	json_decref(body);
}

/* The watch cannot go on from f->watch_rev: desired read again, then watched. */
static void reread(struct daemon *d, int why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reread(struct daemon *d, int why, const char *fmt, ...)
{
	struct dfollow *f = &d->fl;
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dlog(4, "fleet: the watch from revision %lld cannot go on (%s): reading desired again",
	     (long long)f->watch_rev, msg);
	f->rereads[why]++;
	f->need_range = true;
	f->watch_retry_ms = UINT64_MAX;	/* the range starts it again */
}

static void watch_event(void *ctx, json_t *res)
{
	struct daemon *d = ctx;
	struct dfollow *f = &d->fl;
	__s64 compacted = xlb_store_i64(res, "compact_revision");
	__s64 head = xlb_store_i64(json_object_get(res, "header"), "revision");
	json_t *ev;
	size_t i;

	if (compacted > 0)
		return reread(d, XLB_FLEET_REREAD_COMPACTED, "the store compacted revisions before "
			      "%lld", (long long)compacted);
	if (json_is_true(json_object_get(res, "canceled")))
		return reread(d, XLB_FLEET_REREAD_CANCELED, "canceled by the store");
	/* a store restored from a snapshot is at a revision before the one seen here:
	 * a watch from that revision would wait for it and miss what comes before */
	if (json_is_true(json_object_get(res, "created")) && head > 0 && head + 1 < f->watch_rev)
		return reread(d, XLB_FLEET_REREAD_RESTORED, "the store is at revision %lld, before "
			      "the one seen here", (long long)head);
	json_array_foreach(json_object_get(res, "events"), i, ev) {
		json_t *kv = json_object_get(ev, "kv");
		const char *type = json_string_value(json_object_get(ev, "type"));
		__s64 rev = xlb_store_i64(kv, "mod_revision");

		if (type && !strcmp(type, "DELETE") && f->applied)
			desired_absent(d, "deleted");
		else if (type && !strcmp(type, "DELETE"))
			dlog(4, "fleet: the desired record was deleted (revision %lld) before this "
			     "node applied a generation", (long long)rev);
		else
			take_desired(d, kv);
		if (rev >= f->watch_rev)
			f->watch_rev = rev + 1;
	}
}

static void watch_end(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct dfollow *f = &d->fl;

	(void)answer;
	if (!f->watch_on)
		return;
	f->watch_on = false;
	if (f->watch_retry_ms != UINT64_MAX)
		f->watch_retry_ms = now_ms() + FOLLOW_RETRY_MS;
	/* compacted or canceled (the event said it) or a stream the store closed: the
	 * watch starts again; only a store that did not answer is unreachable */
	if (err == -EHOSTUNREACH)
		set_reachable(d, false, "watching desired");
}

static void watch_tick(struct daemon *d)
{
	struct dfollow *f = &d->fl;
	char key[256];

	if (f->watch_on && f->need_range) {	/* compacted: read first */
		xlb_store_watch_stop(f->st);
		f->watch_on = false;
	}
	if (f->watch_on || f->need_range || !f->have_desired || now_ms() < f->watch_retry_ms)
		return;
	xlb_fleet_key(key, sizeof(key), d->o->store->fleet, "desired", NULL);
	f->watch_on = !xlb_store_watch_start(f->st, key, false, f->watch_rev, watch_event,
					     watch_end, d);
	if (!f->watch_on)
		f->watch_retry_ms = now_ms() + FOLLOW_RETRY_MS;
}

/* ---- applying a generation ----------------------------------------------------- */

static void refuse(struct daemon *d, __u64 gen, enum follow_refusal kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * gen cannot be applied: said, recorded (status, fleet.json); the node stays.
 * CONTENT and NODE refusals are final for that generation; SYSTEM is tried again.
 */
static void refuse(struct daemon *d, __u64 gen, enum follow_refusal kind, const char *fmt, ...)
{
	struct dfollow *f = &d->fl;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->refused_why, sizeof(f->refused_why), fmt, ap);
	va_end(ap);
	f->refused_gen = gen;
	f->refused_kind = kind;
	if (kind == FOLLOW_REFUSED_SYSTEM)
		f->apply_retry_ms = now_ms() + FOLLOW_FAILED_RETRY_MS;
	dlog(3, "fleet: generation %llu refused: %s; staying on generation %llu%s",
	     (unsigned long long)gen, f->refused_why, (unsigned long long)f->applied,
	     kind == FOLLOW_REFUSED_SYSTEM ? " (tried again in 10 s)" : "");
	f->dirty = f->file_dirty = true;
}

/* The change's outcome: applied, or refused with why. */
static void applied_or_refused(struct daemon *d, __u64 gen, const struct xlb_change_result *r)
{
	struct dfollow *f = &d->fl;
	char why[400] = "";

	switch (r->outcome) {
	case XLB_CHANGE_APPLIED:
	case XLB_CHANGE_UNCHANGED:
		dlog(5, "fleet: generation %llu applied (configuration %s)%s",
		     (unsigned long long)gen, f->desired.fingerprint,
		     r->outcome == XLB_CHANGE_UNCHANGED ? ": it ran already" : "");
		f->applied = gen;
		snprintf(f->applied_fp, sizeof(f->applied_fp), "%s", f->desired.fingerprint);
		f->refused_gen = 0;
		f->refused_why[0] = f->error[0] = '\0';
		f->clear_local = true;
		f->dirty = f->file_dirty = true;
		return;
	case XLB_CHANGE_INVALID:
		for (__u32 i = 0; i < r->diags.count && strlen(why) < sizeof(why) - 1; i++)
			snprintf(why + strlen(why), sizeof(why) - strlen(why), "%s%s: %s",
				 i ? "; " : "", r->diags.items[i].path, r->diags.items[i].msg);
		return refuse(d, gen, FOLLOW_REFUSED_NODE, "invalid on this node: %s", why);
	case XLB_CHANGE_REFUSED:
		for (__u32 i = 0; i < r->plan.nr; i++)
			for (__u32 j = 0; j < r->plan.svcs[i].nr_why; j++)
				snprintf(why + strlen(why), sizeof(why) - strlen(why), "%sservice %s "
					 "%s", why[0] ? "; " : "", r->plan.svcs[i].name,
					 r->plan.svcs[i].why[j]);
		/* not with force: kept, should the change path refuse even so */
		return refuse(d, gen, FOLLOW_REFUSED_NODE, "refused on this node: %s", why);
	default:
		return refuse(d, gen, FOLLOW_REFUSED_SYSTEM, "cannot apply it: %s", xlb_errmsg());
	}
}

/* cfg (validated) through the one change path, the health verdicts laid over it. */
static void apply_generation(struct daemon *d, struct xlb_config *cfg, __u64 gen)
{
	struct dfollow *f = &d->fl;
	struct xlb_change_result r;
	struct xlb_ctl c;
	char reason[400];
	int err = xlb_ctl_try_open_lost_ok(d->o->ifname, d->o->state_root, &c);

	if (err == -EWOULDBLOCK) {	/* a CLI holds the interface: the next turns */
		f->apply_retry_ms = now_ms() + 200;
		return;
	}
	if (err)
		return refuse(d, gen, FOLLOW_REFUSED_SYSTEM, "%s", xlb_errmsg());
	pthread_mutex_lock(&d->lock);
	overlay(d, cfg);
	pthread_mutex_unlock(&d->lock);
	/* the guards were judged by xlb fleet apply against the previous desired
	 * configuration: judged here against this node's tables they could refuse on
	 * one node only (a generation it missed, backends its checks hold down) */
	snprintf(reason, sizeof(reason), "fleet %s generation %llu (%s by %s: %s; guards "
		 "judged by the fleet%s)", d->o->store->fleet, (unsigned long long)gen,
		 f->desired.source, f->desired.who, f->desired.reason,
		 f->desired.forced ? ", forced there" : "");
	xlb_change(&c, &(struct xlb_change){ .cfg = cfg, .source = "fleet", .reason = reason,
					     .force = true }, &r);
	applied_or_refused(d, gen, &r);
	if (f->file_dirty)	/* under the interface's lock, held here */
		follow_write_file(d, true);
	xlb_change_result_free(&r);
	xlb_ctl_close(&c);
	sync_running(d);
}

/* The body's text as a configuration of this generation, or refused with why. */
static int parse_body(struct daemon *d, const char *text, size_t len, struct xlb_config *cfg)
{
	const struct xlb_fleet_desired *want = &d->fl.desired;
	struct xlb_diags diags = { .file = "the store" };
	json_t *j = json_loadb(text, len, 0, NULL);
	char fp[17], id[17], why[300] = "", keymsg[256];
	bool key_bad = false;	/* this node's key file: its sake, not the body's */
	int err;

	memset(cfg, 0, sizeof(*cfg));
	err = !j ? -EINVAL : xlb_config_from_json(j, cfg, &diags);
	json_decref(j);
	/* the body names its hash key's file and id: the key is read here, on this node */
	if (!err && cfg->hash_key_file[0] &&
	    xlb_hash_key_read(cfg->hash_key_file, &cfg->hash_key, keymsg, sizeof(keymsg))) {
		xlb_diag_add(&diags, "hash_key_file", "%s", keymsg);
		key_bad = true;
	}
	if (!err)
		xlb_config_seed(cfg);
	err = err ?: diags.count ? -EINVAL : xlb_config_validate(cfg, &diags);
	for (__u32 i = 0; i < diags.count && strlen(why) < sizeof(why) - 1; i++)
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "%s%s: %s", i ? "; " : "",
			 diags.items[i].path, diags.items[i].msg);
	xlb_diags_free(&diags);
	if (err) {
		refuse(d, want->generation, key_bad ? FOLLOW_REFUSED_NODE : FOLLOW_REFUSED_CONTENT,
		       "its configuration %s is not valid%s: %s", want->fingerprint,
		       key_bad ? " on this node" : "", why[0] ? why : "not JSON");
		xlb_config_free(cfg);
		return err;
	}
	xlb_config_fingerprint(cfg, fp);
	xlb_hash_key_id(&cfg->hash_key, id);
	if (strcmp(id, want->hash_key_id))
		refuse(d, want->generation, FOLLOW_REFUSED_NODE, "hash key id mismatch: this "
		       "node's key (%s) has id %s, the fleet's record says %s", cfg->hash_key_file[0] ?
		       cfg->hash_key_file : "none", id[0] ? id : "none",
		       want->hash_key_id[0] ? want->hash_key_id : "none");
	else if (strcmp(fp, want->fingerprint))
		refuse(d, want->generation, FOLLOW_REFUSED_CONTENT, "config/%s read here has "
		       "fingerprint %s: not the record's", want->fingerprint, fp);
	else
		return 0;
	xlb_config_free(cfg);
	return -EINVAL;
}

static void body_done(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct dfollow *f = &d->fl;
	json_t *kvs = json_object_get(answer, "kvs");
	struct xlb_config cfg;
	size_t len = 0;
	char *text;

	f->body_busy = false;
	if (err) {
		f->apply_retry_ms = now_ms() + FOLLOW_RETRY_MS;
		return set_reachable(d, false, "reading a configuration");
	}
	set_reachable(d, true, "reading a configuration");
	if (f->body_gen != f->desired.generation)
		return;		/* a newer generation came meanwhile: its body next */
	if (!json_array_size(kvs))
		return refuse(d, f->body_gen, FOLLOW_REFUSED_CONTENT, "config/%s is not in the store",
			      f->desired.fingerprint);
	text = xlb_store_b64(json_array_get(kvs, 0), "value", &len);
	if (!text)
		return refuse(d, f->body_gen, FOLLOW_REFUSED_CONTENT, "config/%s is not base64 text",
			      f->desired.fingerprint);
	err = parse_body(d, text, len, &cfg);
	free(text);
	if (err)
		return;
	apply_generation(d, &cfg, f->body_gen);
	xlb_config_free(&cfg);
}

/* A new desired generation: resynced when the node runs it already, else its body read. */
static void apply_tick(struct daemon *d)
{
	struct dfollow *f = &d->fl;
	__u64 gen = f->desired.generation;
	char key[256], fp[17], name[24];
	json_t *body;

	/* the generation number alone is not enough: a store rebuilt from nothing counts
	 * from 1 again, with other configurations */
	if (!f->have_desired || !gen || f->body_busy || (gen == f->applied &&
	    !strcmp(f->desired.fingerprint, f->applied_fp)) ||
	    (gen == f->refused_gen && f->refused_kind != FOLLOW_REFUSED_SYSTEM) ||
	    now_ms() < f->apply_retry_ms)
		return;
	follow_base_fingerprint(d, fp);
	if (!strcmp(fp, f->desired.fingerprint)) {
		dlog(5, "fleet: this node runs generation %llu's configuration %s already: "
		     "recorded as applied, nothing re-applied", (unsigned long long)gen, fp);
		f->applied = gen;
		snprintf(f->applied_fp, sizeof(f->applied_fp), "%s", fp);
		f->refused_gen = 0;
		f->refused_why[0] = '\0';
		f->dirty = f->file_dirty = true;
		return;
	}
	snprintf(name, sizeof(name), "%s", f->desired.fingerprint);
	xlb_fleet_key(key, sizeof(key), d->o->store->fleet, "config", name);
	body = key_body(key);
	f->body_gen = gen;
	f->body_busy = body && !xlb_store_async_post(f->st, "/v3/kv/range", body, body_done, d);
	if (!f->body_busy)
		f->apply_retry_ms = now_ms() + FOLLOW_RETRY_MS;
	json_decref(body);
}

/* ---- the job ------------------------------------------------------------------- */

int follow_start(struct daemon *d)
{
	struct dfollow *f = &d->fl;

	if (!d->o->store)
		return 0;
	if (xlb_store_open(&f->st, d->o->store)) {
		dlog(3, "fleet: %s", xlb_errmsg());
		return XLB_EXIT_SYSTEM;
	}
	f->need_range = true;
	follow_read_file(d, true);
	f->file_dirty = true;
	dlog(6, "fleet: node %s follows fleet %s in the store (%u endpoints)", d->o->node,
	     d->o->store->fleet, d->o->store->nr_endpoints);
	return 0;
}

/* Every turn of the loop: the store's I/O, then what the answers call for. */
void follow_poll(struct daemon *d)
{
	if (!d->fl.st)
		return;
	xlb_store_async_poll(d->fl.st);
	lease_tick(d);
	range_tick(d);
	watch_tick(d);
	apply_tick(d);
	follow_publish(d);
}

static void copy_str(char *dst, size_t len, json_t *o, const char *field)
{
	snprintf(dst, len, "%s", json_string_value(json_object_get(o, field)) ?: "");
}

/* What the status page shows of the fleet, made here (the loop owns d->fl). */
static void page_fill(struct daemon *d, struct xlb_page_fleet *p)
{
	struct dfollow *f = &d->fl;
	time_t t = f->lost_since;
	struct tm tm;

	memset(p, 0, sizeof(*p));
	snprintf(p->fleet, sizeof(p->fleet), "%s", d->o->store->fleet);
	snprintf(p->node, sizeof(p->node), "%s", d->o->node);
	snprintf(p->endpoint, sizeof(p->endpoint), "%s", xlb_store_endpoint(f->st));
	p->reachable = f->reachable;
	if (f->lost_since && gmtime_r(&t, &tm))
		strftime(p->lost_since, sizeof(p->lost_since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(p->lost_why, sizeof(p->lost_why), "%s", f->lost_logged);
	p->have_desired = f->have_desired;
	p->desired = f->desired.generation;
	snprintf(p->who, sizeof(p->who), "%s", f->desired.who);
	snprintf(p->when, sizeof(p->when), "%s", f->desired.when);
	snprintf(p->reason, sizeof(p->reason), "%s", f->desired.reason);
	snprintf(p->source, sizeof(p->source), "%s", f->desired.source);
	p->forced = f->desired.forced;
	p->applied = f->applied;
	snprintf(p->applied_fp, sizeof(p->applied_fp), "%s", f->applied_fp);
	p->refused = f->refused_gen;
	snprintf(p->refused_why, sizeof(p->refused_why), "%s", f->refused_why);
	p->local_change = f->local_change != NULL;
	copy_str(p->local_who, sizeof(p->local_who), f->local_change, "who");
	copy_str(p->local_when, sizeof(p->local_when), f->local_change, "when");
	copy_str(p->local_reason, sizeof(p->local_reason), f->local_change, "reason");
	p->has_lease = f->lease != 0;
	p->lease_age_s = f->lease_kept_ms ? (now_ms() - f->lease_kept_ms) / 1000 : 0;
	verdicts_page(d, p);
}

/* Once a second: fleet.json (a forced local change, what is to be written), metrics. */
void follow_second(struct daemon *d)
{
	struct dfollow *f = &d->fl;
	struct xlb_page_fleet page;

	if (!f->st)
		return;
	follow_read_file(d, false);
	if (f->file_dirty)
		follow_write_file(d, false);
	page_fill(d, &page);
	pthread_mutex_lock(&d->lock);
	follow_announce_why(d, d->announced > 0, page.gate_why, sizeof(page.gate_why));
	f->page = page;
	f->m.reachable = f->reachable;
	f->m.watch_rev = f->watch_rev > 0 ? f->watch_rev - 1 : 0;
	f->m.desired = f->desired.generation;
	f->m.applied = f->applied;
	f->m.lease_age_s = f->lease_kept_ms ? (now_ms() - f->lease_kept_ms) / 1000 : 0;
	f->m.local_change = f->local_change != NULL;
	f->m.refused = f->refused_gen && f->refused_gen == f->desired.generation;
	f->m.desired_absent = f->desired_absent;
	memcpy(f->m.rereads, f->rereads, sizeof(f->m.rereads));
	pthread_mutex_unlock(&d->lock);
}

/* Stopping: the lease revoked (the status goes with it), within half a second. */
void follow_stop(struct daemon *d)
{
	struct dfollow *f = &d->fl;
	json_t *body;
	__u64 end = now_ms() + 500;

	if (!f->st)
		return;
	xlb_store_watch_stop(f->st);
	xlb_store_async_cancel_all(f->st);
	if (f->lease && (body = json_pack("{s:I}", "ID", (json_int_t)f->lease))) {
		f->lease_busy = !xlb_store_async_post(f->st, "/v3/lease/revoke", body, revoke_done,
						      d);
		json_decref(body);
		while (f->lease_busy && now_ms() < end && xlb_store_async_poll(f->st) > 0)
			usleep(10000);
	}
	xlb_store_close(f->st);
	f->st = NULL;
	verdicts_stop(d);
	json_decref(f->local_change);
	f->local_change = NULL;
}
