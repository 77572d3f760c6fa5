/*
 * Fleet rollouts from the command line: xlb fleet apply FILE --steps N
 * --step-time D (the start: decide/rollout created for the leader), xlb fleet
 * rollout status|pause|resume|abort, and the guard that refuses a plain
 * apply or rollback while one is active.  The leader alone moves a rollout
 * on (daemon/fleetroll.c); the commands write its record and requests, each
 * in one transaction conditioned on the record as read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include "change.h"
#include "cmd.h"
#include "fault.h"
#include "fleetsteps.h"
#include "fleetrollout.h"
#include "log.h"
#include "utf8.h"

#define REQUEST_WAIT_MS	15000	/* how long pause|resume|abort waits for the leader */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static __s64 mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__s64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fleetroll_read(struct xlb_store *s, const char *fleet, struct xlb_fleet_rollout *r)
{
	struct xlb_kvs kvs = { 0 };
	json_t *j;
	char key[256];
	int err;

	memset(r, 0, sizeof(*r));
	xlb_fleet_key(key, sizeof(key), fleet, "decide/rollout", NULL);
	if ((err = xlb_store_get(s, key, false, &kvs)))
		return err;
	if (!kvs.nr) {
		xlb_kvs_free(&kvs);
		return 0;
	}
	j = json_loadb(kvs.kv[0].value, kvs.kv[0].value_len, 0, NULL);
	err = j ? xlb_fleet_rollout_from_json(j, r) : xlb_errf(-EINVAL, "not JSON");
	if (err) {
		char why[300];

		snprintf(why, sizeof(why), "%s", xlb_errmsg());	/* xlb_errf writes over it */
		err = xlb_errf(-EINVAL, "%s in the store is not a rollout record: %s (delete it "
			       "with etcdctl when no rollout runs)", key, why);
	}
	else
		r->mod_rev = kvs.kv[0].mod_rev;
	json_decref(j);
	xlb_kvs_free(&kvs);
	return err;
}

int fleetroll_guard(struct xlb_store *s, const struct xlb_store_opts *o, const char *verb)
{
	struct xlb_fleet_rollout r;
	char why[1024];
	int err = fleetroll_read(s, o->fleet, &r);

	if (err)
		return store_failed(o, err, "fleet rollout record");
	if (!r.mod_rev || !xlb_fleet_rollout_active(&r))
		return 0;
	xlb_fleet_rollout_busy(&r, o->fleet, why, sizeof(why));
	p_err("%s refused, nothing written: %s", verb, why);
	return XLB_EXIT_REFUSED;
}

/* The leader's record (decide/leader), NULL when none. */
static json_t *read_leader(struct xlb_store *s, const char *fleet)
{
	struct xlb_kvs kvs = { 0 };
	json_t *j = NULL;
	char key[256];

	xlb_fleet_key(key, sizeof(key), fleet, "decide/leader", NULL);
	if (!xlb_store_get(s, key, false, &kvs) && kvs.nr)
		j = json_loadb(kvs.kv[0].value, kvs.kv[0].value_len, 0, NULL);
	xlb_kvs_free(&kvs);
	return json_is_object(j) ? j : (json_decref(j), NULL);
}

/* ---- the start --------------------------------------------------------------------- */

/*
 * Put the record of a new rollout: one transaction conditioned on desired
 * as read (prev) and decide/rollout as read (old: absent, or ended).  The
 * store failing during it: sent again (the conditions make a late copy
 * harmless) and read back until the deadline.  0, 1 refused (said), -errno.
 */
