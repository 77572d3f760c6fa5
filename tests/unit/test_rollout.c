/* Stepped changes: the steps between two configurations, their guards, the judgement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "netutil.h"
#include "rollout.h"
#include "testcfg.h"

#define SVC(guards, bes) "{\"services\":[{\"name\":\"web\",\"vip\":\"192.0.2.10\",\"port\":80," \
	"\"protocol\":\"tcp\",\"table_size\":10007" guards ",\"backends\":[" bes "]}]}"
#define B(n, w) "{\"address\":\"198.51.100." #n "\",\"weight\":" #w "}"
#define BS(n, s) "{\"address\":\"198.51.100." #n "\",\"state\":\"" s "\"}"

static const struct xlb_backend_conf *be(const struct xlb_config *c, int n)
{
	char a[32];
	union xlb_addr addr;
	__u8 fam;

	snprintf(a, sizeof(a), "198.51.100.%d", n);
	xlb_addr_parse(a, &addr, &fam);
	return xlb_service_backend(&c->services[0], &addr, fam);
}

/* Weights of step k of 4 from {1:100, 2:100, 3:100} to {1:100, 2:300, 4:100}. */
static void weights_are_interpolated(void **state)
{
	struct xlb_config from, to, s;
	static const unsigned int w2[] = { 0, 150, 200, 250, 300 }, w3[] = { 0, 75, 50, 25, 0 },
				  w4[] = { 0, 25, 50, 75, 100 };

	(void)state;
	testcfg_parse(&from, SVC("", B(1, 100) "," B(2, 100) "," B(3, 100)));
	testcfg_parse(&to, SVC("", B(1, 100) "," B(2, 300) "," B(4, 100)));
	for (unsigned int k = 1; k <= 4; k++) {
		assert_int_equal(xlb_rollout_step(&from, &to, k, 4, &s), 0);
		assert_int_equal(be(&s, 1)->weight, 100);
		assert_int_equal(be(&s, 2)->weight, w2[k]);
		assert_int_equal(be(&s, 4)->weight, w4[k]);		/* a new one grows in */
		if (k < 4)
			assert_int_equal(be(&s, 3)->weight, w3[k]);	/* a leaving one shrinks */
		else
			assert_null(be(&s, 3));				/* and is gone at the end */
		xlb_config_free(&s);
	}
	xlb_config_free(&from);
	xlb_config_free(&to);
}

/* A drain is reached at the last step, after the weight went down; the last step is the target. */
static void states_come_at_the_end(void **state)
{
	struct xlb_config from, to, s;
	char fa[17], fb[17];

	(void)state;
	testcfg_parse(&from, SVC("", B(1, 100) "," B(2, 90)));
	testcfg_parse(&to, SVC("", B(1, 100) "," BS(2, "drain")));
	assert_int_equal(xlb_rollout_step(&from, &to, 1, 3, &s), 0);
	assert_int_equal(be(&s, 2)->state, XLB_BACKEND_ACTIVE);
	assert_int_equal(be(&s, 2)->weight, 60);
	xlb_config_free(&s);
	assert_int_equal(xlb_rollout_step(&from, &to, 2, 3, &s), 0);
	assert_int_equal(be(&s, 2)->weight, 30);
	xlb_config_free(&s);
	assert_int_equal(xlb_rollout_step(&from, &to, 3, 3, &s), 0);
	assert_int_equal(be(&s, 2)->state, XLB_BACKEND_DRAIN);
	xlb_config_fingerprint(&s, fa);
	xlb_config_fingerprint(&to, fb);
	assert_string_equal(fa, fb);
	xlb_config_free(&s);
	assert_int_equal(xlb_rollout_step(&from, &to, 4, 3, &s), -EINVAL);
	assert_int_equal(xlb_rollout_step(&from, &to, 0, 3, &s), -EINVAL);
	xlb_config_free(&from);
	xlb_config_free(&to);
}

/*
 * The guards hold at every step: a change moving most flows is refused at
 * once by max_churn 0.3, passes in 4 steps (each moves less), and a guard
 * that one step breaks refuses the rollout unless forced.
 */
