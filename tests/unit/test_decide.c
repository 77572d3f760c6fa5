/* The change path's pure decision (xlb_change_decide) and the fleet's desired record form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "change.h"
#include "fleetstore.h"
#include "testcfg.h"

#define SVC(bes) "{\"services\":[{\"name\":\"web\",\"vip\":\"192.0.2.10\",\"port\":80," \
	"\"protocol\":\"tcp\",\"table_size\":1009,\"backends\":[" bes "]}]}"
#define B(n) "{\"address\":\"198.51.100." #n "\"}"

/* decide(new against old, force): the outcome, r freed. */
static enum xlb_change_outcome decide(const char *old, const char *new, bool force, bool *forced)
{
	struct xlb_config co = { 0 }, cn;
	struct xlb_change_result r;
	enum xlb_change_outcome out;

	if (old)
		testcfg_parse(&co, old);
	testcfg_parse(&cn, new);
	xlb_change_decide(old ? &co : NULL, &(struct xlb_change){ .cfg = &cn, .force = force }, &r);
	out = r.outcome;
	if (forced)
		*forced = r.forced;
	xlb_change_result_free(&r);
	xlb_config_free(&co);
	xlb_config_free(&cn);
	return out;
}

static void outcomes(void **state)
{
	bool forced = true;

	(void)state;
	assert_int_equal(decide(NULL, SVC(B(1) "," B(2) "," B(3)), false, &forced), XLB_CHANGE_PLANNED);
	assert_false(forced);
	assert_int_equal(decide(SVC(B(1) "," B(2) "," B(3)), SVC(B(3) "," B(2) "," B(1)), false, NULL),
			 XLB_CHANGE_UNCHANGED);
	/* two of three removed: more than max_churn (0.5) moves, one backend holds it all */
	assert_int_equal(decide(SVC(B(1) "," B(2) "," B(3)), SVC(B(1)), false, NULL),
			 XLB_CHANGE_REFUSED);
	assert_int_equal(decide(SVC(B(1) "," B(2) "," B(3)), SVC(B(1)), true, &forced),
			 XLB_CHANGE_PLANNED);
	assert_true(forced);
	/* --force on a change the guards accept is not recorded as forced */
	assert_int_equal(decide(SVC(B(1) "," B(2) "," B(3)), SVC(B(1) "," B(2) "," B(3) "," B(4)),
				true, &forced), XLB_CHANGE_PLANNED);
	assert_false(forced);
}

static void invalid_is_refused_before_planning(void **state)
{
	struct xlb_config cn;
	struct xlb_change_result r;

	(void)state;
	testcfg_parse(&cn, SVC(B(1) "," B(2)));
	cn.services[0].backends[1] = cn.services[0].backends[0];	/* a duplicate backend */
	assert_int_equal(xlb_change_decide(NULL, &(struct xlb_change){ .cfg = &cn }, &r), -EINVAL);
	assert_int_equal(r.outcome, XLB_CHANGE_INVALID);
	assert_true(r.diags.count > 0);
	assert_false(r.planned);
	xlb_change_result_free(&r);
	xlb_config_free(&cn);
}

static json_t *record(void)
{
	return json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:i}", "generation", 3, "fingerprint",
			 "0123456789abcdef", "hash_key_id", "", "who", "ops", "when",
			 "2026-01-01T00:00:00Z", "reason", "r", "source", "apply", "forced", 0,
			 "replaces", 2);
}

static void desired_record_round_trip_and_refusals(void **state)
{
	struct xlb_fleet_desired d;
	json_t *j = record(), *back;

	(void)state;
	assert_int_equal(xlb_fleet_desired_from_json(j, &d), 0);
	assert_int_equal(d.generation, 3);
	assert_int_equal(d.replaces, 2);
	back = xlb_fleet_desired_to_json(&d);
	assert_true(json_equal(j, back));
	json_decref(back);
	json_object_set_new(j, "fingerprint", json_string("0123"));
	assert_int_equal(xlb_fleet_desired_from_json(j, &d), -EINVAL);
	json_decref(j);
	j = record();
	json_object_set_new(j, "replaces", json_integer(3));	/* not below its generation */
	assert_int_equal(xlb_fleet_desired_from_json(j, &d), -EINVAL);
	json_decref(j);
	j = record();
	json_object_del(j, "forced");
	assert_int_equal(xlb_fleet_desired_from_json(j, &d), -EINVAL);
	json_decref(j);
}

static void keys(void **state)
{
	char k[128];

	(void)state;
	xlb_fleet_key(k, sizeof(k), "f1", "desired", NULL);
	assert_string_equal(k, "/xlb/fleets/f1/desired");
	xlb_fleet_key(k, sizeof(k), "f1", "config", "0123456789abcdef");
	assert_string_equal(k, "/xlb/fleets/f1/config/0123456789abcdef");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(outcomes),
		cmocka_unit_test(invalid_is_refused_before_planning),
		cmocka_unit_test(desired_record_round_trip_and_refusals),
		cmocka_unit_test(keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