static int put_new(struct xlb_store *s, const char *fleet, const struct xlb_fleet_desired *prev,
		   const struct xlb_fleet_rollout *old, const struct xlb_fleet_rollout *r)
{
	char dkey[256], rkey[256], *text = xlb_fleet_rollout_text(r);
	struct xlb_cmp cmp[2] = {
		{ .key = dkey, .target = XLB_CMP_MOD, .result = XLB_CMP_EQUAL,
		  .number = prev->mod_rev },
		{ .key = rkey, .target = old->mod_rev ? XLB_CMP_MOD : XLB_CMP_VERSION,
		  .result = XLB_CMP_EQUAL, .number = old->mod_rev },
	};
	struct xlb_op put = { .type = XLB_OP_PUT, .key = rkey, .value = text };
	struct xlb_txn_result res = { 0 };
	__s64 end = mono_ms() + XLB_STORE_WRITE_TIMEOUT_MS;
	struct xlb_fleet_rollout now;
	struct xlb_fleet_desired d;
	int err;

	if (!text)
		return xlb_errf(-ENOMEM, "out of memory");
	xlb_fleet_key(dkey, sizeof(dkey), fleet, "desired", NULL);
	xlb_fleet_key(rkey, sizeof(rkey), fleet, "decide/rollout", NULL);
	while ((err = xlb_store_txn(s, cmp, 2, &put, 1, NULL, 0, &res)) == -ETIMEDOUT &&
	       mono_ms() < end)
		;
	free(text);
	if (err)
		return err;
	err = res.succeeded ? 0 : 1;
	xlb_txn_result_free(&res);
	if (!err || fleetroll_read(s, fleet, &now) || (now.mod_rev && !strcmp(now.id, r->id)))
		return 0;	/* its own record: a copy sent before landed */
	if (now.mod_rev != old->mod_rev && xlb_fleet_rollout_active(&now)) {
		char why[1024];

		xlb_fleet_rollout_busy(&now, fleet, why, sizeof(why));
		p_err("nothing started: another rollout began meanwhile: %s", why);
	} else if (!xlb_fleet_read_desired(s, fleet, &d) && d.mod_rev != prev->mod_rev) {
		p_err("nothing started: the fleet's desired configuration changed meanwhile "
		      "(generation %llu by %s): plan again", (unsigned long long)d.generation,
		      d.who);
	} else {
		p_err("nothing started: the rollout record changed meanwhile: try again");
	}
	return 1;
}

