/* Health state machine, jitter, floor and deviation watch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <string.h>
#include "health.h"
#include "netutil.h"

static void fall_and_rise(void **state)
{
	struct xlb_hstate h;

	(void)state;
	xlb_hstate_init(&h);
	assert_true(h.up);
	assert_false(xlb_hstate_record(&h, false, 2, 3));
	assert_false(xlb_hstate_record(&h, false, 2, 3));
	assert_false(xlb_hstate_record(&h, true, 2, 3));	/* a success resets the run */
	assert_false(xlb_hstate_record(&h, false, 2, 3));
	assert_false(xlb_hstate_record(&h, false, 2, 3));
	assert_true(xlb_hstate_record(&h, false, 2, 3));	/* third in a row: down */
	assert_false(h.up);
	assert_false(xlb_hstate_record(&h, true, 2, 3));
	assert_false(xlb_hstate_record(&h, false, 2, 3));	/* resets the rise run */
	assert_false(xlb_hstate_record(&h, true, 2, 3));
	assert_true(xlb_hstate_record(&h, true, 2, 3));		/* second in a row: up */
	assert_true(h.up);
	assert_int_equal(h.checks, 10);
	assert_int_equal(h.failures, 6);
}

static void jitter_spreads_checks(void **state)
{
	__u32 seed = 12345;
	__u64 lo = ~0ull, hi = 0;
	int distinct = 0;
	__u64 prev = 0;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		__u64 t = xlb_health_next(0, 1000, &seed);

		lo = t < lo ? t : lo;
		hi = t > hi ? t : hi;
		distinct += t != prev;
		prev = t;
	}
	assert_true(lo >= 900 && hi <= 1100);	/* +- 10 % */
	assert_true(hi - lo > 150);		/* and actually spread */
	assert_true(distinct > 900);
}

static void floor_takes_out_only_what_it_may(void **state)
{
	bool healthy[4] = { true, false, true, true }, down[4];
	__u32 runs[4] = { 0, 5, 0, 0 };

	(void)state;
	assert_false(xlb_health_floor(4, healthy, runs, 2, down));
	assert_true(down[1] && !down[0] && !down[2] && !down[3]);
}

static void floor_fails_open(void **state)
{
	bool healthy[3] = { false, false, true }, down[3];
	__u32 runs[3] = { 9, 3, 0 };

	(void)state;
	/* min_active 2: one healthy; the one that failed least recently stays */
	assert_true(xlb_health_floor(3, healthy, runs, 2, down));
	assert_true(down[0] && !down[1] && !down[2]);
	/* all down with min_active 1: never empty */
	bool none[3] = { false, false, false };

	assert_true(xlb_health_floor(3, none, runs, 1, down));
	assert_int_equal(down[0] + down[1] + down[2], 2);
}

static void deviation_and_alert(void **state)
{
	struct xlb_watch_opts o = { .window_ms = 10000, .threshold = 0.1, .for_ms = 3000,
				    .min_flows = 50 };
	struct xlb_watch w = { 0 };
	bool started = false;

	(void)state;
	/* 100 flows a second, a third to this backend, as its table share says */
	for (int t = 0; t <= 20; t++)
		assert_false(xlb_watch_sample(&w, &o, t * 1000, t * 33, t * 100, 0.33));
	assert_true(w.deviation < 0.01);
	/* now it gets 80 of every 100: deviation grows past 0.1, alert after 3 s */
	for (int t = 21; t <= 40; t++)
		started |= xlb_watch_sample(&w, &o, t * 1000, 20 * 33 + (t - 20) * 80, t * 100, 0.33);
	assert_true(started);
	assert_true(w.alert);
	assert_true(w.deviation > 0.4 && w.deviation < 0.5);
	/* too few flows: no verdict */
	struct xlb_watch q = { 0 };

	for (int t = 0; t <= 5; t++)
		xlb_watch_sample(&q, &o, t * 1000, t, t, 0.33);
	assert_true(q.deviation == 0 && !q.alert);
}

