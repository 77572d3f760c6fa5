/*
 * The fleet's health verdicts (issue 24; the keys: fleetstore.h decide/health,
 * the contract with decide.c: decide.h).
 *
 *   every node   keeps decide/health as decide.c reads and watches it, and
 *                lays its "down" over its tables (overlay(), running.c)
 *                instead of its own verdicts while the record is in force:
 *                the store answers, or has been lost for less than
 *                --health-grace.  Past the grace it falls back to its own
 *                verdicts (an outage of the store must not freeze health);
 *                when the store answers again and decide/health has been
 *                read again, it lays the fleet's record over its tables
 *                again (no table change when the views agree).  It publishes
 *                its own verdicts ("views") and how it follows the fleet
 *                ("fleet_health") in its status record, at once on a flip.
 *   the sick one a node that sees a backend down for VERDICTS_SICK_CHECKS
 *                checks in a row while the fleet's majority sees it up
 *                (it alone cannot reach it) withdraws its VIPs and says why;
 *                it rejoins when it agrees again.
 *   the leader   judges the live nodes' views (fleetverdict.h) within a loop
 *                turn (50 ms) of a node's record changing, of its term
 *                starting and of a new generation, and writes decide/health
 *                when the record changes: one transaction conditioned on its
 *                term and on decide/health's mod revision as read (no two
 *                writes of one seq), with a "verdict" event.
 */
#define _GNU_SOURCE
#include "state.h"
#include "decide.h"
#include "fleetverdict.h"

#define VERDICTS_SICK_CHECKS	3	/* checks in a row alone before withdrawing */
#define VERDICTS_READ_RETRY_MS	1000	/* decide/health read again after a failure */
#define VERDICTS_WAIT_MS	2000	/* the longest a written record is awaited from the watch */
#define VERDICTS_STALE_WAIT_MS	2000	/* the leader waits for records put after an outage */
#define VERDICTS_REJOIN_MS	15000	/* back from a fallback: a record judged before it stands
					   this long after the node's views were published again
					   (no leader wrote since: the last resort, as the leader
					   writes after every outage and in every new term) */

/* ---- the record as watched ---------------------------------------------------- */

static __u64 record_seq(json_t *rec)
{
	json_t *s = json_object_get(rec, "seq");

	return json_is_integer(s) && json_integer_value(s) > 0 ? json_integer_value(s) : 0;
}

/* The fleet's record, when it is laid over the tables (the caller holds d->lock or runs in the loop). */
static json_t *record_in_force(const struct daemon *d)
{
	return d->o->store && d->vd.fleet ? d->vd.record : NULL;
}

bool verdicts_in_force(struct daemon *d)
{
	return record_in_force(d) != NULL;
}

void verdicts_record(struct daemon *d, json_t *value, __s64 mod_rev)
{
	struct dverdicts *v = &d->vd;
	json_t *rec = json_is_object(value) ? value : NULL;

	if (value && !rec)
		dlog(4, "fleet verdicts: decide/health is not a JSON object: ignored (own "
		     "verdicts until the leader writes it again)");
	pthread_mutex_lock(&d->lock);
	if (!json_equal(rec, v->record) || (!rec) != (!v->record)) {
		d->pending = true;	/* laid over the tables on the next turn */
		d->fl.dirty = true;	/* fleet_health.seq */
	}
	json_decref(v->record);
	v->record = json_incref(rec);
	v->mod_rev = rec ? mod_rev : 0;
	v->seq = record_seq(rec);
	v->read_again = true;
	pthread_mutex_unlock(&d->lock);
	if (rec && v->seq != v->said_seq) {
		char *down = json_dumps(json_object_get(rec, "down"), JSON_COMPACT | JSON_SORT_KEYS);

		dlog(6, "fleet verdicts: decide/health seq %llu by %s (generation %lld): down %s",
		     (unsigned long long)v->seq,
		     json_string_value(json_object_get(rec, "leader")) ?: "?",
		     (long long)json_integer_value(json_object_get(rec, "generation")),
		     down ?: "?");
		free(down);
		v->said_seq = v->seq;
	}
	if (v->write_busy || v->wrote_seq)
		v->judge_due = true;	/* the leader's own write came back, or another's */
}

