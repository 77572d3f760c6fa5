/*
 * fleet-sim's run: options, the nodes' store handles, etcd's /metrics summed
 * over the members, the phases (start, idle, applies, end) and the report
 * (text, or one JSON object with -j).  See fleet-sim.c for what a node does.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <curl/curl.h>
#include <jansson.h>
#include "fleetstore.h"
#include "log.h"
#include "fleet-sim.h"

static const char *const methods[] = { "Range", "Put", "Txn", "LeaseGrant", "LeaseKeepAlive",
				       "LeaseRevoke", "Watch" };
#define NR_METHODS	(sizeof(methods) / sizeof(methods[0]))

/* etcd's counters summed over the members (max for the cluster-wide ones), and ours. */
struct metrics {
	__s64 at;
	double sent, recv, handled, by[NR_METHODS], watchers, streams, proposals, cpu, rss,
	       db, fds, fds_max, sim_cpu;
	unsigned long keepalives, puts, bodies, events;
	unsigned long long body_bytes, status_bytes, event_bytes;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: fleet-sim --store URL[,URL...] [--fleet NAME] [--nodes N] [--applies N]\n"
		"       [--ttl S] [--publish-ms MS] [--idle-s S] [--gap-ms MS] [--deadline-s S]\n"
		"       [--same-order] [-j]\n");
	exit(1);
}

static int num(const char *opt, const char *v, int lo, int hi)
{
	char *end;
	long x = strtol(v, &end, 10);

	if (*end || end == v || x < lo || x > hi) {
		fprintf(stderr, "fleet-sim: %s '%s': a number from %d to %d is expected\n", opt,
			v, lo, hi);
		exit(1);
	}
	return (int)x;
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "store", 1, 0, 's' }, { "fleet", 1, 0, 'f' }, { "nodes", 1, 0, 'n' },
		{ "applies", 1, 0, 'a' }, { "ttl", 1, 0, 't' }, { "publish-ms", 1, 0, 'p' },
		{ "idle-s", 1, 0, 'i' }, { "gap-ms", 1, 0, 'g' }, { "deadline-s", 1, 0, 'd' },
		{ "same-order", 0, 0, 'o' }, { "json", 0, 0, 'j' }, { 0 } };
	int c;

	S.fleet = "sim";
	S.n = 100, S.applies = 20, S.ttl = 10, S.publish_ms = 30000, S.idle_s = 10;
	S.gap_ms = 300, S.deadline_s = 30;
	while ((c = getopt_long(argc, argv, "j", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (xlb_store_opts_parse_urls(&S.base, optarg)) {
				fprintf(stderr, "fleet-sim: %s\n", xlb_errmsg());
				exit(1);
			}
			break;
		case 'f': S.fleet = optarg; break;
		case 'n': S.n = num("--nodes", optarg, 1, MAX_NODES); break;
		case 'a': S.applies = num("--applies", optarg, 1, MAX_APPLIES); break;
		case 't': S.ttl = num("--ttl", optarg, 2, 3600); break;
		case 'p': S.publish_ms = num("--publish-ms", optarg, 0, 3600000); break;
		case 'i': S.idle_s = num("--idle-s", optarg, 1, 600); break;
		case 'g': S.gap_ms = num("--gap-ms", optarg, 0, 60000); break;
		case 'd': S.deadline_s = num("--deadline-s", optarg, 1, 600); break;
		case 'o': S.same_order = true; break;
		case 'j': S.json = true; break;
		default: usage();
		}
	}
	if (optind != argc || !S.base.nr_endpoints)
		usage();
	snprintf(S.base.fleet, sizeof(S.base.fleet), "%s", S.fleet);
	if (xlb_store_opts_check(&S.base)) {
		fprintf(stderr, "fleet-sim: %s\n", xlb_errmsg());
		exit(1);
	}
	xlb_fleet_key(S.dkey, sizeof(S.dkey), S.fleet, "desired", NULL);
}

/*
 * Each node its own handle; its endpoints rotated so the nodes spread over
 * the members, or (--same-order) all in the order given, as daemons started
 * with the same --store list are: the client prefers the first that answers.
 */
