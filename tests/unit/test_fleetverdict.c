/* The fleet's health verdicts from the nodes' views (fleetverdict.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <string.h>
#include "fleetverdict.h"

/* web: 4 backends, min_active 2, checked; dns: not checked. */
static const char *conf_text =
	"{\"services\":[{\"name\":\"web\",\"vip\":\"192.0.2.10\",\"port\":80,\"protocol\":\"tcp\","
	"\"guards\":{\"min_active\":2},\"health\":{\"type\":\"tcp\",\"interval_ms\":200,"
	"\"timeout_ms\":100,\"rise\":2,\"fall\":2},\"backends\":["
	"{\"address\":\"198.51.100.1\"},{\"address\":\"198.51.100.2\"},"
	"{\"address\":\"198.51.100.3\"},{\"address\":\"198.51.100.4\"}]},"
	"{\"name\":\"dns\",\"vip\":\"192.0.2.11\",\"port\":53,\"protocol\":\"udp\","
	"\"backends\":[{\"address\":\"198.51.100.9\"}]}]}";

static struct xlb_config conf(void)
{
	struct xlb_diags d = { 0 };
	struct xlb_config cfg;
	json_error_t je;
	json_t *j = json_loads(conf_text, 0, &je);

	assert_non_null(j);
	assert_int_equal(xlb_config_from_json(j, &cfg, &d), 0);
	json_decref(j);
	return cfg;
}

/* nodes from a compact text, e.g. {"a":{"views":{"web":{"198.51.100.1":{"up":false}}}}} */
static json_t *js(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);

	if (!j)
		fail_msg("bad JSON in the test: %s: %s", text, je.text);
	return j;
}

#define V(up) "{\"up\":" up ",\"ok_run\":0,\"fail_run\":3,\"checks\":9}"
#define NODE(name, up1) "\"" name "\":{\"views\":{\"web\":{\"198.51.100.1\":" V(up1) "}}}"

static bool down_in(struct xlb_fleet_verdict *v, const char *addr)
{
	json_t *rec = json_pack("{s:O}", "down", v->down);
	bool r = xlb_fleet_record_down(rec, "web", addr);

	json_decref(rec);
	return r;
}

static void majority_takes_it_down(void **state)
{
	struct xlb_config cfg = conf();
	json_t *nodes = js("{" NODE("a", "false") "," NODE("b", "false") "," NODE("c", "true") "}");
	struct xlb_fleet_verdict v;
	unsigned int up, down;

	(void)state;
	assert_int_equal(xlb_fleet_judge(nodes, &cfg, NULL, &v), 0);
	assert_true(down_in(&v, "198.51.100.1"));
	assert_false(down_in(&v, "198.51.100.2"));
	assert_true(v.changed);
	assert_int_equal(v.nr_changes, 1);
	assert_string_equal(v.changes[0].backend, "198.51.100.1");
	assert_true(v.changes[0].down);
	assert_string_equal(v.changes[0].why, "2 of 3 nodes see it down");
	assert_int_equal(json_array_size(v.floor), 0);
	json_t *rec = json_pack("{s:O}", "views", v.views);
	xlb_fleet_record_views(rec, "web", "198.51.100.1", &up, &down);
	assert_int_equal(up, 1);
	assert_int_equal(down, 2);
	/* unchecked services are not judged */
	assert_null(json_object_get(v.views, "dns"));
	json_decref(rec);
	xlb_fleet_verdict_free(&v);
	json_decref(nodes);
	xlb_config_free(&cfg);
}

