/* The one path of every change; see change.h. */
#include <errno.h>
#include <string.h>
#include "change.h"
#include "commit.h"
#include "log.h"
#include "rollout.h"

static int failed(struct xlb_change_result *r, enum xlb_change_outcome outcome, int err)
{
	r->outcome = outcome;
	r->err = err;
	return err;
}

/* 1. validate (nothing reaches a map before this passes) and fingerprint. */
static int decide_valid(const struct xlb_change *ch, struct xlb_change_result *r)
{
	if (xlb_config_validate(ch->cfg, &r->diags))
		return failed(r, XLB_CHANGE_INVALID,
			      xlb_errf(-EINVAL, "the configuration is not valid; nothing applied"));
	xlb_config_fingerprint(ch->cfg, r->fingerprint);
	return 0;
}

/*
 * 2. plan against old (builds the new tables), 3. guards: the plan's refusals
 * stop the change unless forced or exempt.  live: something runs old, so the
 * same configuration again is UNCHANGED; else PLANNED (it may go ahead).
 */
static int decide_plan(const struct xlb_config *old, bool live, const struct xlb_change *ch,
		       struct xlb_change_result *r)
{
	unsigned int refused;
	int err;

	err = xlb_plan_build(old, ch->cfg, &r->plan);
	if (err)
		return failed(r, XLB_CHANGE_FAILED, xlb_errf(err, "cannot plan: %s", strerror(-err)));
	r->planned = true;
	refused = r->plan.refused & ~(ch->exempt & ~(XLB_GUARD_MIN_ACTIVE | XLB_GUARD_EMPTY));
	if (refused && !ch->force)
		return failed(r, XLB_CHANGE_REFUSED, xlb_errf(-EPERM, "refused by the guards; "
							      "nothing applied (--force overrides)"));
	if (ch->dry_run || (!r->plan.changed && live)) {
		r->outcome = ch->dry_run ? XLB_CHANGE_PLANNED : XLB_CHANGE_UNCHANGED;
		return 0;
	}
	r->outcome = XLB_CHANGE_PLANNED;
	r->forced = ch->force && refused;
	return 0;
}

int xlb_change_decide(const struct xlb_config *old, const struct xlb_change *ch,
		      struct xlb_change_result *r)
{
	static const struct xlb_config none;

	xlb_err_clear();
	memset(r, 0, sizeof(*r));
	return decide_valid(ch, r) ?: decide_plan(old ?: &none, old != NULL, ch, r);
}

/* A rollout in progress owns the configuration: -EBUSY, said, unless ch is one of its own. */
static int rollout_busy(struct xlb_ctl *c, const struct xlb_change *ch, const char *source)
{
	struct xlb_rollout ro;
	bool busy;

	/* only its steps and health verdicts, and the restore after a reboot of what ran
	 * (the daemon then stops the rollout) */
	if (ch->dry_run || !strcmp(source, "rollout") || !strcmp(source, "health") ||
	    !strcmp(source, "restore") || xlb_rollout_read(c->hist, &ro))
		return 0;
	busy = xlb_rollout_active(&ro);
	if (busy)
		xlb_errf(-EBUSY, "rollout %s is %s (step %u of %u): it owns the configuration "
			 "until it ends; see xlb rollout status, or xlb rollout abort", ro.id,
			 xlb_rollout_state_names[ro.state], ro.step, ro.steps);
	xlb_rollout_free(&ro);
	return busy ? -EBUSY : 0;
}

int xlb_change(struct xlb_ctl *c, const struct xlb_change *ch, struct xlb_change_result *r)
{
	struct xlb_commit_meta meta = { .source = ch->source ?: "apply", .reason = ch->reason ?: "",
					.prefer = ch->prefer };
	int err;

	xlb_err_clear();
	memset(r, 0, sizeof(*r));
	r->generation = c->live_gen;
	if (decide_valid(ch, r))
		return r->err;
	if (rollout_busy(c, ch, meta.source))
		return failed(r, XLB_CHANGE_FAILED, -EBUSY);
	if (c->lost[0]) {
		pr_warn("%s\n", c->lost);
		pr_warn("going on without it: the plan compares against nothing (no churn is "
			"known), backend ids come from the live maps so established flows keep "
			"their backends, and this change's record replaces the lost one\n");
		err = xlb_ctl_recover_assign(c, ch->cfg);
		if (err)
			return failed(r, XLB_CHANGE_FAILED, err);
	}
	/* 2. plan against the running configuration, 3. guards */
	if (decide_plan(&c->running, c->live_gen != 0, ch, r) || r->outcome != XLB_CHANGE_PLANNED ||
	    ch->dry_run)
		return r->err;
	/* 4. commit and record: idle slot, pending record, switch, final record */
	meta.forced = r->forced;
	err = xlb_commit(c, ch->cfg, &r->plan, &meta, &r->generation);
	if (err) {
		r->forced = false;
		return failed(r, XLB_CHANGE_FAILED, err);
	}
	r->outcome = XLB_CHANGE_APPLIED;
	xlb_err_clear();
	return 0;
}

void xlb_change_result_free(struct xlb_change_result *r)
{
	xlb_diags_free(&r->diags);
	if (r->planned)
		xlb_plan_free(&r->plan);
	r->planned = false;
}

int xlb_change_exit(const struct xlb_change_result *r)
{
	switch (r->outcome) {
	case XLB_CHANGE_APPLIED:
	case XLB_CHANGE_UNCHANGED:
	case XLB_CHANGE_PLANNED:
		return XLB_EXIT_OK;
	case XLB_CHANGE_INVALID:
	case XLB_CHANGE_REFUSED:
		return XLB_EXIT_REFUSED;
	default:
		return xlb_exit_for(r->err) == XLB_EXIT_REFUSED ? XLB_EXIT_REFUSED : XLB_EXIT_SYSTEM;
	}
}