static int nodes_open(void)
{
	S.nodes = calloc(S.n, sizeof(*S.nodes));
	if (!S.nodes)
		return -ENOMEM;
	for (int i = 0; i < S.n; i++) {
		struct xlb_store_opts o = S.base;
		unsigned int k = S.base.nr_endpoints;

		for (unsigned int e = 0; e < k; e++)
			memcpy(o.endpoints[e], S.base.endpoints[(e + (S.same_order ? 0 : i)) % k],
			       sizeof(o.endpoints[e]));
		snprintf(S.nodes[i].name, sizeof(S.nodes[i].name), "sim%05d", i);
		if (xlb_store_open(&S.nodes[i].s, &o))
			return -EIO;
	}
	return 0;
}

/* ---- etcd's /metrics -------------------------------------------------------------- */

static size_t grow(char *p, size_t size, size_t nmemb, void *ud)
{
	char **buf = ud;
	size_t old = *buf ? strlen(*buf) : 0, n = size * nmemb;
	char *b = realloc(*buf, old + n + 1);

	if (!b)
		return 0;
	memcpy(b + old, p, n);
	b[old + n] = '\0';
	*buf = b;
	return n;
}

static void metric_line(struct metrics *m, const char *line)
{
	const char *sp = strrchr(line, ' ');
	size_t nl = strcspn(line, "{ ");
	double v;

	if (line[0] == '#' || !sp)
		return;
	v = strtod(sp + 1, NULL);
#define IS(name) (nl == strlen(name) && !strncmp(line, name, nl))
	if (IS("etcd_network_client_grpc_sent_bytes_total"))
		m->sent += v;
	else if (IS("etcd_network_client_grpc_received_bytes_total"))
		m->recv += v;
	else if (IS("etcd_debugging_mvcc_watcher_total"))
		m->watchers += v;
	else if (IS("etcd_debugging_mvcc_watch_stream_total"))
		m->streams += v;
	else if (IS("etcd_server_proposals_committed_total"))
		m->proposals = fmax(m->proposals, v);
	else if (IS("process_cpu_seconds_total"))
		m->cpu += v;
	else if (IS("process_resident_memory_bytes"))
		m->rss += v;
	else if (IS("process_open_fds"))
		m->fds += v, m->fds_max = fmax(m->fds_max, v);
	else if (IS("etcd_mvcc_db_total_size_in_bytes"))
		m->db = fmax(m->db, v);
	else if (IS("grpc_server_handled_total")) {
		m->handled += v;
		for (size_t i = 0; i < NR_METHODS; i++) {
			char want[48];

			snprintf(want, sizeof(want), "grpc_method=\"%s\"", methods[i]);
			if (strstr(line, want))
				m->by[i] += v;
		}
	}
#undef IS
}

static double sim_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* Every member's /metrics (a blocking GET each, between phases only). */
static int scrape(struct metrics *m)
{
	CURL *c = curl_easy_init();
	int err = 0;

	memset(m, 0, sizeof(*m));
	for (unsigned int e = 0; c && e < S.base.nr_endpoints && !err; e++) {
		char url[300], *buf = NULL, *line, *save;

		snprintf(url, sizeof(url), "%s/metrics", S.base.endpoints[e]);
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
		if (curl_easy_perform(c) != CURLE_OK || !buf) {
			fprintf(stderr, "fleet-sim: %s cannot be read\n", url);
			err = -EHOSTUNREACH;
		}
		for (line = buf ? strtok_r(buf, "\n", &save) : NULL; line;
		     line = strtok_r(NULL, "\n", &save))
			metric_line(m, line);
		free(buf);
	}
	if (c)
		curl_easy_cleanup(c);
	m->at = now_ms();
	m->sim_cpu = sim_cpu();
	m->keepalives = S.keepalives, m->puts = S.puts, m->bodies = S.bodies;
	m->events = S.events, m->body_bytes = S.body_bytes;
	m->status_bytes = S.status_bytes, m->event_bytes = S.event_bytes;
	return c ? err : -ENOMEM;
}

/* ---- the phases --------------------------------------------------------------------- */

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n - 3;	/* ".", ".." and the directory itself */
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: of 20 samples, p99 is the largest. */
static double pct(double *v, int n, double p)
{
	int k = (int)ceil(p * n);

	if (n <= 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_d);
	return v[k < 1 ? 0 : k - 1];
}

/* What one apply took: every node (max), the median node, the write itself. */
struct apply_times {
	double all[MAX_APPLIES], median[MAX_APPLIES], write[MAX_APPLIES];
	int nr, timeouts, failed;
};

