/* xlb config validate|plan|apply|show|history|rollback|prune. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "change.h"
#include "history.h"
#include "loader.h"
#include "log.h"

static int do_config_validate(int argc, char **argv)
{
	struct xlb_diags d = { .file = argc ? argv[0] : NULL };
	struct xlb_config cfg;
	char fp[17];
	__u32 nb = 0;
	int rc;

	if (argc != 1)
		return usage_error("config validate: takes FILE");
	rc = load_config_file(argv[0], &cfg);
	if (rc)
		return rc;
	if (xlb_config_validate(&cfg, &d)) {
		print_diags(&d);
		rc = XLB_EXIT_REFUSED;
		goto out;
	}
	for (__u32 i = 0; i < cfg.nr_services; i++)
		nb += cfg.services[i].nr_backends;
	xlb_config_fingerprint(&cfg, fp);
	if (xlb_json)
		json_emit(json_pack("{s:s,s:b,s:i,s:i,s:s}", "file", argv[0], "valid", 1,
				    "services", cfg.nr_services, "backends", nb, "fingerprint", fp));
	else
		printf("%s: valid: %u service%s, %u backend%s, fingerprint %s\n", argv[0],
		       cfg.nr_services, cfg.nr_services == 1 ? "" : "s", nb, nb == 1 ? "" : "s", fp);
out:
	xlb_diags_free(&d);
	xlb_config_free(&cfg);
	return rc;
}

static int do_config_plan(int argc, char **argv)
{
	struct xlb_change_result r;
	struct xlb_config cfg;
	struct xlb_ctl c;
	json_t *j;
	int rc;

	if (argc != 1)
		return usage_error("config plan: takes FILE");
	rc = load_config_file(argv[0], &cfg);
	if (rc)
		return rc;
	if ((rc = ctl_open_whole(&c, true))) {
		xlb_config_free(&cfg);
		return xlb_exit_for(rc);
	}
	xlb_change(&c, &(struct xlb_change){ .cfg = &cfg, .dry_run = true, .force = true }, &r);
	if (r.outcome == XLB_CHANGE_PLANNED && xlb_json) {
		j = xlb_plan_to_json(&r.plan);
		json_object_set_new(j, "generation", json_integer(c.live_gen));
		json_emit(j);
		rc = r.plan.refused ? XLB_EXIT_REFUSED : 0;
	} else if (r.outcome == XLB_CHANGE_PLANNED) {
		print_plan(&r.plan, stdout);
		rc = r.plan.refused ? XLB_EXIT_REFUSED : 0;
	} else {
		rc = report_change(&c, &r, argv[0]);
	}
	xlb_change_result_free(&r);
	xlb_ctl_close(&c);
	xlb_config_free(&cfg);
	return rc;
}

static int do_config_apply(int argc, char **argv)
{
	struct xlb_change o = { .source = "apply" };
	struct xlb_config cfg;
	struct xlb_ctl c;
	char hist[sizeof(c.hist)], id[16];
	unsigned int steps;
	long long step_ms;
	bool local = false;
	int rc;

	if (argc < 1 || argv[0][0] == '-')
		return usage_error("config apply: takes FILE [--force] [--reason TEXT] "
				   "[--steps N --step-time DURATION]");
	rc = rollout_opts(&argc, argv, &steps, &step_ms) ?:
	     change_opts(argc, argv, 1, &o, "config apply");
	if (rc)
		return rc;
	rc = load_config_file(argv[0], &cfg);
	if (rc)
		return rc;
	if ((rc = ctl_open_whole(&c, false))) {
		xlb_config_free(&cfg);
		return xlb_exit_for(rc);
	}
	o.cfg = &cfg;
	if ((rc = fleet_guard(&c, o.force, o.reason, &local)))
		goto out;
	if (!o.reason)
		o.reason = argv[0];
	if (steps)
		rc = start_rollout(&c, &cfg, steps, step_ms, o.reason, o.force, argv[0], id,
				   sizeof(id));
	else
		rc = run_change(&c, &o, argv[0]);
	if (!rc && local)
		fleet_record(&c, o.reason);
out:
	snprintf(hist, sizeof(hist), "%s", c.hist);
	xlb_ctl_close(&c);	/* a rollout: the daemon takes it from here, under the lock */
	xlb_config_free(&cfg);
	return steps && !rc ? rollout_started(hist, id) : rc;
}

