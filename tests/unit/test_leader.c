/*
 * The daemon's decide job (user/daemon/decide.c, decidew.c) against a real
 * etcd 3.4 in a network namespace of its own (unshare): the election, the
 * term-conditioned decide_write (done, a caller's condition failing, fenced
 * by a leader record written over it: nothing written), decide_event on a
 * node that does not lead, a lost election answer adopted from the store,
 * the re-election and the resignation at stop; the newest decisions kept
 * for the status page (decidelog.c).
 * The daemon's state is built here by hand: the follow job's lease is
 * granted with the blocking client and marked reachable.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sched.h>
#include <sys/prctl.h>
#include "state.h"
#include "decide.h"

#define URL	"http://127.0.0.1:2379"
#define K	"/xlb/fleets/t/decide/"

static char dir[64];
static pid_t member = -1;
static bool no_env;
static struct xlb_store_opts so;
static struct xlb_daemon_opts dopts = { .node = "n1", .store = &so };
static struct daemon d;
static struct xlb_store *s;	/* the test's own, blocking */

static pid_t etcd_start(void)
{
	char cmd[1024];
	pid_t pid;

	snprintf(cmd, sizeof(cmd), "exec etcd --name m --data-dir %s/m --listen-client-urls " URL
		 " --advertise-client-urls " URL " --listen-peer-urls http://127.0.0.1:2380 "
		 "--initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster "
		 "m=http://127.0.0.1:2380 >%s/etcd.log 2>&1", dir, dir);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int setup(void **state)
{
	struct xlb_kvs k;
	__u64 end;
	int err = -1;

	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET) || system("command -v etcd >/dev/null")) {
		no_env = true;
		return 0;
	}
	if (system("ip link set lo up") != 0)
		return -1;
	snprintf(dir, sizeof(dir), "/tmp/xlb-test-leader-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	member = etcd_start();
	strcpy(so.fleet, "t");
	so.timeout_ms = 1000;
	if (xlb_store_opts_parse_urls(&so, URL) || xlb_store_open(&s, &so))
		return -1;
	for (end = now_ms() + 20000; now_ms() < end; usleep(100000))
		if (!(err = xlb_store_get(s, "/ready", false, &k)))
			break;
	pthread_mutex_init(&d.lock, NULL);
	d.o = &dopts;
	return err;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	if (s)
		xlb_store_close(s);
	if (member > 0) {
		kill(member, SIGKILL);
		waitpid(member, NULL, 0);
	}
	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

/* What a write's done() said. */
static struct { int calls, err; bool ok; } got;

static void done(struct daemon *dd, int err, bool ok, void *ctx)
{
	(void)dd;
	(void)ctx;
	got.calls++;
	got.err = err;
	got.ok = ok;
}

/* Turn the decide job's loop until cond holds or ms pass; cond's last value. */
#define PUMP(cond, ms) ({ __u64 _end = now_ms() + (ms); \
	while (!(cond) && now_ms() < _end) { decide_poll(&d); usleep(2000); } (cond); })

/* One key's value ("" absent) and create revision. */
static const char *get(const char *key, __s64 *create)
{
	static char v[512];
	struct xlb_kvs k;

	assert_int_equal(xlb_store_get(s, key, false, &k), 0);
	snprintf(v, sizeof(v), "%s", k.nr ? k.kv[0].value : "");
	if (create)
		*create = k.nr ? k.kv[0].create_rev : 0;
	xlb_kvs_free(&k);
	return v;
}

/* How many event records of kind (and term, when not 0) there are. */
static int events(const char *kind, __s64 term)
{
	struct xlb_kvs k;
	int n = 0;

	assert_int_equal(xlb_store_get(s, K "events/", true, &k), 0);
	for (size_t i = 0; i < k.nr; i++) {
		json_t *j = json_loads(k.kv[i].value, 0, NULL);

		n += !strcmp(json_string_value(json_object_get(j, "kind")) ?: "", kind) &&
		     (!term || json_integer_value(json_object_get(j, "term")) == term);
		json_decref(j);
	}
	xlb_kvs_free(&k);
	return n;
}