static int one_apply(struct apply_times *t)
{
	struct apply_res r;
	double *lat = malloc(S.n * sizeof(*lat));
	int left;

	if (!lat)
		return -ENOMEM;
	if (apply(&r)) {	/* counted, and the next one tried: the store may be stuck */
		fprintf(stderr, "fleet-sim: apply: %s\n", r.msg);
		t->failed++;
		free(lat);
		run(0, S.gap_ms);
		return 0;
	}
	left = run(r.gen, S.deadline_s * 1000LL);
	for (int i = 0; i < S.n; i++)
		lat[i] = S.nodes[i].acked_gen >= r.gen ? S.nodes[i].acked_ms - r.t0 : INFINITY;
	t->all[t->nr] = left ? INFINITY : pct(lat, S.n, 1.0);
	t->median[t->nr] = pct(lat, S.n, 0.5);
	t->write[t->nr] = r.t1 - r.t0;
	t->nr++;
	if (left) {
		t->timeouts++;
		fprintf(stderr, "fleet-sim: generation %llu: %d of %d nodes had not published it "
			"after %d s\n", (unsigned long long)r.gen, left, S.n, S.deadline_s);
	}
	free(lat);
	run(0, S.gap_ms);
	return 0;
}

static void revoke_all(void)
{
	for (int i = 0; i < S.n; i++) {
		struct node *n = &S.nodes[i];
		json_t *b = json_pack("{s:I}", "ID", (json_int_t)n->lease);

		xlb_store_watch_stop(n->s);
		xlb_store_async_cancel_all(n->s);
		if (n->lease && b)
			xlb_store_async_post(n->s, "/v3/lease/revoke", b, NULL, NULL);
		json_decref(b);
	}
	for (__s64 end = now_ms() + 5000; now_ms() < end;) {
		int busy = 0;

		for (int i = 0; i < S.n; i++)
			busy += xlb_store_async_poll(S.nodes[i].s) > 0;
		if (!busy)
			break;
		usleep(2000);
	}
	for (int i = 0; i < S.n; i++)
		xlb_store_close(S.nodes[i].s);
}

struct report {
	int start_left, sim_fds, watching;
	__s64 start_ms;
};

/* b - a of a counter over the window, less what the idle window (i0..i1) would have done. */
static double above_idle(double a, double b, double i0, double i1, double win_s, double idle_s)
{
	return (b - a) - (i1 - i0) * win_s / idle_s;
}

static json_t *idle_json(const struct metrics *a, const struct metrics *b)
{
	double s = (b->at - a->at) / 1000.0;
	json_t *by = json_object();

	for (size_t i = 0; i < NR_METHODS; i++)
		json_object_set_new(by, methods[i], json_real((b->by[i] - a->by[i]) / s));
	return json_pack("{s:f,s:f,s:f,s:f,s:o,s:f,s:f,s:f,s:f,s:f,s:f}", "seconds", s,
			 "keepalives_per_s", (b->keepalives - a->keepalives) / s,
			 "status_puts_per_s", (b->puts - a->puts) / s,
			 "etcd_rpcs_per_s", (b->handled - a->handled) / s,
			 "etcd_rpcs_per_s_by_method", by,
			 "etcd_proposals_per_s", (b->proposals - a->proposals) / s,
			 "etcd_sent_bytes_per_s", (b->sent - a->sent) / s,
			 "etcd_received_bytes_per_s", (b->recv - a->recv) / s,
			 "etcd_cpu_percent", (b->cpu - a->cpu) / s * 100,
			 "sim_cpu_percent", (b->sim_cpu - a->sim_cpu) / s * 100,
			 "etcd_db_growth_bytes_per_s", (b->db - a->db) / s);
}

