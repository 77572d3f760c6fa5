/*
 * The fleet's rollout, moved on by the leader alone (decide.h; the record:
 * fleetstore.h decide/rollout; the decisions: fleetrollout.h).  On every
 * turn of the loop while leading, xlb_fleet_rollout_next says what to do
 * with the record as watched, the live nodes (decide_nodes) and desired as
 * the follow job watches it:
 *
 *   a step      its configuration (xlb_rollout_step of config/from_fp and
 *               config/target_fp, read once and cached) written as config/FP,
 *               then desired, history/GEN and the record (step K, gens + GEN,
 *               step_since null) in ONE transaction conditioned on the term,
 *               the record's and desired's mod revisions: a step is written
 *               once, whichever leader tries
 *   its window  when every live node runs GEN: step_since written and the
 *               nodes' counters snapshotted; after step_ms the differences
 *               summed over the nodes and judged (xlb_rollout_judge); a new
 *               leader without the snapshot starts the window again (an event
 *               says so)
 *   the end     done; or the whole fleet rolled back to the start's
 *               configuration (a new generation, source "rollback") with the
 *               record's state and why, in one transaction
 *
 * A write is never sent twice at once: the next waits until the watches
 * show the last one (or its condition failed); a failed write is tried
 * again with a backoff (250 ms doubling to 5 s).
 */
#define _GNU_SOURCE
#include "state.h"
#include "decide.h"

enum { FR_IDLE, FR_BODY, FR_TXN, FR_CONFIRM };

#define FR_RETRY_MS		250
#define FR_RETRY_MAX_MS		5000
#define FR_CONFIRM_MS		10000	/* a write's watch events waited for at most */

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void failed_later(struct dfleetroll *fr)
{
	fr->backoff_ms = fr->backoff_ms ? fr->backoff_ms * 2 : FR_RETRY_MS;
	if (fr->backoff_ms > FR_RETRY_MAX_MS)
		fr->backoff_ms = FR_RETRY_MAX_MS;
	fr->retry_ms = now_ms() + fr->backoff_ms;
	fr->phase = FR_IDLE;
}

static void drop_snapshot(struct dfleetroll *fr)
{
	json_decref(fr->snap);
	fr->snap = NULL;
	fr->snap_id[0] = '\0';
}

void fleetroll_stop(struct daemon *d)
{
	struct dfleetroll *fr = &d->fr;

	drop_snapshot(fr);
	xlb_config_free(&fr->from.cfg);
	xlb_config_free(&fr->to.cfg);
	free(fr->changed.services);	/* shallow copies of to's services */
	free(fr->step_body);
	memset(fr, 0, sizeof(*fr));
}

/* Say what the driver waits for, once per change. */
static void say(struct daemon *d, int prio, const char *what)
{
	if (!strcmp(d->fr.said, what))
		return;
	snprintf(d->fr.said, sizeof(d->fr.said), "%s", what);
	dlog(prio, "fleet rollout %s: %s", d->fr.rec.id, what);
}

/* ---- the configurations, by fingerprint ------------------------------------------ */

/* A body's text as the configuration of fingerprint c->fp (its key read on this host). */
static void parse_cfg(struct frcfg *c, const char *text, size_t len)
{
	struct xlb_diags diags = { .file = "the store" };
	json_t *j = json_loadb(text, len, 0, NULL);
	char fp[17], msg[256];
	int err;

	memset(&c->cfg, 0, sizeof(c->cfg));
	err = !j ? -EINVAL : xlb_config_from_json(j, &c->cfg, &diags);
	json_decref(j);
	if (!err && c->cfg.hash_key_file[0] &&
	    xlb_hash_key_read(c->cfg.hash_key_file, &c->cfg.hash_key, msg, sizeof(msg)))
		xlb_diag_add(&diags, "hash_key_file", "%s", msg);
	if (!err)
		xlb_config_seed(&c->cfg);
	err = err ?: diags.count ? -EINVAL : xlb_config_validate(&c->cfg, &diags);
	if (!err)
		xlb_config_fingerprint(&c->cfg, fp);
	if (err)
		snprintf(c->err, sizeof(c->err), "config/%s is not valid here: %s: %s", c->fp,
			 diags.count ? diags.items[0].path : "", diags.count ? diags.items[0].msg :
			 "not JSON");
	else if (strcmp(fp, c->fp))
		snprintf(c->err, sizeof(c->err), "config/%s has fingerprint %s: altered", c->fp, fp);
	xlb_diags_free(&diags);
	c->have = !c->err[0];
	if (!c->have)
		xlb_config_free(&c->cfg);
}