static void elected(void)
{
	__s64 term, create;

	assert_true(PUMP(decide_leading(&d, &term), 5000));
	assert_non_null(strstr(get(K "leader", &create), "\"node\":\"n1\""));
	assert_int_equal(term, create);
	assert_int_equal(d.dc.leader_term, term);
}

static void test_elect_and_write(void **state)
{
	struct xlb_op put = { .type = XLB_OP_PUT, .key = "/xlb/fleets/t/x", .value = "1" };
	struct xlb_cmp never = { .key = "/xlb/fleets/t/none", .target = XLB_CMP_VERSION,
				 .result = XLB_CMP_EQUAL, .number = 5 };
	__s64 term;

	(void)state;
	if (no_env)
		skip();
	assert_int_equal(xlb_store_lease_grant(s, 60, &d.fl.lease), 0);
	d.fl.lease_ttl = 60;
	d.fl.lease_kept_ms = now_ms();
	d.fl.reachable = true;
	assert_int_equal(decide_start(&d), 0);
	elected();
	decide_leading(&d, &term);
	assert_int_equal(d.dc.elections, 1);
	assert_int_equal(events("election", 0), 1);	/* its term: its own revision */
	/* a write: the op and its event record, in one transaction */
	assert_int_equal(decide_write(&d, NULL, 0, &put, 1, "verdict", "x up", "test", done, NULL), 0);
	assert_true(PUMP(got.calls == 1, 3000));
	assert_int_equal(got.err, 0);
	assert_true(got.ok);
	assert_string_equal(get("/xlb/fleets/t/x", NULL), "1");
	assert_int_equal(events("verdict", term), 1);
	/* the caller's condition fails: nothing written, still the leader */
	put.value = "2";
	assert_int_equal(decide_write(&d, &never, 1, &put, 1, "verdict", "x", "t", done, NULL), 0);
	assert_true(PUMP(got.calls == 2, 3000));
	assert_int_equal(got.err, 0);
	assert_false(got.ok);
	assert_string_equal(get("/xlb/fleets/t/x", NULL), "1");
	assert_int_equal(events("verdict", term), 1);
	assert_true(decide_leading(&d, NULL));
}

static void test_fenced(void **state)
{
	struct xlb_op put = { .type = XLB_OP_PUT, .key = "/xlb/fleets/t/y", .value = "1" };
	__s64 term, create;

	(void)state;
	if (no_env)
		skip();
	decide_leading(&d, &term);
	/* written over by hand (the same create revision, another node): the next write fails */
	assert_int_equal(xlb_store_put(s, K "leader", "{\"node\":\"intruder\"}", 0, NULL), 0);
	assert_int_equal(decide_write(&d, NULL, 0, &put, 1, "verdict", "y", "t", done, NULL), 0);
	assert_true(PUMP(got.calls == 3, 3000));
	assert_int_equal(got.err, -ESTALE);
	assert_false(got.ok);
	assert_string_equal(get("/xlb/fleets/t/y", NULL), "");
	assert_true(PUMP(!decide_leading(&d, NULL), 1000));
	get(K "leader", &create);
	assert_int_equal(create, term);		/* control: the term alone would have let it */
	/* not leading: refused at once, done not called; the intruder stands */
	assert_int_equal(decide_write(&d, NULL, 0, &put, 1, "verdict", "y", "t", done, NULL),
			 -ESTALE);
	PUMP(false, 300);
	assert_int_equal(got.calls, 3);
	assert_string_equal(get(K "leader", NULL), "{\"node\":\"intruder\"}");
	assert_null(decide_nodes(&d));
	/* a node's own event needs no leadership */
	decide_event(&d, "withdrawn", "n1 withdraws", "test");
	assert_true(PUMP(events("withdrawn", term) == 1, 3000));
}