/*
 * One backend's view under the fleet's record (in force): down when the
 * record holds it down.  False when the record is not in force: own verdicts.
 */
bool verdicts_fleet_view(struct daemon *d, const char *service, const struct xlb_backend_conf *b,
			 struct xlb_health_view *view)
{
	json_t *rec = record_in_force(d);
	char a[INET6_ADDRSTRLEN];

	if (!rec)
		return false;
	xlb_addr_str(&b->addr, b->family, a, sizeof(a));
	view->up = !xlb_fleet_record_down(rec, service, a);
	view->fail_run = 0;
	return true;
}

/* Does the fleet's record in force say the floor kept service's failed backends in? */
bool verdicts_floor(struct daemon *d, const char *service)
{
	json_t *rec = record_in_force(d), *s;
	size_t i;

	json_array_foreach(json_object_get(rec, "floor"), i, s)
		if (json_is_string(s) && !strcmp(json_string_value(s), service))
			return true;
	return false;
}

/* ---- the mode: the fleet's verdicts or the node's own ------------------------ */

static void read_done(void *ctx, int err, json_t *answer)
{
	struct daemon *d = ctx;
	struct dverdicts *v = &d->vd;
	json_t *kv = json_array_get(json_object_get(answer, "kvs"), 0), *j = NULL;
	size_t len = 0;
	char *text;

	v->read_busy = false;
	if (err) {
		v->read_ms = now_ms() + VERDICTS_READ_RETRY_MS;
		return;
	}
	text = kv ? xlb_store_b64(kv, "value", &len) : NULL;
	j = text ? json_loadb(text, len, 0, NULL) : NULL;
	if (text && !j)
		j = json_string("not JSON");	/* said by verdicts_record */
	verdicts_record(d, j, kv ? xlb_store_i64(kv, "mod_revision") : 0);
	json_decref(j);
	free(text);
}

/* decide/health read again on the follow job's handle (after the store came back). */
static void read_again(struct daemon *d)
{
	struct dverdicts *v = &d->vd;
	char key[256], *k;
	json_t *body;

	if (v->read_busy || now_ms() < v->read_ms)
		return;
	xlb_fleet_key(key, sizeof(key), d->o->store->fleet, "decide", "health");
	k = follow_b64(key, strlen(key));
	body = k ? json_pack("{s:s}", "key", k) : NULL;
	v->read_busy = body && !xlb_store_async_post(d->fl.st, "/v3/kv/range", body, read_done, d);
	if (!v->read_busy)
		v->read_ms = now_ms() + VERDICTS_READ_RETRY_MS;
	json_decref(body);
	free(k);
}

static void set_mode(struct daemon *d, bool fleet, const char *why)
{
	struct dverdicts *v = &d->vd;
	char what[120];

	pthread_mutex_lock(&d->lock);
	v->fleet = fleet;
	d->pending = true;	/* the overlay goes again with the other verdicts */
	d->fl.dirty = true;
	pthread_mutex_unlock(&d->lock);
	snprintf(what, sizeof(what), "node %s: %s", d->o->node, fleet ?
		 "the fleet's health verdicts" : "its own health verdicts");
	dlog(fleet ? 5 : 4, "fleet verdicts: %s: %s", !fleet ? "falling back to this node's own "
	     "verdicts" : v->fell_back ? "following the fleet's verdicts again" :
	     "following the fleet's verdicts", why);
	if (fleet && !v->fell_back)
		return;		/* the first record read: nothing to record */
	decide_event(d, fleet ? "rejoin" : "fallback", what, why);
	v->fell_back = !fleet;
}

