/*
 * fleet-sim: N fleet nodes simulated in one process against a real etcd,
 * without a data plane, on the store client's non-blocking API (store.h):
 * what the store carries for a fleet of N.  Each node does what the daemon
 * does (user/daemon/follow.c): its own store handle (its own connections),
 * a lease of --ttl seconds kept alive every TTL/3, desired read with a range
 * then watched from the next revision, each new generation's body config/FP
 * read once, and its status record nodes/NODE put under its lease in the
 * form fleetstore.h documents, on every change and every --publish-ms.
 * Table fingerprints in the record are stand-ins of the same size (no
 * tables are built); the body is not parsed (a real node's CPU, not the
 * store's): its bytes are counted and checked against what was written.
 *
 * A child process, forked before the nodes start, applies generations with
 * xlb_fleet_write_desired (4 services x 50 backends, one weight changed per
 * generation), so an apply never stalls the nodes' loop.  Measured: the
 * start (all nodes leased, watching, published), an idle window (keepalives,
 * status puts, etcd's RPCs, bytes, CPU, database growth) and --applies
 * applies (time from the apply's start until every node's status put of
 * the new generation was answered), with etcd's own /metrics summed over
 * the members before and after.  Not part of make check: tools/bench-fleet-sim.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include "config.h"
#include "fleetstore.h"
#include "log.h"
#include "fleet-sim.h"

struct sim S;

__s64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__s64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *b64(const char *s, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *u = (const unsigned char *)s;
	char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;

	for (size_t i = 0; out && i < len; i += 3) {
		__u32 v = (__u32)u[i] << 16 | (i + 1 < len ? (__u32)u[i + 1] << 8 : 0) |
			  (i + 2 < len ? u[i + 2] : 0);

		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
		*o++ = i + 1 < len ? abc[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? abc[v & 63] : '=';
	}
	if (o)
		*o = '\0';
	return out;
}

/* A POST of body (consumed) for node n; false when it could not start (tried again later). */
static bool post(struct node *n, const char *path, json_t *body, xlb_store_done_fn done)
{
	int err = body ? xlb_store_async_post(n->s, path, body, done, n) : -ENOMEM;

	json_decref(body);
	if (err) {
		S.errors++;
		n->retry_at = now_ms() + RETRY_MS;
	}
	return !err;
}

static json_t *key_body(const char *key)
{
	char *k = b64(key, strlen(key));
	json_t *j = k ? json_pack("{s:s}", "key", k) : NULL;

	free(k);
	return j;
}

/* ---- one node ------------------------------------------------------------------ */

static void lease_done(void *ctx, int err, json_t *answer)
{
	struct node *n = ctx;
	json_t *r = json_object_get(answer, "result") ?: answer;
	__s64 id = xlb_store_i64(r, "ID"), ttl = xlb_store_i64(r, "TTL");

	S.activity++;
	n->lease_busy = false;
	if (err) {
		S.errors++;
		n->retry_at = now_ms() + RETRY_MS;
		return;
	}
	if (ttl <= 0 || !id) {
		S.lost += n->lease != 0;	/* expired: granted again */
		n->lease = 0;
		return;
	}
	n->dirty |= !n->lease;
	n->lease = id;
	n->lease_ttl = ttl;
	n->lease_kept = now_ms();
}

/* A desired record (a kv of a range or of a watch event): the generation to reach. */
static void take_desired(struct node *n, json_t *kv)
{
	struct xlb_fleet_desired d;
	size_t len = 0;
	char *v = xlb_store_b64(kv, "value", &len);
	json_t *j = v ? json_loadb(v, len, 0, NULL) : NULL;

	S.event_bytes += len;
	if (j && !xlb_fleet_desired_from_json(j, &d) && d.generation > n->want_gen) {
		n->want_gen = d.generation;
		memcpy(n->want_fp, d.fingerprint, sizeof(n->want_fp));
	} else if (!j) {
		S.errors++;
	}
	json_decref(j);
	free(v);
}

static void watch_event(void *ctx, json_t *result)
{
	struct node *n = ctx;
	json_t *ev;
	size_t i;

	S.activity++;
	if (json_is_true(json_object_get(result, "created")))
		n->created = true;
	json_array_foreach(json_object_get(result, "events"), i, ev) {
		S.events++;
		if (!json_is_string(json_object_get(ev, "type")))	/* PUT: etcd leaves it out */
			take_desired(n, json_object_get(ev, "kv"));
	}
}

static void watch_end(void *ctx, int err, json_t *answer)
{
	struct node *n = ctx;

	(void)err;
	(void)answer;
	S.activity++;
	S.watch_ends++;
	n->watching = n->created = false;	/* read desired again, then watch again */
	n->retry_at = now_ms() + RETRY_MS;
}

