/*
 * What the verb files share: the global options, the command grammar's
 * helpers, opening the attached interface, and the report of a change.
 * Verb files (cmd_*.c) use these and the printers (print.c, stepped.c),
 * never each other.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "ctl.h"
#include "fleetfile.h"
#include "change.h"
#include "history.h"
#include "loader.h"
#include "log.h"

const char *xlb_state_root = XLB_STATE_DEFAULT;
const char *xlb_dev;

static int open_dev(struct xlb_ctl *c, bool readonly, bool lost_ok)
{
	char dev[IF_NAMESIZE];
	int err = xlb_resolve_dev(xlb_dev, dev, sizeof(dev));

	err = err ?: lost_ok ? xlb_ctl_open_lost_ok(dev, xlb_state_root, readonly, c) :
	      xlb_ctl_open(dev, xlb_state_root, readonly, c);
	if (err)
		p_err("%s", xlb_errmsg());
	return err;
}

/* Open the (only, or --dev) attached interface's state. */
int ctl_open(struct xlb_ctl *c, bool readonly)
{
	return open_dev(c, readonly, false);
}

const struct xlb_service_conf *running_service(const struct xlb_ctl *c, const char *name)
{
	const struct xlb_service_conf *s = xlb_config_service(&c->running, name);

	if (!s)
		p_err("no service '%s' in the running configuration", name);
	return s;
}

/* The same for a whole configuration: a lost running record does not stop it. */
int ctl_open_whole(struct xlb_ctl *c, bool readonly)
{
	return open_dev(c, readonly, true);
}

int usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p_err("%s (see 'xlb help')", msg);
	return XLB_EXIT_REFUSED;
}

void json_emit(json_t *o)
{
	json_dumpf(o, stdout, xlb_pretty ? JSON_INDENT(2) : JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(o);
}

bool parse_u32(const char *s, unsigned int min, unsigned int max, unsigned int *out)
{
	unsigned long v;
	char *end;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int cmd_dispatch(const struct cmd *cmds, int argc, char **argv, const char *what)
{
	if (argc < 1)
		return usage_error("missing %s", what);
	for (; cmds->name; cmds++)
		if (!strcmp(argv[0], cmds->name))
			return cmds->func(argc - 1, argv + 1);
	return usage_error("unknown %s '%s'", what, argv[0]);
}

int report_detached(int err, const char *ifname, const char *what)
{
	if (err) {
		p_err("%s", xlb_errmsg());
		return xlb_exit_for(err);
	}
	if (xlb_json)
		json_emit(json_pack("{s:s,s:b}", "ifname", ifname, "detached", 1));
	else
		printf("%sdetached from %s\n", what, ifname);
	return 0;
}

/* -j: a refusal is an error object with the plan, on stderr. */
static void json_refusal(json_t *plan)
{
	json_t *e = json_pack("{s:s,s:o}", "error", "refused by the guards; --force overrides",
			      "plan", plan);

	json_dumpf(e, stderr, JSON_COMPACT);
	fputc('\n', stderr);
	json_decref(e);
}

static void print_applied(const struct xlb_ctl *c, const struct xlb_change_result *r, json_t *plan)
{
	bool applied = r->outcome == XLB_CHANGE_APPLIED;

	if (xlb_json) {
		json_emit(json_pack("{s:b,s:I,s:s,s:b,s:o}", "applied", applied, "generation",
				    (json_int_t)r->generation, "fingerprint", r->fingerprint,
				    "forced", r->forced, "plan", plan));
	} else if (!applied) {
		printf("nothing to apply: generation %llu already has this configuration\n",
		       (unsigned long long)c->live_gen);
	} else {
		if (r->forced)
			pr_warn("guards overridden with --force (recorded in the history)\n");
		printf("applied generation %llu (fingerprint %s)\n",
		       (unsigned long long)r->generation, r->fingerprint);
	}
}

/*
 * Print a change's result (what is the configuration: file name for errors);
 * returns the exit status.  The plan is printed in full before the outcome.
 */
int report_change(const struct xlb_ctl *c, struct xlb_change_result *r, const char *what)
{
	json_t *plan = r->planned && xlb_json ? xlb_plan_to_json(&r->plan) : NULL;

	if (r->planned && !xlb_json)
		print_plan(&r->plan, stdout);
	switch (r->outcome) {
	case XLB_CHANGE_INVALID:
		r->diags.file = what;
		print_diags(&r->diags);
		break;
	case XLB_CHANGE_FAILED:
		p_err("%s; the running configuration (generation %llu) is unchanged", xlb_errmsg(),
		      (unsigned long long)c->live_gen);
		break;
	case XLB_CHANGE_REFUSED:
		if (xlb_json)
			json_refusal(plan);
		else
			p_err("%s", xlb_errmsg());
		plan = NULL;
		break;
	case XLB_CHANGE_PLANNED:
		break;
	default:
		print_applied(c, r, plan);
		plan = NULL;
	}
	json_decref(plan);
	return xlb_change_exit(r);
}

/* Run a change and report it: the exit status. */
int run_change(struct xlb_ctl *c, const struct xlb_change *ch, const char *what)
{
	struct xlb_change_result r;
	int rc;

	xlb_change(c, ch, &r);
	rc = report_change(c, &r, what);
	xlb_change_result_free(&r);
	return rc;
}

int fleet_guard(const struct xlb_ctl *c, bool force, const char *reason, bool *record)
{
	char path[600];
	const char *name;
	json_t *j;
	int err;

	*record = false;
	xlb_fleetfile_path(c->hist, path, sizeof(path));
	err = xlb_fleetfile_read(path, &j);
	if (!err && !j)
		return 0;
	name = j ? json_string_value(json_object_get(j, "fleet")) : NULL;
	if (!force || !reason || !reason[0]) {
		p_err("this node follows fleet %s in the store: use xlb fleet apply|rollback (or "
		      "--force --reason TEXT to change this node alone)%s%s", name ? name : "?",
		      err ? "; " : "", err ? xlb_errmsg() : "");
		json_decref(j);
		return XLB_EXIT_REFUSED;
	}
	pr_warn("this node follows fleet %s in the store: changing it alone (forced: %s); "
		"the change is recorded and shown as divergence until the fleet's next "
		"generation\n", name ? name : "?", reason);
	json_decref(j);
	*record = true;
	return 0;
}

void fleet_record(const struct xlb_ctl *c, const char *reason)
{
	char path[600];

	xlb_fleetfile_path(c->hist, path, sizeof(path));
	if (xlb_fleetfile_local_change(path, reason))
		pr_warn("the change was applied but cannot be recorded as a local change: %s\n",
			xlb_errmsg());
}

/* --force and --reason TEXT of a change (config and fleet apply and rollback), from argv[first]. */
int change_opts(int argc, char **argv, int first, struct xlb_change *o, const char *verb)
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

/* Parse a configuration file; prints every error.  0, or an exit status. */
int load_config_file(const char *file, struct xlb_config *cfg)
{
	struct xlb_diags d = { 0 };
	int err = xlb_config_load(file, cfg, &d);

	if (err) {
		d.file = file;
		print_diags(&d);
		xlb_config_free(cfg);
	}
	xlb_diags_free(&d);
	return err ? XLB_EXIT_REFUSED : 0;
}
