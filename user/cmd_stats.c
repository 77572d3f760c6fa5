/* xlb stats [SERVICE] [--watch [--count N]] and xlb table SERVICE. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmd.h"
#include "commit.h"
#include "log.h"
#include "names.h"
#include "netutil.h"

/* Slots per backend id in the live table of a service; *m gets M. */
static int live_counts(const struct xlb_ctl *c, int idx, __u32 *count, __u32 *m)
{
	__u32 *ids;
	int err = xlb_dp_get_table(&c->dp, c->live_slot, idx, &ids, m);

	memset(count, 0, sizeof(*count) * XLB_MAX_BACKENDS);
	if (err == -ENOENT) {
		*m = 0;
		return 0;
	}
	if (err)
		return err;
	for (__u32 i = 0; i < *m; i++)
		count[ids[i] < XLB_MAX_BACKENDS ? ids[i] : 0]++;
	free(ids);
	return 0;
}

struct be_row {
	const struct xlb_backend_conf *b;
	__u32 id;
	struct xlb_counters now;
	double table_share, flow_share;
};

static void bar(double share, char *out, int width)
{
	int n = (int)(share * width + 0.5);

	for (int i = 0; i < width; i++)
		out[i] = i < n ? '#' : '.';
	out[width] = '\0';
}

/* One service's rows; base (may be NULL) is subtracted (--watch intervals). */
static int service_rows(const struct xlb_ctl *c, const struct xlb_service_conf *s,
			struct be_row *rows, const struct be_row *base)
{
	static __u32 count[XLB_MAX_BACKENDS];
	int idx = xlb_assign_service(&c->assign, s->name);
	__u64 flows = 0;
	__u32 m;
	int err = live_counts(c, idx, count, &m);

	for (__u32 j = 0; j < s->nr_backends && !err; j++) {
		struct be_row *r = &rows[j];

		r->b = &s->backends[j];
		r->id = xlb_assign_id(&c->assign, s->name, &r->b->addr, r->b->family);
		err = xlb_dp_counters(&c->dp, c->dp.backend_stats, r->id, &r->now);
		if (base) {
			r->now.packets -= base[j].now.packets;
			r->now.bytes -= base[j].now.bytes;
			r->now.new_flows -= base[j].now.new_flows;
		}
		r->table_share = m ? (double)count[r->id] / m : 0;
		flows += r->now.new_flows;
	}
	for (__u32 j = 0; j < s->nr_backends; j++)
		rows[j].flow_share = flows ? (double)rows[j].now.new_flows / flows : 0;
	return err;
}

static void print_rows(const struct xlb_service_conf *s, const struct be_row *rows, bool bars)
{
	char a[INET6_ADDRSTRLEN], b[41];

	printf("service %s (%s port %u)\n", s->name, xlb_proto_name(s->proto), s->port);
	printf("  %-32s %-6s %12s %14s %10s %7s %7s %s\n", "backend", "state", "packets", "bytes",
	       "new flows", "flows%", "table%", bars ? "new flows vs table" : "");
	for (__u32 j = 0; j < s->nr_backends; j++) {
		const struct be_row *r = &rows[j];

		bar(r->flow_share, b, 40);
		printf("  %-32s %-6s %12llu %14llu %10llu %6.1f%% %6.1f%% %s\n",
		       xlb_addr_str(&r->b->addr, r->b->family, a, sizeof(a)),
		       xlb_state_name(r->b->state), (unsigned long long)r->now.packets,
		       (unsigned long long)r->now.bytes, (unsigned long long)r->now.new_flows,
		       100 * r->flow_share, 100 * r->table_share, bars ? b : "");
	}
}