static void cfg_done(void *ctx, int err, json_t *answer)
{
	struct frcfg *c = ctx;
	json_t *kv = json_array_get(json_object_get(answer, "kvs"), 0);
	size_t len = 0;
	char *text;

	c->busy = false;
	if (err)
		return;		/* the store failed: read again on a later turn */
	if (!kv) {
		snprintf(c->err, sizeof(c->err), "config/%s is not in the store", c->fp);
		return;
	}
	if (!(text = xlb_store_b64(kv, "value", &len))) {
		snprintf(c->err, sizeof(c->err), "config/%s is not base64 text", c->fp);
		return;
	}
	parse_cfg(c, text, len);
	free(text);
}

/* c holds configuration fp, or its read is started: true when it is there. */
static bool cfg_ready(struct daemon *d, struct frcfg *c, const char *fp)
{
	char key[256], *k;
	json_t *body;

	if (strcmp(c->fp, fp)) {
		xlb_config_free(&c->cfg);
		memset(c, 0, sizeof(*c));
		snprintf(c->fp, sizeof(c->fp), "%s", fp);
	}
	if (c->have || c->busy || c->err[0])
		return c->have;
	xlb_fleet_key(key, sizeof(key), d->o->store->fleet, "config", fp);
	k = follow_b64(key, strlen(key));
	body = k ? json_pack("{s:s}", "key", k) : NULL;
	c->busy = body && !xlb_store_async_post(d->fl.st, "/v3/kv/range", body, cfg_done, c);
	json_decref(body);
	free(k);
	return false;
}

/* The services the rollout changes, for the judge (settings only, as rollouts.c). */
static void changed_services(struct dfleetroll *fr)
{
	struct xlb_config *from = &fr->from.cfg, *to = &fr->to.cfg;
	struct xlb_plan plan;

	if (!strcmp(fr->changed_id, fr->rec.id))
		return;
	free(fr->changed.services);
	memset(&fr->changed, 0, sizeof(fr->changed));
	snprintf(fr->changed_id, sizeof(fr->changed_id), "%s", fr->rec.id);
	fr->changed.services = calloc(to->nr_services + 1, sizeof(*fr->changed.services));
	if (!fr->changed.services || xlb_plan_build(from, to, &plan))
		return;
	for (__u32 i = 0; i < plan.nr; i++) {
		const struct xlb_service_conf *s = xlb_config_service(to, plan.svcs[i].name);
		struct xlb_service_conf *t;

		if (!s || !plan.svcs[i].changed)
			continue;
		t = &fr->changed.services[fr->changed.nr_services++];
		*t = *s;
		t->backends = NULL;
		t->nr_backends = 0;
	}
	xlb_plan_free(&plan);
}

/* ---- writes --------------------------------------------------------------------- */

/* ctx: non-NULL for a rollback's write (counted: xlb_fleet_rollout_rollbacks_total). */
static void written(struct daemon *d, int err, bool succeeded, void *ctx)
{
	struct dfleetroll *fr = &d->fr;

	if (err == -ESTALE) {		/* deposed: the next leader goes on from the record */
		fr->phase = FR_IDLE;
		return;
	}
	if (err) {
		dlog(4, "fleet rollout %s: a write failed (tried again in %llu ms): %s",
		     fr->rec.id, (unsigned long long)(fr->backoff_ms ? fr->backoff_ms * 2 :
		     FR_RETRY_MS), xlb_errmsg());
		return failed_later(fr);
	}
	fr->backoff_ms = 0;
	if (!succeeded) {
		/* the record or desired changed since read: act on them as the watches bring them */
		dlog(6, "fleet rollout %s: a write's condition failed (the record or desired "
		     "changed meanwhile): judged again on what the store holds", fr->rec.id);
		fr->phase = FR_IDLE;
		fr->retry_ms = now_ms() + FR_RETRY_MS;
		return;
	}
	fr->phase = FR_CONFIRM;
	fr->confirm_ms = now_ms() + FR_CONFIRM_MS;
	fr->rollbacks += ctx != NULL;
}

/*
 * The record r (and, when des, desired and history/GEN of des) in one
 * transaction conditioned on the record as held (and desired as followed);
 * back: it rolls the rollout back (counted once written).
 */
