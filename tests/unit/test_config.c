/* Configuration parser and validator: a corpus of invalid files, each with its path. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "hashkey.h"

#define DIR_BAD "tests/unit/configs/bad"
#define DIR_GOOD "tests/unit/configs/good"

static int load(const char *path, struct xlb_config *cfg, struct xlb_diags *d)
{
	int err = xlb_config_load(path, cfg, d);

	return err ? err : xlb_config_validate(cfg, d);
}

/* Every bad file fails with the expected path and message. */
static void bad_files_name_their_error(void **state)
{
	struct dirent *de;
	DIR *dir = opendir(DIR_BAD);
	int files = 0;

	(void)state;
	assert_non_null(dir);
	while ((de = readdir(dir))) {
		char path[512], exp[512], line[512], *bar;
		struct xlb_diags d = { 0 };
		struct xlb_config cfg;
		bool found = false;
		FILE *f;
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", DIR_BAD, de->d_name);
		snprintf(exp, sizeof(exp), "%s/%.*s.expect", DIR_BAD, (int)(n - 5), de->d_name);
		f = fopen(exp, "r");
		assert_non_null(f);
		assert_non_null(fgets(line, sizeof(line), f));
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		bar = strchr(line, '|');
		assert_non_null(bar);
		*bar++ = '\0';
		if (load(path, &cfg, &d) == 0)
			fail_msg("%s: accepted, want an error at '%s'", de->d_name, line);
		for (__u32 i = 0; i < d.count && !found; i++)
			found = !strcmp(d.items[i].path, line) && strstr(d.items[i].msg, bar);
		if (!found) {
			for (__u32 i = 0; i < d.count; i++)
				fprintf(stderr, "#   got %s: %s\n", d.items[i].path, d.items[i].msg);
			fail_msg("%s: no error at '%s' saying '%s'", de->d_name, line, bar);
		}
		xlb_diags_free(&d);
		xlb_config_free(&cfg);
		files++;
	}
	closedir(dir);
	assert_true(files >= 30);
}

/* All errors of a file are reported, not only the first. */
static void all_errors_are_reported(void **state)
{
	struct xlb_diags d = { 0 };
	struct xlb_config cfg;
	json_error_t je;
	json_t *j = json_loads("{\"services\":[{\"name\":\"a b\",\"vip\":\"x\",\"port\":-1,"
			       "\"protocol\":\"icmp\",\"bogus\":1,\"backends\":[{\"address\":\"y\","
			       "\"weight\":-5}]}]}", 0, &je);

	(void)state;
	assert_int_not_equal(xlb_config_from_json(j, &cfg, &d), 0);
	assert_true(d.count >= 7);
	xlb_diags_free(&d);
	xlb_config_free(&cfg);
	json_decref(j);
}

static void good_file_has_defaults(void **state)
{
	struct xlb_diags d = { 0 };
	struct xlb_config cfg;
	struct xlb_service_conf *s;

	(void)state;
	assert_int_equal(load(DIR_GOOD "/full.json", &cfg, &d), 0);
	assert_int_equal(cfg.nr_services, 2);
	s = xlb_config_service(&cfg, "web");
	assert_non_null(s);
	assert_int_equal(s->guards.min_active, 2);
	assert_int_equal(s->backends[1].state, XLB_BACKEND_DRAIN);
	assert_int_equal(s->health.type, XLB_HEALTH_HTTP);
	s = xlb_config_service(&cfg, "dns6");
	assert_int_equal(s->table_size, XLB_DEFAULT_TABLE_SIZE);
	assert_int_equal(s->backends[0].weight, 100);
	assert_int_equal(s->guards.min_active, 1);
	assert_true(s->guards.max_share == 0.5 && s->guards.max_churn == 0.5);
	xlb_config_free(&cfg);
}

