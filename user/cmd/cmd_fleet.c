/*
 * xlb fleet: the fleet's source of truth in the store (plan, apply, rollback
 * here; status and history in fleetview.c), and check SOURCE..., a read-only
 * audit of the nodes' data planes through their metrics.
 *
 * check: each SOURCE is a node's metrics (http://HOST:PORT[/metrics], or a
 * file the daemon writes with --metrics-file).  Nodes agree when their
 * configurations have the same fingerprint and every service's live table
 * sends every flow to the same backend address (xlb_table_info); the ones
 * that differ from the most common answer are named.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "change.h"
#include "cmd.h"
#include "fleet.h"
#include "fleetsteps.h"
#include "fleetstore.h"
#include "hashkey.h"
#include "log.h"

#define FLEET_MAX_NODES		64

/* The most common value of what(node) among the readable nodes. */
static const char *majority(const struct xlb_fleet_node *nodes, int nr, const char *(*what)(
			    const struct xlb_fleet_node *, const char *), const char *arg)
{
	const char *best = "";
	int best_n = 0;

	for (int i = 0; i < nr; i++) {
		int c = 0;

		if (nodes[i].error[0])
			continue;
		for (int k = 0; k < nr; k++)
			c += !nodes[k].error[0] && !strcmp(what(&nodes[i], arg), what(&nodes[k], arg));
		if (c > best_n) {
			best_n = c;
			best = what(&nodes[i], arg);
		}
	}
	return best;
}

static const char *config_of(const struct xlb_fleet_node *n, const char *unused)
{
	(void)unused;
	return n->config;
}

static int do_fleet_check(int argc, char **argv)
{
	struct xlb_fleet_node *nodes;
	json_t *arr = json_array();
	int unreadable = 0, differ = 0;
	const char *want;

	if (argc < 2 || argc > FLEET_MAX_NODES)
		return usage_error("fleet check: takes 2 to %d SOURCEs (http://HOST:PORT or a "
				   "metrics file)", FLEET_MAX_NODES);
	nodes = calloc(argc, sizeof(*nodes));
	if (!nodes)
		return XLB_EXIT_SYSTEM;
	for (int i = 0; i < argc; i++) {
		nodes[i].source = argv[i];
		xlb_fleet_read(&nodes[i], XLB_FLEET_TIMEOUT_MS);
		unreadable += nodes[i].error[0] != '\0';
	}
	want = majority(nodes, argc, config_of, NULL);
	for (int i = 0; i < argc; i++) {
		struct xlb_fleet_node *n = &nodes[i];
		json_t *o = json_pack("{s:s}", "source", n->source), *bad = json_array();

		if (n->error[0]) {
			json_object_set_new(o, "error", json_string(n->error));
			if (!xlb_json)
				printf("%s: UNREADABLE: %s\n", n->source, n->error);
			json_array_append_new(arr, o);
			json_decref(bad);
			continue;
		}
		if (strcmp(n->config, want))
			json_array_append_new(bad, json_string("configuration"));
		for (unsigned int t = 0; t < n->nr_tables; t++) {
			const char *svc = n->tables[t].service;

			if (strcmp(n->tables[t].fp, majority(nodes, argc, xlb_fleet_table, svc)))
				json_array_append_new(bad, json_pack("s+", "table ", svc));
		}
		differ += json_array_size(bad) > 0;
		json_object_set_new(o, "config_fingerprint", json_string(n->config));
		json_object_set_new(o, "generation", json_integer(n->generation));
		json_object_set_new(o, "agrees", json_boolean(!json_array_size(bad)));
		json_object_set_new(o, "differs_in", bad);
		if (!xlb_json) {
			printf("%s: configuration %s (generation %llu), %u tables: %s", n->source,
			       n->config, n->generation, n->nr_tables,
			       json_array_size(bad) ? "DIFFERS in" : "agrees");
			for (size_t k = 0; k < json_array_size(bad); k++)
				printf("%s %s", k ? "," : "", json_string_value(json_array_get(bad, k)));
			printf("\n");
		}
		json_array_append_new(arr, o);
	}
	if (xlb_json)
		json_emit(json_pack("{s:b,s:o}", "agree", !differ && !unreadable, "nodes", arr));
	else
		json_decref(arr);
	if (!xlb_json)
		printf("%s\n", unreadable ? "some nodes could not be read" :
		       differ ? "the nodes DO NOT agree: a flow may reach another backend through "
				"the nodes named" : "the nodes agree: every flow reaches the same "
				"backend through any of them");
	free(nodes);
	return unreadable ? XLB_EXIT_SYSTEM : differ ? XLB_EXIT_REFUSED : 0;
}

