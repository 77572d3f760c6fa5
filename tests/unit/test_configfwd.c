/*
 * A service's "forward", "gue_port" and "hash" (issue 26): parsed, checked,
 * shown in the canonical form only when not default (fingerprints of older
 * configurations stay), kept by records and copies, reported by plans.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "plan.h"
#include "testcfg.h"

#define GOOD "tests/unit/configs/good/forwarding.json"
/* fingerprints before issue 26 (xlb config validate of main at 2a9a4b8) */
#define FULL_FP_BEFORE "af81f7b6aec83ed2"
#define WEB_FP_BEFORE "9b30f2f1fa0297ce"

#define SVC(extra) "{\"services\":[{\"name\":\"web\",\"vip\":\"192.0.2.10\",\"port\":80," \
	"\"protocol\":\"tcp\",\"table_size\":10007" extra ",\"backends\":[" \
	"{\"address\":\"198.51.100.1\"},{\"address\":\"198.51.100.2\"}," \
	"{\"address\":\"198.51.100.3\"}]}]}"

static void load_good(const char *path, struct xlb_config *cfg)
{
	struct xlb_diags d = { 0 };

	if (xlb_config_load(path, cfg, &d) || xlb_config_validate(cfg, &d)) {
		for (__u32 i = 0; i < d.count; i++)
			fprintf(stderr, "#   %s: %s\n", d.items[i].path, d.items[i].msg);
		fail_msg("%s refused", path);
	}
	xlb_diags_free(&d);
}

static void fingerprint_of(const char *text, char fp[17])
{
	struct xlb_config c;

	testcfg_parse(&c, text);
	xlb_config_fingerprint(&c, fp);
	xlb_config_free(&c);
}

static void each_mode_is_parsed(void **state)
{
	struct xlb_config c;
	const struct xlb_service_conf *s;

	(void)state;
	load_good(GOOD, &c);
	s = xlb_config_service(&c, "web-ipip");
	assert_int_equal(s->forward, XLB_FWD_IPIP);
	assert_int_equal(s->hash_fields, XLB_HASH_5TUPLE);
	assert_int_equal(s->gue_port, 0);
	s = xlb_config_service(&c, "web-gue");
	assert_int_equal(s->forward, XLB_FWD_GUE);
	assert_int_equal(s->gue_port, XLB_GUE_PORT_DEFAULT);
	assert_int_equal(s->hash_fields, XLB_HASH_SRC_DPORT);
	s = xlb_config_service(&c, "quic-gue");
	assert_int_equal(s->forward, XLB_FWD_GUE);
	assert_int_equal(s->gue_port, 6081);
	assert_int_equal(s->hash_fields, XLB_HASH_SRC);
	s = xlb_config_service(&c, "all-l2");
	assert_int_equal(s->forward, XLB_FWD_L2);
	assert_int_equal(s->port, 0);
	assert_int_equal(s->hash_fields, XLB_HASH_SRC);
	s = xlb_config_service(&c, "dns6-l2");
	assert_int_equal(s->forward, XLB_FWD_L2);
	assert_int_equal(s->family, XLB_FAMILY_V6);
	assert_int_equal(s->gue_port, 0);
	xlb_config_free(&c);
}

/* Shown only when not default; each value by its name. */
static void canonical_form_shows_what_is_not_default(void **state)
{
	struct xlb_config c;
	json_t *j, *svcs, *s;

	(void)state;
	load_good(GOOD, &c);
	j = xlb_config_to_json(&c);
	svcs = json_object_get(j, "services");
	for (size_t i = 0; i < json_array_size(svcs); i++) {
		const char *name;

		s = json_array_get(svcs, i);
		name = json_string_value(json_object_get(s, "name"));
		if (!strcmp(name, "web-ipip")) {
			assert_null(json_object_get(s, "forward"));
			assert_null(json_object_get(s, "hash"));
			assert_null(json_object_get(s, "gue_port"));
		} else if (!strcmp(name, "web-gue")) {
			assert_string_equal(json_string_value(json_object_get(s, "forward")), "gue");
			assert_null(json_object_get(s, "gue_port"));	/* 6080 is the default */
			assert_string_equal(json_string_value(json_object_get(s, "hash")),
					    "src-dport");
		} else if (!strcmp(name, "quic-gue")) {
			assert_int_equal(json_integer_value(json_object_get(s, "gue_port")), 6081);
			assert_string_equal(json_string_value(json_object_get(s, "hash")), "src");
		} else if (!strcmp(name, "dns6-l2")) {
			assert_string_equal(json_string_value(json_object_get(s, "forward")), "l2");
			assert_null(json_object_get(s, "hash"));
		}
	}
	json_decref(j);
	xlb_config_free(&c);
}