static void write_back(struct daemon *d, const struct xlb_fleet_rollout *r,
		       const struct xlb_fleet_desired *des, const char *kind, const char *what,
		       const char *why, bool back)
{
	struct dfleetroll *fr = &d->fr;
	char rkey[256], dkey[256], hkey[256], *rtext = xlb_fleet_rollout_text(r), *dtext = NULL;
	json_t *dj = des ? xlb_fleet_desired_to_json(des) : NULL;
	struct xlb_cmp cmp[3] = {
		{ .key = rkey, .target = XLB_CMP_MOD, .result = XLB_CMP_EQUAL,
		  .number = fr->rec.mod_rev },
		{ .key = dkey, .target = d->fl.desired.mod_rev ? XLB_CMP_MOD : XLB_CMP_VERSION,
		  .result = XLB_CMP_EQUAL, .number = d->fl.desired.mod_rev },
		{ .key = hkey, .target = XLB_CMP_VERSION, .result = XLB_CMP_EQUAL },
	};
	struct xlb_op ops[3] = { { .type = XLB_OP_PUT, .key = rkey, .value = rtext },
				 { .type = XLB_OP_PUT, .key = dkey },
				 { .type = XLB_OP_PUT, .key = hkey } };
	int err;

	xlb_fleet_key(rkey, sizeof(rkey), d->o->store->fleet, "decide/rollout", NULL);
	xlb_fleet_key(dkey, sizeof(dkey), d->o->store->fleet, "desired", NULL);
	xlb_fleet_history_key(hkey, sizeof(hkey), d->o->store->fleet, des ? des->generation : 0);
	dtext = dj ? json_dumps(dj, JSON_COMPACT) : NULL;
	json_decref(dj);
	ops[1].value = ops[2].value = dtext;
	if (!rtext || (des && !dtext)) {
		err = xlb_errf(-ENOMEM, "out of memory");
	} else {
		fr->confirm_rev = fr->rec.mod_rev;
		fr->confirm_gen = des ? des->generation : 0;
		/* a record alone is conditioned on the record only: desired is not written */
		err = decide_write(d, cmp, des ? 3 : 1, ops, des ? 3 : 1, kind, what, why,
				   written, back ? fr : NULL);
	}
	free(rtext);
	free(dtext);
	if (err) {
		dlog(4, "fleet rollout %s: cannot write the %s: %s", r->id, kind, xlb_errmsg());
		return failed_later(fr);
	}
	fr->phase = FR_TXN;
	dlog(5, "fleet rollout %s: %s%s%s", r->id, what, why && why[0] ? ": " : "", why ?: "");
}

static void write_record(struct daemon *d, const struct xlb_fleet_rollout *r,
			 const struct xlb_fleet_desired *des, const char *kind, const char *what,
			 const char *why)
{
	write_back(d, r, des, kind, what, why, false);
}

/* The record as held, ended (state, why), request taken. */
static void ended(const struct xlb_fleet_rollout *rec, enum xlb_rollout_state st,
		  const char *why, struct xlb_fleet_rollout *out)
{
	*out = *rec;
	out->state = st;
	out->request[0] = out->request_by[0] = '\0';
	snprintf(out->why, sizeof(out->why), "%s", why);
}

/*
 * The whole fleet back to the start's configuration (a new generation,
 * source "rollback"), the record ended with st and why, one transaction.
 * Nothing to roll back when desired has the start's configuration still.
 */
static void roll_back(struct daemon *d, enum xlb_rollout_state st, const char *kind,
		      const char *why)
{
	struct dfleetroll *fr = &d->fr;
	struct xlb_fleet_rollout r;
	struct xlb_fleet_desired des;
	char reason[700], who[96], what[300], id[17];

	ended(&fr->rec, st, why, &r);
	snprintf(what, sizeof(what), "rollout %s %s at step %u of %u", r.id,
		 st == XLB_ROLLOUT_ABORTED ? "aborted" : "rolled back", r.step, r.steps);
	if (!strcmp(d->fl.desired.fingerprint, r.from_fp))
		return write_back(d, &r, NULL, kind, what, why, true);
	snprintf(reason, sizeof(reason), "rollout %s rolled back at step %u of %u: %s", r.id,
		 r.step, r.steps, why);
	snprintf(who, sizeof(who), "leader %s", d->o->node);
	xlb_hash_key_id(&fr->from.cfg.hash_key, id);
	xlb_fleet_desired_next(&d->fl.desired, r.from_fp, id, "rollback", who, reason, false,
			       &des);
	snprintf(what + strlen(what), sizeof(what) - strlen(what), ": generation %llu has the "
		 "start's configuration %s", (unsigned long long)des.generation, r.from_fp);
	write_back(d, &r, &des, kind, what, why, true);
}