/* A new record: from desired (the start) to the target fp. */
static void new_record(struct xlb_fleet_rollout *r, const struct xlb_fleet_desired *from,
		       const char *target_fp, unsigned int steps, long long step_ms,
		       const char *reason, bool forced)
{
	unsigned char b[4] = { 0 };
	time_t now = time(NULL);

	memset(r, 0, sizeof(*r));
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		memcpy(b, &now, sizeof(b));
	snprintf(r->id, sizeof(r->id), "r%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
	r->state = XLB_ROLLOUT_RUNNING;
	r->start_gen = from->generation;
	snprintf(r->from_fp, sizeof(r->from_fp), "%s", from->fingerprint);
	snprintf(r->target_fp, sizeof(r->target_fp), "%s", target_fp);
	r->steps = steps;
	r->step_ms = step_ms;
	xlb_utf8_trunc(r->who, sizeof(r->who), xlb_who());
	xlb_utf8_trunc(r->reason, sizeof(r->reason), reason);
	strftime(r->started, sizeof(r->started), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	r->forced = forced;
}

static void print_started(const struct xlb_fleet_rollout *r, const char *fleet, json_t *leader)
{
	if (xlb_json) {
		json_t *j = xlb_fleet_rollout_to_json(r);

		json_object_set_new(j, "fleet", json_string(fleet));
		json_object_set_new(j, "leader", leader ? json_incref(leader) : json_null());
		json_emit(j);
		return;
	}
	printf("fleet %s: rollout %s started: %u steps of %.1f s from generation %llu (%s) to "
	       "configuration %s; the leader writes each step: xlb fleet rollout status\n",
	       fleet, r->id, r->steps, r->step_ms / 1000.0, (unsigned long long)r->start_gen,
	       r->from_fp, r->target_fp);
	if (!leader)
		pr_warn("fleet %s has no leader now: the rollout starts when a daemon is "
			"elected\n", fleet);
}

int fleetroll_start(struct xlb_store *s, const struct xlb_store_opts *o,
		    const struct fleetroll_start *st)
{
	struct xlb_fleet_rollout old, r;
	char why[1024], fp[17];
	json_t *leader;
	int err;

	err = xlb_rollout_check(st->from, st->target, st->steps, st->force, why, sizeof(why));
	if (err == -EINVAL || err == -EPERM) {
		p_err("fleet apply --steps %u refused, nothing written: %s%s", st->steps, why,
		      err == -EPERM ? " (--force overrides)" : "");
		return XLB_EXIT_REFUSED;
	}
	if (err)
		return XLB_EXIT_SYSTEM;
	if ((err = fleetroll_read(s, o->fleet, &old)))
		return store_failed(o, err, "fleet rollout record");
	if (old.mod_rev && xlb_fleet_rollout_active(&old)) {
		xlb_fleet_rollout_busy(&old, o->fleet, why, sizeof(why));
		p_err("nothing started: %s", why);
		return XLB_EXIT_REFUSED;
	}
	if ((err = xlb_fleet_put_config(s, o->fleet, st->target, fp)))
		return store_failed(o, err, "the target configuration's body, nothing started");
	new_record(&r, st->desired, fp, st->steps, st->step_ms, st->reason, st->force);
	/* tests: two starts (or a start and an apply) both past their reads before either writes */
	err = xlb_fault("fleet-rollout") ?: put_new(s, o->fleet, st->desired, &old, &r);
	if (err < 0)
		return store_failed(o, err, "the rollout record (nothing started, unless xlb "
				    "fleet rollout status shows it)");
	if (err)
		return XLB_EXIT_REFUSED;
	if (st->force && !xlb_json)
		pr_warn("guards overridden with --force (recorded in the rollout)\n");
	leader = read_leader(s, o->fleet);
	print_started(&r, o->fleet, leader);
	json_decref(leader);
	return 0;
}

/* ---- status, pause, resume, abort ------------------------------------------------ */

/* Which step of r a generation is: "the start", "step K", or "". */
static void step_of(const struct xlb_fleet_rollout *r, long long gen, char *buf, size_t len)
{
	buf[0] = '\0';
	if (gen == (long long)r->start_gen)
		snprintf(buf, len, "the start");
	for (__u32 i = 0; i < r->nr_gens; i++)
		if (gen == (long long)r->gens[i])
			snprintf(buf, len, "step %u", i + 1);
}

/* The live nodes as the rollout sees them: node, generation, step, refused. */
static json_t *nodes_view(const struct xlb_fleet_rollout *r, json_t *nodes)
{
	json_t *out = json_array(), *n;
	size_t i;

	json_array_foreach(nodes, i, n) {
		long long gen = json_integer_value(json_object_get(n, "generation"));
		json_t *ref = json_object_get(n, "refused");
		char step[32];

		step_of(r, gen, step, sizeof(step));
		json_array_append_new(out, json_pack("{s:O,s:I,s:s,s:O}", "node",
				      json_object_get(n, "node"), "generation", (json_int_t)gen,
				      "step", step, "refused", json_is_object(ref) ? ref :
				      json_null()));
	}
	return out;
}

static void print_status(const struct xlb_fleet_rollout *r, const char *fleet, json_t *leader,
			 json_t *nodes)
{
	json_t *n;
	size_t i;

	printf("fleet %s: rollout %s: %s, step %u of %u (a step every %.1f s), from generation "
	       "%llu (%s) to configuration %s, by %s at %s%s: %s\n", fleet, r->id,
	       xlb_rollout_state_names[r->state], r->step, r->steps, r->step_ms / 1000.0,
	       (unsigned long long)r->start_gen, r->from_fp, r->target_fp, r->who, r->started,
	       r->forced ? " (forced)" : "", r->reason);
	if (r->nr_gens) {
		printf("  generations:");
		for (__u32 k = 0; k < r->nr_gens; k++)
			printf(" %llu", (unsigned long long)r->gens[k]);
		printf("\n");
	}
	if (xlb_fleet_rollout_active(r) && r->step)
		printf("  step %u: %s%s\n", r->step, r->step_since[0] ? "every live node runs it "
		       "since " : "waiting for every live node to run it", r->step_since);
	if (leader)
		printf("  leader: %s (since %s)\n", json_string_value(json_object_get(leader,
		       "node")) ?: "?", json_string_value(json_object_get(leader, "since")) ?: "?");
	else
		printf("  leader: none (the rollout moves on when a daemon is elected)\n");
	json_array_foreach(nodes, i, n) {
		json_t *ref = json_object_get(n, "refused");

		printf("  node %s: generation %lld%s%s%s", json_string_value(json_object_get(n,
		       "node")), (long long)json_integer_value(json_object_get(n, "generation")),
		       *json_string_value(json_object_get(n, "step")) ? " (" : "",
		       json_string_value(json_object_get(n, "step")),
		       *json_string_value(json_object_get(n, "step")) ? ")" : "");
		if (json_is_object(ref))
			printf(", refused generation %lld: %s", (long long)json_integer_value(
			       json_object_get(ref, "generation")), json_string_value(
			       json_object_get(ref, "why")) ?: "?");
		printf("\n");
	}
	if (r->why[0])
		printf("  why: %s\n", r->why);
	if (r->request[0])
		printf("  requested: %s by %s (waiting for the leader)\n", r->request,
		       r->request_by);
}

/* Show r with the leader and the nodes: the exit status. */
static int show(struct xlb_store *s, const struct xlb_store_opts *o,
		const struct xlb_fleet_rollout *r)
{
	json_t *leader = read_leader(s, o->fleet), *nodes = NULL, *view;
	int err = xlb_fleet_read_nodes(s, o->fleet, &nodes);

	if (err) {
		json_decref(leader);
		return store_failed(o, err, "fleet nodes");
	}
	view = nodes_view(r, nodes);
	if (xlb_json)
		json_emit(json_pack("{s:s,s:o,s:o,s:o}", "fleet", o->fleet, "rollout",
				    xlb_fleet_rollout_to_json(r), "leader", leader ? json_incref(
				    leader) : json_null(), "nodes", json_incref(view)));
	else
		print_status(r, o->fleet, leader, view);
	json_decref(view);
	json_decref(nodes);
	json_decref(leader);
	return 0;
}

/* The store's rollout into r: 0, or the exit status (said; none: 1 when must). */
static int open_rollout(const struct store_args *a, struct xlb_store_opts *o,
			struct xlb_store **s, struct xlb_fleet_rollout *r, bool must)
{
	int rc, err;

	if ((rc = store_args_open(a, o, s)))
		return rc;
	if ((err = fleetroll_read(*s, o->fleet, r)))
		return store_failed(o, err, "fleet rollout record");
	if (r->mod_rev || !must)
		return 0;
	p_err("fleet %s has no rollout (xlb fleet apply FILE --steps N --step-time D starts one)",
	      o->fleet);
	return XLB_EXIT_REFUSED;
}

static int do_rollout_status(int argc, char **argv)
{
	struct xlb_fleet_rollout r;
	struct xlb_store_opts o;
	struct xlb_store *s = NULL;
	struct store_args a;
	int rc;

	if ((rc = store_args_take(&argc, argv, &a)))
		return rc;
	if (argc)
		return usage_error("fleet rollout status: takes no arguments but the store's");
	if ((rc = open_rollout(&a, &o, &s, &r, false)))
		goto out;
	if (!r.mod_rev) {
		if (xlb_json)
			json_emit(json_pack("{s:s,s:n}", "fleet", o.fleet, "rollout"));
		else
			printf("fleet %s: no rollout has run\n", o.fleet);
		goto out;
	}
	rc = show(s, &o, &r);
out:
	if (s)
		xlb_store_close(s);
	return rc;
}

/* Why what cannot be asked of r now ("" when it can). */
static void cannot(const struct xlb_fleet_rollout *r, const char *what, char *why, size_t len)
{
	why[0] = '\0';
	if (!xlb_fleet_rollout_active(r))
		snprintf(why, len, "rollout %s already ended (%s%s%s): nothing to %s", r->id,
			 xlb_rollout_state_names[r->state], r->why[0] ? ": " : "", r->why, what);
	else if (!strcmp(what, "pause") && r->state == XLB_ROLLOUT_PAUSED)
		snprintf(why, len, "rollout %s is paused already (xlb fleet rollout resume)", r->id);
	else if (!strcmp(what, "resume") && r->state == XLB_ROLLOUT_RUNNING)
		snprintf(why, len, "rollout %s is running, not paused", r->id);
}

/* request on r: conditioned on its mod revision. 0, 1 changed meanwhile, -errno. */
static int put_request(struct xlb_store *s, const char *fleet, struct xlb_fleet_rollout *r,
		       const char *what, const char *reason)
{
	char key[256], *text;
	struct xlb_cmp cmp = { .key = key, .target = XLB_CMP_MOD, .result = XLB_CMP_EQUAL,
			       .number = r->mod_rev };
	struct xlb_op put = { .type = XLB_OP_PUT, .key = key };
	struct xlb_txn_result res = { 0 };
	struct xlb_fleet_rollout now;
	char by[sizeof(r->request_by)];
	int err;

	snprintf(r->request, sizeof(r->request), "%s", what);
	snprintf(by, sizeof(by), "%s%s%s", xlb_who(), reason ? ": " : "", reason ?: "");
	xlb_utf8_trunc(r->request_by, sizeof(r->request_by), by);
	if (!(text = xlb_fleet_rollout_text(r)))
		return xlb_errf(-ENOMEM, "out of memory");
	put.value = text;
	xlb_fleet_key(key, sizeof(key), fleet, "decide/rollout", NULL);
	err = xlb_store_txn(s, &cmp, 1, &put, 1, NULL, 0, &res);
	free(text);
	if (err == -ETIMEDOUT && !fleetroll_read(s, fleet, &now) && !strcmp(now.id, r->id) &&
	    !strcmp(now.request, what) && !strcmp(now.request_by, r->request_by))
		err = 0, res.succeeded = true;	/* it landed (or the leader took it already) */
	if (err)
		return err;
	err = res.succeeded ? 0 : 1;
	xlb_txn_result_free(&res);
	return err;
}

/* Wait for the leader to take the request (its field cleared): 0 and *now, or -ETIMEDOUT. */
static int await_taken(struct xlb_store *s, const char *fleet, const char *id,
		       struct xlb_fleet_rollout *now)
{
	for (__s64 end = mono_ms() + REQUEST_WAIT_MS; mono_ms() < end; sleep_ms(200))
		if (!fleetroll_read(s, fleet, now) && (strcmp(now->id, id) || !now->request[0]))
			return 0;
	return -ETIMEDOUT;
}

static int request(int argc, char **argv, const char *what)
{
	struct xlb_fleet_rollout r, now;
	struct xlb_store_opts o;
	struct xlb_store *s = NULL;
	struct store_args a;
	const char *reason = NULL;
	char why[1024];
	int rc, err;

	if ((rc = store_args_take(&argc, argv, &a)))
		return rc;
	if (argc == 2 && !strcmp(argv[0], "--reason"))
		reason = argv[1];
	else if (argc)
		return usage_error("fleet rollout %s: takes [--reason TEXT] and the store's options",
				   what);
	if ((rc = open_rollout(&a, &o, &s, &r, true)))
		goto out;
	cannot(&r, what, why, sizeof(why));
	if (why[0]) {
		p_err("fleet %s: %s", o.fleet, why);
		rc = XLB_EXIT_REFUSED;
		goto out;
	}
	err = put_request(s, o.fleet, &r, what, reason);
	if (err) {
		if (err > 0)
			p_err("fleet %s: rollout %s changed meanwhile (the leader moved it on): "
			      "nothing written; see xlb fleet rollout status and try again",
			      o.fleet, r.id);
		rc = err > 0 ? XLB_EXIT_REFUSED : store_failed(&o, err, "the request");
		goto out;
	}
	if (await_taken(s, o.fleet, r.id, &now)) {
		p_err("fleet %s: the %s of rollout %s is written, but no leader took it in %d s "
		      "(is a daemon of the fleet elected? xlb fleet status); it is taken when one "
		      "is", o.fleet, what, r.id, REQUEST_WAIT_MS / 1000);
		rc = XLB_EXIT_SYSTEM;
		goto out;
	}
	rc = show(s, &o, &now);
out:
	if (s)
		xlb_store_close(s);
	return rc;
}

static int do_rollout_pause(int argc, char **argv) { return request(argc, argv, "pause"); }
static int do_rollout_resume(int argc, char **argv) { return request(argc, argv, "resume"); }
static int do_rollout_abort(int argc, char **argv) { return request(argc, argv, "abort"); }

int do_fleet_rollout(int argc, char **argv)
{
	static const struct cmd verbs[] = {
		{ "status", do_rollout_status },
		{ "pause", do_rollout_pause },
		{ "resume", do_rollout_resume },
		{ "abort", do_rollout_abort },
		{ NULL, NULL },
	};

	return cmd_dispatch(verbs, argc, argv, "fleet rollout verb");
}
