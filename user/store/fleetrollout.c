/* The fleet's stepped change: its record and the leader's pure decisions (fleetrollout.h). */
#define _GNU_SOURCE	/* strptime, timegm */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fleetrollout.h"
#include "log.h"

const char *const xlb_fleetroll_action_names[] = {
	"none", "pause", "resume", "clear", "abort", "write step", "wait", "applied",
	"restart window", "judge", "refused", "outside", "done", "rollback",
};

bool xlb_fleet_rollout_active(const struct xlb_fleet_rollout *r)
{
	return r->state == XLB_ROLLOUT_RUNNING || r->state == XLB_ROLLOUT_PAUSED;
}

long long xlb_fleet_time_ms(const char *s)
{
	struct tm tm = { 0 };
	const char *end;
	long long ms;
	int digits = 0, frac = 0;

	if (!s || !(end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return -1;
	ms = (long long)timegm(&tm) * 1000;
	if (*end == '.') {
		for (end++; *end >= '0' && *end <= '9'; end++)
			if (digits < 3) {
				frac = frac * 10 + (*end - '0');
				digits++;
			}
		if (!digits)
			return -1;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	return strcmp(end, "Z") ? -1 : ms + frac;
}

void xlb_fleet_now_ms_iso(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", s, ts.tv_nsec / 1000000);
}

/* A string field of at most len - 1 bytes into buf; false when it is not one. */
static bool text_of(json_t *j, const char *field, char *buf, size_t len)
{
	json_t *v = json_object_get(j, field);

	if (!json_is_string(v) || json_string_length(v) >= len)
		return false;
	snprintf(buf, len, "%s", json_string_value(v));
	return true;
}

static bool number_of(json_t *j, const char *field, long long min, long long max,
		      long long *out)
{
	json_t *v = json_object_get(j, field);

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return false;
	*out = json_integer_value(v);
	return true;
}

static bool fingerprint_ok(const char *s)
{
	return strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

static int state_of(json_t *j, struct xlb_fleet_rollout *r)
{
	const char *st = json_string_value(json_object_get(j, "state"));

	for (int i = 0; st && i <= XLB_ROLLOUT_FAILED; i++)
		if (!strcmp(st, xlb_rollout_state_names[i])) {
			r->state = i;
			return 0;
		}
	return xlb_errf(-EINVAL, "\"state\": one of running, paused, done, rolled_back, aborted, "
			"failed is expected");
}

static int request_of(json_t *j, struct xlb_fleet_rollout *r)
{
	if (!text_of(j, "request", r->request, sizeof(r->request)) ||
	    (r->request[0] && strcmp(r->request, "pause") && strcmp(r->request, "resume") &&
	     strcmp(r->request, "abort")))
		return xlb_errf(-EINVAL, "\"request\": \"\", \"pause\", \"resume\" or \"abort\" "
				"is expected");
	return 0;
}

/* gens: the generations written, one per step so far, each above the one before. */
static int gens_of(json_t *j, struct xlb_fleet_rollout *r)
{
	json_t *g = json_object_get(j, "gens"), *v;
	__u64 last = r->start_gen;
	size_t i;

	if (!json_is_array(g) || json_array_size(g) != r->step)
		return xlb_errf(-EINVAL, "\"gens\": an array of %u generations (one per step "
				"written) is expected", r->step);
	json_array_foreach(g, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) <= (json_int_t)last)
			return xlb_errf(-EINVAL, "\"gens\"[%zu]: a generation above %llu is "
					"expected", i, (unsigned long long)last);
		last = r->gens[r->nr_gens++] = json_integer_value(v);
	}
	return 0;
}

static int numbers_of(json_t *j, struct xlb_fleet_rollout *r)
{
	long long n;

	if (!number_of(j, "start_gen", 1, INT64_MAX, &n))
		return xlb_errf(-EINVAL, "\"start_gen\": a generation from 1 is expected");
	r->start_gen = n;
	if (!number_of(j, "steps", 1, XLB_ROLLOUT_MAX_STEPS, &n))
		return xlb_errf(-EINVAL, "\"steps\": 1..%d is expected", XLB_ROLLOUT_MAX_STEPS);
	r->steps = n;
	if (!number_of(j, "step", 0, r->steps, &n))
		return xlb_errf(-EINVAL, "\"step\": 0..%u is expected", r->steps);
	r->step = n;
	if (!number_of(j, "step_ms", 1, 86400LL * 1000, &n))
		return xlb_errf(-EINVAL, "\"step_ms\": 1..86400000 is expected");
	r->step_ms = n;
	return 0;
}

static int texts_of(json_t *j, struct xlb_fleet_rollout *r)
{
	json_t *since = json_object_get(j, "step_since");

	if (!text_of(j, "id", r->id, sizeof(r->id)) || r->id[0] != 'r' || strlen(r->id) != 9 ||
	    strspn(r->id + 1, "0123456789abcdef") != 8)
		return xlb_errf(-EINVAL, "\"id\": r and 8 hex digits are expected");
	if (!text_of(j, "from_fp", r->from_fp, sizeof(r->from_fp)) || !fingerprint_ok(r->from_fp))
		return xlb_errf(-EINVAL, "\"from_fp\": 16 hex digits are expected");
	if (!text_of(j, "target_fp", r->target_fp, sizeof(r->target_fp)) ||
	    !fingerprint_ok(r->target_fp))
		return xlb_errf(-EINVAL, "\"target_fp\": 16 hex digits are expected");
	if (!json_is_null(since) && (!text_of(j, "step_since", r->step_since,
					      sizeof(r->step_since)) ||
				     xlb_fleet_time_ms(r->step_since) < 0))
		return xlb_errf(-EINVAL, "\"step_since\": null or an RFC 3339 UTC time is expected");
	if (!text_of(j, "who", r->who, sizeof(r->who)) ||
	    !text_of(j, "reason", r->reason, sizeof(r->reason)) ||
	    !text_of(j, "started", r->started, sizeof(r->started)) ||
	    !text_of(j, "why", r->why, sizeof(r->why)))
		return xlb_errf(-EINVAL, "\"who\", \"reason\", \"started\" and \"why\" are expected "
				"as strings");
	if (json_object_get(j, "request_by") &&
	    !text_of(j, "request_by", r->request_by, sizeof(r->request_by)))
		return xlb_errf(-EINVAL, "\"request_by\": a string is expected");
	if (!json_is_boolean(json_object_get(j, "forced")))
		return xlb_errf(-EINVAL, "\"forced\": true or false is expected");
	r->forced = json_is_true(json_object_get(j, "forced"));
	return 0;
}

int xlb_fleet_rollout_from_json(json_t *j, struct xlb_fleet_rollout *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(j))
		return xlb_errf(-EINVAL, "not a JSON object");
	err = texts_of(j, r) ?: state_of(j, r) ?: request_of(j, r) ?: numbers_of(j, r) ?:
	      gens_of(j, r);
	if (err)
		memset(r, 0, sizeof(*r));
	return err;
}

json_t *xlb_fleet_rollout_to_json(const struct xlb_fleet_rollout *r)
{
	json_t *gens = json_array(), *j;

	for (__u32 i = 0; i < r->nr_gens; i++)
		json_array_append_new(gens, json_integer(r->gens[i]));
	j = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:i,s:i,s:I,s:o,s:o,s:s,s:s,s:b,s:s,s:s}",
			 "id", r->id, "state", xlb_rollout_state_names[r->state],
			 "request", r->request, "start_gen", (json_int_t)r->start_gen,
			 "from_fp", r->from_fp, "target_fp", r->target_fp, "steps", r->steps,
			 "step", r->step, "step_ms", (json_int_t)r->step_ms, "gens", gens,
			 "step_since", r->step_since[0] ? json_string(r->step_since) : json_null(),
			 "who", r->who, "reason", r->reason, "forced", r->forced,
			 "started", r->started, "why", r->why);
	if (j && r->request_by[0])
		json_object_set_new(j, "request_by", json_string(r->request_by));
	return j;
}

