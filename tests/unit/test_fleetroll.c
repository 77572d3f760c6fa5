/* The fleet rollout's pure parts: its record, the leader's next action, the signals summed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fleetrollout.h"
#include "log.h"

#define REC "{\"id\":\"r0123abcd\",\"state\":\"running\",\"request\":\"\",\"start_gen\":4," \
	"\"from_fp\":\"0123456789abcdef\",\"target_fp\":\"fedcba9876543210\",\"steps\":3," \
	"\"step\":2,\"step_ms\":5000,\"gens\":[5,6],\"step_since\":\"2026-12-07T03:00:01.250Z\"," \
	"\"who\":\"root@host\",\"reason\":\"more weight\",\"forced\":false," \
	"\"started\":\"2026-12-07T03:00:00Z\",\"why\":\"\"}"

static json_t *parse(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	assert_non_null(j);
	return j;
}

static void record_round_trip(void **state)
{
	struct xlb_fleet_rollout r, back;
	json_t *j = parse(REC), *out;

	(void)state;
	assert_int_equal(xlb_fleet_rollout_from_json(j, &r), 0);
	assert_string_equal(r.id, "r0123abcd");
	assert_int_equal(r.state, XLB_ROLLOUT_RUNNING);
	assert_int_equal(r.step, 2);
	assert_int_equal(r.nr_gens, 2);
	assert_int_equal(r.gens[1], 6);
	assert_int_equal(xlb_fleet_time_ms(r.step_since) % 1000, 250);
	out = xlb_fleet_rollout_to_json(&r);
	assert_true(json_equal(out, j));
	assert_int_equal(xlb_fleet_rollout_from_json(out, &back), 0);
	assert_memory_equal(&r, &back, sizeof(r));
	/* step_since null is "" and back */
	json_object_set_new(j, "step_since", json_null());
	assert_int_equal(xlb_fleet_rollout_from_json(j, &r), 0);
	assert_string_equal(r.step_since, "");
	json_decref(out);
	out = xlb_fleet_rollout_to_json(&r);
	assert_true(json_is_null(json_object_get(out, "step_since")));
	json_decref(out);
	json_decref(j);
}

/* REC with field set to value (JSON text; NULL: removed): refused, the message naming what. */
static void refused(const char *field, const char *value, const char *says)
{
	struct xlb_fleet_rollout r;
	json_t *j = parse(REC);

	if (value)
		json_object_set_new(j, field, parse(value));
	else
		json_object_del(j, field);
	if (xlb_fleet_rollout_from_json(j, &r) != -EINVAL || !strstr(xlb_errmsg(), says))
		fail_msg("%s = %s: expected -EINVAL saying '%s', got '%s'", field,
			 value ? value : "(absent)", says, xlb_errmsg());
	assert_string_equal(r.id, "");	/* nothing half-taken */
	json_decref(j);
}

static void bad_records(void **state)
{
	struct xlb_fleet_rollout r;
	json_t *j = parse("[1]");

	(void)state;
	assert_int_equal(xlb_fleet_rollout_from_json(j, &r), -EINVAL);
	json_decref(j);
	refused("id", "\"x\"", "\"id\"");
	refused("id", NULL, "\"id\"");
	refused("state", "\"sleeping\"", "\"state\"");
	refused("request", "\"stop\"", "\"request\"");
	refused("steps", "0", "\"steps\"");
	refused("steps", "101", "\"steps\"");
	refused("step", "4", "\"step\"");
	refused("step_ms", "0", "\"step_ms\"");
	refused("gens", "[5]", "\"gens\"");		/* fewer than the steps written */
	refused("gens", "[5,5]", "\"gens\"[1]");	/* not increasing */
	refused("gens", "[3,6]", "\"gens\"[0]");	/* not above the start */
	refused("from_fp", "\"0123\"", "\"from_fp\"");
	refused("target_fp", "7", "\"target_fp\"");
	refused("step_since", "\"yesterday\"", "\"step_since\"");
	refused("forced", "\"no\"", "\"forced\"");
	refused("who", NULL, "\"who\"");
	refused("start_gen", "0", "\"start_gen\"");
	refused("request_by", "3", "\"request_by\"");
}

/* A status record: generation gen, refused (or not) generation ref. */
static json_t *node(long long gen, long long ref)
{
	return ref ? json_pack("{s:I,s:{s:I,s:s}}", "generation", (json_int_t)gen, "refused",
			       "generation", (json_int_t)ref, "why", "hash key")
		   : json_pack("{s:I,s:n}", "generation", (json_int_t)gen, "refused");
}

static enum xlb_fleetroll_action next(const char *rec_patch, json_t *nodes,
				      struct xlb_fleetroll_view v)
{
	struct xlb_fleet_rollout r;
	json_t *j = parse(REC), *p = parse(rec_patch);
	enum xlb_fleetroll_action a;
	char why[300];

	json_object_update(j, p);
	assert_int_equal(xlb_fleet_rollout_from_json(j, &r), 0);
	a = xlb_fleet_rollout_next(&r, nodes, &v, why, sizeof(why));
	json_decref(j);
	json_decref(p);
	return a;
}

