/*
 * The etcd client against real etcd 3.4: the test moves into a network
 * namespace of its own (unshare), so its etcd members listen on a loopback
 * nobody else shares, and die with the test (PR_SET_PDEATHSIG); their data,
 * certificates and files live in one /tmp directory removed at the end.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "log.h"
#include "store.h"

#define PLAIN	"http://127.0.0.1:2379"
#define TLS	"https://127.0.0.1:2479"
#define AUTH	"https://127.0.0.1:2579"	/* TLS without client certificates: users */
#define HOLE_PORT 2600

static char dir[64];
static pid_t members[7];
static bool no_env;
static const char *why_no_env;
static int hole_fd = -1;

__s64 xlb_now_ms(void);

static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

static pid_t etcd_start(const char *name, const char *url, int peer, const char *tls)
{
	char cmd[2048];
	pid_t pid;

	snprintf(cmd, sizeof(cmd), "%sexec etcd --name %s --data-dir %s/%s --listen-client-urls %s "
		 "--advertise-client-urls %s --listen-peer-urls http://127.0.0.1:%d "
		 "--initial-advertise-peer-urls http://127.0.0.1:%d "
		 "--initial-cluster %s=http://127.0.0.1:%d --auth-token-ttl 1 %s >%s/%s.log 2>&1",
		 strcmp(name, "late") ? "" : "sleep 0.8; ", name, dir, name, url, url, peer, peer,
		 name, peer, tls, dir, name);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void opts_for(struct xlb_store_opts *o, const char *urls)
{
	memset(o, 0, sizeof(*o));
	strcpy(o->fleet, "test");
	assert_int_equal(xlb_store_opts_parse_urls(o, urls), 0);
}

static struct xlb_store *open_at(const char *urls, int timeout_ms)
{
	struct xlb_store_opts o;
	struct xlb_store *s;

	opts_for(&o, urls);
	o.timeout_ms = timeout_ms;
	assert_int_equal(xlb_store_open(&s, &o), 0);
	return s;
}

/* The members answer (deadline 20 s). */
static int wait_ready(const char *urls, const struct xlb_store_opts *tls)
{
	__s64 end = xlb_now_ms() + 20000;
	struct xlb_store_opts o;
	struct xlb_store *s;
	struct xlb_kvs k;
	int err;

	memset(&o, 0, sizeof(o));
	if (tls)
		o = *tls;
	strcpy(o.fleet, "test");
	o.timeout_ms = 500;
	if (xlb_store_opts_parse_urls(&o, urls) || xlb_store_open(&s, &o))
		return -1;
	while ((err = xlb_store_get(s, "/ready", false, &k)) && xlb_now_ms() < end)
		usleep(100000);
	xlb_store_close(s);
	return err;
}

static void make_certs(void)
{
	const char *ossl = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj";

	sh("cd %s && %s /CN=ca -keyout ca.key -out ca.crt >/dev/null 2>&1 && "
	   "%s /CN=other -keyout other.key -out other.crt >/dev/null 2>&1", dir, ossl, ossl);
	sh("cd %s && printf 'subjectAltName=IP:127.0.0.1\\n' >san && "
	   "for n in server client; do openssl req -newkey rsa:2048 -nodes -subj /CN=$n "
	   "-keyout $n.key -out $n.csr >/dev/null 2>&1 && openssl x509 -req -in $n.csr -CA ca.crt "
	   "-CAkey ca.key -CAcreateserial -days 2 -extfile san -out $n.crt >/dev/null 2>&1 || exit 1; "
	   "done && chmod 600 *.key", dir);
}

static int setup(void **state)
{
	char tls[1024];

	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET)) {
		no_env = true;
		why_no_env = "needs root to make its own network namespace";
		return 0;
	}
	if (system("ip link set lo up") != 0)
		return -1;
	snprintf(dir, sizeof(dir), "/tmp/xlb-test-store-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	make_certs();
	snprintf(tls, sizeof(tls), "--cert-file %s/server.crt --key-file %s/server.key "
		 "--client-cert-auth --trusted-ca-file %s/ca.crt", dir, dir, dir);
	members[0] = etcd_start("plain", PLAIN, 2380, "");
	members[1] = etcd_start("tls", TLS, 2480, tls);
	return wait_ready(PLAIN, NULL);
}