/* Would the record read change nothing the tables hold (its down set is this node's)? */
static bool agrees(struct daemon *d)
{
	bool same = true;

	pthread_mutex_lock(&d->lock);
	for (__u32 i = 0; i < d->nr_be && same; i++) {
		const struct dbackend *b = &d->be[i];
		char a[INET6_ADDRSTRLEN];

		if (b->present && b->checked)
			same = xlb_fleet_record_down(d->vd.record, b->service,
						     addr_s(b, a, sizeof(a))) == b->health_down;
	}
	pthread_mutex_unlock(&d->lock);
	return same;
}

/* This node's status (its views) put since the store answers again, and answered. */
static bool published(struct daemon *d)
{
	return d->fl.published_ms >= d->vd.back_ms && !d->fl.put_busy && !d->fl.dirty;
}

/* Fleet or own: the store lost past the grace, back and read again. */
static void mode_tick(struct daemon *d)
{
	struct dverdicts *v = &d->vd;
	struct dfollow *f = &d->fl;
	__u64 grace = d->o->health_grace_ms;
	char why[200];

	if (v->fleet && !v->record) {
		set_mode(d, false, "decide/health is gone from the store");
		return;
	}
	if (v->fleet && !f->reachable && f->lost_since && now_ms() - f->lost_ms >= grace) {
		snprintf(why, sizeof(why), "the store has been lost for %llu s (--health-grace "
			 "%llu ms)", (unsigned long long)(now_ms() - f->lost_ms) / 1000,
			 (unsigned long long)grace);
		v->read_again = false;
		v->fallback_seq = v->seq;
		set_mode(d, false, why);
		return;
	}
	if (!f->reachable)
		v->back_ms = 0;
	if (v->fleet || !f->reachable)
		return;
	if (!v->back_ms)
		v->back_ms = now_ms();
	if (!v->read_again) {
		read_again(d);
		return;
	}
	if (!v->record)
		return;
	/*
	 * After a fallback, the record read again may have been judged before the
	 * outage: laid over the tables at once it could put back a backend every
	 * node has seen die meanwhile.  So the fleet's verdicts come back when
	 * they agree with what the tables hold, when the leader has written since
	 * (judged on the views published after the outage: a leader writes after
	 * every outage and in every new term, changed or not), or, the last
	 * resort when no leader writes, VERDICTS_REJOIN_MS after this node's
	 * views were published again.  (A shorter wait let a node rejoin on the
	 * old record while a loaded fleet was still electing or judging: its
	 * tables changed twice.)
	 */
	if (v->fell_back && !agrees(d) && v->seq <= v->fallback_seq &&
	    (!published(d) || now_ms() - d->fl.published_ms < VERDICTS_REJOIN_MS))
		return;
	snprintf(why, sizeof(why), "the store answers and decide/health seq %llu is read",
		 (unsigned long long)v->seq);
	set_mode(d, true, why);
}

/* ---- the sick one: this node alone sees a backend down ------------------------ */

/* Does the fleet hold b up while a majority of the nodes sees it up? */
static bool fleet_holds_up(struct daemon *d, const struct dbackend *b, unsigned int *up,
			   unsigned int *voters)
{
	json_t *rec = record_in_force(d);
	char a[INET6_ADDRSTRLEN];
	unsigned int down;

	*up = *voters = 0;
	if (!rec || !d->fl.reachable)
		return false;	/* a record not kept current says nothing of the others now */
	addr_s(b, a, sizeof(a));
	xlb_fleet_record_views(rec, b->service, a, up, &down);
	*voters = *up + down;
	return !xlb_fleet_record_down(rec, b->service, a) && 2 * down <= *voters;
}

