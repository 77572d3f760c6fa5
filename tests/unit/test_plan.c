/* The planner and its guards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "plan.h"
#include "testcfg.h"

#define SVC(guards, bes) "{\"services\":[{\"name\":\"web\",\"vip\":\"192.0.2.10\",\"port\":80," \
	"\"protocol\":\"tcp\",\"table_size\":10007" guards ",\"backends\":[" bes "]}]}"
#define B(n, w) "{\"address\":\"198.51.100." #n "\",\"weight\":" #w "}"
#define BS(n, s) "{\"address\":\"198.51.100." #n "\",\"state\":\"" s "\"}"

static struct xlb_plan plan_of(const char *a, const char *b)
{
	struct xlb_config ca = { 0 }, cb;
	struct xlb_plan p;

	if (a)
		testcfg_parse(&ca, a);
	testcfg_parse(&cb, b);
	assert_int_equal(xlb_plan_build(&ca, &cb, &p), 0);
	xlb_config_free(&ca);
	xlb_config_free(&cb);
	return p;
}

static void identical_is_no_change(void **state)
{
	struct xlb_plan p = plan_of(SVC("", B(1, 100) "," B(2, 100)),
				    SVC("", B(2, 100) "," B(1, 100)));

	(void)state;
	assert_false(p.changed);
	assert_int_equal(p.refused, 0);
	xlb_plan_free(&p);
}

static void adding_one_of_four_moves_a_quarter(void **state)
{
	struct xlb_plan p = plan_of(SVC("", B(1, 100) "," B(2, 100) "," B(3, 100)),
				    SVC("", B(1, 100) "," B(2, 100) "," B(3, 100) "," B(4, 100)));

	(void)state;
	assert_true(p.changed);
	assert_int_equal(p.refused, 0);
	assert_true(p.svcs[0].churn > 0.24 && p.svcs[0].churn < 0.27);
	for (__u32 i = 0; i < p.svcs[0].nr_bes; i++)
		assert_true(p.svcs[0].bes[i].share_new > 0.245 && p.svcs[0].bes[i].share_new < 0.255);
	xlb_plan_free(&p);
}

/* Another "hash": every flow placed anew (replaced), 1 - sum(share^2) of them move. */
static void new_hash_fields_replace_every_flow(void **state)
{
	struct xlb_config ca = { 0 }, cb = { 0 };
	struct xlb_plan p;

	(void)state;
	testcfg_parse(&ca, SVC("", B(1, 100) "," B(2, 100) "," B(3, 100) "," B(4, 100)));
	testcfg_parse(&cb, SVC("", B(1, 100) "," B(2, 100) "," B(3, 100) "," B(4, 100)));
	assert_int_equal(xlb_plan_build(&ca, &cb, &p), 0);	/* control: the same */
	assert_false(p.changed);
	assert_false(p.svcs[0].replaced);
	xlb_plan_free(&p);
	cb.services[0].hash_fields = XLB_HASH_SRC;
	assert_int_equal(xlb_plan_build(&ca, &cb, &p), 0);
	assert_true(p.changed);
	assert_true(p.svcs[0].replaced);
	assert_true(p.svcs[0].churn > 0.74 && p.svcs[0].churn < 0.76);
	assert_int_equal(p.refused & XLB_GUARD_MAX_CHURN, XLB_GUARD_MAX_CHURN);	/* 0.75 > default */
	xlb_plan_free(&p);
	xlb_config_free(&ca);
	xlb_config_free(&cb);
}

static void skew_is_refused_by_max_share(void **state)
{
	struct xlb_plan p = plan_of(SVC("", B(1, 100) "," B(2, 100) "," B(3, 100)),
				    SVC(",\"guards\":{\"max_churn\":1}", B(1, 900) "," B(2, 50) "," B(3, 50)));

	(void)state;
	assert_int_equal(p.refused, XLB_GUARD_MAX_SHARE);
	assert_non_null(strstr(p.svcs[0].why[0], "198.51.100.1 would hold 90.0%"));
	xlb_plan_free(&p);
}

static void big_moves_are_refused_by_max_churn(void **state)
{
	struct xlb_plan p = plan_of(SVC("", B(1, 100) "," B(2, 100)),
				    SVC(",\"guards\":{\"max_churn\":0.3}", B(3, 100) "," B(4, 100)));

	(void)state;
	assert_true(p.refused & XLB_GUARD_MAX_CHURN);
	assert_true(p.svcs[0].churn > 0.99);
	xlb_plan_free(&p);
}

static void min_active_counts_backends_with_slots(void **state)
{
	struct xlb_plan p = plan_of(SVC(",\"guards\":{\"min_active\":2}", B(1, 100) "," B(2, 100)),
				    SVC(",\"guards\":{\"min_active\":2,\"max_churn\":1,\"max_share\":1}",
					B(1, 100) "," BS(2, "drain")));

	(void)state;
	assert_int_equal(p.refused, XLB_GUARD_MIN_ACTIVE);
	assert_int_equal(p.svcs[0].holders, 1);
	xlb_plan_free(&p);
}

static void the_last_backend_is_always_guarded(void **state)
{
	struct xlb_plan p = plan_of(SVC("", B(1, 100)), SVC(",\"guards\":{\"min_active\":0}", B(1, 0)));
	struct xlb_plan q = plan_of(SVC("", B(1, 100)), SVC(",\"guards\":{\"min_active\":0}", ""));

	(void)state;
	assert_int_equal(p.refused, XLB_GUARD_EMPTY);
	assert_int_equal(q.refused, XLB_GUARD_EMPTY);
	xlb_plan_free(&p);
	xlb_plan_free(&q);
}

static void a_new_service_is_planned(void **state)
{
	struct xlb_plan p = plan_of(NULL, SVC("", B(1, 100) "," B(2, 100)));
	json_t *j;

	(void)state;
	assert_true(p.changed);
	assert_true(p.svcs[0].in_new && !p.svcs[0].in_old);
	assert_true(p.svcs[0].churn < 0);
	j = xlb_plan_to_json(&p);
	assert_true(json_is_false(json_object_get(j, "refused")));
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(j, "services"), 0), "change")), "added");
	json_decref(j);
	xlb_plan_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(identical_is_no_change),
		cmocka_unit_test(adding_one_of_four_moves_a_quarter),
		cmocka_unit_test(new_hash_fields_replace_every_flow),
		cmocka_unit_test(skew_is_refused_by_max_share),
		cmocka_unit_test(big_moves_are_refused_by_max_churn),
		cmocka_unit_test(min_active_counts_backends_with_slots),
		cmocka_unit_test(the_last_backend_is_always_guarded),
		cmocka_unit_test(a_new_service_is_planned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
