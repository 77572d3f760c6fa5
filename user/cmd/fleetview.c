/*
 * xlb fleet status and xlb fleet history: what the store says of the fleet
 * (status names its leader; history merges the generations with the
 * decisions recorded in decide/events, in the store's order of writes).
 * status exits 0 when at least one node is live and every live node runs
 * the desired generation (its configuration, its hash key, no local change
 * forced) and no member is lost, 1 naming the ones that do not (a member
 * without a live status record is lost: cut off, or stopped; or when the
 * fleet has no desired configuration or no live node), 2 when the store
 * cannot be read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "fleetstore.h"
#include "log.h"

static const char *str_of(json_t *o, const char *field)
{
	return json_string_value(json_object_get(o, field)) ?: "";
}

static const char *yes_no(json_t *o, const char *field)
{
	json_t *v = json_object_get(o, field);

	return json_is_boolean(v) ? (json_is_true(v) ? "yes" : "no") : "?";
}

/* A problem of a node, appended to its "problems". */
static void add_problem(json_t *problems, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void add_problem(json_t *problems, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(problems, json_string(msg));
}

/* What makes n differ from the desired record (problems), and whether it runs it. */
static bool judge_node(json_t *n, const struct xlb_fleet_desired *d, json_t *problems)
{
	json_t *refused = json_object_get(n, "refused"), *local = json_object_get(n, "local_change");
	__s64 gen = json_integer_value(json_object_get(n, "generation"));
	const char *fp = str_of(n, "fingerprint"), *key = str_of(n, "hash_key_id");
	bool ok = d->generation && gen == (__s64)d->generation;

	if (!json_is_integer(json_object_get(n, "generation")))
		add_problem(problems, "its record has no generation");
	else if (gen < (__s64)d->generation)
		add_problem(problems, "behind: runs generation %lld of %llu", (long long)gen,
			    (unsigned long long)d->generation);
	else if (gen > (__s64)d->generation)
		add_problem(problems, "runs generation %lld, newer than the desired %llu",
			    (long long)gen, (unsigned long long)d->generation);
	if (ok && fp[0] && strcmp(fp, d->fingerprint)) {
		add_problem(problems, "runs configuration %s, not the desired %s", fp,
			    d->fingerprint);
		ok = false;
	}
	if (ok && json_is_string(json_object_get(n, "hash_key_id")) && strcmp(key, d->hash_key_id)) {
		add_problem(problems, "holds hash key id %s, the fleet's is %s", key[0] ? key :
			    "(none)", d->hash_key_id[0] ? d->hash_key_id : "(none)");
		ok = false;
	}
	if (json_is_object(refused))
		add_problem(problems, "refused generation %lld: %s",
			    (long long)json_integer_value(json_object_get(refused, "generation")),
			    str_of(refused, "why"));
	if (json_is_string(json_object_get(n, "error")))
		add_problem(problems, "error: %s", str_of(n, "error"));
	if (json_is_object(local)) {
		add_problem(problems, "local change forced by %s at %s: %s", str_of(local, "who"),
			    str_of(local, "when"), str_of(local, "reason"));
		ok = false;
	}
	if (json_is_string(json_object_get(n, "store_lost_since")))
		add_problem(problems, "store unreachable since %s", str_of(n, "store_lost_since"));
	return ok;
}

static void print_node(json_t *n)
{
	json_t *age = json_object_get(n, "lease_age_ms"), *problems = json_object_get(n, "problems");
	char agebuf[32] = "?", lag[24] = "?";

	if (json_is_integer(age))
		snprintf(agebuf, sizeof(agebuf), "%.1fs", json_integer_value(age) / 1000.0);
	if (json_is_integer(json_object_get(n, "lag")))
		snprintf(lag, sizeof(lag), "%lld",
			 (long long)json_integer_value(json_object_get(n, "lag")));
	printf("%-16s %-6lld %-4s %-9s %-8s %-10s ", str_of(n, "node"),
	       (long long)json_integer_value(json_object_get(n, "generation")), lag, agebuf,
	       yes_no(n, "attached"), yes_no(n, "announcing"));
	if (!json_array_size(problems))
		printf("-\n");
	for (size_t i = 0; i < json_array_size(problems); i++)
		printf("%s%s", json_string_value(json_array_get(problems, i)),
		       i + 1 < json_array_size(problems) ? "; " : "\n");
}

/*
 * Every member (members/NODE) without a status record: lost, appended to
 * nodes with what its member record says (its status expired with its lease).
 */
static void add_lost(json_t *nodes, json_t *members)
{
	json_t *m, *n;
	size_t i, k;

	json_array_foreach(members, i, m) {
		const char *name = str_of(m, "node");
		bool live = false;

		json_array_foreach(nodes, k, n)
			live |= !strcmp(str_of(n, "node"), name);
		if (live)
			continue;
		n = json_deep_copy(m);
		json_object_set_new(n, "lost", json_true());
		json_object_set_new(n, "lease_age_ms", json_null());
		json_array_append_new(nodes, n);
	}
}

/* Judge every node; the names of those that do not run the desired generation. */
static json_t *judge_nodes(json_t *nodes, const struct xlb_fleet_desired *d)
{
	json_t *bad = json_array(), *n;
	size_t i;

	json_array_foreach(nodes, i, n) {
		json_t *problems = json_array();
		bool lost = json_is_true(json_object_get(n, "lost"));
		bool ok = !lost && judge_node(n, d, problems);

		if (lost)
			add_problem(problems, "lost: no status since %s (lease expired)",
				    str_of(n, "last_seen")[0] ? str_of(n, "last_seen") : "?");

		if (json_is_integer(json_object_get(n, "generation")))
			json_object_set_new(n, "lag", json_integer((json_int_t)d->generation -
				json_integer_value(json_object_get(n, "generation"))));
		json_object_set_new(n, "problems", problems);
		json_object_set_new(n, "runs_desired", json_boolean(ok));
		if (!ok)
			json_array_append_new(bad, json_string(str_of(n, "node")));
	}
	return bad;
}

static size_t nr_live(json_t *nodes)
{
	size_t i, live = 0;
	json_t *n;

	json_array_foreach(nodes, i, n)
		live += !json_is_true(json_object_get(n, "lost"));
	return live;
}

static void print_leader(json_t *leader)
{
	if (leader)
		printf("leader: %s (term %lld, since %s)\n", str_of(leader, "node"),
		       (long long)json_integer_value(json_object_get(leader, "term")),
		       str_of(leader, "since"));
	else
		printf("leader: none (no daemon leads the fleet now)\n");
}

static void print_status(const struct xlb_store_opts *o, const struct xlb_fleet_desired *d,
			 json_t *leader, json_t *nodes, json_t *bad)
{
	size_t live = nr_live(nodes);
	size_t i;
	json_t *n;

	if (d->generation)
		printf("fleet %s: desired generation %llu (fingerprint %s, %s by %s at %s%s)\n",
		       o->fleet, (unsigned long long)d->generation, d->fingerprint, d->source,
		       d->who, d->when, d->forced ? ", FORCED" : "");
	else
		printf("fleet %s: no desired configuration yet (xlb fleet apply FILE)\n", o->fleet);
	print_leader(leader);
	printf("%-16s %-6s %-4s %-9s %-8s %-10s %s\n", "node", "gen", "lag", "lease-age",
	       "attached", "announcing", "problems");
	json_array_foreach(nodes, i, n)
		print_node(n);
	if (!live)
		printf("no node of fleet %s is live\n", o->fleet);
	if (live && !json_array_size(bad) && d->generation)
		printf("all %zu live nodes run the desired generation %llu\n", live,
		       (unsigned long long)d->generation);
	else if (json_array_size(bad)) {
		printf("%zu of %zu nodes (%zu live, %zu lost) do not run the desired generation:",
		       json_array_size(bad), json_array_size(nodes), live,
		       json_array_size(nodes) - live);
		json_array_foreach(bad, i, n)
			printf("%s %s", i ? "," : "", json_string_value(n));
		printf("\n");
	}
}

int do_fleet_status(int argc, char **argv)
{
	struct xlb_fleet_desired d;
	struct store_args a;
	struct xlb_store_opts o;
	struct xlb_store *s;
	json_t *nodes = NULL, *members = NULL, *leader = NULL, *bad;
	int rc, err;

	if ((rc = store_args_take(&argc, argv, &a)))
		return rc;
	if (argc)
		return usage_error("fleet status: takes no arguments but the store's");
	if ((rc = store_args_open(&a, &o, &s)))
		return rc;
	err = xlb_fleet_read_desired(s, o.fleet, &d);
	if (err) {
		rc = store_failed(&o, err, "fleet desired record");
		goto out;
	}
	if ((err = xlb_fleet_read_nodes(s, o.fleet, &nodes)) ||
	    (err = xlb_fleet_read_members(s, o.fleet, &members)) ||
	    (err = xlb_fleet_read_leader(s, o.fleet, &leader))) {
		rc = store_failed(&o, err, "fleet nodes");
		goto out;
	}
	add_lost(nodes, members);
	bad = judge_nodes(nodes, &d);
	rc = d.generation && nr_live(nodes) && !json_array_size(bad) ? 0 : XLB_EXIT_REFUSED;
	if (xlb_json)
		json_emit(json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:b}", "fleet", o.fleet, "store",
				    xlb_store_endpoint(s), "desired", d.generation ?
				    xlb_fleet_desired_to_json(&d) : json_null(), "leader",
				    leader ? json_incref(leader) : json_null(), "nodes",
				    json_incref(nodes), "not_running_desired", json_incref(bad),
				    "converged", rc == 0));
	else
		print_status(&o, &d, leader, nodes, bad);
	json_decref(bad);