/* ---- plan, apply, rollback: the change path against the fleet's desired configuration ---- */

/* What plan, apply and rollback read first: the store, desired, and its configuration. */
struct fleet_change {
	struct store_args args;
	struct xlb_store_opts o;
	struct xlb_store *s;
	struct xlb_fleet_desired desired;
	struct xlb_config old;		/* desired's configuration (empty when none) */
	bool have_old;
	char key[256];			/* config/FP of desired, for messages */
};

static void fleet_change_close(struct fleet_change *f)
{
	xlb_config_free(&f->old);
	if (f->s)
		xlb_store_close(f->s);
	f->s = NULL;
}

/*
 * Open the store, read desired and its configuration: 0 or the exit status
 * (said).  force: a desired configuration that cannot be read is planned
 * against nothing, with a warning, instead of refusing.
 */
static int fleet_change_open(struct fleet_change *f, bool force)
{
	struct xlb_diags d = { 0 };
	int rc, err;

	memset(&f->old, 0, sizeof(f->old));
	f->have_old = false;
	if ((rc = store_args_open(&f->args, &f->o, &f->s)))
		return rc;
	if ((err = xlb_fleet_read_desired(f->s, f->o.fleet, &f->desired)))
		return store_failed(&f->o, err, "fleet desired record");
	if (!f->desired.generation)
		return 0;
	xlb_fleet_key(f->key, sizeof(f->key), f->o.fleet, "config", f->desired.fingerprint);
	err = xlb_fleet_read_config(f->s, f->o.fleet, &f->desired, &f->old, &d);
	if (!err) {
		f->have_old = true;
		return 0;
	}
	if (d.count) {
		d.file = f->key;
		print_diags(&d);
	}
	xlb_diags_free(&d);
	if (force && (err == -EINVAL || err == -ENOENT || err == -EKEYREJECTED)) {
		pr_warn("the desired generation %llu cannot be read (%s); --force: planning "
			"against nothing\n", (unsigned long long)f->desired.generation, xlb_errmsg());
		return 0;
	}
	if (xlb_exit_for(err) != XLB_EXIT_REFUSED && err != -EKEYREJECTED)
		return store_failed(&f->o, err, "the fleet's desired configuration");
	p_err("cannot plan against the fleet's desired generation %llu, nothing written: %s "
	      "(--force plans against nothing)", (unsigned long long)f->desired.generation,
	      xlb_errmsg());
	rc = XLB_EXIT_REFUSED;
	return rc;
}

/* -j: a refusal is an error object with the plan, on stderr. */
static void json_refusal(const struct xlb_plan *plan)
{
	json_t *e = json_pack("{s:s,s:o}", "error", "refused by the guards; nothing written "
			      "(--force overrides)", "plan", xlb_plan_to_json(plan));

	json_dumpf(e, stderr, JSON_COMPACT);
	fputc('\n', stderr);
	json_decref(e);
}

/* The decision's plan and verdict, when it does not go ahead: the exit status, or -1. */
static int report_decision(const struct fleet_change *f, struct xlb_change_result *r,
			   const char *what)
{
	if (r->planned && !xlb_json)
		print_plan(&r->plan, stdout);
	switch (r->outcome) {
	case XLB_CHANGE_INVALID:
		r->diags.file = what;
		print_diags(&r->diags);
		return XLB_EXIT_REFUSED;
	case XLB_CHANGE_REFUSED:
		if (xlb_json)
			json_refusal(&r->plan);
		else
			p_err("refused by the guards; nothing written (--force overrides)");
		return XLB_EXIT_REFUSED;
	case XLB_CHANGE_UNCHANGED:
		if (xlb_json)
			json_emit(json_pack("{s:b,s:I,s:s,s:o}", "applied", 0, "generation",
					    (json_int_t)f->desired.generation, "fingerprint",
					    r->fingerprint, "plan", xlb_plan_to_json(&r->plan)));
		else
			printf("nothing to do: the fleet's generation %llu has this configuration\n",
			       (unsigned long long)f->desired.generation);
		return XLB_EXIT_OK;
	case XLB_CHANGE_PLANNED:
		return -1;
	default:
		p_err("%s", xlb_errmsg());
		return xlb_change_exit(r);
	}
}