/* The fingerprint ignores order; a real change changes it. */
static void fingerprint_is_order_free(void **state)
{
	const char *a = "{\"services\":[{\"name\":\"x\",\"vip\":\"192.0.2.1\",\"port\":1,"
			"\"protocol\":\"udp\",\"backends\":[{\"address\":\"198.51.100.1\"},"
			"{\"address\":\"198.51.100.2\"}]},{\"name\":\"w\",\"vip\":\"192.0.2.2\","
			"\"port\":2,\"protocol\":\"tcp\",\"backends\":[]}]}";
	const char *b = "{\"services\":[{\"name\":\"w\",\"port\":2,\"vip\":\"192.0.2.2\","
			"\"protocol\":\"tcp\",\"backends\":[]},{\"name\":\"x\",\"vip\":\"192.0.2.1\","
			"\"port\":1,\"protocol\":\"udp\",\"backends\":[{\"address\":\"198.51.100.2\","
			"\"weight\":100},{\"address\":\"198.51.100.1\"}]}]}";
	struct xlb_config ca, cb;
	struct xlb_diags d = { 0 };
	json_error_t je;
	char fa[17], fb[17];
	json_t *ja = json_loads(a, 0, &je), *jb = json_loads(b, 0, &je);

	(void)state;
	assert_int_equal(xlb_config_from_json(ja, &ca, &d), 0);
	assert_int_equal(xlb_config_from_json(jb, &cb, &d), 0);
	xlb_config_fingerprint(&ca, fa);
	xlb_config_fingerprint(&cb, fb);
	assert_string_equal(fa, fb);
	cb.services[1].backends[0].weight = 99;
	xlb_config_fingerprint(&cb, fb);
	assert_string_not_equal(fa, fb);
	/* the normal form parses back to the same fingerprint */
	json_t *n = xlb_config_to_json(&ca);
	struct xlb_config cn;

	assert_int_equal(xlb_config_from_json(n, &cn, &d), 0);
	xlb_config_fingerprint(&cn, fb);
	assert_string_equal(fa, fb);
	json_decref(n);
	json_decref(ja);
	json_decref(jb);
	xlb_config_free(&ca);
	xlb_config_free(&cb);
	xlb_config_free(&cn);
}

static void missing_file_is_an_error(void **state)
{
	struct xlb_diags d = { 0 };
	struct xlb_config cfg;

	(void)state;
	assert_int_equal(xlb_config_load("/nonexistent/xlb.json", &cfg, &d), -ENOENT);
	assert_int_equal(d.count, 1);
	assert_non_null(strstr(d.items[0].msg, "cannot read"));
	xlb_diags_free(&d);
}