static void range_done(void *ctx, int err, json_t *answer)
{
	struct node *n = ctx;
	json_t *kvs = json_object_get(answer, "kvs");
	__s64 rev = xlb_store_i64(json_object_get(answer, "header"), "revision");

	S.activity++;
	n->range_busy = false;
	if (err || rev <= 0) {
		S.errors++;
		n->retry_at = now_ms() + RETRY_MS;
		return;
	}
	if (json_array_size(kvs) == 1)
		take_desired(n, json_array_get(kvs, 0));
	if (xlb_store_watch_start(n->s, S.dkey, false, rev + 1, watch_event, watch_end, n)) {
		S.errors++;
		n->retry_at = now_ms() + RETRY_MS;
		return;
	}
	n->watching = true;
}

static void body_done(void *ctx, int err, json_t *answer)
{
	struct node *n = ctx;
	json_t *kv = json_array_get(json_object_get(answer, "kvs"), 0);
	size_t len = 0;
	char *v = kv ? xlb_store_b64(kv, "value", &len) : NULL;

	S.activity++;
	n->body_busy = false;
	if (err || !v || !len) {
		S.errors++;
		n->retry_at = now_ms() + RETRY_MS;
		free(v);
		return;
	}
	S.bodies++;
	S.body_bytes += len;
	S.short_bodies += len != S.expect_body;
	free(v);
	n->applied = n->body_gen;
	memcpy(n->applied_fp, n->want_fp, sizeof(n->applied_fp));
	n->dirty = true;
}

static void put_done(void *ctx, int err, json_t *answer)
{
	struct node *n = ctx;

	(void)answer;
	S.activity++;
	n->put_busy = false;
	if (err) {
		S.errors++;
		n->dirty = true;
		n->retry_at = now_ms() + RETRY_MS;
		return;
	}
	if (n->put_gen > n->acked_gen) {
		n->acked_gen = n->put_gen;
		n->acked_ms = now_ms();
	}
}

/* The status record in the form fleetstore.h documents. */
static char *status_text(struct node *n)
{
	struct timespec ts;
	char when[40];
	struct tm tm;
	json_t *o, *tables = json_object();

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + 19, sizeof(when) - 19, ".%03ldZ", ts.tv_nsec / 1000000);
	for (int i = 0; i < NR_SERVICES; i++) {
		char svc[16];

		snprintf(svc, sizeof(svc), "svc%d", i);
		json_object_set_new(tables, svc, json_string(n->applied_fp));
	}
	o = json_pack("{s:s,s:I,s:s,s:o,s:s,s:b,s:b,s:{s:i,s:i},s:n,s:n,s:n,s:n,s:s,s:I}",
		      "node", n->name, "generation", (json_int_t)n->applied,
		      "fingerprint", n->applied_fp, "tables", tables, "hash_key_id", "",
		      "attached", 1, "announcing", 1, "health", "up",
		      NR_SERVICES * NR_BACKENDS, "down", 0, "refused", "error", "local_change",
		      "store_lost_since", "updated", when, "lease_ttl", (json_int_t)n->lease_ttl);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(o);
	return text;
}

static void publish(struct node *n)
{
	char key[256], *k, *v, *text = status_text(n);
	json_t *body = NULL;

	xlb_fleet_key(key, sizeof(key), S.fleet, "nodes", n->name);
	k = b64(key, strlen(key));
	v = text ? b64(text, strlen(text)) : NULL;
	if (k && v)
		body = json_pack("{s:s,s:s,s:I}", "key", k, "value", v, "lease", (json_int_t)n->lease);
	if (post(n, "/v3/kv/put", body, put_done)) {
		n->put_busy = true;
		n->dirty = false;
		n->put_gen = n->applied;
		n->published = now_ms();
		S.puts++;
		S.status_bytes += strlen(text);
	}
	free(k);
	free(v);
	free(text);
}

static void node_tick(struct node *n, __s64 now)
{
	char key[256];

	if (now < n->retry_at)
		return;
	if (!n->lease_busy && !n->lease) {
		n->lease_busy = post(n, "/v3/lease/grant", json_pack("{s:i}", "TTL", S.ttl),
				     lease_done);
		S.grants += n->lease_busy;
	} else if (!n->lease_busy && now - n->lease_kept >= n->lease_ttl * 1000 / 3) {
		n->lease_busy = post(n, "/v3/lease/keepalive",
				     json_pack("{s:I}", "ID", (json_int_t)n->lease), lease_done);
		S.keepalives += n->lease_busy;
	}
	xlb_fleet_key(key, sizeof(key), S.fleet, "desired", NULL);
	if (!n->watching && !n->range_busy)
		n->range_busy = post(n, "/v3/kv/range", key_body(key), range_done);
	if (n->want_gen > n->applied && !n->body_busy) {
		xlb_fleet_key(key, sizeof(key), S.fleet, "config", n->want_fp);
		n->body_gen = n->want_gen;
		n->body_busy = post(n, "/v3/kv/range", key_body(key), body_done);
	}
	if (n->lease && n->applied && !n->put_busy &&
	    (n->dirty || (S.publish_ms && now - n->published >= S.publish_ms)))
		publish(n);
}

/* Every node once: its due requests, then its ready I/O and answers. */
static void sweep(void)
{
	__s64 now = now_ms();

	for (int i = 0; i < S.n; i++) {
		node_tick(&S.nodes[i], now);
		xlb_store_async_poll(S.nodes[i].s);
	}
}

