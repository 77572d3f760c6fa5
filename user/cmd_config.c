/* xlb config validate|plan|apply|show|history|rollback. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "commit.h"
#include "history.h"
#include "loader.h"
#include "log.h"

const char *xlb_state_root = XLB_STATE_DEFAULT;
const char *xlb_dev;

/* Open the (only, or --dev) attached interface's state. */
int ctl_open(struct xlb_ctl *c, bool readonly)
{
	char dev[IF_NAMESIZE];
	int err = xlb_resolve_dev(xlb_dev, dev, sizeof(dev)) ?:
		  xlb_ctl_open(dev, xlb_state_root, readonly, c);

	if (err)
		p_err("%s", xlb_errmsg());
	return err;
}

/* Parse and validate a file; prints every error.  0, or an exit status. */
static int load_valid(const char *file, struct xlb_config *cfg)
{
	struct xlb_diags d = { 0 };
	int err = xlb_config_load(file, cfg, &d);

	if (!err)
		err = xlb_config_validate(cfg, &d);
	if (err) {
		d.file = file;
		xlb_diags_print(&d);
		xlb_diags_free(&d);
		xlb_config_free(cfg);
		return XLB_EXIT_REFUSED;
	}
	xlb_diags_free(&d);
	return 0;
}

static int do_config_validate(int argc, char **argv)
{
	struct xlb_config cfg;
	char fp[17];
	__u32 nb = 0;
	int rc;

	if (argc != 1)
		return usage_error("config validate: takes FILE");
	rc = load_valid(argv[0], &cfg);
	if (rc)
		return rc;
	for (__u32 i = 0; i < cfg.nr_services; i++)
		nb += cfg.services[i].nr_backends;
	xlb_config_fingerprint(&cfg, fp);
	if (xlb_json)
		json_emit(json_pack("{s:s,s:b,s:i,s:i,s:s}", "file", argv[0], "valid", 1,
				    "services", cfg.nr_services, "backends", nb, "fingerprint", fp));
	else
		printf("%s: valid: %u service%s, %u backend%s, fingerprint %s\n", argv[0],
		       cfg.nr_services, cfg.nr_services == 1 ? "" : "s", nb, nb == 1 ? "" : "s", fp);
	xlb_config_free(&cfg);
	return 0;
}

/* Plan cfg against the running configuration and print it. */
static int show_plan(struct xlb_ctl *c, const struct xlb_config *cfg, struct xlb_plan *plan,
		     json_t **json_out)
{
	int err = xlb_plan_build(&c->running, cfg, plan);

	if (err) {
		p_err("cannot plan: %s", strerror(-err));
		return XLB_EXIT_SYSTEM;
	}
	if (json_out)
		*json_out = xlb_plan_to_json(plan);
	else if (!xlb_json)
		xlb_plan_print(plan, stdout);
	return 0;
}

static int do_config_plan(int argc, char **argv)
{
	struct xlb_config cfg;
	struct xlb_plan plan;
	struct xlb_ctl c;
	json_t *j = NULL;
	int rc;

	if (argc != 1)
		return usage_error("config plan: takes FILE");
	rc = load_valid(argv[0], &cfg);
	if (rc)
		return rc;
	if ((rc = ctl_open(&c, true))) {
		xlb_config_free(&cfg);
		return xlb_exit_for(rc);
	}
	rc = show_plan(&c, &cfg, &plan, xlb_json ? &j : NULL);
	if (!rc) {
		if (j) {
			json_object_set_new(j, "generation", json_integer(c.live_gen));
			json_emit(j);
		}
		rc = plan.refused ? XLB_EXIT_REFUSED : 0;
		xlb_plan_free(&plan);
	}
	xlb_ctl_close(&c);
	xlb_config_free(&cfg);
	return rc;
}

