/* Assignment: which numbers a change keeps, reuses or hands out (no privileges). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "assign.h"
#include "testcfg.h"
#include "netutil.h"

#define SVC(name, vip, bes) "{\"name\":\"" name "\",\"vip\":\"" vip "\",\"port\":80," \
	"\"protocol\":\"tcp\",\"table_size\":1009,\"backends\":[" bes "]}"
#define B(n) "{\"address\":\"198.51.100." #n "\"}"
#define CFG1(bes) "{\"services\":[" SVC("web", "192.0.2.10", bes) "]}"

/* Assign text against cur (may be NULL) and prefer (may be NULL). */
static struct xlb_assign assign_of(const struct xlb_assign *cur, const struct xlb_assign *prefer,
				   const char *text)
{
	struct xlb_assign none = { 0 }, out;
	struct xlb_config cfg;

	testcfg_parse(&cfg, text);
	assert_int_equal(xlb_assign_build(cur ? cur : &none, prefer, &cfg, &out), 0);
	xlb_config_free(&cfg);
	return out;
}

static const struct xlb_assigned *be(const struct xlb_assign *a, const char *svc, int n)
{
	union xlb_addr addr;
	char s[32];
	__u8 fam;

	snprintf(s, sizeof(s), "198.51.100.%d", n);
	assert_int_equal(xlb_addr_parse(s, &addr, &fam), 0);
	return xlb_assign_find(a, svc, &addr, fam);
}

static void a_first_assignment_numbers_everything_apart(void **state)
{
	struct xlb_assign a = assign_of(NULL, NULL, "{\"services\":[" SVC("web", "192.0.2.10",
		B(1) "," B(2) "," B(3)) "," SVC("dns", "192.0.2.11", B(1)) "]}");

	(void)state;
	assert_int_equal(a.nr_be, 4);
	assert_int_not_equal(xlb_assign_service(&a, "web"), xlb_assign_service(&a, "dns"));
	for (__u32 i = 0; i < a.nr_be; i++) {
		assert_true(a.be[i].id > 0 && a.be[i].id < XLB_MAX_BACKENDS);
		for (__u32 j = i + 1; j < a.nr_be; j++) {
			assert_int_not_equal(a.be[i].id, a.be[j].id);
			assert_int_not_equal(a.be[i].gen, a.be[j].gen);
		}
	}
	/* the same address in two services is two backends */
	assert_int_not_equal(be(&a, "web", 1)->id, be(&a, "dns", 1)->id);
	assert_null(be(&a, "web", 9));
	assert_int_equal(xlb_assign_id(&a, "nosuch", &a.be[0].addr, a.be[0].family), 0);
	assert_int_equal(xlb_assign_service(&a, "nosuch"), -1);
	xlb_assign_free(&a);
}

static void backends_that_stay_keep_id_and_generation(void **state)
{
	struct xlb_assign a = assign_of(NULL, NULL, CFG1(B(1) "," B(2) "," B(3)));
	struct xlb_assign b = assign_of(&a, NULL, CFG1(B(1) "," B(2) "," B(3) "," B(4)));

	(void)state;
	for (int n = 1; n <= 3; n++) {
		assert_int_equal(be(&b, "web", n)->id, be(&a, "web", n)->id);
		assert_int_equal(be(&b, "web", n)->gen, be(&a, "web", n)->gen);
	}
	for (int n = 1; n <= 3; n++) {
		assert_int_not_equal(be(&b, "web", 4)->id, be(&a, "web", n)->id);
		assert_true(be(&b, "web", 4)->gen > be(&a, "web", n)->gen);
	}
	assert_int_equal(xlb_assign_service(&b, "web"), xlb_assign_service(&a, "web"));
	xlb_assign_free(&a);
	xlb_assign_free(&b);
}