static void guards_hold_at_every_step(void **state)
{
	struct xlb_config from, to, skew;
	char why[512];

	(void)state;
	testcfg_parse(&from, SVC(",\"guards\":{\"max_churn\":0.3}", B(1, 100) "," B(2, 100)));
	testcfg_parse(&to, SVC(",\"guards\":{\"max_churn\":0.3}",
			       B(1, 100) "," B(2, 100) "," B(3, 100) "," B(4, 100)));
	assert_int_equal(xlb_rollout_check(&from, &to, 1, false, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "step 1 of 1"));
	assert_non_null(strstr(why, "max_churn"));
	assert_int_equal(xlb_rollout_check(&from, &to, 4, false, why, sizeof(why)), 0);
	assert_int_equal(xlb_rollout_check(&from, &to, 1, true, why, sizeof(why)), 0);
	/* max_share 0.5: backend 1 grows to 3x the others — refused from the step it passes 0.5 */
	testcfg_parse(&skew, SVC("", B(1, 400) "," B(2, 100) "," B(3, 100)));
	xlb_config_free(&to);
	testcfg_parse(&to, SVC("", B(1, 100) "," B(2, 100) "," B(3, 100)));
	assert_int_equal(xlb_rollout_check(&to, &skew, 3, false, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "step 2 of 3"));
	xlb_config_free(&from);
	xlb_config_free(&to);
	xlb_config_free(&skew);
}

/*
 * The start of a rollout is decided in the library: no daemon, another
 * rollout active, nothing to change, a step refused — each said, nothing
 * written; else the record, its id, its start generation.
 */
static void a_start_is_decided_by_the_library(void **state)
{
	struct xlb_config from, to;
	struct xlb_rollout_start st = { .start_gen = 7, .steps = 1, .step_ms = 1000,
					.reason = "test" };
	struct xlb_rollout r;
	char dir[] = "/tmp/xlb-test-rollout-XXXXXX", dev[32], id[16], path[64];
	int lock;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(dev, sizeof(dev), "xt%d-ro", (int)getpid());
	testcfg_parse(&from, SVC(",\"guards\":{\"max_churn\":0.3}", B(1, 100) "," B(2, 100)));
	testcfg_parse(&to, SVC(",\"guards\":{\"max_churn\":0.3}",
			       B(1, 100) "," B(2, 100) "," B(3, 100) "," B(4, 100)));
	st.target = &to;
	assert_int_equal(xlb_rollout_start(dir, dev, &from, &st, id, sizeof(id)), -ESRCH);
	assert_non_null(strstr(xlb_errmsg(), "no xlb daemon runs"));
	lock = xlb_daemon_lock(dev);	/* a daemon, as far as the start can tell */
	assert_true(lock >= 0);
	st.target = &from;
	assert_int_equal(xlb_rollout_start(dir, dev, &from, &st, id, sizeof(id)), -EALREADY);
	assert_non_null(strstr(xlb_errmsg(), "nothing to roll out: generation 7"));
	st.target = &to;
	assert_int_equal(xlb_rollout_start(dir, dev, &from, &st, id, sizeof(id)), -EPERM);
	assert_non_null(strstr(xlb_errmsg(), "max_churn"));
	assert_int_equal(xlb_rollout_read(dir, &r), -ENOENT);	/* nothing written */
	st.steps = 4;
	assert_int_equal(xlb_rollout_start(dir, dev, &from, &st, id, sizeof(id)), 0);
	assert_int_equal(xlb_rollout_read(dir, &r), 0);
	assert_string_equal(r.id, id);
	assert_int_equal(r.start_gen, 7);
	assert_int_equal(r.state, XLB_ROLLOUT_RUNNING);
	xlb_rollout_free(&r);
	assert_int_equal(xlb_rollout_start(dir, dev, &from, &st, id, sizeof(id)), -EBUSY);
	assert_non_null(strstr(xlb_errmsg(), "one at a time"));
	close(lock);
	snprintf(path, sizeof(path), "/run/xlb/%s.daemon", dev);
	unlink(path);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
	xlb_config_free(&from);
	xlb_config_free(&to);
}