/* Everything a change needs after its configuration is built. */
int apply_change(struct xlb_ctl *c, const struct xlb_config *cfg,
		 const struct xlb_apply_opts *opts)
{
	struct xlb_apply_result res;
	struct xlb_plan plan;
	json_t *j = NULL;
	int rc, err;

	rc = show_plan(c, cfg, &plan, xlb_json ? &j : NULL);
	if (rc)
		return rc;
	err = xlb_apply(c, cfg, &plan, opts, &res);
	if (err == -EPERM) {
		if (xlb_json) {
			json_t *e = json_pack("{s:s,s:o}", "error", "refused by the guards; --force "
					      "overrides", "plan", j);

			json_dumpf(e, stderr, JSON_COMPACT);
			fputc('\n', stderr);
			json_decref(e);
			j = NULL;
		} else {
			p_err("refused by the guards; nothing applied (--force overrides)");
		}
		rc = XLB_EXIT_REFUSED;
	} else if (err) {
		p_err("%s; the running configuration (generation %llu) is unchanged", xlb_errmsg(),
		      (unsigned long long)c->live_gen);
		rc = xlb_exit_for(err) == XLB_EXIT_REFUSED ? XLB_EXIT_REFUSED : XLB_EXIT_SYSTEM;
	} else if (xlb_json) {
		json_emit(json_pack("{s:b,s:I,s:s,s:b,s:o}", "applied", res.applied, "generation",
				    (json_int_t)(res.applied ? res.generation : c->live_gen),
				    "fingerprint", res.fingerprint, "forced",
				    res.applied && opts->force && plan.refused, "plan", j));
		j = NULL;
	} else if (!res.applied) {
		printf("nothing to apply: generation %llu already has this configuration\n",
		       (unsigned long long)c->live_gen);
	} else {
		if (opts->force && plan.refused)
			pr_warn("guards overridden with --force (recorded in the history)\n");
		printf("applied generation %llu (fingerprint %s)\n",
		       (unsigned long long)res.generation, res.fingerprint);
	}
	json_decref(j);
	xlb_plan_free(&plan);
	return rc;
}

/* Options shared by apply and rollback: --force, --reason TEXT. */
static int change_opts(int argc, char **argv, int first, struct xlb_apply_opts *o,
		       const char *verb)
{
	for (int i = first; i < argc; i++) {
		if (!strcmp(argv[i], "--force"))
			o->force = true;
		else if (!strcmp(argv[i], "--reason") && i + 1 < argc)
			o->reason = argv[++i];
		else
			return usage_error("%s: unexpected '%s'", verb, argv[i]);
	}
	return 0;
}

static int do_config_apply(int argc, char **argv)
{
	struct xlb_apply_opts o = { .source = "apply" };
	struct xlb_config cfg;
	struct xlb_ctl c;
	int rc;

	if (argc < 1 || argv[0][0] == '-')
		return usage_error("config apply: takes FILE [--force] [--reason TEXT]");
	rc = change_opts(argc, argv, 1, &o, "config apply");
	if (rc)
		return rc;
	rc = load_valid(argv[0], &cfg);
	if (rc)
		return rc;
	if ((rc = ctl_open(&c, false))) {
		xlb_config_free(&cfg);
		return xlb_exit_for(rc);
	}
	if (!o.reason)
		o.reason = argv[0];
	rc = apply_change(&c, &cfg, &o);
	xlb_ctl_close(&c);
	xlb_config_free(&cfg);
	return rc;
}

static int do_config_show(int argc, char **argv)
{
	struct xlb_ctl c;
	json_t *j;
	int rc;

	(void)argv;
	if (argc)
		return usage_error("config show: takes no arguments");
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	j = xlb_config_to_json(&c.running);
	json_object_set_new(j, "generation", json_integer(c.live_gen));
	if (!xlb_json)
		xlb_pretty = true;
	json_emit(j);
	xlb_ctl_close(&c);
	return 0;
}