static json_t *rows_json(const struct xlb_service_conf *s, const struct be_row *rows)
{
	json_t *arr = json_array();
	char a[INET6_ADDRSTRLEN];

	for (__u32 j = 0; j < s->nr_backends; j++)
		json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:f,s:f}",
			"backend", xlb_addr_str(&rows[j].b->addr, rows[j].b->family, a, sizeof(a)),
			"state", xlb_state_name(rows[j].b->state),
			"packets", (json_int_t)rows[j].now.packets,
			"bytes", (json_int_t)rows[j].now.bytes,
			"new_flows", (json_int_t)rows[j].now.new_flows,
			"rehashed", (json_int_t)rows[j].now.rehashed,
			"new_flow_share", rows[j].flow_share, "table_share", rows[j].table_share));
	return json_pack("{s:s,s:o}", "service", s->name, "backends", arr);
}

static json_t *reasons_json(const struct xlb_ctl *c)
{
	json_t *o = json_object();

	for (__u32 r = 0; r < XLB_STAT_MAX; r++) {
		struct xlb_stat st;
		char key[64];

		if (xlb_dp_stat(&c->dp, r, &st) || !st.packets)
			continue;
		snprintf(key, sizeof(key), "%s_%s", xlb_stat_kind(r), xlb_stat_names[r]);
		json_object_set_new(o, key, json_integer(st.packets));
	}
	return o;
}

static void print_reasons(const struct xlb_ctl *c)
{
	printf("verdicts:");
	for (__u32 r = 0; r < XLB_STAT_MAX; r++) {
		struct xlb_stat st;

		if (!xlb_dp_stat(&c->dp, r, &st) && st.packets)
			printf(" %s:%s=%llu", xlb_stat_kind(r), xlb_stat_names[r],
			       (unsigned long long)st.packets);
	}
	printf("\n");
}

static int stats_once(const struct xlb_ctl *c, const char *only, struct be_row **base, bool watch)
{
	json_t *svcs = json_array();

	for (__u32 i = 0; i < c->running.nr_services; i++) {
		const struct xlb_service_conf *s = &c->running.services[i];
		struct be_row *rows = calloc(s->nr_backends + 1, sizeof(*rows));

		if (!rows || (only && strcmp(only, s->name))) {
			free(rows);
			continue;
		}
		if (service_rows(c, s, rows, base ? base[i] : NULL)) {
			free(rows);
			json_decref(svcs);
			p_err("%s", xlb_errmsg());
			return XLB_EXIT_SYSTEM;
		}
		if (xlb_json)
			json_array_append_new(svcs, rows_json(s, rows));
		else
			print_rows(s, rows, watch);
		if (base) {	/* next interval starts from here */
			service_rows(c, s, rows, NULL);
			free(base[i]);
			base[i] = rows;
		} else {
			free(rows);
		}
	}
	if (xlb_json)
		json_emit(json_pack("{s:I,s:o,s:o}", "generation", (json_int_t)c->live_gen,
				    "services", svcs, "verdicts", reasons_json(c)));
	else {
		json_decref(svcs);
		print_reasons(c);
	}
	return 0;
}

int do_stats(int argc, char **argv)
{
	const char *only = NULL;
	bool watch = false;
	unsigned int count = 0;
	struct be_row **base = NULL;
	struct xlb_ctl c;
	int rc = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--watch"))
			watch = true;
		else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			if (!parse_u32(argv[++i], 1, 1000000, &count))
				return usage_error("stats: --count takes 1..1000000");
		} else if (argv[i][0] != '-' && !only)
			only = argv[i];
		else
			return usage_error("stats: unexpected '%s'", argv[i]);
	}
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	if (only && !xlb_config_service(&c.running, only)) {
		p_err("no service '%s' in the running configuration", only);
		xlb_ctl_close(&c);
		return XLB_EXIT_REFUSED;
	}
	if (!watch) {
		rc = stats_once(&c, only, NULL, false);
		xlb_ctl_close(&c);
		return rc;
	}
	base = calloc(c.running.nr_services + 1, sizeof(*base));
	rc = stats_once(&c, only, base, true);	/* totals so far, then intervals */
	for (unsigned int n = 1; !rc && (!count || n < count); n++) {
		sleep(1);
		if (!xlb_json)
			printf("\033[H\033[2J-- last second (generation %llu)\n",
			       (unsigned long long)c.live_gen);
		rc = stats_once(&c, only, base, true);
		fflush(stdout);
	}
	for (__u32 i = 0; i < c.running.nr_services; i++)
		free(base[i]);
	free(base);
	xlb_ctl_close(&c);
	return rc;
}