/* After each of b's checks (checks.c, under d->lock): its run of checks alone. */
void verdicts_checked(struct daemon *d, struct dbackend *b)
{
	unsigned int up, voters;
	__u32 was = b->disagree_run;

	if (!b->h.up && fleet_holds_up(d, b, &up, &voters))
		b->disagree_run++;
	else
		b->disagree_run = 0;
	/* published when a disagreement starts, grows to the threshold, or ends */
	if ((was == 0) != (b->disagree_run == 0) ||
	    (b->disagree_run && b->disagree_run <= VERDICTS_SICK_CHECKS))
		d->fl.dirty = true;
}

/* The first backend this node alone has seen down long enough, with why (under d->lock). */
static void sick_why(struct daemon *d, char *why, size_t len, __u32 *disagree)
{
	why[0] = '\0';
	*disagree = 0;
	for (__u32 i = 0; i < d->nr_be; i++) {
		struct dbackend *b = &d->be[i];
		unsigned int up, voters;
		char a[INET6_ADDRSTRLEN];

		if (!b->present || !b->checked || !b->disagree_run)
			continue;
		if (!fleet_holds_up(d, b, &up, &voters)) {
			b->disagree_run = 0;	/* the fleet's record changed: it agrees now */
			continue;
		}
		(*disagree)++;
		if (why[0] || b->disagree_run < VERDICTS_SICK_CHECKS)
			continue;
		snprintf(why, len, "this node alone sees service %s backend %s down (the fleet "
			 "holds it up: %u of %u nodes see it up) for %u checks", b->service,
			 addr_s(b, a, sizeof(a)), up, voters, b->disagree_run);
	}
}

/* Withdrawn while it alone sees a backend down; rejoins when it agrees again. */
static void sick_tick(struct daemon *d)
{
	struct dverdicts *v = &d->vd;
	char why[sizeof(v->sick)], what[120];
	__u32 disagree;
	bool was;

	pthread_mutex_lock(&d->lock);
	sick_why(d, why, sizeof(why), &disagree);
	v->disagree = disagree;
	was = v->sick[0] != '\0';
	if (was == !!why[0]) {
		if (why[0])	/* the count in it goes on: kept current for the page */
			snprintf(v->sick, sizeof(v->sick), "%s", why);
		pthread_mutex_unlock(&d->lock);
		return;
	}
	snprintf(v->sick_said, sizeof(v->sick_said), "%s", was ? v->sick : why);
	snprintf(v->sick, sizeof(v->sick), "%s", why);
	d->fl.dirty = true;
	pthread_mutex_unlock(&d->lock);
	snprintf(what, sizeof(what), "node %s: %s its VIPs", d->o->node,
		 why[0] ? "withdraws" : "announces");
	if (why[0]) {
		dlog(4, "fleet verdicts: withdrawing this node's VIPs: %s", why);
		decide_event(d, "withdrawn", what, why);
	} else {
		char back[400];

		snprintf(back, sizeof(back), "it agrees with the fleet again (before: %s)",
			 v->sick_said);
		dlog(5, "fleet verdicts: rejoining: %s", back);
		decide_event(d, "rejoin", what, back);
	}
}

void decide_announce_why(struct daemon *d, char *why, size_t len)
{
	snprintf(why, len, "%s", d->vd.sick);
}

/* ---- what the node publishes -------------------------------------------------- */

/* "views" and "fleet_health" of the status record (new reference; takes d->lock). */
json_t *verdicts_status(struct daemon *d)
{
	struct dverdicts *v = &d->vd;
	json_t *views = json_object(), *dis = json_array(), *o;

	pthread_mutex_lock(&d->lock);
	for (__u32 i = 0; views && dis && i < d->nr_be; i++) {
		const struct dbackend *b = &d->be[i];
		json_t *sv = json_object_get(views, b->service);
		char a[INET6_ADDRSTRLEN];

		if (!b->present || !b->checked)
			continue;
		if (!sv)
			json_object_set_new(views, b->service, sv = json_object());
		addr_s(b, a, sizeof(a));
		json_object_set_new(sv, a, json_pack("{s:b,s:I,s:I,s:I}", "up", b->h.up,
			"ok_run", (json_int_t)b->h.ok_run, "fail_run", (json_int_t)b->h.fail_run,
			"checks", (json_int_t)b->h.checks));
		if (b->disagree_run)
			json_array_append_new(dis, json_pack("{s:s,s:s,s:I}", "service", b->service,
				"backend", a, "checks", (json_int_t)b->disagree_run));
	}
	o = json_pack("{s:o,s:{s:I,s:s,s:o}}", "views", views, "fleet_health", "seq",
		      (json_int_t)(record_in_force(d) ? v->seq : 0), "mode",
		      record_in_force(d) ? "fleet" : "own", "disagree", dis);
	pthread_mutex_unlock(&d->lock);
	return o;
}

