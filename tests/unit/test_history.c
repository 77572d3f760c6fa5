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
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "fsutil.h"
#include "history.h"
#include "log.h"
#include "node.h"
#include "rollout.h"
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

static __u32 files_in(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	__u32 n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.' && strcmp(de->d_name, "bodies");
	closedir(d);
	return n;
}

/* A record of gen whose one backend is up or down (a health flip). */
static void flip_of(struct xlb_record *r, __u64 gen, bool down, __u32 keep)
{
	record_of(r, gen);
	r->config.history_keep = keep;
	r->config.services[0].backends[0].state = down ? XLB_BACKEND_DOWN : XLB_BACKEND_ACTIVE;
	snprintf(r->source, sizeof(r->source), "health");
}

static void flips_store_each_configuration_once_and_stay_bounded(void **state)
{
	char root2[64], dir[512], bodies[600];
	struct xlb_history_usage u;
	struct xlb_record r, up, down, *recs;
	struct timespec t0, t1;
	__u32 n, flips = 100000;

	(void)state;
	/* tmpfs: fsync is free there, so 100,000 commits' worth of records take seconds */
	snprintf(root2, sizeof(root2), "/dev/shm/xlb-test-flips-XXXXXX");
	if (!mkdtemp(root2))
		snprintf(root2, sizeof(root2), "%s/flips", root), mkdir(root2, 0700);
	assert_int_equal(xlb_history_dir(root2, "dev0", dir, sizeof(dir)), 0);
	snprintf(bodies, sizeof(bodies), "%s/bodies", dir);
	flip_of(&up, 0, false, 0);
	flip_of(&down, 0, true, 0);
	for (__u32 g = 1; g <= flips; g++) {
		struct xlb_record *f = g & 1 ? &down : &up;

		f->generation = g;
		assert_int_equal(xlb_history_write(dir, f), 0);
		assert_true(xlb_history_prune(dir, 0, g) >= 0);
		if (g % 997 == 0)
			assert_true(files_in(dir) <= XLB_HISTORY_KEEP + XLB_HISTORY_KEEP / 16 + 1);
	}
	xlb_record_free(&up);
	xlb_record_free(&down);
	assert_int_equal(files_in(bodies), 2);	/* up and down: one body each */
	assert_int_equal(xlb_history_usage(dir, &u), 0);
	assert_int_equal(u.bodies, 2);
	assert_true(u.records >= XLB_HISTORY_KEEP && u.records <= XLB_HISTORY_KEEP + XLB_HISTORY_KEEP / 16 + 1);
	assert_true(u.free_bytes > 0);
	/* the running and the previous records read back whole */
	assert_int_equal(xlb_history_read(dir, flips, XLB_RECORD_FULL, &r), 0);
	assert_int_equal(r.config.services[0].backends[0].state, XLB_BACKEND_ACTIVE);
	xlb_record_free(&r);
	assert_int_equal(xlb_history_read(dir, flips - 1, XLB_RECORD_FULL, &r), 0);
	assert_int_equal(r.config.services[0].backends[0].state, XLB_BACKEND_DOWN);
	xlb_record_free(&r);
	assert_int_equal(xlb_history_read(dir, 1, XLB_RECORD_META, &r), -ENOENT);
	/* what `xlb config history` reads: every record's metadata */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(xlb_history_records(dir, &recs, &n), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("history of %u records after %u flips read in %.3f s, %llu bytes, "
		      "%u bodies\n", n, flips, (t1.tv_sec - t0.tv_sec) +
		      (t1.tv_nsec - t0.tv_nsec) / 1e9, (unsigned long long)u.bytes, u.bodies);
	assert_int_equal(n, u.records);
	assert_true((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 < 1.0);
	for (__u32 i = 0; i < n; i++)
		xlb_record_free(&recs[i]);
	free(recs);
	snprintf(bodies, sizeof(bodies), "rm -rf '%s'", root2);
	assert_int_equal(system(bodies), 0);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char *read_text(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void pruning_keeps_the_running_and_the_previous_generation(void **state)
{
	struct xlb_record r, back;
	char path[700];

	(void)state;
	snprintf(path, sizeof(path), "%s/7.json", hist);
	unlink(path);	/* the first test's */
	for (__u64 g = 101; g <= 110; g++) {
		flip_of(&r, g, g == 108, 2);
		r.pending = g == 109;	/* an interrupted apply's record */
		assert_int_equal(xlb_history_write(hist, &r), 0);
		xlb_record_free(&r);
	}
	/* live 110: 108 is the newest applied one below it, 109 never went live */
	assert_int_equal(xlb_history_prune(hist, 2, 110), 8);	/* 110 % (2/16 + 1) == 0 */
	assert_int_equal(files_in(hist), 2);
	assert_int_equal(xlb_history_read(hist, 110, XLB_RECORD_FULL, &r), 0);
	xlb_record_free(&r);
	assert_int_equal(xlb_history_read(hist, 108, XLB_RECORD_FULL, &r), 0);
	assert_int_equal(r.config.services[0].backends[0].state, XLB_BACKEND_DOWN);
	xlb_record_free(&r);
	assert_int_equal(xlb_history_before(hist, 110), 108);
	/* a body no record names is gone; a record whose body is gone says so */
	snprintf(path, sizeof(path), "%s/bodies", hist);
	assert_int_equal(files_in(path), 2);
	assert_int_equal(xlb_history_read(hist, 108, XLB_RECORD_META, &r), 0);
	snprintf(path, sizeof(path), "%s/bodies/%s.json", hist, r.body);
	xlb_record_free(&r);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(xlb_history_read(hist, 108, XLB_RECORD_FULL, &r), -EINVAL);
	assert_non_null(strstr(xlb_errmsg(), "body: its file in bodies/ is missing"));
	/* a body file with other content under the name is never overwritten */
	flip_of(&r, 111, false, 2);
	assert_int_equal(xlb_history_write(hist, &r), 0);
	assert_int_equal(xlb_history_read(hist, 111, XLB_RECORD_META, &back), 0);
	snprintf(path, sizeof(path), "%s/bodies/%s.json", hist, back.body);
	xlb_record_free(&back);
	write_text(path, "{\"config\": {\"services\": []}}");
	assert_int_equal(xlb_history_write(hist, &r), -EEXIST);
	assert_non_null(strstr(xlb_errmsg(), "not overwriting it"));
	assert_string_equal(read_text(path), "{\"config\": {\"services\": []}}");
	xlb_record_free(&r);
	unlink(path);
	snprintf(path, sizeof(path), "%s/111.json", hist);
	unlink(path);
	for (__u64 g = 108; g <= 110; g++) {
		snprintf(path, sizeof(path), "%s/%llu.json", hist, (unsigned long long)g);
		unlink(path);
	}
}

/*
 * keep 2, live 4, a rollout started at 1: its rollback target stays (record
 * and body) while the rollout runs or is paused, and goes once it is over.
 */
static void pruning_keeps_a_rollouts_start_generation(void **state)
{
	char dir[512];
	struct xlb_rollout ro;
	struct xlb_record r;
	char id[16];

	(void)state;
	assert_int_equal(xlb_history_dir(root, "dev-ro", dir, sizeof(dir)), 0);
	for (__u64 g = 1; g <= 4; g++) {
		flip_of(&r, g, g % 2 == 0, 2);
		assert_int_equal(xlb_history_write(dir, &r), 0);
		if (g == 4)
			assert_int_equal(xlb_rollout_begin(dir, &(struct xlb_rollout_start){
				.target = &r.config, .start_gen = 1, .steps = 3, .step_ms = 1000,
				.reason = "test" }, id, sizeof(id)), 0);
		xlb_record_free(&r);
	}
	assert_int_equal(xlb_history_prune(dir, 2, 4), 1);	/* 2 only: 3 is the previous */
	assert_int_equal(xlb_history_read(dir, 1, XLB_RECORD_FULL, &r), 0);
	assert_int_equal(r.config.services[0].backends[0].state, XLB_BACKEND_ACTIVE);
	xlb_record_free(&r);
	/* paused: still its rollback target */
	assert_int_equal(xlb_rollout_read(dir, &ro), 0);
	ro.state = XLB_ROLLOUT_PAUSED;
	assert_int_equal(xlb_rollout_write(dir, &ro), 0);
	flip_of(&r, 5, false, 2);
	assert_int_equal(xlb_history_write(dir, &r), 0);
	xlb_record_free(&r);
	assert_int_equal(xlb_history_prune(dir, 2, 5), 1);	/* 3 */
	assert_int_equal(xlb_history_read(dir, 1, XLB_RECORD_FULL, &r), 0);
	xlb_record_free(&r);
	/* over: the start generation is an old record like any */
	ro.state = XLB_ROLLOUT_DONE;
	assert_int_equal(xlb_rollout_write(dir, &ro), 0);
	assert_int_equal(xlb_history_prune(dir, 2, 5), 1);	/* 1 */
	assert_int_equal(xlb_history_read(dir, 1, XLB_RECORD_META, &r), -ENOENT);
	/* a rollout file that cannot be read may name one: nothing is pruned */
	flip_of(&r, 6, true, 2);
	assert_int_equal(xlb_history_write(dir, &r), 0);
	xlb_record_free(&r);
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/rollout.json");
	write_text(dir, "{");
	dir[strlen(dir) - strlen("/rollout.json")] = '\0';
	assert_true(xlb_history_prune(dir, 2, 6) < 0);
	assert_non_null(strstr(xlb_errmsg(), "not pruning the history"));
	assert_int_equal(files_in(dir), 4);	/* 4, 5, 6 and rollout.json */
	xlb_rollout_free(&ro);
}

/* rollout.json and the drain mark: a link there is refused, never followed. */
static void a_link_at_a_state_file_is_refused(void **state)
{
	char dir[512], link[700], victim[600], nowhere[600];
	struct xlb_config cfg;
	struct stat st;
	char id[16];

	(void)state;
	assert_int_equal(xlb_history_dir(root, "dev-ln", dir, sizeof(dir)), 0);
	snprintf(victim, sizeof(victim), "%s/victim-ro", root);
	write_text(victim, "keep\n");
	snprintf(link, sizeof(link), "%s/rollout.json", dir);
	assert_int_equal(symlink(victim, link), 0);
	testcfg_parse(&cfg, "{\"services\":[{\"name\":\"web\",\"vip\":\"192.0.2.10\","
		      "\"port\":80,\"protocol\":\"tcp\",\"table_size\":1009,"
		      "\"backends\":[{\"address\":\"198.51.100.1\"}]}]}");
	assert_int_equal(xlb_rollout_begin(dir, &(struct xlb_rollout_start){
		.target = &cfg, .start_gen = 1, .steps = 2, .step_ms = 1000, .reason = "t" },
		id, sizeof(id)), -ELOOP);
	assert_non_null(strstr(xlb_errmsg(), "rollout.json is a symbolic link"));
	assert_string_equal(read_text(victim), "keep\n");
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	strcat(link, ".tmp");
	assert_int_not_equal(access(link, F_OK), 0);
	xlb_config_free(&cfg);
	/* the drain mark: a link to nowhere makes nothing there */
	snprintf(nowhere, sizeof(nowhere), "%s/nowhere", root);
	snprintf(link, sizeof(link), "%s/drain", dir);
	assert_int_equal(symlink(nowhere, link), 0);
	assert_int_equal(xlb_node_mark_set(dir, XLB_MARK_DRAIN, true), -ELOOP);
	assert_non_null(strstr(xlb_errmsg(), "drain is a symbolic link"));
	assert_int_not_equal(access(nowhere, F_OK), 0);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(xlb_node_mark_set(dir, XLB_MARK_DRAIN, true), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISREG(st.st_mode) && st.st_size == 0 && (st.st_mode & 0777) == 0600);
	assert_int_equal(xlb_node_mark_set(dir, XLB_MARK_DRAIN, false), 0);
	assert_int_not_equal(access(link, F_OK), 0);
	assert_int_equal(xlb_node_mark_set(dir, XLB_MARK_DRAIN, false), 0);	/* not drained: nothing to do */
}

/*
 * A state file is whole or untouched: a write that fails part way (the file
 * size limit stands in for a full disk) leaves the old content and no temp
 * file behind, with a clear error; one that succeeds holds exactly the new.
 */
static void a_state_file_is_whole_or_untouched(void **state)
{
	char dir[512], path[700], big[8192];
	struct rlimit old, lim;
	struct xlb_rollout ro;
	struct xlb_config cfg;
	char id[16];
	int err;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(xlb_history_dir(root, "dev-fs", dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/state", dir);
	assert_int_equal(xlb_write_state_file(path, "first\n", 6, 0600), 0);
	assert_string_equal(read_text(path), "first\n");
	memset(big, 'x', sizeof(big));
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	err = xlb_write_state_file(path, big, sizeof(big), 0600);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(err, -EFBIG);
	assert_non_null(strstr(xlb_errmsg(), "cannot write"));
	assert_string_equal(read_text(path), "first\n");
	strcat(path, ".tmp");
	assert_int_not_equal(access(path, F_OK), 0);
	/* rollout.json: a failed update keeps the rollout as it was */
	testcfg_parse(&cfg, "{\"services\":[{\"name\":\"web\",\"vip\":\"192.0.2.10\","
		      "\"port\":80,\"protocol\":\"tcp\",\"table_size\":1009,"
		      "\"backends\":[{\"address\":\"198.51.100.1\"}]}]}");
	assert_int_equal(xlb_rollout_begin(dir, &(struct xlb_rollout_start){
		.target = &cfg, .start_gen = 3, .steps = 2, .step_ms = 1000, .reason = "t" },
		id, sizeof(id)), 0);
	xlb_config_free(&cfg);
	assert_int_equal(xlb_rollout_read(dir, &ro), 0);
	ro.state = XLB_ROLLOUT_DONE;
	lim.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	err = xlb_rollout_write(dir, &ro);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(err, -EFBIG);
	xlb_rollout_free(&ro);
	assert_int_equal(xlb_rollout_read(dir, &ro), 0);
	assert_int_equal(ro.state, XLB_ROLLOUT_RUNNING);
	assert_string_equal(ro.id, id);
	xlb_rollout_free(&ro);
	snprintf(path, sizeof(path), "%s/rollout.json.tmp", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	signal(SIGXFSZ, SIG_DFL);
}

/* A record of an earlier version (configuration inline) still reads. */
static void an_inline_record_of_an_earlier_version_reads(void **state)
{
	struct xlb_record r;
	char path[700];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/12.json", hist);
	f = fopen(path, "w");
	fputs("{\"generation\": 12, \"source\": \"apply\", \"config\": {\"services\": ["
	      "{\"name\": \"web\", \"vip\": \"192.0.2.10\", \"port\": 80, \"protocol\": "
	      "\"tcp\", \"table_size\": 1009, \"backends\": [{\"address\": "
	      "\"198.51.100.1\"}]}]}, \"assignment\": {\"next_gen\": 2, \"services\": "
	      "{\"web\": 0}, \"backends\": [{\"service\": \"web\", \"address\": "
	      "\"198.51.100.1\", \"id\": 1, \"gen\": 1}]}}", f);
	fclose(f);
	assert_int_equal(xlb_history_read(hist, 12, XLB_RECORD_FULL, &r), 0);
	assert_int_equal(r.assign.nr_be, 1);
	assert_string_equal(r.body, "");
	xlb_record_free(&r);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_link_at_the_temp_path_is_refused),
		cmocka_unit_test(a_state_directory_others_may_write_is_refused),
		cmocka_unit_test(a_damaged_record_is_an_error_that_names_it),
		cmocka_unit_test(pruning_keeps_the_running_and_the_previous_generation),
		cmocka_unit_test(pruning_keeps_a_rollouts_start_generation),
		cmocka_unit_test(a_link_at_a_state_file_is_refused),
		cmocka_unit_test(a_state_file_is_whole_or_untouched),
		cmocka_unit_test(an_inline_record_of_an_earlier_version_reads),
		cmocka_unit_test(flips_store_each_configuration_once_and_stay_bounded),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