/* A service of n backends, min_active as given, all active. */
static void service_of(struct xlb_service_conf *s, struct xlb_backend_conf *bes, __u32 n,
		       __u32 min_active)
{
	memset(s, 0, sizeof(*s));
	s->backends = bes;
	s->nr_backends = n;
	s->guards.min_active = min_active;
	for (__u32 i = 0; i < n; i++) {
		char a[32];

		snprintf(a, sizeof(a), "198.51.100.%u", i + 1);
		memset(&bes[i], 0, sizeof(bes[i]));
		assert_int_equal(xlb_addr_parse(a, &bes[i].addr, &bes[i].family), 0);
		bes[i].weight = 100;
		bes[i].state = XLB_BACKEND_ACTIVE;
	}
}

/* Three of five fail at once: all three out that the floor allows, no refusal. */
static void overlay_takes_out_all_the_floor_allows(void **state)
{
	struct xlb_health_view v[5] = { { .up = true }, { .up = false, .fail_run = 3 },
		{ .up = false, .fail_run = 3 }, { .up = true }, { .up = false, .fail_run = 5 } };
	const struct xlb_health_view *views[5] = { &v[0], &v[1], &v[2], &v[3], &v[4] };
	struct xlb_backend_conf bes[5];
	struct xlb_service_conf s;
	bool held[5], hit;

	(void)state;
	service_of(&s, bes, 5, 2);
	assert_true(xlb_health_overlay(&s, views, held, &hit));
	assert_false(hit);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(bes[i].state, v[i].up ? XLB_BACKEND_ACTIVE : XLB_BACKEND_DOWN);
		assert_int_equal(held[i], !v[i].up);
	}
	/* with min_active 3 one failing backend stays in: the shortest failure run */
	service_of(&s, bes, 5, 3);
	assert_true(xlb_health_overlay(&s, views, held, &hit));
	assert_true(hit);
	assert_int_equal(bes[4].state, XLB_BACKEND_DOWN);
	assert_int_equal((bes[1].state == XLB_BACKEND_ACTIVE) + (bes[2].state == XLB_BACKEND_ACTIVE), 1);
}

/* An operator's drain or down stays; what the daemon held down comes back when healthy. */
static void overlay_leaves_the_operators_states(void **state)
{
	struct xlb_health_view v[4] = { { .up = false, .fail_run = 3 }, { .up = false, .fail_run = 3 },
		{ .up = true, .health_down = true }, { .up = true } };
	const struct xlb_health_view *views[4] = { &v[0], &v[1], &v[2], NULL };
	struct xlb_backend_conf bes[4];
	struct xlb_service_conf s;
	bool held[4], hit;

	(void)state;
	service_of(&s, bes, 4, 1);
	bes[0].state = XLB_BACKEND_DRAIN;	/* the operator's */
	bes[1].state = XLB_BACKEND_DOWN;	/* the operator's, not held by health */
	bes[2].state = XLB_BACKEND_DOWN;	/* held by health, healthy again */
	assert_true(xlb_health_overlay(&s, views, held, &hit));
	assert_int_equal(bes[0].state, XLB_BACKEND_DRAIN);
	assert_int_equal(bes[1].state, XLB_BACKEND_DOWN);
	assert_int_equal(bes[2].state, XLB_BACKEND_ACTIVE);
	assert_int_equal(bes[3].state, XLB_BACKEND_ACTIVE);	/* not checked yet: healthy */
	assert_false(held[0] || held[1] || held[2] || held[3]);
	/* nothing to change: says so */
	assert_false(xlb_health_overlay(&s, views, held, &hit));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fall_and_rise),
		cmocka_unit_test(jitter_spreads_checks),
		cmocka_unit_test(floor_takes_out_only_what_it_may),
		cmocka_unit_test(floor_fails_open),
		cmocka_unit_test(deviation_and_alert),
		cmocka_unit_test(overlay_takes_out_all_the_floor_allows),
		cmocka_unit_test(overlay_leaves_the_operators_states),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
