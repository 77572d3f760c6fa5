/* The health options of issue 25: parsed, defaulted, shown only when not default. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include "config.h"

static int parse(const char *text, struct xlb_config *cfg, char *msg, size_t len)
{
	struct xlb_diags d = { 0 };
	json_t *j = json_loads(text, 0, NULL);
	int n;

	assert_non_null(j);
	xlb_config_from_json(j, cfg, &d);
	if (!d.count)
		xlb_config_validate(cfg, &d);
	n = d.count;
	snprintf(msg, len, "%s: %s", n ? d.items[0].path : "", n ? d.items[0].msg : "");
	xlb_diags_free(&d);
	json_decref(j);
	return n;
}

#define SVCB(vip, be, proto, port, health) "{\"services\":[{\"name\":\"s\",\"vip\":\"" vip \
	"\",\"port\":" #port ",\"protocol\":\"" proto "\",\"backends\":[{\"address\":\"" be \
	"\"}],\"health\":" health "}]}"
#define SVC(vip, proto, port, health) SVCB(vip, "198.51.100.1", proto, port, health)

static void https_options_parse_and_show(void **state)
{
	struct xlb_config cfg, again;
	char msg[400], f1[17], f2[17];
	const struct xlb_health *h;
	json_t *j, *hj;

	(void)state;
	assert_int_equal(parse(SVC("192.0.2.10", "tcp", 443, "{\"type\":\"https\",\"via\":\"direct\","
		"\"host\":\"www.example.org\",\"path\":\"/healthz\",\"expect_status\":[204,\"300-302\"],"
		"\"body_match\":\"ok\",\"verify\":false,\"ca_file\":\"/etc/xlb/ca.pem\"}"),
		&cfg, msg, sizeof(msg)), 0);
	h = &cfg.services[0].health;
	assert_int_equal(h->type, XLB_HEALTH_HTTPS);
	assert_int_equal(h->via, XLB_VIA_DIRECT);
	assert_string_equal(h->host, "www.example.org");
	assert_int_equal(h->nr_expect_status, 2);
	assert_int_equal(h->expect_status[0].lo, 204);
	assert_int_equal(h->expect_status[1].hi, 302);
	assert_true(xlb_health_status_ok(h, 301));
	assert_false(xlb_health_status_ok(h, 200));
	assert_false(h->verify);
	assert_string_equal(h->ca_file, "/etc/xlb/ca.pem");
	j = xlb_config_to_json(&cfg);
	hj = json_object_get(json_array_get(json_object_get(j, "services"), 0), "health");
	assert_string_equal(json_string_value(json_object_get(hj, "via")), "direct");
	assert_true(json_is_false(json_object_get(hj, "verify")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(hj, "expect_status"),
							     1)), "300-302");
	xlb_config_fingerprint(&cfg, f1);
	/* the canonical form reads back to the same configuration */
	assert_int_equal(xlb_config_from_json(json_object_get(j, "config") ?: j, &again,
					      &(struct xlb_diags){ 0 }), 0);
	xlb_config_fingerprint(&again, f2);
	assert_string_equal(f1, f2);
	json_decref(j);
	xlb_config_free(&again);
	xlb_config_free(&cfg);
}

static void defaults_are_not_shown(void **state)
{
	struct xlb_config cfg;
	char msg[400];
	json_t *j, *hj;

	(void)state;
	assert_int_equal(parse(SVC("192.0.2.10", "tcp", 443,
				   "{\"type\":\"https\",\"host\":\"web.example\"}"), &cfg, msg,
			       sizeof(msg)), 0);
	assert_true(cfg.services[0].health.verify);
	assert_int_equal(cfg.services[0].health.via, XLB_VIA_TUNNEL);
	assert_true(xlb_health_status_ok(&cfg.services[0].health, 399));
	assert_false(xlb_health_status_ok(&cfg.services[0].health, 400));
	j = xlb_config_to_json(&cfg);
	hj = json_object_get(json_array_get(json_object_get(j, "services"), 0), "health");
	/* type, interval_ms, timeout_ms, rise, fall, the path and the host */
	assert_int_equal(json_object_size(hj), 7);
	json_decref(j);
	xlb_config_free(&cfg);
}

static void dns_options_parse(void **state)
{
	struct xlb_config cfg;
	char msg[400];
	const struct xlb_health *h;

	(void)state;
	assert_int_equal(parse(SVCB("2001:db8::53", "2001:db8:b::1", "udp", 53, "{\"type\":\"dns\",\"query\":"
		"\"www.example.org\",\"expect_answer\":\"2001:db8::80\"}"), &cfg, msg, sizeof(msg)), 0);
	h = &cfg.services[0].health;
	assert_int_equal(h->qtype, 28);	/* AAAA: the VIP's family */
	assert_int_equal(h->expect_rcode, 0);
	assert_true(h->has_expect_answer);
	xlb_config_free(&cfg);
	assert_int_equal(parse(SVC("192.0.2.53", "udp", 53, "{\"type\":\"dns\",\"query\":"
		"\"example.org\",\"qtype\":\"soa\",\"expect_rcode\":\"servfail\"}"), &cfg, msg,
		sizeof(msg)), 0);
	h = &cfg.services[0].health;
	assert_int_equal(h->qtype, 6);
	assert_int_equal(h->expect_rcode, 2);
	xlb_config_free(&cfg);
	/* a negative control: the same on a tcp service is refused */
	assert_int_equal(parse(SVC("192.0.2.53", "tcp", 53, "{\"type\":\"dns\",\"query\":"
		"\"example.org\"}"), &cfg, msg, sizeof(msg)), 1);
	assert_string_equal(msg, "services[0].health.type: \"dns\": only a udp service takes a "
			    "dns check");
	xlb_config_free(&cfg);
}

/* A udp service may still be checked over tcp or http on its health port (as before issue 25). */
static void udp_service_takes_a_tcp_check(void **state)
{
	struct xlb_config cfg;
	char msg[400];

	(void)state;
	assert_int_equal(parse(SVC("192.0.2.44", "udp", 443, "{\"type\":\"http\",\"port\":8443}"),
			       &cfg, msg, sizeof(msg)), 0);
	assert_int_equal(cfg.services[0].health.type, XLB_HEALTH_HTTP);
	xlb_config_free(&cfg);
	assert_int_equal(parse(SVC("192.0.2.44", "udp", 443, "{\"type\":\"tcp\"}"), &cfg, msg,
			       sizeof(msg)), 0);
	xlb_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(https_options_parse_and_show),
		cmocka_unit_test(defaults_are_not_shown),
		cmocka_unit_test(dns_options_parse),
		cmocka_unit_test(udp_service_takes_a_tcp_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