static int do_config_show(int argc, char **argv)
{
	struct xlb_ctl c;
	char fp[17];
	json_t *j;
	int rc;

	(void)argv;
	if (argc)
		return usage_error("config show: takes no arguments");
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	j = xlb_config_to_json(&c.running);
	json_object_set_new(j, "generation", json_integer(c.live_gen));
	xlb_config_fingerprint(&c.running, fp);
	json_object_set_new(j, "fingerprint", json_string(fp));
	if (!xlb_json)
		xlb_pretty = true;
	json_emit(j);
	xlb_ctl_close(&c);
	return 0;
}

static void print_record(const struct xlb_record *r, bool live)
{
	printf("%-5llu %-4s %-20s %-10s %-9s %-16s %s%s%s\n", (unsigned long long)r->generation,
	       live ? "*" : "", r->time, r->user, r->source, r->fingerprint,
	       r->forced ? "[FORCED] " : "", r->pending ? "[PENDING] " : "", r->reason);
}

/* The rollout a record belongs to ("rollout ID step ..." / "rollout ID rolled back ..."). */
static bool rollout_of(const struct xlb_record *r, char *id, size_t len)
{
	const char *p = r->reason + strlen("rollout ");

	if (strcmp(r->source, "rollout") || strncmp(r->reason, "rollout ", 8))
		return false;
	snprintf(id, len, "%.*s", (int)strcspn(p, " "), p);
	return true;
}

/* A rollout's generations as one change: first..last, steps and its end. */
static void print_rollout_group(const struct xlb_record *recs, __u32 from, __u32 to,
				const char *id)
{
	const char *end = strstr(recs[to].reason, "rolled back") ? "rolled back" : "stepped";

	printf("      rollout %s: generations %llu..%llu, %u generations, %s\n", id,
	       (unsigned long long)recs[from].generation, (unsigned long long)recs[to].generation,
	       to - from + 1, end);
}

static int do_config_history(int argc, char **argv)
{
	char group[32] = "", id[32];
	__u32 group_from = 0;
	struct xlb_record *recs;
	struct xlb_ctl c;
	json_t *arr;
	__u32 n;
	int rc;

	(void)argv;
	if (argc)
		return usage_error("config history: takes no arguments");
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	if ((rc = xlb_history_records(c.hist, &recs, &n))) {
		p_err("%s", xlb_errmsg());
		xlb_ctl_close(&c);
		return xlb_exit_for(rc);
	}
	arr = json_array();
	if (!xlb_json)
		printf("%-5s %-4s %-20s %-10s %-9s %-16s %s\n", "gen", "live", "time", "user",
		       "source", "fingerprint", "reason");
	for (__u32 i = 0; i < n; i++) {
		bool live = recs[i].generation == c.live_gen, in = rollout_of(&recs[i], id, sizeof(id));
		json_t *j = xlb_record_meta_json(&recs[i]);

		json_object_set_new(j, "live", json_boolean(live));
		if (in)
			json_object_set_new(j, "rollout", json_string(id));
		json_array_append_new(arr, j);
		if (xlb_json)
			continue;
		if (group[0] && (!in || strcmp(id, group))) {
			print_rollout_group(recs, group_from, i - 1, group);
			group[0] = '\0';
		}
		if (in && !group[0]) {
			snprintf(group, sizeof(group), "%s", id);
			group_from = i;
		}
		print_record(&recs[i], live);
	}
	if (!xlb_json && group[0])
		print_rollout_group(recs, group_from, n - 1, group);
	for (__u32 i = 0; i < n; i++)
		xlb_record_free(&recs[i]);
	if (xlb_json)
		json_emit(arr);
	else
		json_decref(arr);
	free(recs);
	xlb_ctl_close(&c);
	return 0;
}

/* GEN of `config rollback [GEN] [--force] [--reason TEXT]`: 0 for the previous one. */
static int rollback_args(int argc, char **argv, struct xlb_change *o, __u64 *gen)
{
	int first = 0;

	*gen = 0;
	if (argc && argv[0][0] != '-') {
		char *end;

		*gen = strtoull(argv[0], &end, 10);
		if (*end || !*gen)
			return usage_error("config rollback: GEN is a generation number, not '%s'",
					   argv[0]);
		first = 1;
	}
	return change_opts(argc, argv, first, o, "config rollback");
}