static void next_action(void **state)
{
	json_t *all6 = json_pack("{s:o,s:o}", "n1", node(6, 0), "n2", node(6, 0));
	json_t *one5 = json_pack("{s:o,s:o}", "n1", node(6, 0), "n2", node(5, 0));
	json_t *ref6 = json_pack("{s:o,s:o}", "n1", node(6, 0), "n2", node(5, 6));
	json_t *all7 = json_pack("{s:o,s:o}", "n1", node(7, 0), "n2", node(7, 0));
	json_t *none = json_object();
	struct xlb_fleetroll_view v = { .desired_gen = 6, .have_snapshot = true,
					.window_ms = 1000000, .now_ms = 1000000 + 4999 };
	struct xlb_fleetroll_view over = v, nosnap = v, lag = v, ahead = v, start = v, over7;

	(void)state;
	over.now_ms = v.window_ms + 5000;
	nosnap.have_snapshot = false;
	lag.desired_gen = 5;
	ahead.desired_gen = 7;
	start.desired_gen = 4;
	over7 = over;
	over7.desired_gen = 7;
	assert_int_equal(next("{\"step\":0,\"gens\":[],\"step_since\":null}", none, start),
			 XLB_FR_WRITE_STEP);
	/* desired moved off the start before step 1: not written over */
	assert_int_equal(next("{\"step\":0,\"gens\":[],\"step_since\":null}", none, v),
			 XLB_FR_OUTSIDE);
	assert_int_equal(next("{\"step_since\":null}", one5, v), XLB_FR_WAIT);
	assert_int_equal(next("{\"step_since\":null}", none, v), XLB_FR_WAIT);
	assert_int_equal(next("{\"step_since\":null}", all6, v), XLB_FR_APPLIED);
	assert_int_equal(next("{\"step_since\":null}", ref6, v), XLB_FR_REFUSED);
	assert_int_equal(next("{}", all6, lag), XLB_FR_WAIT);		/* its own write not seen */
	assert_int_equal(next("{}", all6, ahead), XLB_FR_OUTSIDE);
	assert_int_equal(next("{}", all6, v), XLB_FR_NONE);		/* in the window */
	assert_int_equal(next("{}", all6, over), XLB_FR_JUDGE);
	assert_int_equal(next("{\"step\":3,\"gens\":[5,6,7]}", all6, over), XLB_FR_WAIT);
	assert_int_equal(next("{\"step\":3,\"gens\":[5,6,7]}", all7, over7), XLB_FR_JUDGE);
	assert_int_equal(next("{}", all6, nosnap), XLB_FR_RESTART);	/* a new leader */
	assert_int_equal(next("{}", one5, v), XLB_FR_WAIT);		/* a node restarted back */
	/* requests */
	assert_int_equal(next("{\"request\":\"pause\"}", all6, v), XLB_FR_PAUSE);
	assert_int_equal(next("{\"request\":\"pause\",\"state\":\"paused\"}", all6, v),
			 XLB_FR_CLEAR);
	assert_int_equal(next("{\"request\":\"resume\",\"state\":\"paused\"}", all6, v),
			 XLB_FR_RESUME);
	assert_int_equal(next("{\"request\":\"resume\"}", all6, v), XLB_FR_CLEAR);
	assert_int_equal(next("{\"request\":\"abort\",\"state\":\"paused\"}", all6, v),
			 XLB_FR_ABORT);
	assert_int_equal(next("{\"state\":\"paused\"}", all6, over), XLB_FR_NONE);
	/* ended: nothing, whatever is asked */
	assert_int_equal(next("{\"state\":\"done\",\"request\":\"abort\"}", all6, over),
			 XLB_FR_NONE);
	assert_int_equal(next("{\"state\":\"rolled_back\"}", all6, over), XLB_FR_NONE);
	json_decref(all6);
	json_decref(all7);
	json_decref(one5);
	json_decref(ref6);
	json_decref(none);
}

/* After the judgement: the next step, done after the last, the rollback when bad. */
static void judged(void **state)
{
	struct xlb_fleet_rollout r = { .steps = 3, .step = 2 };

	(void)state;
	assert_int_equal(xlb_fleet_rollout_judged(&r, false), XLB_FR_WRITE_STEP);
	assert_int_equal(xlb_fleet_rollout_judged(&r, true), XLB_FR_ROLLBACK);
	r.step = 3;
	assert_int_equal(xlb_fleet_rollout_judged(&r, false), XLB_FR_DONE);
	assert_int_equal(xlb_fleet_rollout_judged(&r, true), XLB_FR_ROLLBACK);
}

/* A node's counters: drops, one backend's four counters and share. */
static json_t *counters(long long drops, long long nf, long long hf, long long syns,
			long long retries)
{
	return json_pack("{s:I,s:{s:{s:{s:I,s:I,s:I,s:I,s:f}}}}", "drops", (json_int_t)drops,
			 "backends", "web", "198.51.100.1", "new_flows", (json_int_t)nf,
			 "health_failures", (json_int_t)hf, "syns", (json_int_t)syns,
			 "syn_retries", (json_int_t)retries, "table_share", 0.5);
}