int do_table(int argc, char **argv)
{
	static __u32 count[XLB_MAX_BACKENDS];
	const struct xlb_service_conf *s;
	json_t *arr = json_array();
	struct xlb_ctl c;
	__u32 m, *want = NULL, *ids = NULL, *live = NULL;
	bool match = false;
	__u64 fp = 0xcbf29ce484222325ull;	/* FNV-1a 64 */
	char fps[17];
	int idx, rc = 0;

	if (argc != 1)
		return usage_error("table: takes SERVICE");
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	s = xlb_config_service(&c.running, argv[0]);
	if (!s) {
		p_err("no service '%s' in the running configuration", argv[0]);
		rc = XLB_EXIT_REFUSED;
		goto out;
	}
	idx = xlb_assign_service(&c.assign, s->name);
	if (live_counts(&c, idx, count, &m) ||
	    (m && xlb_dp_get_table(&c.dp, c.live_slot, idx, &live, &m))) {
		p_err("%s", xlb_errmsg());
		rc = XLB_EXIT_SYSTEM;
		goto out;
	}
	/* does the data plane hold the table this configuration gives? */
	ids = calloc(s->nr_backends + 1, sizeof(*ids));
	want = malloc(sizeof(*want) * s->table_size);
	for (__u32 j = 0; ids && j < s->nr_backends; j++)
		ids[j] = xlb_assign_id(&c.assign, s->name, &s->backends[j].addr, s->backends[j].family);
	if (live && want && ids && m == s->table_size && !xlb_service_table(s, ids, want))
		match = !memcmp(want, live, sizeof(*want) * m);
	/* the live table's bytes, hashed: equal on every node that agrees on flows */
	for (__u32 i = 0; live && i < m; i++)
		for (int k = 0; k < 4; k++)
			fp = (fp ^ ((live[i] >> (8 * k)) & 0xff)) * 0x100000001b3ull;
	snprintf(fps, sizeof(fps), "%016llx", (unsigned long long)fp);
	if (!xlb_json)
		printf("service %s: table of %u slots (fingerprint %s), %s the configuration "
		       "(generation %llu)\n", s->name, m, fps, match ? "matches" : "DOES NOT MATCH",
		       (unsigned long long)c.live_gen);
	for (__u32 j = 0; j < s->nr_backends; j++) {
		char a[INET6_ADDRSTRLEN], b[41];
		double share = m ? (double)count[ids[j]] / m : 0;

		xlb_addr_str(&s->backends[j].addr, s->backends[j].family, a, sizeof(a));
		bar(share, b, 40);
		if (xlb_json)
			json_array_append_new(arr, json_pack("{s:s,s:i,s:i,s:f}", "backend", a, "id",
							     ids[j], "slots", count[ids[j]], "share", share));
		else
			printf("  %-32s %8u slots %6.2f%% %s\n", a, count[ids[j]], 100 * share, b);
	}
	if (xlb_json) {
		json_emit(json_pack("{s:s,s:i,s:s,s:b,s:I,s:o}", "service", s->name, "table_size", m,
				    "table_fingerprint", fps, "matches_config", match,
				    "generation", (json_int_t)c.live_gen, "backends", arr));
		arr = NULL;
	}
	if (!match && m)
		rc = XLB_EXIT_SYSTEM;
out:
	json_decref(arr);
	free(ids);
	free(want);
	free(live);
	xlb_ctl_close(&c);
	return rc;
}