char *xlb_fleet_rollout_text(const struct xlb_fleet_rollout *r)
{
	json_t *j = xlb_fleet_rollout_to_json(r);
	char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return t;
}

void xlb_fleet_rollout_busy(const struct xlb_fleet_rollout *r, const char *fleet, char *why,
			    size_t len)
{
	snprintf(why, len, "fleet %s: rollout %s is %s (step %u of %u, by %s: %s): one change "
		 "at a time; see xlb fleet rollout status, stop it with xlb fleet rollout abort "
		 "(rolls back) or wait for it to end", fleet, r->id,
		 xlb_rollout_state_names[r->state], r->step, r->steps, r->who, r->reason);
}

/* ---- the next action ------------------------------------------------------------ */

/* A request: what it asks, or -1 when there is none. */
static int requested(const struct xlb_fleet_rollout *r)
{
	if (!strcmp(r->request, "abort"))
		return XLB_FR_ABORT;
	if (!strcmp(r->request, "pause"))
		return r->state == XLB_ROLLOUT_RUNNING ? XLB_FR_PAUSE : XLB_FR_CLEAR;
	if (!strcmp(r->request, "resume"))
		return r->state == XLB_ROLLOUT_PAUSED ? XLB_FR_RESUME : XLB_FR_CLEAR;
	return -1;
}