static void same_views_no_change(void **state)
{
	struct xlb_config cfg = conf();
	json_t *nodes = js("{" NODE("a", "false") "," NODE("b", "false") "," NODE("c", "true") "}");
	struct xlb_fleet_verdict v, w;
	json_t *prev;

	(void)state;
	assert_int_equal(xlb_fleet_judge(nodes, &cfg, NULL, &v), 0);
	prev = json_pack("{s:O,s:O,s:O,s:i}", "down", v.down, "floor", v.floor, "views", v.views,
			 "seq", 4);
	assert_int_equal(xlb_fleet_judge(nodes, &cfg, prev, &w), 0);
	assert_false(w.changed);
	assert_int_equal(w.nr_changes, 0);
	xlb_fleet_verdict_free(&v);
	xlb_fleet_verdict_free(&w);
	/* and back up: 1 of 3 down is no majority */
	json_decref(nodes);
	nodes = js("{" NODE("a", "false") "," NODE("b", "true") "," NODE("c", "true") "}");
	assert_int_equal(xlb_fleet_judge(nodes, &cfg, prev, &w), 0);
	assert_true(w.changed);
	assert_false(down_in(&w, "198.51.100.1"));
	assert_int_equal(w.nr_changes, 1);
	assert_false(w.changes[0].down);
	assert_string_equal(w.changes[0].why, "2 of 3 nodes see it up");
	xlb_fleet_verdict_free(&w);
	json_decref(prev);
	json_decref(nodes);
	xlb_config_free(&cfg);
}

static void tie_stays_up(void **state)
{
	struct xlb_config cfg = conf();
	json_t *nodes = js("{" NODE("a", "false") "," NODE("b", "true") "}");
	struct xlb_fleet_verdict v;

	(void)state;
	assert_int_equal(xlb_fleet_judge(nodes, &cfg, NULL, &v), 0);
	assert_false(down_in(&v, "198.51.100.1"));
	assert_int_equal(v.nr_changes, 0);
	assert_true(v.changed);		/* the views are new */
	xlb_fleet_verdict_free(&v);
	json_decref(nodes);
	xlb_config_free(&cfg);
}

static void no_voters_keep_previous(void **state)
{
	struct xlb_config cfg = conf();
	json_t *nodes = js("{\"a\":{\"views\":{}},\"b\":{\"node\":\"b\"}}");
	json_t *prev = js("{\"seq\":3,\"down\":{\"web\":[\"198.51.100.2\"]},\"floor\":[],"
			  "\"views\":{}}");
	struct xlb_fleet_verdict v;

	(void)state;
	assert_int_equal(xlb_fleet_judge(nodes, &cfg, prev, &v), 0);
	assert_true(down_in(&v, "198.51.100.2"));	/* kept */
	assert_false(down_in(&v, "198.51.100.1"));
	assert_int_equal(v.nr_changes, 0);
	assert_false(v.changed);
	xlb_fleet_verdict_free(&v);
	/* no record either: nothing down */
	assert_int_equal(xlb_fleet_judge(nodes, &cfg, NULL, &v), 0);
	assert_int_equal(json_object_size(v.down), 0);
	assert_false(v.changed);
	xlb_fleet_verdict_free(&v);
	json_decref(prev);
	json_decref(nodes);
	xlb_config_free(&cfg);
}

/* Three of four backends down on every node, min_active 2: one kept in (fail open). */
static void floor_fails_open(void **state)
{
	struct xlb_config cfg = conf();
	json_t *nodes = js("{\"a\":{\"views\":{\"web\":{"
		"\"198.51.100.1\":{\"up\":false,\"fail_run\":9},"
		"\"198.51.100.2\":{\"up\":false,\"fail_run\":2},"
		"\"198.51.100.3\":{\"up\":false,\"fail_run\":5},"
		"\"198.51.100.4\":{\"up\":true,\"fail_run\":0}}}}}");
	struct xlb_fleet_verdict v;
	bool floored = false;

	(void)state;
	assert_int_equal(xlb_fleet_judge(nodes, &cfg, NULL, &v), 0);
	assert_true(down_in(&v, "198.51.100.1"));
	assert_false(down_in(&v, "198.51.100.2"));	/* shortest failure run stays in */
	assert_true(down_in(&v, "198.51.100.3"));
	assert_false(down_in(&v, "198.51.100.4"));
	assert_int_equal(json_array_size(v.floor), 1);
	assert_string_equal(json_string_value(json_array_get(v.floor, 0)), "web");
	for (size_t i = 0; i < v.nr_changes; i++)
		if (!strcmp(v.changes[i].backend, "198.51.100.2")) {
			floored = true;
			assert_false(v.changes[i].down);
			assert_non_null(strstr(v.changes[i].why, "min_active floor (2)"));
		}
	assert_true(floored);
	assert_int_equal(v.nr_changes, 3);
	xlb_fleet_verdict_free(&v);
	json_decref(nodes);
	xlb_config_free(&cfg);
}