/* Decide cfg against desired, then write it: the exit status. */
static int fleet_write(struct fleet_change *f, const struct xlb_change *ch, const char *what)
{
	struct xlb_fleet_desired out;
	struct xlb_change_result r;
	int rc, err;

	xlb_change_decide(f->have_old ? &f->old : NULL, ch, &r);
	rc = report_decision(f, &r, what);
	if (rc >= 0)
		goto out;
	err = xlb_fleet_write_desired(f->s, f->o.fleet, &f->desired, ch->cfg, ch->source,
				      ch->reason, r.forced, &out);
	if (err == -EINPROGRESS) {	/* it may have landed: never "nothing written" */
		p_err("fleet %s: %s", f->o.fleet, xlb_errmsg());
		rc = XLB_EXIT_SYSTEM;
		goto out;
	}
	if (err) {
		rc = store_failed(&f->o, err, "nothing written");
		goto out;
	}
	rc = XLB_EXIT_OK;
	if (out.confirmed_after[0] && !xlb_json)
		pr_warn("the store failed during the write (%s); desired read back is this "
			"command's record (write_id %s): it was written\n", out.confirmed_after,
			out.write_id);
	if (xlb_json) {
		json_t *j = xlb_fleet_desired_to_json(&out);

		json_object_set_new(j, "confirmed_after", out.confirmed_after[0] ?
				    json_string(out.confirmed_after) : json_null());
		json_object_set_new(j, "applied", json_true());
		json_object_set_new(j, "plan", xlb_plan_to_json(&r.plan));
		json_emit(j);
		goto out;
	}
	if (r.forced)
		pr_warn("guards overridden with --force (recorded in the fleet's history)\n");
	printf("fleet %s: generation %llu is desired (fingerprint %s, replaces %llu); the nodes "
	       "follow: xlb fleet status\n", f->o.fleet, (unsigned long long)out.generation,
	       out.fingerprint, (unsigned long long)out.replaces);
out:
	xlb_change_result_free(&r);
	return rc;
}

static int do_fleet_plan(int argc, char **argv)
{
	struct fleet_change f = { 0 };
	struct xlb_change_result r;
	struct xlb_config cfg;
	json_t *j;
	int rc;

	if ((rc = store_args_take(&argc, argv, &f.args)))
		return rc;
	if (argc != 1)
		return usage_error("fleet plan: takes FILE");
	if ((rc = load_config_file(argv[0], &cfg)))
		return rc;
	if ((rc = fleet_change_open(&f, false)))
		goto out;
	xlb_change_decide(f.have_old ? &f.old : NULL,
			  &(struct xlb_change){ .cfg = &cfg, .dry_run = true, .force = true }, &r);
	if (r.outcome == XLB_CHANGE_PLANNED && xlb_json) {
		j = xlb_plan_to_json(&r.plan);
		json_object_set_new(j, "generation", json_integer(f.desired.generation));
		json_object_set_new(j, "fingerprint", json_string(r.fingerprint));
		json_emit(j);
	} else if (r.outcome == XLB_CHANGE_PLANNED) {
		printf("fleet %s: desired generation %llu%s%s%s, this file %s\n", f.o.fleet,
		       (unsigned long long)f.desired.generation, f.have_old ? " (" : " (none)",
		       f.have_old ? f.desired.fingerprint : "", f.have_old ? ")" : "",
		       r.fingerprint);
		print_plan(&r.plan, stdout);
	}
	rc = r.outcome == XLB_CHANGE_PLANNED ? (r.plan.refused ? XLB_EXIT_REFUSED : 0) :
	     report_decision(&f, &r, argv[0]);
	xlb_change_result_free(&r);
out:
	fleet_change_close(&f);
	xlb_config_free(&cfg);
	return rc;
}

/*
 * A configuration whose hash key is not desired's: a rotation, refused
 * without --force (exit 1, nothing written), for every node refuses a key id
 * it does not hold and withdraws: the whole fleet at once.
 */
static int key_rotation(const struct fleet_change *f, const struct xlb_config *cfg, bool force)
{
	char id[17];

	if (!f->desired.generation)
		return 0;
	xlb_hash_key_id(&cfg->hash_key, id);
	if (!strcmp(id, f->desired.hash_key_id))
		return 0;
	if (force) {
		pr_warn("hash key %s replaces %s (--force): every node without the new key file "
			"refuses this generation and withdraws\n", id[0] ? id : "(none)",
			f->desired.hash_key_id[0] ? f->desired.hash_key_id : "(none)");
		return 0;
	}
	p_err("fleet %s: this configuration's hash key %s is not the desired generation %llu's "
	      "(%s), nothing written: a key rotation. Every node must hold the new key file "
	      "first; a node without it refuses the generation and withdraws (all at once, "
	      "the whole fleet). When every node has it: --force", f->o.fleet,
	      id[0] ? id : "(none)", (unsigned long long)f->desired.generation,
	      f->desired.hash_key_id[0] ? f->desired.hash_key_id : "(none)");
	return XLB_EXIT_REFUSED;
}

