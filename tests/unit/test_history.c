/* History and state files: link-safe writes, private directories, damaged records (no BPF). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fsutil.h"
#include "history.h"
#include "log.h"
#include "testcfg.h"

static char root[64], hist[512];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/xlb-test-history-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	return xlb_history_dir(root, "dev0", hist, sizeof(hist));
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd);
}

static void record_of(struct xlb_record *r, __u64 gen)
{
	memset(r, 0, sizeof(*r));
	r->generation = gen;
	snprintf(r->source, sizeof(r->source), "apply");
	r->full = true;
	testcfg_parse(&r->config, "{\"services\":[{\"name\":\"web\",\"vip\":\"192.0.2.10\","
		      "\"port\":80,\"protocol\":\"tcp\",\"table_size\":1009,"
		      "\"backends\":[{\"address\":\"198.51.100.1\"}]}]}");
	assert_int_equal(xlb_assign_build(&(struct xlb_assign){ 0 }, NULL, &r->config, &r->assign), 0);
}

static void a_link_at_the_temp_path_is_refused(void **state)
{
	struct xlb_record r, back;
	char tmp[700], victim[600];
	FILE *f;

	(void)state;
	record_of(&r, 7);
	snprintf(victim, sizeof(victim), "%s/victim", root);
	f = fopen(victim, "w");
	fputs("keep\n", f);
	fclose(f);
	snprintf(tmp, sizeof(tmp), "%s/7.json.tmp", hist);
	assert_int_equal(symlink(victim, tmp), 0);
	assert_int_equal(xlb_history_write(hist, &r), -ELOOP);
	assert_non_null(strstr(xlb_errmsg(), "symbolic link"));
	f = fopen(victim, "r");
	assert_non_null(fgets(tmp, sizeof(tmp), f));
	fclose(f);
	assert_string_equal(tmp, "keep\n");
	assert_int_equal(xlb_history_read(hist, 7, XLB_RECORD_META, &back), -ENOENT);
	/* a crash's leftover regular file is replaced, the record written */
	snprintf(tmp, sizeof(tmp), "%s/7.json.tmp", hist);
	unlink(tmp);
	f = fopen(tmp, "w");
	fputs("half a record", f);
	fclose(f);
	assert_int_equal(xlb_history_write(hist, &r), 0);
	assert_int_equal(xlb_history_read(hist, 7, XLB_RECORD_FULL, &back), 0);
	assert_int_equal(back.config.nr_services, 1);
	xlb_record_free(&back);
	r.overridden = NULL;
	xlb_record_free(&r);
}

static void a_state_directory_others_may_write_is_refused(void **state)
{
	char out[512], dir[128];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/dev0", root);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(xlb_history_dir(root, "dev0", out, sizeof(out)), -EPERM);
	assert_non_null(strstr(xlb_errmsg(), "writable by others"));
	assert_int_equal(chmod(dir, 0700), 0);
	if (geteuid() == 0) {	/* another owner: only root can make one */
		assert_int_equal(chown(dir, 65534, 65534), 0);
		assert_int_equal(xlb_history_dir(root, "dev0", out, sizeof(out)), -EPERM);
		assert_non_null(strstr(xlb_errmsg(), "belongs to uid 65534"));
		assert_int_equal(chown(dir, 0, 0), 0);
	}
	assert_int_equal(xlb_history_dir(root, "dev0", out, sizeof(out)), 0);
}

static void a_damaged_record_is_an_error_that_names_it(void **state)
{
	static const char *const bad[] = {
		"{\"generation\": 8",				/* truncated */
		"{\"generation\": 9}",				/* not its generation */
		"{\"generation\": 8, \"reason\": 5}",		/* a field of the wrong type */
		"{\"generation\": 8, \"config\": {\"services\": 3}}",
	};
	char path[700];
	struct xlb_record r;

	(void)state;
	snprintf(path, sizeof(path), "%s/8.json", hist);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(path, "w");

		fputs(bad[i], f);
		fclose(f);
		if (xlb_history_read(hist, 8, XLB_RECORD_FULL, &r) != -EINVAL)
			fail_msg("accepted damaged record %s", bad[i]);
		assert_non_null(strstr(xlb_errmsg(), "8.json is damaged"));
	}
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_link_at_the_temp_path_is_refused),
		cmocka_unit_test(a_state_directory_others_may_write_is_refused),
		cmocka_unit_test(a_damaged_record_is_an_error_that_names_it),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