/* The step's body is in the store: desired, history and the record, together. */
static void step_txn(struct daemon *d)
{
	struct dfleetroll *fr = &d->fr;
	char what[300];

	snprintf(what, sizeof(what), "rollout %s step %u of %u: generation %llu (configuration "
		 "%s)", fr->after.id, fr->after.step, fr->after.steps,
		 (unsigned long long)fr->next.generation, fr->next.fingerprint);
	write_record(d, &fr->after, &fr->next, "step", what, fr->after.reason);
}

static void body_done(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct dfleetroll *fr = &d->fr;
	json_t *got = json_object_get(json_array_get(json_object_get(answer, "responses"), 0),
				      "response_range");
	json_t *kv = json_array_get(json_object_get(got, "kvs"), 0);
	char *there = NULL;
	bool same;

	if (fr->phase != FR_BODY)
		return;
	if (err) {
		dlog(4, "fleet rollout %s: cannot write config/%s (tried again): %s", fr->rec.id,
		     fr->next.fingerprint, xlb_errmsg());
		return failed_later(fr);
	}
	there = json_is_true(json_object_get(answer, "succeeded")) ? NULL :
		xlb_store_b64(kv, "value", NULL);
	same = json_is_true(json_object_get(answer, "succeeded")) ||
	       (there && !strcmp(there, fr->step_body));
	free(there);
	if (!same) {
		char why[300];

		snprintf(why, sizeof(why), "config/%s in the store is not step %u's body: it was "
			 "altered", fr->next.fingerprint, fr->after.step);
		fr->phase = FR_IDLE;
		return roll_back(d, XLB_ROLLOUT_FAILED, "failed", why);
	}
	step_txn(d);
}

/* Step k: its body put (content-addressed, when absent), then step_txn. */
static void write_step(struct daemon *d, __u32 k)
{
	struct dfleetroll *fr = &d->fr;
	struct xlb_config cfg;
	char key[256], fp[17], kid[17], who[96], reason[600], why[300];
	struct xlb_cmp cmp = { .key = key, .target = XLB_CMP_VERSION, .result = XLB_CMP_EQUAL };
	struct xlb_op put = { .type = XLB_OP_PUT, .key = key }, get = { .type = XLB_OP_GET,
									 .key = key };
	json_t *body;

	if (xlb_rollout_step(&fr->from.cfg, &fr->to.cfg, k, fr->rec.steps, &cfg))
		return failed_later(fr);
	free(fr->step_body);
	fr->step_body = xlb_fleet_config_body(&cfg, fp);
	xlb_hash_key_id(&cfg.hash_key, kid);
	xlb_config_free(&cfg);
	if (!fr->step_body)
		return failed_later(fr);
	snprintf(who, sizeof(who), "leader %s", d->o->node);
	snprintf(reason, sizeof(reason), "rollout %s step %u of %u: %s", fr->rec.id, k,
		 fr->rec.steps, fr->rec.reason);
	xlb_fleet_desired_next(&d->fl.desired, fp, kid, "rollout", who, reason, fr->rec.forced,
			       &fr->next);
	fr->after = fr->rec;
	fr->after.step = k;
	fr->after.gens[fr->after.nr_gens++] = fr->next.generation;
	fr->after.step_since[0] = '\0';
	xlb_fleet_key(key, sizeof(key), d->o->store->fleet, "config", fp);
	put.value = fr->step_body;
	body = xlb_store_txn_json(&cmp, 1, &put, 1, &get, 1);
	if (!body || xlb_store_async_post(d->fl.st, "/v3/kv/txn", body, body_done, d)) {
		snprintf(why, sizeof(why), "cannot write config/%s: %s", fp, xlb_errmsg());
		say(d, 4, why);
		json_decref(body);
		return failed_later(fr);
	}
	json_decref(body);
	fr->phase = FR_BODY;
}