/* Configurations of before issue 26 keep their fingerprints; defaults said aloud too. */
static void fingerprints_of_older_configurations_stay(void **state)
{
	struct xlb_config c;
	char fp[17], fq[17];

	(void)state;
	load_good("tests/unit/configs/good/full.json", &c);
	xlb_config_fingerprint(&c, fp);
	assert_string_equal(fp, FULL_FP_BEFORE);
	xlb_config_free(&c);
	load_good("examples/web.json", &c);
	xlb_config_fingerprint(&c, fp);
	assert_string_equal(fp, WEB_FP_BEFORE);
	xlb_config_free(&c);
	fingerprint_of(SVC(""), fp);
	fingerprint_of(SVC(",\"forward\":\"ipip\",\"hash\":\"5-tuple\""), fq);
	assert_string_equal(fp, fq);
	fingerprint_of(SVC(",\"forward\":\"gue\""), fp);
	fingerprint_of(SVC(",\"forward\":\"gue\",\"gue_port\":6080"), fq);
	assert_string_equal(fp, fq);
}

/* Each setting is part of the fingerprint: a change of one is a change. */
static void each_setting_changes_the_fingerprint(void **state)
{
	const char *texts[] = { SVC(""), SVC(",\"forward\":\"gue\""),
				SVC(",\"forward\":\"gue\",\"gue_port\":6081"),
				SVC(",\"forward\":\"l2\""), SVC(",\"hash\":\"src\""),
				SVC(",\"hash\":\"src-dport\"") };
	char fp[6][17];

	(void)state;
	for (int i = 0; i < 6; i++) {
		fingerprint_of(texts[i], fp[i]);
		for (int k = 0; k < i; k++)
			if (!strcmp(fp[i], fp[k]))
				fail_msg("%s and %s have one fingerprint", texts[i], texts[k]);
	}
}

static void same_forwarding(const struct xlb_config *a, const struct xlb_config *b)
{
	assert_int_equal(a->nr_services, b->nr_services);
	for (__u32 i = 0; i < a->nr_services; i++) {
		const struct xlb_service_conf *s = &a->services[i];
		const struct xlb_service_conf *t = xlb_config_service(b, s->name);

		assert_non_null(t);
		assert_int_equal(s->forward, t->forward);
		assert_int_equal(s->hash_fields, t->hash_fields);
		assert_int_equal(s->gue_port, t->gue_port);
	}
}

/* The canonical form, a history record and a copy keep every setting. */
static void records_and_copies_keep_them(void **state)
{
	struct xlb_diags d = { 0 };
	struct xlb_config c, back, rec, copy;
	char fp[17], fb[17];
	json_t *j;

	(void)state;
	load_good(GOOD, &c);
	xlb_config_fingerprint(&c, fp);
	j = xlb_config_to_json(&c);
	assert_int_equal(xlb_config_from_json(j, &back, &d), 0);
	json_decref(j);
	same_forwarding(&c, &back);
	xlb_config_fingerprint(&back, fb);
	assert_string_equal(fp, fb);
	j = xlb_config_to_json_private(&c);
	assert_int_equal(xlb_config_from_record(j, &rec, &d), 0);
	json_decref(j);
	same_forwarding(&c, &rec);
	assert_int_equal(xlb_config_validate(&rec, &d), 0);
	assert_int_equal(xlb_config_copy(&copy, &c), 0);
	same_forwarding(&c, &copy);
	xlb_config_fingerprint(&copy, fb);
	assert_string_equal(fp, fb);
	assert_int_equal(d.count, 0);
	xlb_config_free(&c);
	xlb_config_free(&back);
	xlb_config_free(&rec);
	xlb_config_free(&copy);
}