int behind(__u64 gen)
{
	int b = 0;

	for (int i = 0; i < S.n; i++)
		b += S.nodes[i].acked_gen < gen || !S.nodes[i].created;
	return b;
}

/* Run the nodes until every one has published gen (0: for ms); the nodes still behind. */
int run(__u64 gen, __s64 ms)
{
	__s64 end = now_ms() + ms;

	for (;;) {
		unsigned long a = S.activity;

		sweep();
		if (gen && !behind(gen))
			return 0;
		if (now_ms() >= end)
			return gen ? behind(gen) : 0;
		if (S.activity == a)
			usleep(1000);
	}
}

/* ---- the applier (a child process) --------------------------------------------- */

/* 4 services x 50 backends (lab addresses only); gen sets one weight, so each differs. */
static json_t *config_json(__u64 gen)
{
	static const char *const vip[NR_SERVICES] = { "192.0.2.10", "192.0.2.11", "192.0.2.12",
						      "2001:db8::10" };
	static const char *const fmt[NR_SERVICES] = { "198.51.100.%d", "198.51.100.%d",
						      "203.0.113.%d", "2001:db8:1::%d" };
	json_t *svcs = json_array();

	for (int s = 0; s < NR_SERVICES; s++) {
		json_t *bes = json_array();

		for (int b = 1; b <= NR_BACKENDS; b++) {
			char addr[64];

			snprintf(addr, sizeof(addr), fmt[s], b + (s == 1 ? 100 : 0));
			json_array_append_new(bes, json_pack("{s:s,s:i}", "address", addr, "weight",
				s == 0 && b == 1 ? 1 + (int)(gen % 60000) : 100));
		}
		json_array_append_new(svcs, json_pack(
			"{s:s+,s:s,s:i,s:s,s:i,s:{s:i,s:f,s:f},s:{s:s,s:i,s:s,s:i,s:i},s:o}",
			"name", "svc", s == 0 ? "0" : s == 1 ? "1" : s == 2 ? "2" : "3",
			"vip", vip[s], "port", 80, "protocol", "tcp", "table_size", 5003,
			"guards", "min_active", 2, "max_share", 0.5, "max_churn", 1.0,
			"health", "type", "http", "port", 80, "path", "/healthz",
			"interval_ms", 2000, "timeout_ms", 1000, "backends", bes));
	}
	return json_pack("{s:o}", "services", svcs);
}

static void apply_one(struct xlb_store *s, struct apply_res *r)
{
	struct xlb_fleet_desired prev, out;
	struct xlb_diags diags = { 0 };
	struct xlb_config cfg;
	json_t *j;
	char *body;

	memset(r, 0, sizeof(*r));
	r->err = xlb_fleet_read_desired(s, S.fleet, &prev);
	if (r->err)
		goto out;
	j = config_json(prev.generation + 1);
	r->err = xlb_config_from_json(j, &cfg, &diags) ?: xlb_config_validate(&cfg, &diags);
	json_decref(j);
	if (r->err) {
		xlb_errf(r->err, "the simulated configuration is not valid: %s",
			 diags.count ? diags.items[0].msg : "?");
		goto out;
	}
	j = xlb_config_to_json(&cfg);
	body = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	r->body_len = body ? strlen(body) : 0;
	free(body);
	json_decref(j);
	r->t0 = now_ms();
	r->err = xlb_fleet_write_desired(s, S.fleet, &prev, &cfg, "apply", "fleet-sim", false,
					 &out);
	r->t1 = now_ms();
	r->gen = out.generation;
	xlb_config_free(&cfg);
out:
	xlb_diags_free(&diags);
	if (r->err)
		snprintf(r->msg, sizeof(r->msg), "%s", xlb_errmsg());
}

/* The child: one apply per byte read, its result written back; ends at EOF. */
static void applier(int in, int out)
{
	struct xlb_store *s;
	struct apply_res r;
	char c;

	if (xlb_store_open(&s, &S.base)) {
		fprintf(stderr, "fleet-sim: applier: %s\n", xlb_errmsg());
		_exit(2);
	}
	while (read(in, &c, 1) == 1) {
		apply_one(s, &r);
		if (write(out, &r, sizeof(r)) != sizeof(r))
			break;
	}
	xlb_store_close(s);
	_exit(0);
}

static int to_child = -1, from_child = -1;

int start_applier(void)
{
	int a[2], b[2];
	pid_t pid;

	if (pipe(a) || pipe(b))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		close(a[1]);
		close(b[0]);
		applier(a[0], b[1]);
	}
	close(a[0]);
	close(b[1]);
	to_child = a[1];
	from_child = b[0];
	return 0;
}

int apply(struct apply_res *r)
{
	if (write(to_child, "a", 1) != 1 || read(from_child, r, sizeof(*r)) != sizeof(*r))
		return -EPIPE;
	if (!r->err)
		S.expect_body = r->body_len;
	return r->err;
}

void stop_applier(void)
{
	close(to_child);
	close(from_child);
	wait(NULL);
}