static int do_config_rollback(int argc, char **argv)
{
	struct xlb_change o = { .source = "rollback" };
	struct xlb_record target;
	struct xlb_ctl c;
	char reason[64];
	bool local = false;
	__u64 gen;
	int rc, err;

	if ((rc = rollback_args(argc, argv, &o, &gen)))
		return rc;
	if ((rc = ctl_open_whole(&c, false)))
		return xlb_exit_for(rc);
	if ((rc = fleet_guard(&c, o.force, o.reason, &local))) {
		xlb_ctl_close(&c);
		return rc;
	}
	if (!gen && !(gen = xlb_history_before(c.hist, c.live_gen))) {
		p_err("no earlier generation to roll back to (live: %llu)",
		      (unsigned long long)c.live_gen);
		xlb_ctl_close(&c);
		return XLB_EXIT_REFUSED;
	}
	err = xlb_history_read(c.hist, gen, XLB_RECORD_FULL, &target);
	if (err || target.pending) {
		struct xlb_history_usage u;

		if (err == -EINVAL)
			p_err("%s", xlb_errmsg());
		else if (!xlb_history_usage(c.hist, &u) && u.oldest > gen)
			p_err("no generation %llu in %s: the history keeps the newest %u records "
			      "(\"history\": {\"keep\"}) and begins at generation %llu",
			      (unsigned long long)gen, c.hist,
			      c.running.history_keep ?: XLB_HISTORY_KEEP,
			      (unsigned long long)u.oldest);
		else
			p_err("no applied generation %llu in %s", (unsigned long long)gen, c.hist);
		rc = err == -EINVAL ? XLB_EXIT_SYSTEM : XLB_EXIT_REFUSED;
		goto out;
	}
	snprintf(reason, sizeof(reason), "rollback to generation %llu", (unsigned long long)gen);
	o.cfg = &target.config;
	o.reason = o.reason ?: reason;
	o.prefer = &target.assign;
	rc = run_change(&c, &o, "history record");
	if (!rc && local)
		fleet_record(&c, o.reason);
out:
	xlb_record_free(&target);
	xlb_ctl_close(&c);
	return rc;
}

/*
 * config prune --keep N: delete the oldest records down to N (never the
 * running or the previous generation) and the bodies no record names.  It
 * writes nothing, so it works on a full disk, where every change is refused.
 */
static int do_config_prune(int argc, char **argv)
{
	struct xlb_history_usage u;
	struct xlb_ctl c;
	unsigned int keep;
	int rc, n;

	if (argc != 2 || strcmp(argv[0], "--keep") ||
	    !parse_u32(argv[1], XLB_HISTORY_KEEP_MIN, XLB_HISTORY_KEEP_MAX, &keep))
		return usage_error("config prune: takes --keep N (%d..%d records)",
				   XLB_HISTORY_KEEP_MIN, XLB_HISTORY_KEEP_MAX);
	if ((rc = ctl_open_whole(&c, false)))
		return xlb_exit_for(rc);
	n = xlb_history_prune_now(c.hist, keep, c.live_gen);
	if (n < 0) {
		p_err("cannot prune %s: %s", c.hist, xlb_errmsg());
		xlb_ctl_close(&c);
		return xlb_exit_for(n);
	}
	memset(&u, 0, sizeof(u));
	xlb_history_usage(c.hist, &u);
	if (xlb_json)
		json_emit(json_pack("{s:i,s:i,s:I,s:I}", "pruned", n, "records", u.records,
				    "bytes", (json_int_t)u.bytes, "free_bytes",
				    (json_int_t)u.free_bytes));
	else
		printf("pruned %d records of %s: %u kept (%llu bytes), %llu bytes free\n", n,
		       c.hist, u.records, (unsigned long long)u.bytes,
		       (unsigned long long)u.free_bytes);
	xlb_ctl_close(&c);
	return 0;
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
		{ "prune", do_config_prune },
		{ NULL, NULL },
	};

	return cmd_dispatch(cmds, argc, argv, "config verb");
}