static void backend_left_configuration(void **state)
{
	struct xlb_config cfg = conf();
	json_t *nodes = js("{" NODE("a", "true") "}");
	json_t *prev = js("{\"seq\":7,\"down\":{\"web\":[\"198.51.100.77\"],\"gone\":[\"198.51.100.1\"]},"
			  "\"floor\":[],\"views\":{}}");
	struct xlb_fleet_verdict v;

	(void)state;
	assert_int_equal(xlb_fleet_judge(nodes, &cfg, prev, &v), 0);
	assert_int_equal(json_object_size(v.down), 0);
	assert_true(v.changed);
	assert_int_equal(v.nr_changes, 2);
	assert_string_equal(v.changes[0].backend, "198.51.100.77");
	assert_string_equal(v.changes[1].service, "gone");
	assert_false(v.changes[0].down);
	assert_non_null(strstr(v.changes[0].why, "left the configuration"));
	xlb_fleet_verdict_free(&v);
	json_decref(prev);
	json_decref(nodes);
	xlb_config_free(&cfg);
}

/* Views that are not objects, counts and flags of the wrong type: no vote, no crash. */
static void bad_input_ignored(void **state)
{
	struct xlb_config cfg = conf();
	const char *bad[] = {
		"[1,2]",
		"{\"a\":7}",
		"{\"a\":{\"views\":[]}}",
		"{\"a\":{\"views\":{\"web\":\"up\"}}}",
		"{\"a\":{\"views\":{\"web\":{\"198.51.100.1\":false}}}}",
		"{\"a\":{\"views\":{\"web\":{\"198.51.100.1\":{\"up\":0}}}}}",
		"{\"a\":{\"views\":{\"web\":{\"198.51.100.1\":{}}}}}",
		"{\"a\":{\"views\":{\"web\":{\"198.51.100.1\":{\"up\":false,\"fail_run\":-4}}}},"
		"\"b\":{\"views\":{\"web\":{\"198.51.100.1\":{\"up\":\"no\"}}}}}",
	};
	json_t *bad_prev = js("{\"down\":{\"web\":[1,null,{}]},\"floor\":7,\"views\":[]}");

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *nodes = js(bad[i]);
		struct xlb_fleet_verdict v;

		assert_int_equal(xlb_fleet_judge(nodes, &cfg, bad_prev, &v), 0);
		/* only the one well-formed down vote of the last case counts */
		assert_int_equal(json_object_size(v.down), i == 7 ? 1 : 0);
		xlb_fleet_verdict_free(&v);
		assert_int_equal(xlb_fleet_judge(nodes, &cfg, NULL, &v), 0);
		xlb_fleet_verdict_free(&v);
		json_decref(nodes);
	}
	assert_false(xlb_fleet_record_down(NULL, "web", "198.51.100.1"));
	json_decref(bad_prev);
	xlb_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(majority_takes_it_down),
		cmocka_unit_test(same_views_no_change),
		cmocka_unit_test(tie_stays_up),
		cmocka_unit_test(no_voters_keep_previous),
		cmocka_unit_test(floor_fails_open),
		cmocka_unit_test(backend_left_configuration),
		cmocka_unit_test(bad_input_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