/* Every live node runs the step: its window starts (the counters snapshotted now). */
static void window_start(struct daemon *d, json_t *nodes, bool restart)
{
	struct dfleetroll *fr = &d->fr;
	struct xlb_fleet_rollout r = fr->rec;
	char what[400];
	const char *name;
	json_t *st;

	drop_snapshot(fr);
	fr->snap = json_object();
	json_object_foreach(nodes, name, st)
		if (json_is_object(json_object_get(st, "counters")))
			json_object_set_new(fr->snap, name, json_deep_copy(json_object_get(st,
									     "counters")));
	snprintf(fr->snap_id, sizeof(fr->snap_id), "%s", r.id);
	fr->snap_step = r.step;
	fr->window_ms = wall_ms();
	xlb_fleet_now_ms_iso(r.step_since, sizeof(r.step_since));
	if (restart)
		snprintf(what, sizeof(what), "rollout %s step %u of %u: its window starts again "
			 "(%.1f s): this leader (term %lld) has no snapshot of the counters at its "
			 "start", r.id, r.step, r.steps, r.step_ms / 1000.0, (long long)fr->term);
	else
		snprintf(what, sizeof(what), "rollout %s step %u of %u: every live node (%zu) "
			 "runs generation %llu; its window of %.1f s starts", r.id, r.step,
			 r.steps, json_object_size(nodes), (unsigned long long)r.gens[r.step - 1],
			 r.step_ms / 1000.0);
	write_record(d, &r, NULL, "step", what, "");
}

/* The window is over: the signals summed over the nodes, judged. */
static void judge(struct daemon *d, json_t *nodes)
{
	struct dfleetroll *fr = &d->fr;
	struct xlb_rollout_signals sig;
	struct xlb_fleet_rollout r;
	struct xlb_config cfg;
	unsigned int counted;
	char why[600], full[700], what[300];
	bool bad;

	if (xlb_fleet_rollout_sum(fr->snap, nodes, (wall_ms() - fr->window_ms) / 1000.0, &sig,
				  &counted) ||
	    xlb_rollout_step(&fr->from.cfg, &fr->to.cfg, fr->rec.step, fr->rec.steps, &cfg)) {
		free(sig.be);
		return failed_later(fr);
	}
	changed_services(fr);
	bad = xlb_rollout_judge(&cfg, &fr->changed, &sig, why, sizeof(why));
	dlog(6, "fleet rollout %s: step %u of %u judged over %u nodes, %.1f s: %s", fr->rec.id,
	     fr->rec.step, fr->rec.steps, counted, sig.seconds, bad ? why : "nothing crossed");
	free(sig.be);
	xlb_config_free(&cfg);
	switch (xlb_fleet_rollout_judged(&fr->rec, bad)) {
	case XLB_FR_ROLLBACK:
		snprintf(full, sizeof(full), "step %u of %u, summed over %u nodes: %s",
			 fr->rec.step, fr->rec.steps, counted, why);
		return roll_back(d, XLB_ROLLOUT_ROLLED_BACK, "rollback", full);
	case XLB_FR_WRITE_STEP:
		return write_step(d, fr->rec.step + 1);
	default:
		break;
	}
	ended(&fr->rec, XLB_ROLLOUT_DONE, "", &r);
	snprintf(what, sizeof(what), "rollout %s done: %u steps, generations %llu..%llu, every "
		 "live node on configuration %s", r.id, r.steps, (unsigned long long)r.gens[0],
		 (unsigned long long)r.gens[r.nr_gens - 1], r.target_fp);
	write_record(d, &r, NULL, "done", what, "");
}

/* A request taken: paused, resumed (the window watched again), or one that changes nothing. */
static void take_request(struct daemon *d, enum xlb_fleetroll_action a)
{
	struct dfleetroll *fr = &d->fr;
	struct xlb_fleet_rollout r = fr->rec;
	char what[300];
	const char *kind = a == XLB_FR_RESUME ? "resumed" : "paused";

	r.request[0] = r.request_by[0] = '\0';
	if (a == XLB_FR_PAUSE)
		r.state = XLB_ROLLOUT_PAUSED;
	if (a == XLB_FR_RESUME) {
		r.state = XLB_ROLLOUT_RUNNING;
		r.step_since[0] = '\0';		/* its window starts again */
		drop_snapshot(fr);
	}
	snprintf(what, sizeof(what), "rollout %s %s at step %u of %u%s", r.id,
		 a == XLB_FR_CLEAR ? "asked to" : kind, r.step, r.steps,
		 a == XLB_FR_CLEAR ? ": it is so already" : "");
	if (a == XLB_FR_CLEAR)
		snprintf(what, sizeof(what), "rollout %s: the %s request changes nothing (it is "
			 "%s)", r.id, fr->rec.request, xlb_rollout_state_names[r.state]);
	write_record(d, &r, NULL, kind, what, fr->rec.request_by);
}