/* apply --steps N --step-time D: the rollout's record for the leader, desired as the start. */
static int fleet_apply_stepped(struct fleet_change *f, const struct xlb_change *ch,
			       unsigned int steps, long long step_ms, const char *what)
{
	struct xlb_change_result r;
	char fp[17];
	int rc;

	if (!f->desired.generation || !f->have_old) {
		p_err("fleet %s: a rollout starts from the desired configuration, and %s; nothing "
		      "written (a plain xlb fleet apply first)", f->o.fleet,
		      f->desired.generation ? "it cannot be read" : "the fleet has none yet");
		return XLB_EXIT_REFUSED;
	}
	/* the whole target: valid and planned (the steps are guarded one by one) */
	xlb_change_decide(&f->old, &(struct xlb_change){ .cfg = ch->cfg, .dry_run = true,
							 .force = true }, &r);
	xlb_config_fingerprint(ch->cfg, fp);
	if (r.outcome == XLB_CHANGE_UNCHANGED || !strcmp(fp, f->desired.fingerprint)) {
		p_err("fleet %s: the desired generation %llu has this configuration already: "
		      "nothing to roll out", f->o.fleet, (unsigned long long)f->desired.generation);
		rc = XLB_EXIT_REFUSED;
	} else if (r.outcome != XLB_CHANGE_PLANNED) {
		rc = report_decision(f, &r, what);
	} else {
		if (!xlb_json)
			print_plan(&r.plan, stdout);
		rc = fleetroll_start(f->s, &f->o, &(struct fleetroll_start){
			.desired = &f->desired, .from = &f->old, .target = ch->cfg,
			.steps = steps, .step_ms = step_ms, .reason = ch->reason,
			.force = ch->force });
	}
	xlb_change_result_free(&r);
	return rc;
}

static int do_fleet_apply(int argc, char **argv)
{
	struct xlb_change ch = { .source = "apply" };
	struct fleet_change f = { 0 };
	struct xlb_config cfg;
	unsigned int steps;
	long long step_ms;
	int rc;

	if ((rc = store_args_take(&argc, argv, &f.args)) ||
	    (rc = rollout_opts(&argc, argv, &steps, &step_ms)))
		return rc;
	if (argc < 1 || argv[0][0] == '-')
		return usage_error("fleet apply: takes FILE [--steps N --step-time D] [--force] "
				   "[--reason TEXT]");
	if ((rc = change_opts(argc, argv, 1, &ch, "fleet apply")))
		return rc;
	if ((rc = load_config_file(argv[0], &cfg)))
		return rc;
	ch.cfg = &cfg;
	ch.reason = ch.reason ?: argv[0];
	rc = fleet_change_open(&f, ch.force && !steps) ?: key_rotation(&f, &cfg, ch.force) ?:
	     fleetroll_guard(f.s, &f.o, "fleet apply") ?:
	     (steps ? fleet_apply_stepped(&f, &ch, steps, step_ms, argv[0]) :
	      fleet_write(&f, &ch, argv[0]));
	fleet_change_close(&f);
	xlb_config_free(&cfg);
	return rc;
}

/* The history record of generation gen into *rec: 0 or the exit status (said). */
static int find_record(struct fleet_change *f, __u64 gen, struct xlb_fleet_desired *rec)
{
	struct xlb_fleet_desired *recs;
	size_t nr;
	int err;

	if ((err = xlb_fleet_read_history(f->s, f->o.fleet, &recs, &nr)))
		return store_failed(&f->o, err, "fleet history");
	for (size_t i = 0; i < nr; i++)
		if (recs[i].generation == gen)
			*rec = recs[i];
	free(recs);
	if (rec->generation == gen)
		return 0;
	p_err("fleet %s has no generation %llu in its history (see xlb fleet history)",
	      f->o.fleet, (unsigned long long)gen);
	return XLB_EXIT_REFUSED;
}