/* Per apply: what the nodes read and wrote, and etcd's counters above the idle rate. */
static json_t *per_apply_json(const struct metrics *m, int nr)
{
	nr = nr ?: 1;
	const struct metrics *i0 = &m[1], *i1 = &m[2], *a = &m[2], *b = &m[3];
	double w = (b->at - a->at) / 1000.0, is = (i1->at - i0->at) / 1000.0;

	return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}",
		"etcd_cpu_s_above_idle", above_idle(a->cpu, b->cpu, i0->cpu, i1->cpu, w, is) / nr,
		"sim_cpu_s_above_idle", above_idle(a->sim_cpu, b->sim_cpu, i0->sim_cpu, i1->sim_cpu,
						   w, is) / nr,
		"body_reads", (double)(b->bodies - a->bodies) / nr,
		"body_read_bytes", (double)(b->body_bytes - a->body_bytes) / nr,
		"desired_event_bytes", (double)(b->event_bytes - a->event_bytes) / nr,
		"status_put_bytes_above_idle", above_idle(a->status_bytes, b->status_bytes,
			i0->status_bytes, i1->status_bytes, w, is) / nr,
		"status_record_bytes", b->puts ? (double)b->status_bytes / b->puts : 0.0,
		"etcd_sent_bytes_above_idle", above_idle(a->sent, b->sent, i0->sent, i1->sent, w,
							 is) / nr,
		"etcd_received_bytes_above_idle", above_idle(a->recv, b->recv, i0->recv, i1->recv,
							     w, is) / nr,
		"etcd_rpcs_above_idle", above_idle(a->handled, b->handled, i0->handled,
						   i1->handled, w, is) / nr,
		"etcd_proposals_above_idle", above_idle(a->proposals, b->proposals,
							i0->proposals, i1->proposals, w, is) / nr);
}

/* -1 for what did not finish (JSON has no infinity). */
static double fin(double x)
{
	return isfinite(x) ? x : -1.0;
}

static json_t *applies_json(const struct metrics *m, struct apply_times *t)
{

	return json_pack("{s:i,s:i,s:i,s:I,s:{s:f,s:f,s:f},s:{s:f,s:f},s:{s:f,s:f},s:o}",
		"count", t->nr, "timeouts", t->timeouts, "failed", t->failed,
		"body_bytes", (json_int_t)S.expect_body,
		"all_published_ms", "p50", fin(pct(t->all, t->nr, 0.5)),
		"p99", fin(pct(t->all, t->nr, 0.99)), "max", fin(pct(t->all, t->nr, 1.0)),
		"median_node_ms", "p50", fin(pct(t->median, t->nr, 0.5)),
		"p99", fin(pct(t->median, t->nr, 0.99)),
		"write_desired_ms", "p50", fin(pct(t->write, t->nr, 0.5)),
		"p99", fin(pct(t->write, t->nr, 0.99)), "per_apply", per_apply_json(m, t->nr));
}

static void print_text(json_t *o)
{
	json_t *st = json_object_get(o, "start"), *id = json_object_get(o, "idle"),
	       *ap = json_object_get(o, "applies"), *pa = json_object_get(ap, "per_apply");
#define N(obj, k) json_number_value(json_object_get(obj, k))
#define P(obj, k, q) json_number_value(json_object_get(json_object_get(obj, k), q))
	printf("fleet-sim: %d nodes, lease %d s (keepalive every %d s), status every %d ms\n",
	       S.n, S.ttl, S.ttl / 3, S.publish_ms);
	printf("  start: all published in %.0f ms (%.0f behind, %.0f watching); etcd watchers %.0f, watch "
	       "streams %.0f, etcd fds %.0f (busiest member %.0f), sim fds %.0f\n", N(st, "ms"),
	       N(st, "behind"), N(st, "watching"), N(st, "etcd_watchers"), N(st, "etcd_watch_streams"),
	       N(st, "etcd_fds"), N(st, "etcd_fds_max_member"), N(st, "sim_fds"));
	printf("  idle %.0f s: %.1f keepalives/s, %.1f status puts/s, etcd %.1f RPC/s, %.1f "
	       "proposals/s, sent %.0f B/s, received %.0f B/s, CPU %.0f%% (%u members), sim "
	       "CPU %.0f%%, db +%.0f B/s\n", N(id, "seconds"), N(id, "keepalives_per_s"),
	       N(id, "status_puts_per_s"), N(id, "etcd_rpcs_per_s"),
	       N(id, "etcd_proposals_per_s"), N(id, "etcd_sent_bytes_per_s"),
	       N(id, "etcd_received_bytes_per_s"), N(id, "etcd_cpu_percent"),
	       S.base.nr_endpoints, N(id, "sim_cpu_percent"), N(id, "etcd_db_growth_bytes_per_s"));
	printf("  %.0f applies (body %.0f B): all nodes published p50 %.0f ms, p99 %.0f ms; "
	       "median node p50 %.0f ms; write_desired p50 %.0f ms; %.0f timed out, %.0f failed\n",
	       N(ap, "count"), N(ap, "body_bytes"), P(ap, "all_published_ms", "p50"),
	       P(ap, "all_published_ms", "p99"), P(ap, "median_node_ms", "p50"),
	       P(ap, "write_desired_ms", "p50"), N(ap, "timeouts"), N(ap, "failed"));
	printf("  per apply: CPU etcd +%.2f s, sim +%.2f s; %.0f body reads = %.0f B, "
	       "desired events %.0f B, status puts +%.0f B (record %.0f B); etcd sent +%.0f B, "
	       "received +%.0f B, +%.0f RPCs, +%.0f proposals\n", N(pa, "etcd_cpu_s_above_idle"),
	       N(pa, "sim_cpu_s_above_idle"), N(pa, "body_reads"), N(pa, "body_read_bytes"),
	       N(pa, "desired_event_bytes"), N(pa, "status_put_bytes_above_idle"),
	       N(pa, "status_record_bytes"), N(pa, "etcd_sent_bytes_above_idle"),
	       N(pa, "etcd_received_bytes_above_idle"), N(pa, "etcd_rpcs_above_idle"),
	       N(pa, "etcd_proposals_above_idle"));
	printf("  errors %.0f, watch ends %.0f, leases lost %.0f, bodies of another size %.0f\n",
	       N(o, "errors"), N(o, "watch_ends"), N(o, "leases_lost"), N(o, "short_bodies"));
#undef N
#undef P
}