static int teardown(void **state)
{
	char cmd[128];
	int i;

	(void)state;
	for (i = 0; i < 7; i++)
		if (members[i] > 0) {
			kill(members[i], SIGKILL);
			waitpid(members[i], NULL, 0);
		}
	if (hole_fd >= 0)
		close(hole_fd);
	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

#define NEED_ENV() do { if (no_env) { print_message("skip: %s\n", why_no_env); skip(); } } while (0)

static void write_file(const char *name, const char *text, mode_t mode, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir[0] ? dir : "/tmp", name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_urls_and_names(void **state)
{
	struct xlb_store_opts o = { 0 };
	static const char *const bad[] = {
		"", "ftp://h:1", "http://", "http://h:0", "http://h:70000", "http://h:1/v3",
		"http://u@h:1", "http://h:1,", "http://h:x", "http://h:1,https://h:2,http://h:3,"
		"http://h:4,http://h:5,http://h:6,http://h:7,http://h:8,http://h:9",
	};
	size_t i;

	(void)state;
	assert_int_equal(xlb_store_opts_parse_urls(&o, "http://a:1,https://[::1]:2/"), 0);
	assert_int_equal(o.nr_endpoints, 2);
	assert_string_equal(o.endpoints[1], "https://[::1]:2");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(xlb_store_opts_parse_urls(&o, bad[i]), -EINVAL);
		assert_non_null(strstr(xlb_errmsg(), "store"));
		assert_int_equal(o.nr_endpoints, 2);	/* nothing half-applied */
	}
	assert_true(xlb_store_name_ok("prod-1.eu_west"));
	assert_false(xlb_store_name_ok(""));
	assert_false(xlb_store_name_ok(".."));
	assert_false(xlb_store_name_ok("a/b"));
	assert_false(xlb_store_name_ok("0123456789012345678901234567890123456789012345678901234567890123"));
	strcpy(o.fleet, "a b");
	assert_int_equal(xlb_store_opts_check(&o), -EINVAL);
	assert_non_null(strstr(xlb_errmsg(), "--fleet"));
}

static void test_files_and_modes(void **state)
{
	char key[256], pw[256], file[256], text[1024];
	struct xlb_store_opts o = { 0 };

	(void)state;
	NEED_ENV();
	write_file("k.key", "secret\n", 0644, key, sizeof(key));
	write_file("pw", "secret\n", 0600, pw, sizeof(pw));
	snprintf(text, sizeof(text), "{\"endpoints\": [\"%s\"], \"fleet\": \"f1\", \"user\": \"u\","
		 " \"password_file\": \"pw\", \"timeout_ms\": 900}", PLAIN);
	write_file("client.json", text, 0644, file, sizeof(file));
	assert_int_equal(xlb_store_opts_load_file(&o, file), -EPERM);	/* names a secret: 0644 */
	assert_non_null(strstr(xlb_errmsg(), file));
	assert_non_null(strstr(xlb_errmsg(), "0644"));
	assert_int_equal(o.nr_endpoints, 0);
	assert_int_equal(chmod(file, 0600), 0);
	assert_int_equal(xlb_store_opts_load_file(&o, file), 0);
	assert_string_equal(o.password_file, pw);	/* relative to the file */
	assert_int_equal(o.timeout_ms, 900);
	assert_int_equal(xlb_store_opts_check(&o), -EINVAL);	/* a password over http */
	assert_non_null(strstr(xlb_errmsg(), "cleartext"));
	assert_non_null(strstr(xlb_errmsg(), PLAIN));
	assert_int_equal(xlb_store_opts_parse_urls(&o, TLS "," PLAIN), 0);
	assert_int_equal(xlb_store_opts_check(&o), -EINVAL);	/* every one of them */
	assert_int_equal(xlb_store_opts_parse_urls(&o, TLS), 0);
	assert_int_equal(xlb_store_opts_check(&o), 0);
	assert_int_equal(chmod(pw, 0640), 0);
	assert_int_equal(xlb_store_opts_check(&o), -EPERM);
	assert_non_null(strstr(xlb_errmsg(), pw));
	assert_non_null(strstr(xlb_errmsg(), "0640"));
	strcpy(o.cert, key);
	strcpy(o.key, key);
	o.user[0] = o.password_file[0] = '\0';
	assert_int_equal(xlb_store_opts_check(&o), -EPERM);
	assert_non_null(strstr(xlb_errmsg(), "store key"));
	o.key[0] = '\0';
	assert_int_equal(xlb_store_opts_check(&o), -EINVAL);	/* cert without key */
	write_file("typo.json", "{\"endpoint\": []}", 0600, file, sizeof(file));
	assert_int_equal(xlb_store_opts_load_file(&o, file), -EINVAL);
	assert_non_null(strstr(xlb_errmsg(), "unknown field 'endpoint'"));
	write_file("broken.json", "{\"endpoints\": [", 0600, file, sizeof(file));
	assert_int_equal(xlb_store_opts_load_file(&o, file), -EINVAL);
	assert_non_null(strstr(xlb_errmsg(), "line"));
	assert_int_equal(xlb_store_opts_load_file(&o, "/nonexistent/x.json"), -ENOENT);
	write_file("badurl.json", "{\"endpoints\": [\"ftp://h:1\"]}", 0600, file, sizeof(file));
	assert_int_equal(xlb_store_opts_load_file(&o, file), -EINVAL);
	assert_non_null(strstr(xlb_errmsg(), "ftp://h:1"));
}

static void test_kv(void **state)
{
	struct xlb_store *s;
	struct xlb_kvs k;
	__s64 rev1, rev2;

	(void)state;
	NEED_ENV();
	s = open_at(PLAIN, 0);
	assert_int_equal(xlb_store_put(s, "/kv/a", "{\"x\": 1}", 0, &rev1), 0);
	assert_int_equal(xlb_store_put(s, "/kv/b", "", 0, &rev2), 0);
	assert_int_equal(xlb_store_put(s, "/kvz", "outside", 0, NULL), 0);
	assert_true(rev2 == rev1 + 1);
	assert_int_equal(xlb_store_get(s, "/kv/a", false, &k), 0);
	assert_int_equal(k.nr, 1);
	assert_string_equal(k.kv[0].key, "/kv/a");
	assert_string_equal(k.kv[0].value, "{\"x\": 1}");
	assert_int_equal(k.kv[0].value_len, 8);
	assert_int_equal(k.kv[0].mod_rev, rev1);
	assert_int_equal(k.kv[0].version, 1);
	assert_true(k.revision >= rev2);
	xlb_kvs_free(&k);
	assert_int_equal(xlb_store_get(s, "/kv/", true, &k), 0);
	assert_int_equal(k.nr, 2);	/* not /kvz */
	assert_string_equal(k.kv[1].key, "/kv/b");
	assert_string_equal(k.kv[1].value, "");
	xlb_kvs_free(&k);
	assert_int_equal(xlb_store_delete(s, "/kv/", true), 0);
	assert_int_equal(xlb_store_get(s, "/kv/", true, &k), 0);
	assert_int_equal(k.nr, 0);
	xlb_kvs_free(&k);
	assert_int_equal(xlb_store_get(s, "/kvz", false, &k), 0);
	assert_int_equal(k.nr, 1);
	xlb_kvs_free(&k);
	assert_int_equal(xlb_store_get(s, "", false, &k), -EINVAL);
	assert_string_equal(xlb_store_endpoint(s), PLAIN);
	xlb_store_close(s);
}

static void test_txn(void **state)
{
	struct xlb_cmp absent = { .key = "/txn/k", .target = XLB_CMP_CREATE, .result = XLB_CMP_EQUAL };
	struct xlb_op create[] = {
		{ .type = XLB_OP_PUT, .key = "/txn/k", .value = "first" },
		{ .type = XLB_OP_GET, .key = "/txn/k" },
	};
	struct xlb_op other[] = {
		{ .type = XLB_OP_GET, .key = "/txn/k" },
		{ .type = XLB_OP_GET, .key = "/txn/none" },
	};
	struct xlb_txn_result r;
	struct xlb_store *s;

	(void)state;
	NEED_ENV();
	s = open_at(PLAIN, 0);
	assert_int_equal(xlb_store_txn(s, &absent, 1, create, 2, other, 2, &r), 0);
	assert_true(r.succeeded);
	assert_int_equal(r.nr_gets, 1);
	assert_string_equal(r.gets[0].kv[0].value, "first");
	assert_true(r.revision > 0);
	xlb_txn_result_free(&r);
	create[0].value = "second";
	assert_int_equal(xlb_store_txn(s, &absent, 1, create, 2, other, 2, &r), 0);
	assert_false(r.succeeded);	/* it exists: the failure branch's gets */
	assert_int_equal(r.nr_gets, 2);
	assert_int_equal(r.gets[0].nr, 1);
	assert_string_equal(r.gets[0].kv[0].value, "first");
	assert_int_equal(r.gets[1].nr, 0);
	xlb_txn_result_free(&r);
	absent.target = XLB_CMP_VALUE;
	absent.value = "first";
	assert_int_equal(xlb_store_txn(s, &absent, 1, create, 1, NULL, 0, &r), 0);
	assert_true(r.succeeded);
	xlb_txn_result_free(&r);
	create[0].key = NULL;
	assert_int_equal(xlb_store_txn(s, &absent, 1, create, 1, NULL, 0, &r), -EINVAL);
	xlb_store_close(s);
}

static void test_lease(void **state)
{
	struct xlb_store *s;
	struct xlb_kvs k;
	__s64 id, end, t0;
	int ttl = -1;
	size_t nr;

	(void)state;
	NEED_ENV();
	s = open_at(PLAIN, 0);
	assert_int_equal(xlb_store_lease_grant(s, 2, &id), 0);
	t0 = xlb_now_ms();
	assert_int_equal(xlb_store_put(s, "/lease/k", "v", id, NULL), 0);
	assert_int_equal(xlb_store_lease_keepalive(s, id, &ttl), 0);
	assert_int_equal(ttl, 2);
	assert_int_equal(xlb_store_get(s, "/lease/k", false, &k), 0);
	assert_int_equal(k.nr, 1);
	assert_int_equal(k.kv[0].lease, id);
	xlb_kvs_free(&k);
	end = xlb_now_ms() + 10000;	/* no more keepalives: the key goes */
	do {
		usleep(100000);
		assert_int_equal(xlb_store_get(s, "/lease/k", false, &k), 0);
		nr = k.nr;
		xlb_kvs_free(&k);
	} while (nr && xlb_now_ms() < end);
	assert_int_equal(nr, 0);
	assert_true(xlb_now_ms() - t0 >= 1500);	/* not before its TTL */
	assert_int_equal(xlb_store_lease_keepalive(s, id, &ttl), 0);
	assert_int_equal(ttl, 0);
	assert_int_equal(xlb_store_lease_grant(s, 60, &id), 0);
	assert_int_equal(xlb_store_lease_revoke(s, id), 0);
	assert_int_equal(xlb_store_lease_revoke(s, id), -ENOENT);
	assert_non_null(strstr(xlb_errmsg(), "lease not found"));
	assert_non_null(strstr(xlb_errmsg(), PLAIN));
	xlb_store_close(s);
}

/* What the async callbacks saw. */
struct got {
	int done, err, events, ended, end_err, created, quiet;
	__s64 compacted;
	char values[256];
	json_t *answer;
};

static void on_done(void *ctx, int err, json_t *answer)
{
	struct got *g = ctx;

	g->done++;
	g->err = err;
	json_decref(g->answer);
	g->answer = json_incref(answer);
}

static void on_event(void *ctx, json_t *res)
{
	struct got *g = ctx;
	json_t *ev;
	size_t i;

	g->created |= json_is_true(json_object_get(res, "created"));
	g->quiet += !json_object_get(res, "events") && !json_object_get(res, "created");
	g->compacted = xlb_store_i64(res, "compact_revision") ?: g->compacted;
	json_array_foreach(json_object_get(res, "events"), i, ev) {
		char *v = xlb_store_b64(json_object_get(ev, "kv"), "value", NULL);

		assert_non_null(v);
		strncat(g->values, v, sizeof(g->values) - strlen(g->values) - 1);
		free(v);
		g->events++;
	}
}

static void on_end(void *ctx, int err, json_t *answer)
{
	struct got *g = ctx;

	(void)answer;
	g->ended++;
	g->end_err = err;
}

/* Poll until *flag reaches want (deadline ms); no poll may take long: it never waits. */
#define pump(s, flag, want, ms) pump_at(s, flag, want, ms, __LINE__)
static void pump_at(struct xlb_store *s, int *flag, int want, int ms, int line)
{
	__s64 end = xlb_now_ms() + ms, t;

	while (*flag < want && xlb_now_ms() < end) {
		t = xlb_now_ms();
		xlb_store_async_poll(s);
		assert_true(xlb_now_ms() - t < 100);
		usleep(5000);
	}
	if (*flag != want)
		print_message("# pump at line %d: %d, not %d, after %d ms: %s\n", line, *flag, want,
			      ms, xlb_errmsg());
	assert_int_equal(*flag, want);
}

static void test_async_and_watch(void **state)
{
	struct got g = { 0 }, w = { 0 };
	struct xlb_store *s;
	__s64 r1, r3;
	json_t *body;

	(void)state;
	NEED_ENV();
	s = open_at("http://127.0.0.1:1," PLAIN, 0);	/* the first is dead: the next answers */
	assert_int_equal(xlb_store_put(s, "/w/a", "1", 0, &r1), 0);
	assert_int_equal(xlb_store_put(s, "/w/b", "2", 0, NULL), 0);
	body = json_pack("{s:s}", "key", "L3cvYQ==");	/* /w/a */
	assert_int_equal(xlb_store_async_post(s, "/v3/kv/range", body, on_done, &g), 0);
	json_decref(body);
	pump(s, &g.done, 1, 3000);
	assert_int_equal(g.err, 0);
	assert_int_equal(json_array_size(json_object_get(g.answer, "kvs")), 1);
	assert_int_equal(xlb_store_watch_start(s, "/w/", true, r1, on_event, on_end, &w), 0);
	assert_true(xlb_store_watching(s));
	assert_int_equal(xlb_store_watch_start(s, "/w/", true, r1, on_event, on_end, &w), -EBUSY);
	pump(s, &w.events, 2, 3000);	/* from r1: both puts */
	assert_true(w.created);
	assert_int_equal(xlb_store_put(s, "/w/c", "3", 0, &r3), 0);
	pump(s, &w.events, 3, 3000);	/* and what comes after */
	assert_string_equal(w.values, "123");
	xlb_store_watch_stop(s);
	assert_false(xlb_store_watching(s));
	assert_int_equal(w.ended, 0);	/* stopped, not ended */
	body = json_pack("{s:o}", "revision", json_sprintf("%lld", (long long)r3));
	assert_int_equal(xlb_store_async_post(s, "/v3/kv/compaction", body, on_done, &g), 0);
	json_decref(body);
	pump(s, &g.done, 2, 3000);
	assert_int_equal(g.err, 0);
	memset(&w, 0, sizeof(w));
	assert_int_equal(xlb_store_watch_start(s, "/w/", true, r1, on_event, on_end, &w), 0);
	pump(s, &w.ended, 1, 3000);	/* compacted: the daemon must read again */
	assert_int_equal(w.end_err, -ERANGE);
	assert_int_equal(w.compacted, r3);
	assert_non_null(strstr(xlb_errmsg(), "compacted"));
	assert_false(xlb_store_watching(s));
	json_decref(g.answer);
	xlb_store_close(s);
}

/*
 * The stream splitter: a server that sends a watch stream one byte at a
 * time (objects across many chunks, braces and quotes inside strings).
 */
static void test_watch_chunks(void **state)
{
	static const char stream[] =
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
		"{\"result\":{\"created\":true,\"x\":\"}{\\\"}\"}}\n"
		"{\"result\":{\"events\":[{\"kv\":{\"key\":\"L2E=\",\"value\":\"Nw==\"}}]}}"
		"{\"result\":{\"events\":[{\"kv\":{\"key\":\"L2I=\",\"value\":\"OA==\"}}]}}\n";
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(2601) };
	struct got w = { 0 };
	struct xlb_store *s;
	int fd, c, one = 1;
	char req[4096];
	pid_t pid;
	size_t i;

	(void)state;
	NEED_ENV();
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(10);
		c = accept(fd, NULL, NULL);
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (read(c, req, sizeof(req)) <= 0)
			_exit(1);
		for (i = 0; i < sizeof(stream) - 1; i++) {
			if (write(c, stream + i, 1) != 1)
				_exit(1);
			usleep(i > 70 ? 300 : 0);
		}
		_exit(0);
	}
	close(fd);
	s = open_at("http://127.0.0.1:2601", 0);
	assert_int_equal(xlb_store_watch_start(s, "/", true, 0, on_event, on_end, &w), 0);
	pump(s, &w.ended, 1, 5000);
	waitpid(pid, NULL, 0);
	assert_true(w.created);
	assert_int_equal(w.events, 2);
	assert_string_equal(w.values, "78");
	assert_int_equal(w.end_err, -EPIPE);	/* the stream ended */
	xlb_store_close(s);
}