/* The reference vector of SipHash-2-4 (Aumasson and Bernstein, appendix A). */
static void siphash_matches_the_reference(void **state)
{
	__u8 msg[15];

	(void)state;
	for (int i = 0; i < 15; i++)
		msg[i] = i;
	assert_true(xlb_siphash(0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull, msg, 15) ==
		    0xa129ca6149be45e5ull);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

/* Load cfg_text; the number of diagnostics, the first one's path and message in msg. */
static int load_text(const char *cfg_text, struct xlb_config *cfg, char *msg, size_t len)
{
	struct xlb_diags d = { 0 };
	int n;

	write_file("/tmp/xlb-test-key.json", cfg_text, 0644);
	xlb_config_load("/tmp/xlb-test-key.json", cfg, &d);
	n = d.count;
	snprintf(msg, len, "%s: %s", n ? d.items[0].path : "", n ? d.items[0].msg : "");
	xlb_diags_free(&d);
	return n;
}

/* "second_chance": a setting of the whole configuration, shown when on, a change when flipped. */
static void second_chance_is_a_setting(void **state)
{
#define SC_CFG(pre) "{" pre "\"services\":[{\"name\":\"web\",\"vip\":\"192.0.2.10\"," \
		    "\"port\":80,\"protocol\":\"tcp\",\"backends\":[{\"address\":\"198.51.100.1\"}]}]}"
	struct xlb_config off, on;
	char msg[512], f_off[17], f_on[17];
	json_t *j;

	(void)state;
	assert_int_equal(load_text(SC_CFG(""), &off, msg, sizeof(msg)), 0);
	assert_false(off.second_chance);
	assert_int_equal(load_text(SC_CFG("\"second_chance\":true,"), &on, msg, sizeof(msg)), 0);
	assert_true(on.second_chance);
	j = xlb_config_to_json(&on);
	assert_true(json_is_true(json_object_get(j, "second_chance")));
	json_decref(j);
	j = xlb_config_to_json(&off);
	assert_null(json_object_get(j, "second_chance"));	/* older fingerprints stay */
	json_decref(j);
	xlb_config_fingerprint(&off, f_off);
	xlb_config_fingerprint(&on, f_on);
	assert_string_not_equal(f_off, f_on);
	xlb_config_free(&on);
	assert_int_equal(load_text(SC_CFG("\"second_chance\":1,"), &on, msg, sizeof(msg)), 1);
	assert_string_equal(msg, "second_chance: must be true or false");
	xlb_config_free(&on);
	xlb_config_free(&off);
#undef SC_CFG
}

#define KEY_CFG(extra) "{" extra "\"services\":[{\"name\":\"web\",\"vip\":\"192.0.2.10\"," \
	"\"port\":80,\"protocol\":\"tcp\",\"table_size\":1009,\"backends\":[" \
	"{\"address\":\"198.51.100.1\"}]}]}"
#define KEY_FILE "/tmp/xlb-test-hash.key"
#define SECRET "0123456789abcdef0123456789ABCDEF"

/* A key file is a secret: refused when others may read it or it holds no key. */
static void a_hash_key_file_is_checked_and_never_shown(void **state)
{
	struct xlb_config cfg;
	char msg[512], id[17], *pub, *priv;

	(void)state;
	write_file(KEY_FILE, SECRET "\n", 0644);
	assert_int_equal(load_text(KEY_CFG("\"hash_key_file\":\"" KEY_FILE "\","), &cfg, msg,
				   sizeof(msg)), 1);
	assert_non_null(strstr(msg, "hash_key_file: the hash key file " KEY_FILE " may be read "
			       "by others (mode 0644)"));
	xlb_config_free(&cfg);
	write_file(KEY_FILE, "0123456789abcdef\n", 0600);	/* 64 bits: too short */
	assert_int_equal(load_text(KEY_CFG("\"hash_key_file\":\"" KEY_FILE "\","), &cfg, msg,
				   sizeof(msg)), 1);
	assert_non_null(strstr(msg, "does not hold a key: 32 hex digits are expected"));
	xlb_config_free(&cfg);
	assert_int_equal(load_text(KEY_CFG("\"hash_key_file\":\"hash.key\","), &cfg, msg,
				   sizeof(msg)), 1);
	assert_non_null(strstr(msg, "an absolute path"));
	xlb_config_free(&cfg);
	assert_int_equal(load_text(KEY_CFG("\"hash_key_file\":\"/nonexistent/k\","), &cfg,
				   msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "cannot open the hash key file /nonexistent/k"));
	xlb_config_free(&cfg);
	/* a good key: seeds other than the published ones, an id, the key in no public form */
	write_file(KEY_FILE, " " SECRET "\n", 0600);
	assert_int_equal(load_text(KEY_CFG("\"hash_key_file\":\"" KEY_FILE "\","), &cfg, msg,
				   sizeof(msg)), 0);
	assert_true(cfg.hash_key.set);
	assert_int_not_equal(cfg.services[0].seeds.flow, XLB_HASH_SEED);
	xlb_hash_key_id(&cfg.hash_key, id);
	pub = json_dumps(xlb_config_to_json(&cfg), JSON_COMPACT);
	priv = json_dumps(xlb_config_to_json_private(&cfg), JSON_COMPACT);
	assert_null(strcasestr(pub, SECRET));
	assert_null(strcasestr(pub, "0123456789abcdef"));
	assert_non_null(strstr(pub, id));
	assert_non_null(strcasestr(priv, SECRET));
	free(pub);
	free(priv);
	xlb_config_free(&cfg);
	/* hash_key_id pins the key a node must hold */
	assert_int_equal(load_text(KEY_CFG("\"hash_key_file\":\"" KEY_FILE "\",\"hash_key_id\":"
					   "\"0000000000000000\","), &cfg, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "hash_key_id: the key in " KEY_FILE " has id"));
	xlb_config_free(&cfg);
	snprintf(msg, sizeof(msg), KEY_CFG("\"hash_key_file\":\"" KEY_FILE "\",\"hash_key_id\":"
					  "\"%s\","), id);
	assert_int_equal(load_text(msg, &cfg, msg, sizeof(msg)), 0);
	xlb_config_free(&cfg);
	/* a user file cannot carry the key itself */
	assert_int_equal(load_text(KEY_CFG("\"hash_key\":\"" SECRET "\","), &cfg, msg,
				   sizeof(msg)), 1);
	assert_non_null(strstr(msg, "hash_key"));
	xlb_config_free(&cfg);
	unlink(KEY_FILE);
	unlink("/tmp/xlb-test-key.json");
}

/* A file of n copies of item inside {"services":[...]}; its path (static). */
static const char *services_file(size_t n, const char *item)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/xlb-test-limits-%d.json", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"services\":[", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", item);
	fputs("]}\n", f);
	fclose(f);
	return path;
}