/* Does every live node run gen? REFUSED when one refused it, WAIT naming one that does not. */
static enum xlb_fleetroll_action nodes_on(json_t *nodes, __u64 gen, char *why, size_t len)
{
	const char *name;
	json_t *st;

	if (!json_object_size(nodes)) {
		snprintf(why, len, "no live node: waiting for one to run generation %llu",
			 (unsigned long long)gen);
		return XLB_FR_WAIT;
	}
	json_object_foreach(nodes, name, st) {
		json_t *ref = json_object_get(st, "refused");

		if (json_is_object(ref) &&
		    json_integer_value(json_object_get(ref, "generation")) == (json_int_t)gen) {
			snprintf(why, len, "node %s refused generation %llu: %s", name,
				 (unsigned long long)gen,
				 json_string_value(json_object_get(ref, "why")) ?: "(no reason given)");
			return XLB_FR_REFUSED;
		}
	}
	json_object_foreach(nodes, name, st)
		if (json_integer_value(json_object_get(st, "generation")) != (json_int_t)gen) {
			snprintf(why, len, "node %s runs generation %lld, not yet %llu", name,
				 (long long)json_integer_value(json_object_get(st, "generation")),
				 (unsigned long long)gen);
			return XLB_FR_WAIT;
		}
	return XLB_FR_APPLIED;
}

enum xlb_fleetroll_action xlb_fleet_rollout_next(const struct xlb_fleet_rollout *r,
						 json_t *nodes,
						 const struct xlb_fleetroll_view *v,
						 char *why, size_t len)
{
	enum xlb_fleetroll_action a;
	int req;
	__u64 gen;

	why[0] = '\0';
	if (!xlb_fleet_rollout_active(r))
		return XLB_FR_NONE;
	if ((req = requested(r)) >= 0)
		return req;
	if (r->state == XLB_ROLLOUT_PAUSED)
		return XLB_FR_NONE;
	if (!r->step && v->desired_gen != r->start_gen) {
		snprintf(why, len, "the desired generation is %llu, not %llu the rollout starts "
			 "from: it was changed outside the rollout; nothing written",
			 (unsigned long long)v->desired_gen, (unsigned long long)r->start_gen);
		return XLB_FR_OUTSIDE;
	}
	if (!r->step)
		return XLB_FR_WRITE_STEP;
	gen = r->gens[r->step - 1];
	if (v->desired_gen > gen) {
		snprintf(why, len, "generation %llu was written outside the rollout (its step %u "
			 "is generation %llu): stopped where it was, nothing rolled back",
			 (unsigned long long)v->desired_gen, r->step, (unsigned long long)gen);
		return XLB_FR_OUTSIDE;
	}
	if (v->desired_gen < gen) {
		snprintf(why, len, "desired generation %llu not seen yet",
			 (unsigned long long)gen);
		return XLB_FR_WAIT;
	}
	a = nodes_on(nodes, gen, why, len);
	if (a != XLB_FR_APPLIED || !r->step_since[0])
		return a;	/* step_since null: every node runs it now, the window starts */
	if (!v->have_snapshot)
		return XLB_FR_RESTART;
	if (v->now_ms - v->window_ms < (long long)r->step_ms)
		return XLB_FR_NONE;
	return XLB_FR_JUDGE;
}