/* A member that accepts connections and never answers. */
static void hole_open(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(HOLE_PORT) };
	int one = 1;

	if (hole_fd >= 0)
		return;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	hole_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(hole_fd >= 0);
	setsockopt(hole_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(hole_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(hole_fd, 64), 0);
}

#define HOLE "http://127.0.0.1:2600"

static void test_black_hole(void **state)
{
	struct got g = { 0 };
	struct xlb_store *s;
	struct xlb_kvs k;
	__s64 t;
	json_t *body;

	(void)state;
	NEED_ENV();
	hole_open();
	s = open_at(HOLE, 1000);
	t = xlb_now_ms();
	assert_int_equal(xlb_store_get(s, "/x", false, &k), -EHOSTUNREACH);
	t = xlb_now_ms() - t;
	assert_true(t >= 900 && t < 1500);
	assert_non_null(strstr(xlb_errmsg(), "no store endpoint answered: " HOLE ": "));
	body = json_pack("{s:s}", "key", "eA==");
	assert_int_equal(xlb_store_async_post(s, "/v3/kv/range", body, on_done, &g), 0);
	t = xlb_now_ms();
	pump(s, &g.done, 1, 3000);
	assert_true(xlb_now_ms() - t < 1500);
	assert_int_equal(g.err, -EHOSTUNREACH);
	xlb_store_close(s);
	s = open_at(HOLE "," PLAIN, 2000);	/* the hole has its share, the next answers */
	t = xlb_now_ms();
	assert_int_equal(xlb_store_get(s, "/x", false, &k), 0);
	assert_true(xlb_now_ms() - t < 1800);
	assert_string_equal(xlb_store_endpoint(s), PLAIN);
	t = xlb_now_ms();
	assert_int_equal(xlb_store_get(s, "/x", false, &k), 0);	/* straight to it now */
	assert_true(xlb_now_ms() - t < 500);
	assert_int_equal(xlb_store_async_post(s, "/v3/kv/range", body, on_done, &g), 0);
	pump(s, &g.done, 2, 3000);
	assert_int_equal(g.err, 0);
	json_decref(body);
	json_decref(g.answer);
	xlb_store_close(s);
}