static long peak_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Sizes and counts are checked before the work: a huge file costs nothing. */
static void limits_come_before_work(void **state)
{
	static const struct { size_t n; const char *item, *want; } cases[] = {
		{ 2000000, "{}", "bytes: a configuration is at most 4 MiB" },
		{ 1300000, "{}", "JSON objects and lists: more than any configuration" },
		{ 300, "{}", "300 services: at most 256 fit the maps" },
	};
	long before = peak_kb();

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct xlb_diags d = { 0 };
		struct xlb_config cfg;
		const char *path = services_file(cases[k].n, cases[k].item);

		assert_int_equal(xlb_config_load(path, &cfg, &d), -EINVAL);
		assert_int_equal(d.count, 1);
		if (!strstr(d.items[0].msg, cases[k].want))
			fail_msg("case %zu: '%s', want '%s'", k, d.items[0].msg, cases[k].want);
		assert_null(cfg.services);
		xlb_diags_free(&d);
		unlink(path);
	}
	/* the process grew by far less than 100 MB for all three */
	if (peak_kb() - before > 100 * 1024)
		fail_msg("peak memory grew by %ld KB", peak_kb() - before);
}

/* Diagnostics are capped: the first XLB_DIAGS_MAX kept, the rest counted. */
static void diagnostics_are_capped(void **state)
{
	struct xlb_diags d = { 0 };
	struct xlb_config cfg;
	const char *path = services_file(200, "{\"bogus\":1}");

	(void)state;
	assert_int_equal(xlb_config_load(path, &cfg, &d), -EINVAL);
	assert_int_equal(d.count, XLB_DIAGS_MAX);
	assert_true(d.dropped > 0);
	/* each service: bogus key, no name, vip, port, protocol, backends */
	assert_int_equal(d.count + d.dropped, 200 * 6);
	xlb_config_free(&cfg);
	xlb_diags_free(&d);
	unlink(path);
}

/*
 * All tables together have a budget: 256 services of 1048573 entries (a plan
 * of them took 1 GB and 8 s) are refused by validation, at once, naming the
 * service past the limit and the figures; every service at the default fits.
 */
static void the_tables_have_a_budget(void **state)
{
	struct xlb_diags d = { 0 };
	struct xlb_config cfg;
	struct timespec t0, t1;
	long before = peak_kb();
	double secs;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(load(DIR_BAD "/50-tables-total.json", &cfg, &d), -EINVAL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_int_equal(cfg.nr_services, 256);
	assert_int_equal(d.count, 1);
	assert_string_equal(d.items[0].path, "services[16].table_size");
	if (!strstr(d.items[0].msg, "17825741 table entries in all, above the limit of 16777472"))
		fail_msg("'%s'", d.items[0].msg);
	if (secs > 1.0 || peak_kb() - before > 50 * 1024)
		fail_msg("refused after %.2f s, %ld KB", secs, peak_kb() - before);
	xlb_diags_free(&d);
	for (__u32 i = 0; i < cfg.nr_services; i++)
		cfg.services[i].table_size = XLB_DEFAULT_TABLE_SIZE;
	assert_int_equal(xlb_config_validate(&cfg, &d), 0);	/* 256 x 65537: the limit */
	cfg.services[255].table_size = 65539;
	assert_int_equal(xlb_config_validate(&cfg, &d), -EINVAL);
	assert_string_equal(d.items[0].path, "services[255].table_size");
	assert_non_null(strstr(d.items[0].msg, "16777474 table entries in all"));
	xlb_diags_free(&d);
	xlb_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_files_name_their_error),
		cmocka_unit_test(limits_come_before_work),
		cmocka_unit_test(diagnostics_are_capped),
		cmocka_unit_test(the_tables_have_a_budget),
		cmocka_unit_test(all_errors_are_reported),
		cmocka_unit_test(good_file_has_defaults),
		cmocka_unit_test(fingerprint_is_order_free),
		cmocka_unit_test(missing_file_is_an_error),
		cmocka_unit_test(siphash_matches_the_reference),
		cmocka_unit_test(a_hash_key_file_is_checked_and_never_shown),
		cmocka_unit_test(second_chance_is_a_setting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
