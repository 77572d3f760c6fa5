/* Stepped changes: xlb config apply FILE --steps N --step-time D, xlb rollout VERB. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cmd.h"
#include "change.h"
#include "ctl.h"
#include "history.h"
#include "log.h"
#include "rollout.h"

#define WAIT_MS 15000	/* how long a command waits for the daemon to act */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait until the daemon has taken the rollout's request or first step: the rollout. */
static int await(const char *hist, const char *id, bool (*done)(const struct xlb_rollout *),
		 struct xlb_rollout *r)
{
	for (int waited = 0; waited <= WAIT_MS; waited += 100) {
		if (!xlb_rollout_read(hist, r)) {
			if (strcmp(r->id, id) || done(r))
				return 0;
			xlb_rollout_free(r);
		}
		sleep_ms(100);
	}
	return xlb_rollout_read(hist, r) ?: -ETIMEDOUT;
}

static bool first_step(const struct xlb_rollout *r)
{
	return r->step > 0 || !xlb_rollout_active(r);
}

static bool request_taken(const struct xlb_rollout *r)
{
	return !r->request[0];
}

static void print_rollout(const struct xlb_rollout *r)
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

/*
 * The whole target first: valid, planned, guarded; refused while a rollout
 * runs.  *go says whether to start it; else the exit status (0: nothing to do).
 */
static int plan_rollout(struct xlb_ctl *c, const struct xlb_config *cfg, unsigned int steps,
			bool force, const char *what, struct xlb_change_result *res, bool *go)
{
	char why[512];
	int err;

	/* (xlb_change refuses it too while another rollout runs) */
	xlb_change(c, &(struct xlb_change){ .cfg = cfg, .dry_run = true, .force = true }, res);
	if (xlb_rollout_busy(c->hist, why, sizeof(why))) {
		p_err("%s", why);
		return XLB_EXIT_REFUSED;
	}
	if (res->outcome != XLB_CHANGE_PLANNED)
		return report_change(c, res, what);
	if (!xlb_json)
		print_plan(&res->plan, stdout);
	if (!res->plan.changed) {
		p_err("nothing to roll out: generation %llu already has this configuration",
		      (unsigned long long)c->live_gen);
		return XLB_EXIT_REFUSED;
	}
	err = xlb_rollout_check(&c->running, cfg, steps, force, why, sizeof(why));
	if (err) {
		p_err("%s", why);
		return err == -EPERM || err == -EINVAL ? XLB_EXIT_REFUSED : XLB_EXIT_SYSTEM;
	}
	*go = true;
	return 0;
}