/*
 * Round after round until the deadline: a member that is not up yet when the
 * call starts (as during a leader's election: refused, or held) is reached
 * when it comes up; a transaction that went out and was not answered is not
 * sent to the next member (it may have been applied).
 */
static void test_rounds(void **state)
{
	struct xlb_cmp cmp = { .key = "/rounds", .target = XLB_CMP_VERSION, .result = XLB_CMP_EQUAL };
	struct xlb_op put = { .type = XLB_OP_PUT, .key = "/rounds", .value = "1" };
	struct xlb_txn_result r;
	struct xlb_store *s;
	struct xlb_kvs k;
	__s64 t;

	(void)state;
	NEED_ENV();
	s = open_at("http://127.0.0.1:2702", 400);	/* nothing there: refused each round */
	t = xlb_now_ms();
	assert_int_equal(xlb_store_get(s, "/x", false, &k), -EHOSTUNREACH);
	t = xlb_now_ms() - t;
	assert_true(t >= 380 && t < 800);
	assert_null(strstr(xlb_errmsg(), "(1 tries)"));	/* tried again, not once */
	xlb_store_close(s);
	members[2] = etcd_start("late", "http://127.0.0.1:2700", 2701, "");	/* up in ~1-2 s */
	s = open_at("http://127.0.0.1:2700", 10000);
	t = xlb_now_ms();
	assert_int_equal(xlb_store_put(s, "/late", "v", 0, NULL), 0);
	assert_true(xlb_now_ms() - t >= 800);
	xlb_store_close(s);
	hole_open();
	s = open_at(HOLE "," PLAIN, 2000);
	t = xlb_now_ms();
	assert_int_equal(xlb_store_txn(s, &cmp, 1, &put, 1, NULL, 0, &r), -ETIMEDOUT);
	t = xlb_now_ms() - t;
	assert_true(t >= 900 && t < 1500);	/* the hole's share, then not sent again */
	assert_non_null(strstr(xlb_errmsg(), "may have been applied"));
	assert_int_equal(xlb_store_get(s, "/rounds", false, &k), 0);	/* the next one now */
	assert_int_equal(k.nr, 0);
	assert_string_equal(xlb_store_endpoint(s), PLAIN);
	xlb_kvs_free(&k);
	assert_int_equal(xlb_store_txn(s, &cmp, 1, &put, 1, NULL, 0, &r), 0);
	assert_true(r.succeeded);
	xlb_txn_result_free(&r);
	xlb_store_close(s);
}