static int do_config_history(int argc, char **argv)
{
	struct xlb_ctl c;
	json_t *arr;
	__u64 *gens;
	__u32 n;
	int rc;

	(void)argv;
	if (argc)
		return usage_error("config history: takes no arguments");
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	arr = json_array();
	xlb_history_list(c.hist, &gens, &n);
	if (!xlb_json)
		printf("%-5s %-4s %-20s %-10s %-9s %-16s %s\n", "gen", "live", "time", "user",
		       "source", "fingerprint", "reason");
	for (__u32 i = 0; i < n; i++) {
		json_t *r = xlb_history_load(c.hist, gens[i]);

		if (!r)
			continue;
		json_object_del(r, "config");
		json_object_del(r, "assignment");
		json_object_set_new(r, "live", json_boolean(gens[i] == c.live_gen));
		if (!xlb_json)
			printf("%-5llu %-4s %-20s %-10s %-9s %-16s %s%s%s\n",
			       (unsigned long long)gens[i], gens[i] == c.live_gen ? "*" : "",
			       json_string_value(json_object_get(r, "time")),
			       json_string_value(json_object_get(r, "user")),
			       json_string_value(json_object_get(r, "source")),
			       json_string_value(json_object_get(r, "fingerprint")),
			       json_is_true(json_object_get(r, "forced")) ? "[FORCED] " : "",
			       json_is_true(json_object_get(r, "pending")) ? "[PENDING] " : "",
			       json_string_value(json_object_get(r, "reason")));
		json_array_append_new(arr, r);
	}
	if (xlb_json)
		json_emit(arr);
	else
		json_decref(arr);
	free(gens);
	xlb_ctl_close(&c);
	return 0;
}

/* The generation before the live one that has a record. */
static __u64 previous_gen(const struct xlb_ctl *c)
{
	__u64 *gens, prev = 0;
	__u32 n;

	if (xlb_history_list(c->hist, &gens, &n))
		return 0;
	for (__u32 i = 0; i < n; i++)
		if (gens[i] < c->live_gen)
			prev = gens[i];
	free(gens);
	return prev;
}

static int do_config_rollback(int argc, char **argv)
{
	struct xlb_apply_opts o = { .source = "rollback" };
	struct xlb_diags d = { 0 };
	struct xlb_assign target_assign;
	struct xlb_config cfg;
	struct xlb_ctl c;
	unsigned long long gen = 0;
	char reason[64];
	json_t *rec;
	int rc, first = 0;

	if (argc && argv[0][0] != '-') {
		char *end;

		gen = strtoull(argv[0], &end, 10);
		if (*end || !gen)
			return usage_error("config rollback: GEN is a generation number, not '%s'",
					   argv[0]);
		first = 1;
	}
	rc = change_opts(argc, argv, first, &o, "config rollback");
	if (rc)
		return rc;
	if ((rc = ctl_open(&c, false)))
		return xlb_exit_for(rc);
	if (!gen)
		gen = previous_gen(&c);
	if (!gen) {
		xlb_ctl_close(&c);
		p_err("no earlier generation to roll back to (live: %llu)",
		      (unsigned long long)c.live_gen);
		return XLB_EXIT_REFUSED;
	}
	rec = xlb_history_load(c.hist, gen);
	if (!rec || json_is_true(json_object_get(rec, "pending"))) {
		p_err("no applied generation %llu in %s", gen, c.hist);
		json_decref(rec);
		xlb_ctl_close(&c);
		return XLB_EXIT_REFUSED;
	}
	if (xlb_config_from_json(json_object_get(rec, "config"), &cfg, &d) ||
	    xlb_config_validate(&cfg, &d) ||
	    xlb_assign_from_json(json_object_get(rec, "assignment"), &target_assign)) {
		d.file = "history record";
		xlb_diags_print(&d);
		p_err("history record %llu is damaged", gen);
		rc = XLB_EXIT_SYSTEM;
	} else {
		snprintf(reason, sizeof(reason), "rollback to generation %llu", gen);
		if (!o.reason)
			o.reason = reason;
		o.prefer = &target_assign;
		rc = apply_change(&c, &cfg, &o);
		xlb_assign_free(&target_assign);
	}
	xlb_config_free(&cfg);
	xlb_diags_free(&d);
	json_decref(rec);
	xlb_ctl_close(&c);
	return rc;
}

int do_config(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "validate", do_config_validate },
		{ "plan", do_config_plan },
		{ "apply", do_config_apply },
		{ "show", do_config_show },
		{ "history", do_config_history },
		{ "rollback", do_config_rollback },
		{ NULL, NULL },
	};

	return cmd_dispatch(cmds, argc, argv, "config verb");
}