/* ---- the leader: judging and writing decide/health ------------------------------ */

void verdicts_nodes_changed(struct daemon *d)
{
	d->vd.judge_due = true;
}

/* The write's context: the events after the first, written once it landed. */
struct judged {
	__u64 seq;
	struct xlb_fleet_change *more;
	size_t nr_more;
};

static void write_done(struct daemon *d, int err, bool succeeded, void *ctx)
{
	struct dverdicts *v = &d->vd;
	struct judged *j = ctx;

	v->write_busy = false;
	if (err || !succeeded) {
		dlog(err ? 4 : 6, "fleet verdicts: decide/health seq %llu not written (%s): judged "
		     "again", (unsigned long long)j->seq, err ? strerror(-err) :
		     "the record or the term changed since it was read");
		v->wrote_seq = 0;
		v->judge_due = true;
		v->must_write = true;
		v->judge_ms = now_ms() + 100;	/* the watch brings the record read first */
	} else {
		pthread_mutex_lock(&d->lock);
		v->written++;
		pthread_mutex_unlock(&d->lock);
		for (size_t i = 0; i < j->nr_more; i++) {
			char what[200];

			snprintf(what, sizeof(what), "service %s backend %s %s", j->more[i].service,
				 j->more[i].backend, j->more[i].down ? "down" : "up");
			decide_event(d, "verdict", what, j->more[i].why);
		}
	}
	free(j->more);
	free(j);
}

/* decide/health's JSON: the verdict, this leader's term, the next seq. */
static char *record_text(struct daemon *d, const struct xlb_fleet_verdict *fv, __s64 term,
			 __u64 seq)
{
	char now[32], *text;
	json_t *rec;

	xlb_fleet_now_iso(now, sizeof(now));
	rec = json_pack("{s:I,s:s,s:I,s:s,s:I,s:O,s:O,s:O}", "term", (json_int_t)term, "leader",
			d->o->node, "seq", (json_int_t)seq, "when", now, "generation",
			(json_int_t)d->fl.applied, "down", fv->down, "floor", fv->floor,
			"views", fv->views);
	text = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(rec);
	return text;
}

/* What the first event says: the first changed backend, or the views alone. */
static void first_event(const struct xlb_fleet_verdict *fv, __u64 gen_was, __u64 gen,
			char *what, size_t wlen, char *why, size_t ylen)
{
	if (fv->nr_changes) {
		snprintf(what, wlen, "service %s backend %s %s", fv->changes[0].service,
			 fv->changes[0].backend, fv->changes[0].down ? "down" : "up");
		snprintf(why, ylen, "%s", fv->changes[0].why);
	} else if (gen != gen_was) {
		snprintf(what, wlen, "health judged against generation %llu",
			 (unsigned long long)gen);
		snprintf(why, ylen, "the fleet's generation changed (was %llu)",
			 (unsigned long long)gen_was);
	} else if (fv->changed) {
		snprintf(what, wlen, "the nodes' views");
		snprintf(why, ylen, "the nodes' views changed; no backend's fleet state did");
	} else {
		snprintf(what, wlen, "the nodes' views judged again");
		snprintf(why, ylen, "a new term, or the store is back: nodes that fell back "
			 "follow a record judged since");
	}
}