out:
	json_decref(nodes);
	json_decref(members);
	json_decref(leader);
	xlb_store_close(s);
	return rc;
}

/* One line of the history: when, kind, node, what, why. */
static void print_line(const char *when, const char *kind, const char *node, const char *what,
		       const char *why)
{
	printf("%-24s %-9s %-16s %s%s%s\n", when, kind, node, what, why[0] ? "; why: " : "", why);
}

static void print_generation(const struct xlb_fleet_desired *r, __u64 desired)
{
	char what[160];

	snprintf(what, sizeof(what), "generation %llu, configuration %s%s%s",
		 (unsigned long long)r->generation, r->fingerprint,
		 r->generation == desired ? " (desired)" : "", r->forced ? " [FORCED]" : "");
	print_line(r->when, r->source, r->who, what, r->reason);
}

static void print_event(json_t *e)
{
	char what[600];

	if (json_object_get(e, "error")) {
		snprintf(what, sizeof(what), "event %s: %s", str_of(e, "id"), str_of(e, "error"));
		return print_line("?", "?", "?", what, "");
	}
	snprintf(what, sizeof(what), "%s (term %lld)", str_of(e, "what"),
		 (long long)json_integer_value(json_object_get(e, "term")));
	print_line(str_of(e, "when"), str_of(e, "kind"), str_of(e, "node"), what, str_of(e, "why"));
}

