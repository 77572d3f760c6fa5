/* xlb stats [SERVICE] [--watch [--count N]] and xlb table SERVICE. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmd.h"
#include "ctl.h"
#include "plan.h"
#include "shares.h"
#include "log.h"
#include "names.h"
#include "netutil.h"

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
			struct be_row *rows, const struct be_row *base, __u32 *moved)
{
	struct xlb_live_table t;
	__u64 flows = 0;
	int err = xlb_live_table_read(&c->dp, c->live_slot, &c->assign, s, &t);

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
		r->table_share = xlb_live_share(&t, r->id);
		flows += r->now.new_flows;
	}
	for (__u32 j = 0; j < s->nr_backends; j++)
		rows[j].flow_share = flows ? (double)rows[j].now.new_flows / flows : 0;
	*moved = t.moved;
	xlb_live_table_free(&t);
	return err;
}

static void print_rows(const struct xlb_service_conf *s, const struct be_row *rows, bool bars,
		       __u32 moved)
{
	char a[INET6_ADDRSTRLEN], b[41];

	printf("service %s (%s port %u): %u of %u table slots moved\n", s->name,
	       xlb_proto_name(s->proto), s->port, moved, s->table_size);
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

static json_t *rows_json(const struct xlb_service_conf *s, const struct be_row *rows,
			 __u32 moved)
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
	return json_pack("{s:s,s:i,s:o}", "service", s->name, "moved_slots", moved,
			 "backends", arr);
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

static json_t *events_json(const struct xlb_ctl *c)
{
	struct xlb_moved_stats ms;
	json_t *o = json_object();
	__u64 n;

	for (__u32 e = 0; e < XLB_EV_MAX; e++) {
		if (!xlb_dp_event(&c->dp, e, &n))
			json_object_set_new(o, xlb_event_names[e], json_integer(n));
	}
	if (!xlb_dp_flood_limited(&c->dp, &n))
		json_object_set_new(o, "flow_not_remembered", json_integer(n));
	if (!xlb_dp_moved_stats(&c->dp, &ms)) {
		json_object_set_new(o, "moved_slot_packets", json_integer(ms.packets));
		json_object_set_new(o, "flow_kept_previous", json_integer(ms.kept));
	}
	return o;
}

static void print_events(const struct xlb_ctl *c)
{
	struct xlb_moved_stats ms;
	__u64 n;

	printf("events:");
	for (__u32 e = 0; e < XLB_EV_MAX; e++) {
		if (!xlb_dp_event(&c->dp, e, &n))
			printf(" %s=%llu", xlb_event_names[e], (unsigned long long)n);
	}
	if (!xlb_dp_flood_limited(&c->dp, &n))
		printf(" flow_not_remembered=%llu", (unsigned long long)n);
	if (!xlb_dp_moved_stats(&c->dp, &ms))
		printf(" moved_slot_packets=%llu flow_kept_previous=%llu",
		       (unsigned long long)ms.packets, (unsigned long long)ms.kept);
	printf("\n");
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
		__u32 moved = 0;

		if (!rows || (only && strcmp(only, s->name))) {
			free(rows);
			continue;
		}
		if (service_rows(c, s, rows, base ? base[i] : NULL, &moved)) {
			free(rows);
			json_decref(svcs);
			p_err("%s", xlb_errmsg());
			return XLB_EXIT_SYSTEM;
		}
		if (xlb_json)
			json_array_append_new(svcs, rows_json(s, rows, moved));
		else
			print_rows(s, rows, watch, moved);
		if (base) {	/* next interval starts from here */
			service_rows(c, s, rows, NULL, &moved);
			free(base[i]);
			base[i] = rows;
		} else {
			free(rows);
		}
	}
	if (xlb_json)
		json_emit(json_pack("{s:I,s:o,s:o,s:o}", "generation", (json_int_t)c->live_gen,
				    "services", svcs, "verdicts", reasons_json(c),
				    "events", events_json(c)));
	else {
		json_decref(svcs);
		print_reasons(c);
		print_events(c);
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
	if (only && !running_service(&c, only)) {
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

/* One backend of `xlb table`: its slots in the live table. */
static void table_row(const struct xlb_live_table *t, const struct xlb_backend_conf *b,
		      __u32 id, json_t *arr)
{
	char a[INET6_ADDRSTRLEN], bars[41];
	double share = xlb_live_share(t, id);

	xlb_addr_str(&b->addr, b->family, a, sizeof(a));
	bar(share, bars, 40);
	if (xlb_json)
		json_array_append_new(arr, json_pack("{s:s,s:i,s:i,s:f}", "backend", a, "id", id,
						     "slots", t->slots[id], "share", share));
	else
		printf("  %-32s %8u slots %6.2f%% %s\n", a, t->slots[id], 100 * share, bars);
}

int do_table(int argc, char **argv)
{
	const struct xlb_service_conf *s;
	struct xlb_live_table t = { 0 };
	json_t *arr = json_array();
	struct xlb_ctl c;
	int rc = 0;

	if (argc != 1)
		return usage_error("table: takes SERVICE");
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	s = running_service(&c, argv[0]);
	if (!s) {
		rc = XLB_EXIT_REFUSED;
		goto out;
	}
	/* does the data plane hold the table this configuration gives? */
	if (xlb_live_table_read(&c.dp, c.live_slot, &c.assign, s, &t)) {
		p_err("%s", xlb_errmsg());
		rc = XLB_EXIT_SYSTEM;
		goto out;
	}
	if (!xlb_json)
		printf("service %s: table of %u slots (fingerprint %s), %s the configuration "
		       "(generation %llu)\n", s->name, t.m, t.fingerprint,
		       t.matches ? "matches" : "DOES NOT MATCH", (unsigned long long)c.live_gen);
	for (__u32 j = 0; j < s->nr_backends; j++)
		table_row(&t, &s->backends[j], xlb_assign_id(&c.assign, s->name,
			  &s->backends[j].addr, s->backends[j].family), arr);
	if (xlb_json) {
		json_emit(json_pack("{s:s,s:i,s:s,s:b,s:I,s:o}", "service", s->name, "table_size", t.m,
				    "table_fingerprint", t.fingerprint, "matches_config", t.matches,
				    "generation", (json_int_t)c.live_gen, "backends", arr));
		arr = NULL;
	}
	if (!t.matches && t.m)
		rc = XLB_EXIT_SYSTEM;
out:
	json_decref(arr);
	xlb_live_table_free(&t);
	xlb_ctl_close(&c);
	return rc;
}
