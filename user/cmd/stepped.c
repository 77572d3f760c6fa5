/*
 * Stepped changes from the command line, shared by `config apply`, `backend`
 * and `rollout`: --steps N --step-time D, the plan shown, the start
 * (xlb_rollout_start decides), the wait for the daemon, the rollout printed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cmd.h"
#include "change.h"
#include "ctl.h"
#include "log.h"
#include "rollout.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int rollout_await(const char *hist, const char *id, bool (*done)(const struct xlb_rollout *),
		  struct xlb_rollout *r)
{
	for (int waited = 0; waited <= ROLLOUT_WAIT_MS; waited += 100) {
		if (!xlb_rollout_read(hist, r)) {
			if (strcmp(r->id, id) || done(r))
				return 0;
			xlb_rollout_free(r);
		}
		sleep_ms(100);
	}
	return xlb_rollout_read(hist, r) ?: -ETIMEDOUT;
}

void print_rollout(const struct xlb_rollout *r)
{
	char when[32];
	time_t t = r->started_unix;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	printf("rollout %s: %s, step %u of %u (a step every %.1f s), from generation %llu, "
	       "by %s at %s: %s\n", r->id, xlb_rollout_state_names[r->state], r->step, r->steps,
	       r->step_ms / 1000.0, (unsigned long long)r->start_gen, r->user, when, r->reason);
	if (r->nr_gens) {
		printf("  generations:");
		for (__u32 i = 0; i < r->nr_gens; i++)
			printf(" %llu", (unsigned long long)r->gens[i]);
		printf("\n");
	}
	if (r->rollback_gen)
		printf("  rolled back: generation %llu\n", (unsigned long long)r->rollback_gen);
	if (r->why[0])
		printf("  why: %s\n", r->why);
	if (r->request[0])
		printf("  requested: %s (waiting for the daemon)\n", r->request);
}

int start_rollout(struct xlb_ctl *c, const struct xlb_config *cfg, unsigned int steps,
		  long long step_ms, const char *reason, bool force, const char *what,
		  char *id, size_t idlen)
{
	struct xlb_rollout_start st = { .target = cfg, .start_gen = c->live_gen, .steps = steps,
					.step_ms = step_ms, .reason = reason ?: what,
					.forced = force };
	struct xlb_change_result res;
	int rc = 0, err;

	id[0] = '\0';
	/* the whole target first: valid, planned, guarded (forced: the steps are judged) */
	xlb_change(c, &(struct xlb_change){ .cfg = cfg, .dry_run = true, .force = true }, &res);
	if (res.outcome != XLB_CHANGE_PLANNED) {
		rc = report_change(c, &res, what);
		xlb_change_result_free(&res);
		return rc ?: XLB_EXIT_REFUSED;
	}
	if (!xlb_json)
		print_plan(&res.plan, stdout);
	xlb_change_result_free(&res);
	err = xlb_rollout_start(c->hist, c->ifname, &c->running, &st, id, idlen);
	if (err) {
		p_err("%s", xlb_errmsg());
		rc = err == -ESRCH || err == -EBUSY || err == -EALREADY || err == -EINVAL ||
		     err == -EPERM ? XLB_EXIT_REFUSED : XLB_EXIT_SYSTEM;
	}
	return rc;
}

static bool first_step(const struct xlb_rollout *r)
{
	return r->step > 0 || !xlb_rollout_active(r);
}

int rollout_started(const char *hist, const char *id)
{
	struct xlb_rollout now;
	int rc;

	if (rollout_await(hist, id, first_step, &now)) {
		p_err("rollout %s is written but the daemon has not taken it up in %d s: see "
		      "xlb rollout status", id, ROLLOUT_WAIT_MS / 1000);
		return XLB_EXIT_SYSTEM;
	}
	if (xlb_json)
		json_emit(xlb_rollout_to_json(&now));
	else
		print_rollout(&now);
	rc = now.state == XLB_ROLLOUT_RUNNING || now.state == XLB_ROLLOUT_DONE ? 0 :
	     XLB_EXIT_REFUSED;
	xlb_rollout_free(&now);
	return rc;
}

/* Parse --steps N --step-time D out of argv (removed from it): 0 or the exit status. */
int rollout_opts(int *argc, char **argv, unsigned int *steps, long long *step_ms)
{
	int out = 0;

	*steps = 0;
	*step_ms = -1;
	for (int i = 0; i < *argc; i++) {
		if (!strcmp(argv[i], "--steps") && i + 1 < *argc) {
			if (!parse_u32(argv[++i], 1, XLB_ROLLOUT_MAX_STEPS, steps))
				return usage_error("--steps '%s': 1..%d", argv[i],
						   XLB_ROLLOUT_MAX_STEPS);
		} else if (!strcmp(argv[i], "--step-time") && i + 1 < *argc) {
			*step_ms = xlb_duration_ms(argv[++i]);
			if (*step_ms < 1000)
				return usage_error("--step-time '%s': a duration of 1s..24h "
						   "(10s, 500ms, 2m, 1h)", argv[i]);
		} else {
			argv[out++] = argv[i];
		}
	}
	*argc = out;
	if (*steps && *step_ms < 0)
		return usage_error("--steps needs --step-time DURATION");
	if (!*steps && *step_ms >= 0)
		return usage_error("--step-time needs --steps N");
	return 0;
}