/* The generations and the decisions, one line each, merged in the store's order of writes. */
static void print_history(const struct xlb_fleet_desired *recs, size_t nr, json_t *events,
			  __u64 desired)
{
	size_t g = 0, e = 0, ne = json_array_size(events);

	print_line("when", "kind", "node", "what", "");
	while (g < nr || e < ne) {
		json_t *ev = json_array_get(events, e);
		__s64 erev = json_integer_value(json_object_get(ev, "revision"));

		if (g < nr && (e >= ne || recs[g].mod_rev <= erev))
			print_generation(&recs[g++], desired);
		else
			print_event(json_array_get(events, e++));
	}
}

int do_fleet_history(int argc, char **argv)
{
	struct xlb_fleet_desired d, *recs = NULL;
	struct store_args a;
	struct xlb_store_opts o;
	struct xlb_store *s;
	json_t *arr, *events = NULL;
	size_t nr = 0;
	int rc, err;

	if ((rc = store_args_take(&argc, argv, &a)))
		return rc;
	if (argc)
		return usage_error("fleet history: takes no arguments but the store's");
	if ((rc = store_args_open(&a, &o, &s)))
		return rc;
	if ((err = xlb_fleet_read_desired(s, o.fleet, &d)) ||
	    (err = xlb_fleet_read_history(s, o.fleet, &recs, &nr)) ||
	    (err = xlb_fleet_read_events(s, o.fleet, &events))) {
		rc = store_failed(&o, err, "fleet history");
		goto out;
	}
	if (!xlb_json) {
		print_history(recs, nr, events, d.generation);
		goto out;
	}
	arr = json_array();
	for (size_t i = 0; i < nr; i++) {
		json_t *j = xlb_fleet_desired_to_json(&recs[i]);

		json_object_set_new(j, "desired", json_boolean(recs[i].generation == d.generation));
		json_object_set_new(j, "revision", json_integer(recs[i].mod_rev));
		json_array_append_new(arr, j);
	}
	json_emit(json_pack("{s:s,s:o,s:O}", "fleet", o.fleet, "generations", arr, "events",
			    events));
out:
	json_decref(events);
	free(recs);
	xlb_store_close(s);
	return rc;
}