/* The configurations the rollout needs, read; false while they are not (or cannot be). */
static bool configs(struct daemon *d)
{
	struct dfleetroll *fr = &d->fr;
	struct xlb_fleet_rollout r;
	char why[700];
	bool from = cfg_ready(d, &fr->from, fr->rec.from_fp);
	bool to = cfg_ready(d, &fr->to, fr->rec.target_fp);

	if (from && to)
		return true;
	if (!fr->from.err[0] && !fr->to.err[0])
		return false;
	/* nothing to step to, or back to: stopped where it is */
	snprintf(why, sizeof(why), "%s: stopped where it was, nothing rolled back",
		 fr->from.err[0] ? fr->from.err : fr->to.err);
	ended(&fr->rec, XLB_ROLLOUT_FAILED, why, &r);
	write_record(d, &r, NULL, "failed", "rollout failed", why);
	return false;
}

/* Is the last write seen (or given up on)? */
static bool confirmed(struct daemon *d)
{
	struct dfleetroll *fr = &d->fr;

	if (fr->phase != FR_CONFIRM)
		return fr->phase == FR_IDLE;
	if ((fr->rec.mod_rev == fr->confirm_rev ||
	     d->fl.desired.generation < fr->confirm_gen) && now_ms() < fr->confirm_ms)
		return false;
	fr->phase = FR_IDLE;
	return true;
}

static void act(struct daemon *d, enum xlb_fleetroll_action a, json_t *nodes, const char *why)
{
	struct dfleetroll *fr = &d->fr;
	struct xlb_fleet_rollout r;
	char msg[700];

	switch (a) {
	case XLB_FR_PAUSE:
	case XLB_FR_RESUME:
	case XLB_FR_CLEAR:
		return take_request(d, a);
	case XLB_FR_ABORT:
		snprintf(msg, sizeof(msg), "aborted by hand (%s)", fr->rec.request_by[0] ?
			 fr->rec.request_by : "no reason given");
		return roll_back(d, XLB_ROLLOUT_ABORTED, "aborted", msg);
	case XLB_FR_REFUSED:
		return roll_back(d, XLB_ROLLOUT_FAILED, "failed", why);
	case XLB_FR_OUTSIDE:
		ended(&fr->rec, XLB_ROLLOUT_FAILED, why, &r);
		return write_record(d, &r, NULL, "failed", "rollout failed", why);
	case XLB_FR_WRITE_STEP:
		return write_step(d, fr->rec.step + 1);
	case XLB_FR_APPLIED:
	case XLB_FR_RESTART:
		return window_start(d, nodes, a == XLB_FR_RESTART);
	case XLB_FR_JUDGE:
		return judge(d, nodes);
	case XLB_FR_WAIT:
		return say(d, 6, why);
	default:
		return;
	}
}

void fleetroll_tick(struct daemon *d)
{
	struct dfleetroll *fr = &d->fr;
	struct xlb_fleetroll_view v;
	enum xlb_fleetroll_action a;
	json_t *nodes;
	char why[600];
	__s64 term;

	if (!decide_leading(d, &term) || !d->fl.st)
		return;
	if (fr->term != term) {		/* a new term: nothing of the last one holds */
		drop_snapshot(fr);
		fr->term = term;
		fr->phase = FR_IDLE;
		fr->said[0] = '\0';
	}
	nodes = decide_nodes(d);
	if (!fr->rec.mod_rev || !xlb_fleet_rollout_active(&fr->rec) || !nodes ||
	    !d->fl.have_desired || !confirmed(d) || now_ms() < fr->retry_ms || !configs(d))
		return;
	v = (struct xlb_fleetroll_view){
		.desired_gen = d->fl.desired.generation,
		.have_snapshot = fr->snap && !strcmp(fr->snap_id, fr->rec.id) &&
				 fr->snap_step == fr->rec.step,
		.window_ms = fr->window_ms, .now_ms = wall_ms() };
	a = xlb_fleet_rollout_next(&fr->rec, nodes, &v, why, sizeof(why));
	act(d, a, nodes, why);
}