/* GEN of rollback [GEN] [--force] [--reason TEXT]: 0 for the one desired replaced. */
static int fleet_rollback_args(int argc, char **argv, struct xlb_change *ch, __u64 *gen)
{
	int first = 0;

	*gen = 0;
	if (argc && argv[0][0] != '-') {
		char *end;

		errno = 0;
		*gen = strtoull(argv[0], &end, 10);
		if (errno || *end || !*gen || argv[0][0] == '+')
			return usage_error("fleet rollback: GEN is a generation number, not '%s'",
					   argv[0]);
		first = 1;
	}
	return change_opts(argc, argv, first, ch, "fleet rollback");
}

static int do_fleet_rollback(int argc, char **argv)
{
	struct xlb_change ch = { .source = "rollback" };
	struct xlb_fleet_desired target = { 0 };
	struct fleet_change f = { 0 };
	struct xlb_diags d = { 0 };
	struct xlb_config cfg = { 0 };
	char reason[64], key[256];
	__u64 gen;
	int rc, err;

	if ((rc = store_args_take(&argc, argv, &f.args)) ||
	    (rc = fleet_rollback_args(argc, argv, &ch, &gen)))
		return rc;
	if ((rc = fleet_change_open(&f, ch.force)) ||
	    (rc = fleetroll_guard(f.s, &f.o, "fleet rollback")))
		goto out;
	if (!f.desired.generation || (!gen && !f.desired.replaces)) {
		p_err("fleet %s: %s: nothing to roll back to", f.o.fleet, !f.desired.generation ?
		      "no desired configuration yet" : "the desired generation is the first");
		rc = XLB_EXIT_REFUSED;
		goto out;
	}
	gen = gen ?: f.desired.replaces;
	if ((rc = find_record(&f, gen, &target)))
		goto out;
	xlb_fleet_key(key, sizeof(key), f.o.fleet, "config", target.fingerprint);
	if ((err = xlb_fleet_read_config(f.s, f.o.fleet, &target, &cfg, &d))) {
		d.file = key;
		if (d.count)
			print_diags(&d);
		rc = store_failed(&f.o, err, "the configuration of the generation rolled back to");
		goto out;
	}
	snprintf(reason, sizeof(reason), "rollback to generation %llu", (unsigned long long)gen);
	ch.cfg = &cfg;
	ch.reason = ch.reason ?: reason;
	rc = fleet_write(&f, &ch, key);
out:
	xlb_diags_free(&d);
	xlb_config_free(&cfg);
	fleet_change_close(&f);
	return rc;
}

/* forget NODE: a member gone for good, refused while it has a live status record. */
static int do_fleet_forget(int argc, char **argv)
{
	struct store_args a;
	struct xlb_store_opts o;
	struct xlb_store *s;
	json_t *member = NULL;
	int rc, err;

	if ((rc = store_args_take(&argc, argv, &a)))
		return rc;
	if (argc != 1 || !xlb_store_name_ok(argv[0]))
		return usage_error("fleet forget: takes NODE (a node name: 1 to 63 of A-Z a-z 0-9 "
				   "_ . -)");
	if ((rc = store_args_open(&a, &o, &s)))
		return rc;
	err = xlb_fleet_forget(s, o.fleet, argv[0], &member);
	if (err == -EBUSY || err == -ENOENT) {
		p_err("fleet forget %s: %s; nothing deleted", argv[0], xlb_errmsg());
		rc = XLB_EXIT_REFUSED;
	} else if (err) {
		rc = store_failed(&o, err, "fleet forget");
	} else if (xlb_json) {
		json_emit(json_pack("{s:s,s:s,s:O?}", "fleet", o.fleet, "forgotten", argv[0],
				    "member", member));
	} else {
		printf("fleet %s: node %s forgotten (last seen %s, generation %lld)\n", o.fleet,
		       argv[0], json_string_value(json_object_get(member, "last_seen")) ?: "?",
		       (long long)json_integer_value(json_object_get(member, "generation")));
	}
	json_decref(member);
	xlb_store_close(s);
	return rc;
}

int do_fleet(int argc, char **argv)
{
	static const struct cmd verbs[] = {
		{ "check", do_fleet_check },
		{ "plan", do_fleet_plan },
		{ "apply", do_fleet_apply },
		{ "rollback", do_fleet_rollback },
		{ "status", do_fleet_status },
		{ "history", do_fleet_history },
		{ "forget", do_fleet_forget },
		{ "rollout", do_fleet_rollout },
		{ NULL, NULL },
	};

	return cmd_dispatch(verbs, argc, argv, "fleet verb");
}
