/* xlb rollout status|pause|resume|abort (the start: stepped.c). */
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

static bool request_taken(const struct xlb_rollout *r)
{
	return !r->request[0];
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
	if (rollout_await(hist, r.id, request_taken, &now)) {
		p_err("the daemon has not taken the %s request in %d s (xlb rollout status)", what,
		      ROLLOUT_WAIT_MS / 1000);
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