int start_rollout(struct xlb_ctl *c, const struct xlb_config *cfg, unsigned int steps,
		  long long step_ms, const char *reason, bool force, const char *what)
{
	struct xlb_rollout_start st = { .target = cfg, .start_gen = c->live_gen, .steps = steps,
					.step_ms = step_ms, .reason = reason ?: what,
					.forced = force };
	struct xlb_change_result res;
	char hist[sizeof(c->hist)], id[16];
	struct xlb_rollout now;
	bool go = false;
	int rc;

	if (!xlb_daemon_running(c->ifname)) {
		p_err("no xlb daemon runs for %s: a stepped change needs it to watch the signals "
		      "between steps and roll back by itself (start it, or apply without "
		      "--steps)", c->ifname);
		xlb_ctl_close(c);
		return XLB_EXIT_REFUSED;
	}
	rc = plan_rollout(c, cfg, steps, force, what, &res, &go);
	if (go && xlb_rollout_begin(c->hist, &st, id, sizeof(id))) {
		p_err("%s", xlb_errmsg());
		rc = XLB_EXIT_SYSTEM;
	}
	snprintf(hist, sizeof(hist), "%s", c->hist);
	xlb_change_result_free(&res);
	xlb_ctl_close(c);	/* the daemon takes it from here, under the lock */
	if (rc || !go)
		return rc;
	if (await(hist, id, first_step, &now)) {
		p_err("rollout %s is written but the daemon has not taken it up in %d s: see "
		      "xlb rollout status", id, WAIT_MS / 1000);
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

static int open_rw(struct xlb_ctl *c)
{
	int rc = ctl_open(c, false);

	return rc ? xlb_exit_for(rc) : 0;
}

static int do_rollout_status(int argc, char **argv)
{
	struct xlb_rollout r;
	struct xlb_ctl c;
	int rc;

	(void)argv;
	if (argc)
		return usage_error("rollout status: takes no arguments");
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	rc = xlb_rollout_read(c.hist, &r);
	xlb_ctl_close(&c);
	if (rc == -ENOENT) {
		if (xlb_json)
			json_emit(json_pack("{s:n}", "rollout"));
		else
			printf("no rollout has run on this interface\n");
		return 0;
	}
	if (rc) {
		p_err("%s", xlb_errmsg());
		return XLB_EXIT_SYSTEM;
	}
	if (xlb_json)
		json_emit(xlb_rollout_to_json(&r));
	else
		print_rollout(&r);
	xlb_rollout_free(&r);
	return 0;
}

/* Without a daemon, abort rolls back here: the start generation through the change path. */
static int abort_here(struct xlb_ctl *c, struct xlb_rollout *r)
{
	struct xlb_change_result res;
	struct xlb_record rec;
	char reason[512];
	int err;

	snprintf(reason, sizeof(reason), "rollout %s rolled back at step %u of %u: aborted by "
		 "hand (no daemon ran)", r->id, r->step, r->steps);
	err = xlb_history_read(c->hist, r->start_gen, XLB_RECORD_FULL, &rec);
	if (err) {
		p_err("%s", xlb_errmsg());
		return XLB_EXIT_SYSTEM;
	}
	r->state = XLB_ROLLOUT_ABORTED;	/* first: the change path refuses while it runs */
	r->request[0] = '\0';
	snprintf(r->why, sizeof(r->why), "aborted by hand (no daemon ran)");
	err = xlb_rollout_write(c->hist, r);
	if (!err)
		err = xlb_change(c, &(struct xlb_change){ .cfg = &rec.config, .source = "rollout",
							  .reason = reason, .force = true,
							  .prefer = &rec.assign }, &res);
	if (!err) {
		r->rollback_gen = res.generation;
		err = xlb_rollout_write(c->hist, r);
		xlb_change_result_free(&res);
	}
	xlb_record_free(&rec);
	if (err) {
		p_err("%s", xlb_errmsg());
		return XLB_EXIT_SYSTEM;
	}
	return 0;
}

static int request(int argc, const char *what)
{
	struct xlb_rollout r, now;
	struct xlb_ctl c;
	char hist[sizeof(c.hist)];
	int rc;

	if (argc)
		return usage_error("rollout %s: takes no arguments", what);
	if ((rc = open_rw(&c)))
		return rc;
	rc = xlb_rollout_read(c.hist, &r);
	if (rc || !xlb_rollout_active(&r)) {
		p_err("no rollout is in progress on %s (xlb rollout status)", c.ifname);
		if (!rc)
			xlb_rollout_free(&r);
		xlb_ctl_close(&c);
		return XLB_EXIT_REFUSED;
	}
	if (!xlb_daemon_running(c.ifname)) {
		if (strcmp(what, "abort")) {
			p_err("no xlb daemon runs for %s: nothing would %s the rollout (abort "
			      "rolls it back without one)", c.ifname, what);
			rc = XLB_EXIT_REFUSED;
		} else {
			rc = abort_here(&c, &r);
		}
		goto done;
	}
	snprintf(r.request, sizeof(r.request), "%s", what);
	if (xlb_rollout_write(c.hist, &r)) {
		p_err("%s", xlb_errmsg());
		rc = XLB_EXIT_SYSTEM;
		goto done;
	}
	snprintf(hist, sizeof(hist), "%s", c.hist);
	xlb_ctl_close(&c);
	if (await(hist, r.id, request_taken, &now)) {
		p_err("the daemon has not taken the %s request in %d s (xlb rollout status)", what,
		      WAIT_MS / 1000);
		xlb_rollout_free(&r);
		return XLB_EXIT_SYSTEM;
	}
	xlb_rollout_free(&r);
	r = now;
	goto print;
done:
	xlb_ctl_close(&c);
	if (rc) {
		xlb_rollout_free(&r);
		return rc;
	}
print:
	if (xlb_json)
		json_emit(xlb_rollout_to_json(&r));
	else
		print_rollout(&r);
	xlb_rollout_free(&r);
	return rc;
}

static int do_rollout_pause(int argc, char **argv) { (void)argv; return request(argc, "pause"); }
static int do_rollout_resume(int argc, char **argv) { (void)argv; return request(argc, "resume"); }
static int do_rollout_abort(int argc, char **argv) { (void)argv; return request(argc, "abort"); }

int do_rollout(int argc, char **argv)
{
	static const struct cmd verbs[] = {
		{ "status", do_rollout_status },
		{ "pause", do_rollout_pause },
		{ "resume", do_rollout_resume },
		{ "abort", do_rollout_abort },
		{ NULL, NULL },
	};

	return cmd_dispatch(verbs, argc, argv, "rollout verb");
}