/* Member i of a cluster of three (clients on 29i0), progress notifications every 300 ms. */
static pid_t quorum_member(int i)
{
	char cmd[2048];
	pid_t pid;

	snprintf(cmd, sizeof(cmd), "exec etcd --name q%d --data-dir %s/q%d "
		 "--listen-client-urls http://127.0.0.1:29%d0 --advertise-client-urls "
		 "http://127.0.0.1:29%d0 --listen-peer-urls http://127.0.0.1:29%d1 "
		 "--initial-advertise-peer-urls http://127.0.0.1:29%d1 --initial-cluster "
		 "q0=http://127.0.0.1:2901,q1=http://127.0.0.1:2911,q2=http://127.0.0.1:2921 "
		 "--experimental-watch-progress-notify-interval 300ms >%s/q%d.log 2>&1",
		 i, dir, i, i, i, i, i, dir, i);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/*
 * A watch's member cut off from the quorum (the two others killed) but
 * reachable: etcd ends the watch (it was asked to, hasleader) instead of a
 * silent stream; before that, a quiet key brings progress notifications.
 */
static void test_watch_quorum(void **state)
{
	struct got w = { 0 };
	struct xlb_store *s;
	__s64 t;
	int i;

	(void)state;
	NEED_ENV();
	for (i = 0; i < 3; i++)
		members[4 + i] = quorum_member(i);
	assert_int_equal(wait_ready("http://127.0.0.1:2900", NULL), 0);
	s = open_at("http://127.0.0.1:2900", 3000);
	assert_int_equal(xlb_store_watch_start(s, "/q/", true, 0, on_event, on_end, &w), 0);
	pump(s, &w.created, 1, 3000);
	pump(s, &w.quiet, 2, 3000);	/* progress_notify: etcd says it lives */
	for (i = 1; i < 3; i++) {
		kill(members[4 + i], SIGKILL);
		waitpid(members[4 + i], NULL, 0);
		members[4 + i] = 0;
	}
	t = xlb_now_ms();
	pump(s, &w.ended, 1, 15000);
	print_message("# the watch ended %lld ms after the quorum was lost: %s\n",
		      (long long)(xlb_now_ms() - t), xlb_errmsg());
	assert_int_not_equal(w.end_err, 0);
	assert_false(xlb_store_watching(s));
	xlb_store_close(s);
	kill(members[4], SIGKILL);
	waitpid(members[4], NULL, 0);
	members[4] = 0;
}

static void tls_opts(struct xlb_store_opts *o, const char *ca, bool cert)
{
	opts_for(o, TLS);
	snprintf(o->ca, sizeof(o->ca), "%s/%s", dir, ca);
	if (cert) {
		snprintf(o->cert, sizeof(o->cert), "%s/client.crt", dir);
		snprintf(o->key, sizeof(o->key), "%s/client.key", dir);
	}
}

static void test_tls(void **state)
{
	struct xlb_store_opts o;
	struct xlb_store *s;
	struct xlb_kvs k;

	(void)state;
	NEED_ENV();
	tls_opts(&o, "ca.crt", true);
	assert_int_equal(wait_ready(TLS, &o), 0);
	assert_int_equal(xlb_store_open(&s, &o), 0);
	assert_int_equal(xlb_store_put(s, "/tls", "yes", 0, NULL), 0);
	assert_int_equal(xlb_store_get(s, "/tls", false, &k), 0);
	assert_int_equal(k.nr, 1);
	xlb_kvs_free(&k);
	xlb_store_close(s);
	tls_opts(&o, "ca.crt", false);	/* no client certificate: refused */
	o.timeout_ms = 1000;	/* refused round after round until the deadline: 1 s will do */
	assert_int_equal(xlb_store_open(&s, &o), 0);
	assert_int_equal(xlb_store_get(s, "/tls", false, &k), -EHOSTUNREACH);
	xlb_store_close(s);
	tls_opts(&o, "other.crt", true);	/* a server the CA did not sign */
	o.timeout_ms = 1000;
	assert_int_equal(xlb_store_open(&s, &o), 0);
	assert_int_equal(xlb_store_get(s, "/tls", false, &k), -EHOSTUNREACH);
	assert_non_null(strstr(xlb_errmsg(), "certificate"));
	xlb_store_close(s);
}

static struct xlb_store *open_user(const char *password, struct xlb_store_opts *o)
{
	struct xlb_store *s;

	opts_for(o, AUTH);
	snprintf(o->ca, sizeof(o->ca), "%s/ca.crt", dir);
	strcpy(o->user, "root");
	write_file("pw", password, 0600, o->password_file, sizeof(o->password_file));
	assert_int_equal(xlb_store_open(&s, o), 0);
	return s;
}

/* etcdctl on the member with users, as root. */
#define ECTL_AUTH "etcdctl --endpoints " AUTH " --cacert %s/ca.crt --user root:good-pw "

/* A member over TLS without client certificates (etcd's gateway refuses them with users). */
static void auth_member(void)
{
	char tls[1024];
	struct xlb_store_opts o;

	/* JWT tokens: they carry the auth store's revision (etcd says when it is old) */
	sh("cd %s && openssl genrsa -out jwt.key 2048 >/dev/null 2>&1 && "
	   "openssl rsa -in jwt.key -pubout -out jwt.pub >/dev/null 2>&1", dir);
	snprintf(tls, sizeof(tls), "--cert-file %s/server.crt --key-file %s/server.key "
		 "--auth-token jwt,pub-key=%s/jwt.pub,priv-key=%s/jwt.key,sign-method=RS256,ttl=3s",
		 dir, dir, dir, dir);
	members[3] = etcd_start("auth", AUTH, 2580, tls);
	opts_for(&o, AUTH);
	snprintf(o.ca, sizeof(o.ca), "%s/ca.crt", dir);
	assert_int_equal(wait_ready(AUTH, &o), 0);
	sh("etcdctl --endpoints " AUTH " --cacert %s/ca.crt user add root "
	   "--new-user-password=good-pw >/dev/null 2>&1 && "
	   "etcdctl --endpoints " AUTH " --cacert %s/ca.crt user grant-role root root "
	   ">/dev/null 2>&1 && etcdctl --endpoints " AUTH " --cacert %s/ca.crt auth enable "
	   ">/dev/null 2>&1", dir, dir, dir);
}

/* A password file empty, or gone after the start: said, never an empty password sent. */
static void auth_bad_files(void)
{
	struct xlb_store_opts o;
	struct got g = { 0 };
	struct xlb_store *s;
	json_t *body = json_pack("{s:s}", "key", "eA==");

	s = open_user("", &o);
	assert_int_equal(xlb_store_put(s, "/auth", "v", 0, NULL), -EINVAL);
	assert_non_null(strstr(xlb_errmsg(), "empty"));
	assert_non_null(strstr(xlb_errmsg(), o.password_file));
	assert_int_equal(xlb_store_async_post(s, "/v3/kv/range", body, on_done, &g), -EINVAL);
	assert_non_null(strstr(xlb_errmsg(), "empty"));
	xlb_store_close(s);
	s = open_user("\n", &o);
	assert_int_equal(xlb_store_put(s, "/auth", "v", 0, NULL), -EINVAL);
	assert_non_null(strstr(xlb_errmsg(), "empty"));
	assert_int_equal(unlink(o.password_file), 0);
	assert_int_equal(xlb_store_async_post(s, "/v3/kv/range", body, on_done, &g), -ENOENT);
	assert_non_null(strstr(xlb_errmsg(), o.password_file));
	assert_int_equal(xlb_store_put(s, "/auth", "v", 0, NULL), -ENOENT);
	assert_int_equal(g.done, 0);
	json_decref(body);
	xlb_store_close(s);
}

/*
 * A token made stale by a change of users or roles ("revision of auth store
 * is old", gRPC code 3) is got again, blocking and async; a watch started
 * with an expired token is started again with a new one and delivers.
 */
static void auth_stale_tokens(void)
{
	struct xlb_store_opts o;
	struct got g = { 0 }, w = { 0 };
	struct xlb_store *s = open_user("good-pw\n", &o);
	json_t *body = json_pack("{s:s}", "key", "L2F1dGg=");	/* /auth */
	struct xlb_kvs k;

	assert_int_equal(xlb_store_put(s, "/auth", "v", 0, NULL), 0);
	sh(ECTL_AUTH "role add r1 >/dev/null 2>&1", dir);	/* etcd retries writes itself */
	assert_int_equal(xlb_store_get(s, "/auth", false, &k), 0);
	assert_int_equal(k.nr, 1);
	xlb_kvs_free(&k);
	sh(ECTL_AUTH "role add r2 >/dev/null 2>&1", dir);
	assert_int_equal(xlb_store_async_post(s, "/v3/kv/range", body, on_done, &g), 0);
	pump(s, &g.done, 1, 3000);
	assert_int_equal(g.err, 0);
	assert_int_equal(json_array_size(json_object_get(g.answer, "kvs")), 1);
	sh(ECTL_AUTH "role add r3 >/dev/null 2>&1", dir);	/* etcd cancels the watch it starts */
	assert_int_equal(xlb_store_watch_start(s, "/aw/", true, 0, on_event, on_end, &w), 0);
	pump(s, &w.created, 1, 3000);
	assert_int_equal(xlb_store_put(s, "/aw/a", "A", 0, NULL), 0);
	pump(s, &w.events, 1, 3000);
	assert_string_equal(w.values, "A");
	assert_int_equal(w.ended, 0);
	xlb_store_watch_stop(s);
	json_decref(body);
	json_decref(g.answer);
	xlb_store_close(s);
}

/* Last: it turns authentication on (on a member of its own). */
static void test_auth(void **state)
{
	struct xlb_store_opts o;
	struct got g = { 0 };
	struct xlb_store *s;
	struct xlb_kvs k;
	json_t *body;

	(void)state;
	NEED_ENV();
	auth_member();
	opts_for(&o, AUTH);
	snprintf(o.ca, sizeof(o.ca), "%s/ca.crt", dir);
	assert_int_equal(xlb_store_open(&s, &o), 0);
	assert_int_equal(xlb_store_get(s, "/x", false, &k), -EACCES);	/* no user */
	xlb_store_close(s);
	s = open_user("bad-pw\n", &o);
	assert_int_equal(xlb_store_put(s, "/auth", "v", 0, NULL), -EACCES);
	assert_non_null(strstr(xlb_errmsg(), "authentication failed"));
	assert_null(strstr(xlb_errmsg(), "bad-pw"));
	body = json_pack("{s:s}", "key", "eA==");
	assert_int_equal(xlb_store_async_post(s, "/v3/kv/range", body, on_done, &g), 0);
	pump(s, &g.done, 1, 3000);
	assert_int_equal(g.err, -EACCES);
	xlb_store_close(s);
	s = open_user("good-pw\n", &o);
	assert_int_equal(xlb_store_put(s, "/auth", "v", 0, NULL), 0);
	assert_int_equal(xlb_store_async_post(s, "/v3/kv/range", body, on_done, &g), 0);
	pump(s, &g.done, 2, 3000);
	assert_int_equal(g.err, 0);
	sleep(4);	/* the token's TTL (3 s here) passes: the next call authenticates again */
	assert_int_equal(xlb_store_get(s, "/auth", false, &k), 0);
	assert_int_equal(k.nr, 1);
	xlb_kvs_free(&k);
	json_decref(body);
	json_decref(g.answer);
	xlb_store_close(s);
	auth_bad_files();
	auth_stale_tokens();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urls_and_names),
		cmocka_unit_test(test_files_and_modes),
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_txn),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_async_and_watch),
		cmocka_unit_test(test_watch_chunks),
		cmocka_unit_test(test_black_hole),
		cmocka_unit_test(test_rounds),
		cmocka_unit_test(test_watch_quorum),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_auth),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