/* A configuration built in code is checked as a file is. */
static void validate_refuses_what_the_parser_refuses(void **state)
{
	struct xlb_diags d = { 0 };
	struct xlb_config c;

	(void)state;
	testcfg_parse(&c, SVC(""));
	c.services[0].gue_port = 6081;		/* on an IP-in-IP service */
	c.services[0].hash_fields = XLB_HASH_FIELDS_MAX + 1;
	assert_int_equal(xlb_config_validate(&c, &d), -EINVAL);
	assert_int_equal(d.count, 2);
	assert_string_equal(d.items[0].path, "services[0].hash");
	assert_string_equal(d.items[1].path, "services[0].gue_port");
	xlb_diags_free(&d);
	c.services[0].gue_port = 0;
	c.services[0].hash_fields = XLB_HASH_SRC;
	c.services[0].forward = XLB_FWD_MAX + 1;
	assert_int_equal(xlb_config_validate(&c, &d), -EINVAL);
	assert_string_equal(d.items[0].path, "services[0].forward");
	assert_non_null(strstr(d.items[0].msg, "ipip, gue, l2"));
	xlb_diags_free(&d);
	xlb_config_free(&c);
}

static struct xlb_plan plan_of(const char *a, const char *b)
{
	struct xlb_config ca, cb;
	struct xlb_plan p;

	testcfg_parse(&ca, a);
	testcfg_parse(&cb, b);
	assert_int_equal(xlb_plan_build(&ca, &cb, &p), 0);
	xlb_config_free(&ca);
	xlb_config_free(&cb);
	return p;
}

/* Another "hash" places every flow anew, as another table_size does. */
static void a_hash_change_replaces_the_placement(void **state)
{
	struct xlb_plan p = plan_of(SVC(""), SVC(",\"hash\":\"src\",\"guards\":{\"max_churn\":1}"));
	json_t *j, *h;

	(void)state;
	assert_true(p.changed);
	assert_true(p.svcs[0].changed);
	assert_true(p.svcs[0].replaced);
	/* three even backends, independent slots: 2/3 of new flows land elsewhere */
	assert_true(p.svcs[0].churn > 0.66 && p.svcs[0].churn < 0.67);
	j = xlb_plan_to_json(&p);
	h = json_object_get(json_array_get(json_object_get(j, "services"), 0), "hash");
	assert_string_equal(json_string_value(json_object_get(h, "before")), "5-tuple");
	assert_string_equal(json_string_value(json_object_get(h, "after")), "src");
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(j, "services"), 0),
						 "replaces_placement")));
	json_decref(j);
	xlb_plan_free(&p);
	/* and max_churn guards it like any move */
	p = plan_of(SVC(""), SVC(",\"hash\":\"src\""));
	assert_true(p.svcs[0].refused & XLB_GUARD_MAX_CHURN);
	xlb_plan_free(&p);
}

/* Another "forward" or "gue_port" is a change that moves no flow. */
static void a_forward_change_is_shown_as_such(void **state)
{
	struct xlb_plan p = plan_of(SVC(""), SVC(",\"forward\":\"gue\""));
	json_t *j, *s;

	(void)state;
	assert_true(p.svcs[0].changed);
	assert_false(p.svcs[0].replaced);
	assert_true(p.svcs[0].churn == 0);
	assert_int_equal(p.svcs[0].refused, 0);
	j = xlb_plan_to_json(&p);
	s = json_array_get(json_object_get(j, "services"), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(s, "forward"),
							      "after")), "gue");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "gue_port"),
							    "after")), 6080);
	assert_true(json_is_null(json_object_get(json_object_get(s, "gue_port"), "before")));
	assert_null(json_object_get(s, "hash"));
	json_decref(j);
	xlb_plan_free(&p);
	p = plan_of(SVC(",\"forward\":\"gue\""), SVC(",\"forward\":\"gue\",\"gue_port\":6081"));
	assert_true(p.changed && !p.svcs[0].replaced);
	assert_int_equal(p.svcs[0].gue_port_old, 6080);
	assert_int_equal(p.svcs[0].gue_port_new, 6081);
	xlb_plan_free(&p);
	p = plan_of(SVC(",\"forward\":\"l2\""), SVC(",\"forward\":\"l2\""));
	assert_false(p.changed);
	xlb_plan_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_mode_is_parsed),
		cmocka_unit_test(canonical_form_shows_what_is_not_default),
		cmocka_unit_test(fingerprints_of_older_configurations_stay),
		cmocka_unit_test(each_setting_changes_the_fingerprint),
		cmocka_unit_test(records_and_copies_keep_them),
		cmocka_unit_test(validate_refuses_what_the_parser_refuses),
		cmocka_unit_test(a_hash_change_replaces_the_placement),
		cmocka_unit_test(a_forward_change_is_shown_as_such),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