/* Write fv as the next decide/health, conditioned on the record as read. */
static void write_record(struct daemon *d, const struct xlb_fleet_verdict *fv, __s64 term)
{
	struct dverdicts *v = &d->vd;
	__u64 gen_was = json_integer_value(json_object_get(v->record, "generation"));
	struct judged *j;
	char key[256], what[200], why[200], *text;
	struct xlb_cmp cmp;
	struct xlb_op op;
	int err;

	xlb_fleet_key(key, sizeof(key), d->o->store->fleet, "decide", "health");
	j = calloc(1, sizeof(*j));
	text = j ? record_text(d, fv, term, v->seq + 1) : NULL;
	if (j && fv->nr_changes > 1) {
		j->more = malloc((fv->nr_changes - 1) * sizeof(*j->more));
		if (j->more) {
			memcpy(j->more, fv->changes + 1, (fv->nr_changes - 1) * sizeof(*j->more));
			j->nr_more = fv->nr_changes - 1;
		}
	}
	if (!text) {
		dlog(3, "fleet verdicts: cannot write decide/health: out of memory");
		goto fail;
	}
	j->seq = v->seq + 1;
	cmp = (struct xlb_cmp){ .key = key, .target = v->record ? XLB_CMP_MOD : XLB_CMP_VERSION,
				.result = XLB_CMP_EQUAL, .number = v->record ? v->mod_rev : 0 };
	op = (struct xlb_op){ .type = XLB_OP_PUT, .key = key, .value = text };
	first_event(fv, gen_was, d->fl.applied, what, sizeof(what), why, sizeof(why));
	err = decide_write(d, &cmp, 1, &op, 1, "verdict", what, why, write_done, j);
	if (err) {
		if (err != -ESTALE)
			dlog(4, "fleet verdicts: cannot write decide/health: %s", strerror(-err));
		goto fail;
	}
	dlog(5, "fleet verdicts: writing decide/health seq %llu: %s: %s%s",
	     (unsigned long long)j->seq, what, why, fv->nr_changes > 1 ? " (and more)" : "");
	v->write_busy = true;
	v->must_write = false;
	v->wrote_seq = j->seq;
	v->wrote_ms = now_ms();
	free(text);
	return;
fail:
	v->judge_due = true;
	v->judge_ms = now_ms() + VERDICTS_READ_RETRY_MS;
	if (j)
		free(j->more);
	free(j);
	free(text);
}

/*
 * The store lost: the newest revision this daemon saw marks the records put
 * before the loss.  The nodes' views could not be published meanwhile, so a
 * record from before it is no vote after it (judged on, it would put back a
 * backend every node saw die during the outage); each node puts its status
 * again as soon as the store answers, and then votes.
 */
static void stale_tick(struct daemon *d)
{
	struct dverdicts *v = &d->vd;
	__s64 rev = d->fl.watch_rev;

	if (d->fl.reachable) {
		if (v->lost_seen) {
			v->back_at = now_ms();
			v->must_write = true;	/* nodes back from a fallback wait for it */
		}
		v->lost_seen = false;
		return;
	}
	if (v->lost_seen)
		return;
	v->lost_seen = true;
	if (d->dc.watch_rev > rev)
		rev = d->dc.watch_rev;
	if (d->dc.nodes_rev > rev)
		rev = d->dc.nodes_rev;
	if (rev - 1 > v->stale_rev)
		v->stale_rev = rev - 1;
}

/*
 * The live nodes' records that vote: put after the store's last loss (new
 * reference, *stale the others).  NULL while some are stale and the store
 * has answered for less than VERDICTS_STALE_WAIT_MS (they are put again at
 * once, and a judgement without them would be written, and followed), and
 * while no live node has a record.
 */