enum xlb_fleetroll_action xlb_fleet_rollout_judged(const struct xlb_fleet_rollout *r, bool bad)
{
	if (bad)
		return XLB_FR_ROLLBACK;
	return r->step < r->steps ? XLB_FR_WRITE_STEP : XLB_FR_DONE;
}

/* ---- the signals ------------------------------------------------------------------ */

static __u64 counter(json_t *o, const char *field)
{
	json_int_t v = json_integer_value(json_object_get(o, field));

	return v > 0 ? (__u64)v : 0;
}

/* now - then, or now when the counter went back (restarted: counted from 0). */
static __u64 diff(json_t *now, json_t *then, const char *field)
{
	__u64 a = counter(now, field), b = counter(then, field);

	return a >= b ? a - b : a;
}

/* The entry of service/address in sig (added when absent); NULL out of memory. */
static struct xlb_rollout_backend *entry(struct xlb_rollout_signals *sig, __u32 *cap,
					 const char *svc, const char *addr, __u32 *shares)
{
	struct xlb_rollout_backend *b;

	for (__u32 i = 0; i < sig->nr_be; i++)
		if (!strcmp(sig->be[i].service, svc) && !strcmp(sig->be[i].address, addr))
			return &sig->be[i];
	if (sig->nr_be == *cap) {
		__u32 n = *cap ? *cap * 2 : 16;

		b = realloc(sig->be, n * sizeof(*b));
		if (!b)
			return NULL;
		sig->be = b;
		*cap = n;
	}
	b = &sig->be[sig->nr_be];
	shares[sig->nr_be++] = 0;
	memset(b, 0, sizeof(*b));
	snprintf(b->service, sizeof(b->service), "%s", svc);
	snprintf(b->address, sizeof(b->address), "%s", addr);
	return b;
}

/* One node's backends, now against then, added into sig. */
static int add_node(json_t *now, json_t *then, struct xlb_rollout_signals *sig, __u32 *cap,
		    __u32 **shares)
{
	json_t *svcs = json_object_get(now, "backends"), *bes, *c;
	const char *svc, *addr;

	json_object_foreach(svcs, svc, bes) {
		json_object_foreach(bes, addr, c) {
			json_t *t = json_object_get(json_object_get(json_object_get(then,
								    "backends"), svc), addr);
			struct xlb_rollout_backend *b;
			__u32 *sh = realloc(*shares, (sig->nr_be + 1) * sizeof(**shares));

			if (!sh)
				return -ENOMEM;
			*shares = sh;
			if (!(b = entry(sig, cap, svc, addr, *shares)))
				return -ENOMEM;
			if (!t)
				continue;	/* new during the window: no start to count from */
			b->new_flows += diff(c, t, "new_flows");
			b->health_failures += diff(c, t, "health_failures");
			b->syns += diff(c, t, "syns");
			b->syn_retries += diff(c, t, "syn_retries");
			if (json_is_number(json_object_get(c, "table_share"))) {
				b->table_share += json_number_value(json_object_get(c,
										    "table_share"));
				(*shares)[b - sig->be]++;
			}
		}
	}
	sig->drops += diff(now, then, "drops");
	return 0;
}

int xlb_fleet_rollout_sum(json_t *snap, json_t *nodes, double seconds,
			  struct xlb_rollout_signals *sig, unsigned int *nodes_counted)
{
	__u32 cap = 0, *shares = NULL;
	const char *name;
	json_t *st;
	int err = 0;

	memset(sig, 0, sizeof(*sig));
	sig->seconds = seconds;
	*nodes_counted = 0;
	json_object_foreach(nodes, name, st) {
		json_t *now = json_object_get(st, "counters"), *then = json_object_get(snap, name);

		if (!json_is_object(now) || !json_is_object(then))
			continue;	/* gone or come during the window, or says nothing */
		if ((err = add_node(now, then, sig, &cap, &shares)))
			break;
		(*nodes_counted)++;
	}
	for (__u32 i = 0; !err && i < sig->nr_be; i++)
		if (shares[i])
			sig->be[i].table_share /= shares[i];
	free(shares);
	if (err) {
		free(sig->be);
		memset(sig, 0, sizeof(*sig));
		return xlb_errf(-ENOMEM, "out of memory");
	}
	return 0;
}