static struct xlb_rollout_backend sb(const char *addr, double share, __u64 flows)
{
	struct xlb_rollout_backend b = { .service = "web", .table_share = share,
					 .new_flows = flows };

	snprintf(b.address, sizeof(b.address), "%s", addr);
	return b;
}

/* The judgement: each signal against its threshold, and quiet when all are within. */
static void signals_are_judged(void **state)
{
	struct xlb_config cfg;
	struct xlb_rollout_backend be3[3];
	struct xlb_rollout_signals s = { .be = be3, .nr_be = 3, .seconds = 2 };
	char why[512];

	(void)state;
	testcfg_parse(&cfg, SVC(",\"rollout\":{\"max_share_deviation\":0.5,"
				"\"max_drops_per_second\":10,\"min_flows\":100}",
				B(1, 100) "," B(2, 100) "," B(3, 100)));
	be3[0] = sb("198.51.100.1", 0.45, 450);
	be3[1] = sb("198.51.100.2", 0.45, 430);
	be3[2] = sb("198.51.100.3", 0.10, 120);
	assert_false(xlb_rollout_judge(&cfg, &cfg, &s, why, sizeof(why)));
	be3[2].new_flows = 200;		/* 0.185 of new flows against 0.10: 0.85 off */
	assert_true(xlb_rollout_judge(&cfg, &cfg, &s, why, sizeof(why)));
	assert_non_null(strstr(why, "198.51.100.3"));
	assert_non_null(strstr(why, "max_share_deviation"));
	be3[2].new_flows = 120;
	s.drops = 30;			/* 15 per second, 10 allowed */
	assert_true(xlb_rollout_judge(&cfg, &cfg, &s, why, sizeof(why)));
	assert_non_null(strstr(why, "drops per second"));
	s.drops = 10;
	be3[1].health_failures = 1;	/* max_health_failures 0 */
	assert_true(xlb_rollout_judge(&cfg, &cfg, &s, why, sizeof(why)));
	assert_non_null(strstr(why, "health checks"));
	be3[1].health_failures = 0;
	be3[2].syns = 12;
	be3[2].syn_retries = 8;		/* 0.4 of its SYNs sent again, 0.2 allowed */
	assert_true(xlb_rollout_judge(&cfg, &cfg, &s, why, sizeof(why)));
	assert_non_null(strstr(why, "sent again"));
	be3[2].syn_retries = 2;		/* 0.14 */
	assert_false(xlb_rollout_judge(&cfg, &cfg, &s, why, sizeof(why)));
	/* too few flows to judge shares: quiet, however far off */
	be3[0].new_flows = be3[1].new_flows = 10;
	be3[2].new_flows = 60;
	assert_false(xlb_rollout_judge(&cfg, &cfg, &s, why, sizeof(why)));
	xlb_config_free(&cfg);
}

static void durations_parse(void **state)
{
	(void)state;
	assert_int_equal(xlb_duration_ms("10s"), 10000);
	assert_int_equal(xlb_duration_ms("10"), 10000);
	assert_int_equal(xlb_duration_ms("500ms"), 500);
	assert_int_equal(xlb_duration_ms("2m"), 120000);
	assert_int_equal(xlb_duration_ms("1h"), 3600000);
	assert_int_equal(xlb_duration_ms("1.5s"), 1500);
	assert_int_equal(xlb_duration_ms("x"), -EINVAL);
	assert_int_equal(xlb_duration_ms("5d"), -EINVAL);
	assert_int_equal(xlb_duration_ms("-1s"), -EINVAL);
	assert_int_equal(xlb_duration_ms("25h"), -EINVAL);
	assert_int_equal(xlb_duration_ms("nan"), -EINVAL);	/* strtod reads it */
	assert_int_equal(xlb_duration_ms("nans"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(weights_are_interpolated),
		cmocka_unit_test(states_come_at_the_end),
		cmocka_unit_test(guards_hold_at_every_step),
		cmocka_unit_test(a_start_is_decided_by_the_library),
		cmocka_unit_test(signals_are_judged),
		cmocka_unit_test(durations_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