/* A removed backend's id may still be in the live table and connection table. */
static void a_live_id_is_not_reused_by_the_next_change(void **state)
{
	struct xlb_assign a = assign_of(NULL, NULL, CFG1(B(1) "," B(2) "," B(3)));
	struct xlb_assign b = assign_of(&a, NULL, CFG1(B(1) "," B(3) "," B(4)));
	struct xlb_assign c;

	(void)state;
	assert_int_not_equal(be(&b, "web", 4)->id, be(&a, "web", 2)->id);
	/* once it is gone from the live assignment too, it may be handed out again, newer */
	c = assign_of(&b, NULL, CFG1(B(1) "," B(3) "," B(4) "," B(5)));
	assert_int_equal(be(&c, "web", 5)->id, be(&a, "web", 2)->id);
	assert_true(be(&c, "web", 5)->gen > be(&a, "web", 2)->gen);
	xlb_assign_free(&a);
	xlb_assign_free(&b);
	xlb_assign_free(&c);
}

/* A rollback gets the target's numbers back where they are free. */
static void a_rollback_takes_the_targets_numbers(void **state)
{
	struct xlb_assign a = assign_of(NULL, NULL, CFG1(B(1) "," B(2) "," B(3)));
	struct xlb_assign b = assign_of(&a, NULL, CFG1(B(1) "," B(3)));
	struct xlb_assign c = assign_of(&b, &a, CFG1(B(1) "," B(2) "," B(3)));

	(void)state;
	assert_int_equal(be(&c, "web", 2)->id, be(&a, "web", 2)->id);
	assert_int_equal(be(&c, "web", 2)->gen, be(&a, "web", 2)->gen);
	assert_true(c.next_gen >= a.next_gen);
	xlb_assign_free(&a);
	xlb_assign_free(&b);
	xlb_assign_free(&c);
}

static void the_record_form_round_trips(void **state)
{
	struct xlb_assign a = assign_of(NULL, NULL, CFG1(B(1) "," B(2))), b;
	json_t *j = xlb_assign_to_json(&a);

	(void)state;
	assert_int_equal(xlb_assign_from_json(j, &b), 0);
	assert_int_equal(b.nr_be, a.nr_be);
	assert_int_equal(b.next_gen, a.next_gen);
	assert_int_equal(xlb_assign_service(&b, "web"), xlb_assign_service(&a, "web"));
	for (__u32 i = 0; i < a.nr_be; i++) {
		assert_int_equal(b.be[i].id, a.be[i].id);
		assert_int_equal(b.be[i].gen, a.be[i].gen);
		assert_memory_equal(&b.be[i].addr, &a.be[i].addr, sizeof(a.be[i].addr));
	}
	json_decref(j);
	xlb_assign_free(&a);
	xlb_assign_free(&b);
}

/* A record is input like any other: every number is bounded before it indexes anything. */
static void a_damaged_record_is_refused(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{\"services\":{\"web\":-1},\"backends\":[]}",
		"{\"services\":{\"web\":99999},\"backends\":[]}",
		"{\"services\":{\"web\":\"0\"},\"backends\":[]}",
		"{\"services\":{},\"backends\":[{\"service\":\"web\",\"address\":\"198.51.100.1\",\"id\":0,\"gen\":1}]}",
		"{\"services\":{},\"backends\":[{\"service\":\"web\",\"address\":\"198.51.100.1\",\"id\":99999,\"gen\":1}]}",
		"{\"services\":{},\"backends\":[{\"service\":\"web\",\"address\":\"nope\",\"id\":1,\"gen\":1}]}",
		"{\"services\":{},\"backends\":[{\"address\":\"198.51.100.1\",\"id\":1,\"gen\":1}]}",
		"{\"services\":{},\"backends\":[{\"service\":\"web\",\"address\":\"198.51.100.1\",\"id\":1,\"gen\":-4}]}",
		"{\"next_gen\":-1,\"services\":{},\"backends\":[]}",
	};
	struct xlb_assign a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_error_t je;
		json_t *j = json_loads(bad[i], 0, &je);

		assert_non_null(j);
		if (xlb_assign_from_json(j, &a) != -EINVAL)
			fail_msg("accepted damaged assignment %s", bad[i]);
		assert_null(a.be);
		json_decref(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_first_assignment_numbers_everything_apart),
		cmocka_unit_test(backends_that_stay_keep_id_and_generation),
		cmocka_unit_test(a_live_id_is_not_reused_by_the_next_change),
		cmocka_unit_test(a_rollback_takes_the_targets_numbers),
		cmocka_unit_test(the_record_form_round_trips),
		cmocka_unit_test(a_damaged_record_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