static json_t *voters(struct daemon *d)
{
	json_t *all = decide_nodes(d), *out = json_object(), *rec;
	unsigned int stale = 0;
	const char *name;

	json_object_foreach(all, name, rec)
		if (!d->vd.stale_rev ||
		    json_integer_value(json_object_get(rec, "_mod_rev")) > d->vd.stale_rev)
			json_object_set(out, name, rec);
		else
			stale++;
	if (stale && now_ms() - d->vd.back_at < VERDICTS_STALE_WAIT_MS) {
		json_decref(out);
		return NULL;
	}
	/* no node's view yet (leases lost in an outage, put again soon): no judgement
	   (one of nothing would put back every backend the nodes saw die) */
	if (!json_object_size(out)) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* Judge the nodes' views now; write when the record changes. */
static void judge(struct daemon *d, __s64 term)
{
	struct dverdicts *v = &d->vd;
	struct xlb_fleet_verdict fv = { 0 };
	struct xlb_config base;
	__u64 gen_was = json_integer_value(json_object_get(v->record, "generation"));
	json_t *nodes = voters(d);
	int err;

	if (!nodes) {	/* views from before the store's loss: judged when put again */
		v->judge_ms = now_ms() + 100;
		return;
	}
	/* judged against the running configuration without this node's verdicts (running_base):
	 * every checked backend the fleet has active is judged */
	if (running_base(d, &base)) {
		json_decref(nodes);
		return;		/* nothing runs yet: judged when a generation is */
	}
	v->judge_due = false;
	v->judged_term = term;
	v->judged_gen = d->fl.applied;
	err = xlb_fleet_judge(nodes, &base, v->record, &fv);
	json_decref(nodes);
	if (err) {
		dlog(3, "fleet verdicts: cannot judge: out of memory");
		v->judge_due = true;
		v->judge_ms = now_ms() + VERDICTS_READ_RETRY_MS;
	} else if (fv.changed || !v->record || gen_was != d->fl.applied || v->must_write) {
		write_record(d, &fv, term);
	}
	xlb_fleet_verdict_free(&fv);
	xlb_config_free(&base);
}

static void leader_tick(struct daemon *d)
{
	struct dverdicts *v = &d->vd;
	__s64 term = 0;

	if (!decide_leading(d, &term)) {
		v->judged_term = 0;
		v->wrote_seq = 0;
		return;
	}
	if (term != v->judged_term)
		v->must_write = true;	/* a new term's first judgement is written */
	if (term != v->judged_term || d->fl.applied != v->judged_gen)
		v->judge_due = true;
	if (!v->judge_due || v->write_busy || now_ms() < v->judge_ms)
		return;
	/* its own write is judged upon once the watch brought it back (mod revision) */
	if (v->wrote_seq && v->seq < v->wrote_seq && now_ms() - v->wrote_ms < VERDICTS_WAIT_MS)
		return;
	v->wrote_seq = 0;
	judge(d, term);
}

/* ---- every loop turn ------------------------------------------------------------ */

void verdicts_tick(struct daemon *d)
{
	struct dverdicts *v = &d->vd;

	if (!d->o->store || !d->fl.st)
		return;
	stale_tick(d);
	mode_tick(d);
	sick_tick(d);
	leader_tick(d);
	pthread_mutex_lock(&d->lock);
	v->m.fleet = record_in_force(d) != NULL;
	v->m.seq = v->m.fleet ? v->seq : 0;
	v->m.disagree = v->disagree;
	v->m.written = v->written;
	pthread_mutex_unlock(&d->lock);
}

/* The status page's health row (page_fill, follow.c). */
void verdicts_page(struct daemon *d, struct xlb_page_fleet *p)
{
	struct dverdicts *v = &d->vd;

	p->health_fleet = record_in_force(d) != NULL;
	p->health_seq = p->health_fleet ? v->seq : 0;
	p->health_disagree = v->disagree;
	snprintf(p->health_sick, sizeof(p->health_sick), "%s", v->sick);
}

void verdicts_stop(struct daemon *d)
{
	json_decref(d->vd.record);
	d->vd.record = NULL;
}