static void report(const struct report *r, const struct metrics *m, struct apply_times *t)
{
	json_t *o = json_pack("{s:i,s:i,s:b,s:i,s:i,s:{s:I,s:i,s:i,s:f,s:f,s:f,s:f,s:f,s:i},s:o,"
			      "s:o,s:I,s:I,s:I,s:I}",
		"nodes", S.n, "members", S.base.nr_endpoints, "same_order", S.same_order,
		"ttl_s", S.ttl, "publish_ms", S.publish_ms,
		"start", "ms", (json_int_t)r->start_ms, "behind", r->start_left,
		"watching", r->watching,
		"etcd_watchers", m[1].watchers, "etcd_watch_streams", m[1].streams,
		"etcd_fds", m[1].fds, "etcd_fds_max_member", m[1].fds_max,
		"etcd_rss_bytes", m[1].rss, "sim_fds", r->sim_fds,
		"idle", idle_json(&m[1], &m[2]), "applies", applies_json(m, t),
		"errors", (json_int_t)S.errors, "watch_ends", (json_int_t)S.watch_ends,
		"leases_lost", (json_int_t)S.lost, "short_bodies", (json_int_t)S.short_bodies);

	if (!o)
		return;
	if (S.json)
		json_dumpf(o, stdout, JSON_COMPACT), putchar('\n');
	else
		print_text(o);
	json_decref(o);
}

int main(int argc, char **argv)
{
	struct metrics m[5];
	struct apply_times *t = calloc(1, sizeof(*t));
	struct apply_res r;
	struct report rep = { 0 };
	int err;

	parse_args(argc, argv);
	if (!t || curl_global_init(CURL_GLOBAL_DEFAULT) || start_applier() || apply(&r)) {
		fprintf(stderr, "fleet-sim: the first apply: %s\n", t ? r.msg : "out of memory");
		return 2;
	}
	if (nodes_open() || scrape(&m[0])) {
		fprintf(stderr, "fleet-sim: %s\n", xlb_errmsg());
		return 2;
	}
	/* start: every node at once (a fleet restarting), until each published the generation */
	rep.start_left = run(r.gen, S.deadline_s * 2000LL);
	rep.start_ms = now_ms() - m[0].at;
	rep.sim_fds = open_fds();
	for (int i = 0; i < S.n; i++)
		rep.watching += S.nodes[i].created;
	err = scrape(&m[1]);
	run(0, S.idle_s * 1000LL);
	err = err ?: scrape(&m[2]);
	for (int i = 0; i < S.applies && !err; i++)
		err = one_apply(t);
	err = err ?: scrape(&m[3]);
	revoke_all();
	stop_applier();
	if (err || scrape(&m[4]))
		return 2;
	report(&rep, m, t);
	return rep.start_left || t->timeouts || t->failed ? 1 : 0;
}