static json_t *status(json_t *c)
{
	return json_pack("{s:I,s:o}", "generation", (json_int_t)6, "counters", c);
}

static void sum_signals(void **state)
{
	json_t *snap = json_pack("{s:o,s:o,s:o}", "n1", counters(10, 100, 0, 50, 1),
				 "n2", counters(5, 200, 2, 80, 0),
				 "gone", counters(0, 0, 0, 0, 0));
	/* n2 restarted: its counters went back below the snapshot (counted from 0);
	   "gone" left during the window, "new" came during it: neither counted */
	json_t *now = json_pack("{s:o,s:o,s:o}", "n1", status(counters(13, 150, 1, 70, 11)),
				"n2", status(counters(1, 30, 3, 10, 4)),
				"new", status(counters(1000, 1000, 1000, 1000, 1000)));
	struct xlb_rollout_signals sig;
	unsigned int counted;

	(void)state;
	assert_int_equal(xlb_fleet_rollout_sum(snap, now, 5.0, &sig, &counted), 0);
	assert_int_equal(counted, 2);
	assert_int_equal(sig.nr_be, 1);
	assert_string_equal(sig.be[0].service, "web");
	assert_string_equal(sig.be[0].address, "198.51.100.1");
	assert_int_equal(sig.drops, 3 + 1);
	assert_int_equal(sig.be[0].new_flows, 50 + 30);
	assert_int_equal(sig.be[0].health_failures, 1 + 1);
	assert_int_equal(sig.be[0].syns, 20 + 10);
	assert_int_equal(sig.be[0].syn_retries, 10 + 4);
	assert_true(sig.be[0].table_share > 0.49 && sig.be[0].table_share < 0.51);
	assert_true(sig.seconds == 5.0);
	free(sig.be);
	json_decref(snap);
	json_decref(now);
}

/* The sum judged: SYNs sent again on every node cross the threshold together. */
static void sum_judged(void **state)
{
	struct xlb_config cfg = { 0 };
	struct xlb_service_conf svc = { .name = "web" };
	struct xlb_rollout_signals sig;
	json_t *snap = json_pack("{s:o,s:o}", "n1", counters(0, 0, 0, 0, 0),
				 "n2", counters(0, 0, 0, 0, 0));
	json_t *now = json_pack("{s:o,s:o}", "n1", status(counters(0, 10, 0, 4, 4)),
				"n2", status(counters(0, 10, 0, 4, 4)));
	unsigned int counted;
	char why[300];

	(void)state;
	svc.rollout.max_syn_retry_share = 0.2;
	svc.rollout.max_drops_per_second = 1000;
	svc.rollout.max_health_failures = 3;
	svc.rollout.min_flows = 1000;
	cfg.services = &svc;
	cfg.nr_services = 1;
	/* each node alone saw 8 SYNs: under the judge's 10; summed they are 16 */
	assert_int_equal(xlb_fleet_rollout_sum(snap, now, 2.0, &sig, &counted), 0);
	assert_true(xlb_rollout_judge(&cfg, &cfg, &sig, why, sizeof(why)));
	assert_non_null(strstr(why, "8 of 16 SYNs"));
	free(sig.be);
	/* negative control: no retries, nothing crossed */
	json_decref(now);
	now = json_pack("{s:o,s:o}", "n1", status(counters(0, 10, 0, 8, 0)),
			"n2", status(counters(0, 10, 0, 8, 0)));
	assert_int_equal(xlb_fleet_rollout_sum(snap, now, 2.0, &sig, &counted), 0);
	assert_false(xlb_rollout_judge(&cfg, &cfg, &sig, why, sizeof(why)));
	free(sig.be);
	json_decref(snap);
	json_decref(now);
}

static void times(void **state)
{
	char now[40];

	(void)state;
	assert_int_equal(xlb_fleet_time_ms("1970-01-01T00:00:01Z"), 1000);
	assert_int_equal(xlb_fleet_time_ms("1970-01-01T00:00:01.5Z"), 1500);
	assert_int_equal(xlb_fleet_time_ms("1970-01-01T00:00:01.123456Z"), 1123);
	assert_int_equal(xlb_fleet_time_ms("1970-01-01T00:00:01"), -1);
	assert_int_equal(xlb_fleet_time_ms("1970-01-01T00:00:01.Z"), -1);
	assert_int_equal(xlb_fleet_time_ms("soon"), -1);
	xlb_fleet_now_ms_iso(now, sizeof(now));
	assert_true(xlb_fleet_time_ms(now) > 1700000000000LL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(record_round_trip),
		cmocka_unit_test(bad_records),
		cmocka_unit_test(next_action),
		cmocka_unit_test(judged),
		cmocka_unit_test(sum_signals),
		cmocka_unit_test(sum_judged),
		cmocka_unit_test(times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