static void test_reelected_and_resign(void **state)
{
	__s64 term;

	(void)state;
	if (no_env)
		skip();
	/* its own record under its own lease, its election's answer lost: it leads */
	assert_int_equal(xlb_store_delete(s, K "leader", false), 0);
	assert_int_equal(xlb_store_put(s, K "leader", "{\"elections\":2,\"node\":\"n1\","
				       "\"since\":\"2026-01-01T00:00:00Z\"}", d.fl.lease, NULL), 0);
	elected();
	assert_int_equal(d.dc.elections, 2);
	/* deleted: it stands again and wins, a new term */
	assert_int_equal(xlb_store_delete(s, K "leader", false), 0);
	assert_true(PUMP(d.dc.elections == 3, 3000));
	elected();
	decide_leading(&d, &term);
	assert_true(d.dc.changes >= 3);
	/* the leader's view of the nodes: read from nodes/ on its own handle */
	assert_int_equal(xlb_store_put(s, "/xlb/fleets/t/nodes/n9", "{\"node\":\"n9\"}", 0, NULL), 0);
	assert_true(PUMP(decide_nodes(&d) && json_object_get(decide_nodes(&d), "n9"), 3000));
	assert_int_equal(xlb_store_delete(s, "/xlb/fleets/t/nodes/n9", false), 0);
	assert_true(PUMP(!json_object_get(decide_nodes(&d), "n9"), 3000));
	decide_stop(&d);
	assert_false(decide_leading(&d, NULL));
	assert_string_equal(get(K "leader", NULL), "");
	assert_int_equal(events("election", term), 1);	/* the resignation, with its term */
}

/* A hand-written event record's key, ID ...00NN-hand: newer than every real one. */
static void put_event(int nn, const char *value)
{
	char key[128];

	snprintf(key, sizeof(key), K "events/99999999999999%02d-hand", nn);
	assert_int_equal(xlb_store_put(s, key, value, 0, NULL), 0);
}

/* The page's decisions (decidelog.c): the newest 8 read at start, then watched, each once. */
static void test_decisions_kept(void **state)
{
	char v[160];

	(void)state;
	if (no_env)
		skip();
	for (int i = 1; i <= 10; i++) {
		snprintf(v, sizeof(v), "{\"kind\":\"verdict\",\"node\":\"h\",\"term\":1,\"when\":"
			 "\"2026-01-01T00:00:%02d.000Z\",\"what\":\"w%d\",\"why\":\"<y%d>\"}", i, i, i);
		put_event(i, v);
	}
	memset(&d.dc.m, 0, sizeof(d.dc.m));
	assert_int_equal(decide_start(&d), 0);
	assert_true(PUMP(d.dc.m.events_read, 3000));
	assert_int_equal(d.dc.m.nr_events, 8);		/* the range's limit: the newest 8 */
	assert_string_equal(d.dc.m.events[0].id, "9999999999999910-hand");
	assert_string_equal(d.dc.m.events[0].what, "w10");
	assert_string_equal(d.dc.m.events[0].why, "<y10>");
	assert_string_equal(d.dc.m.events[0].when, "2026-01-01T00:00:10.000Z");
	assert_string_equal(d.dc.m.events[7].id, "9999999999999903-hand");
	/* watched: a record that is not one is not shown; a new one goes first */
	put_event(20, "not json");
	put_event(21, "{\"kind\":\"rollback\",\"node\":\"h2\",\"what\":\"back\",\"why\":\"x\"}");
	assert_true(PUMP(!strcmp(d.dc.m.events[0].id, "9999999999999921-hand"), 3000));
	assert_string_equal(d.dc.m.events[0].kind, "rollback");
	assert_string_equal(d.dc.m.events[1].id, "9999999999999910-hand");
	assert_string_equal(d.dc.m.events[7].id, "9999999999999904-hand");	/* 03 fell off */
	assert_int_equal(d.dc.m.nr_events, 8);
	/* one seen again (written again): kept once */
	put_event(10, "{\"kind\":\"verdict\",\"what\":\"w10 again\"}");
	put_event(22, "{\"kind\":\"done\"}");
	assert_true(PUMP(!strcmp(d.dc.m.events[0].id, "9999999999999922-hand"), 3000));
	assert_string_equal(d.dc.m.events[2].id, "9999999999999910-hand");
	assert_string_equal(d.dc.m.events[3].id, "9999999999999909-hand");
	assert_int_equal(d.dc.m.nr_events, 8);
	decide_stop(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elect_and_write),
		cmocka_unit_test(test_fenced),
		cmocka_unit_test(test_reelected_and_resign),
		cmocka_unit_test(test_decisions_kept),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
