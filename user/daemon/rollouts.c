/* Rollouts the CLI asked for: steps applied, judged between them, rolled back; slow start. */
#define _GNU_SOURCE
#include "state.h"

static void slow_start_failed(struct daemon *d, const struct xlb_config *start);

/* ---- rollouts: steps the CLI asked for, judged between them ----------------------- */

/* What each backend has counted so far: the start of a step's window. */
static void rollout_snapshot(struct daemon *d)
{
	struct drollout *ro = &d->ro;

	pthread_mutex_lock(&d->lock);
	free(ro->snap);
	ro->snap = calloc(d->nr_be + 1, sizeof(*ro->snap));
	ro->nr_snap = 0;
	for (__u32 i = 0; ro->snap && i < d->nr_be; i++)
		backend_signals(d, &d->be[i], &ro->snap[ro->nr_snap++]);
	pthread_mutex_unlock(&d->lock);
	ro->drops0 = dp_drops(d);
	ro->step_start_ms = now_ms();
}

/* The step's signals: now less the snapshot. */
static void rollout_signals(struct daemon *d, struct xlb_rollout_signals *sig)
{
	struct drollout *ro = &d->ro;

	memset(sig, 0, sizeof(*sig));
	pthread_mutex_lock(&d->lock);
	sig->be = calloc(d->nr_be + 1, sizeof(*sig->be));
	for (__u32 i = 0; sig->be && i < d->nr_be; i++) {
		struct xlb_rollout_backend *s = &sig->be[sig->nr_be++];

		backend_signals(d, &d->be[i], s);
		for (__u32 k = 0; k < ro->nr_snap; k++)
			if (!strcmp(ro->snap[k].service, s->service) &&
			    !strcmp(ro->snap[k].address, s->address)) {
				s->new_flows -= ro->snap[k].new_flows;
				s->health_failures -= ro->snap[k].health_failures;
				s->syns -= ro->snap[k].syns;
				s->syn_retries -= ro->snap[k].syn_retries;
				s->went_down = s->went_down && !ro->snap[k].went_down;
			}
	}
	pthread_mutex_unlock(&d->lock);
	sig->drops = dp_drops(d) - ro->drops0;
	sig->seconds = (now_ms() - ro->step_start_ms) / 1000.0;
}

static void rollout_end(struct daemon *d, struct xlb_rollout *r, enum xlb_rollout_state st,
			const char *why)
{
	r->state = st;
	r->request[0] = '\0';
	if (why)
		snprintf(r->why, sizeof(r->why), "%s", why);
	d->ro.active = false;
	if (st == XLB_ROLLOUT_DONE)
		d->rollouts_done++;
	else
		d->rollouts_back++;
}

/* Back to the generation the rollout started from (its tables byte for byte). */
static void rollout_back(struct daemon *d, struct xlb_ctl *c, struct xlb_rollout *r,
			 enum xlb_rollout_state st, const char *why)
{
	struct xlb_change_result res;
	struct xlb_record rec;
	char reason[768];
	int err;

	snprintf(reason, sizeof(reason), "rollout %s rolled back at step %u of %u: %s", r->id,
		 r->step, r->steps, why);
	err = xlb_history_read(c->hist, r->start_gen, XLB_RECORD_FULL, &rec);
	if (err) {
		dlog(3, "rollout %s: cannot read generation %llu to roll back to: %s", r->id,
		     (unsigned long long)r->start_gen, xlb_errmsg());
		rollout_end(d, r, XLB_ROLLOUT_FAILED, "its start generation cannot be read: "
			    "rolled back nothing");
		return;
	}
	err = xlb_change(c, &(struct xlb_change){ .cfg = &rec.config, .source = "rollout",
						  .reason = reason, .force = true,
						  .prefer = &rec.assign }, &res);
	if (err) {
		dlog(3, "rollout %s: the rollback failed: %s", r->id, xlb_errmsg());
		rollout_end(d, r, XLB_ROLLOUT_FAILED, reason);
	} else {
		if (!strncmp(r->reason, "slow start", 10))
			slow_start_failed(d, &rec.config);
		r->rollback_gen = res.generation;
		d->ro.expect_gen = res.generation;
		dlog(4, "%s (generation %llu)", reason, (unsigned long long)res.generation);
		rollout_end(d, r, st, why);
	}
	xlb_change_result_free(&res);
	xlb_record_free(&rec);
}

/* Apply step k; false when it could not be (rolled back then). */
static bool rollout_apply(struct daemon *d, struct xlb_ctl *c, struct xlb_rollout *r, __u32 k)
{
	struct xlb_change_result res;
	struct xlb_config cfg;
	char reason[512], why[600];
	int err;

	if (xlb_rollout_step(&d->ro.from, &r->target, k, r->steps, &cfg)) {
		rollout_back(d, c, r, XLB_ROLLOUT_FAILED, "out of memory");
		return false;
	}
	pthread_mutex_lock(&d->lock);
	overlay(d, &cfg);	/* backends the checks took out stay out */
	pthread_mutex_unlock(&d->lock);
	snprintf(reason, sizeof(reason), "rollout %s step %u of %u: %s", r->id, k, r->steps,
		 r->reason);
	err = xlb_change(c, &(struct xlb_change){ .cfg = &cfg, .source = "rollout",
						  .reason = reason, .force = r->forced }, &res);
	xlb_config_free(&cfg);
	if (err) {
		snprintf(why, sizeof(why), "step %u could not be applied: %s", k, xlb_errmsg());
		xlb_change_result_free(&res);
		rollout_back(d, c, r, XLB_ROLLOUT_ROLLED_BACK, why);
		return false;
	}
	r->step = k;
	if (r->nr_gens < XLB_ROLLOUT_MAX_STEPS)
		r->gens[r->nr_gens++] = res.generation;
	d->ro.expect_gen = res.generation;
	r->step_unix_ms = (__s64)time(NULL) * 1000;
	dlog(5, "rollout %s: step %u of %u applied (generation %llu)", r->id, k, r->steps,
	     (unsigned long long)res.generation);
	xlb_change_result_free(&res);
	return true;
}

/*
 * A slow start rolled back: the backends it brought in are out again and must
 * pass their checks `rise` times before the next attempt.
 */
static void slow_start_failed(struct daemon *d, const struct xlb_config *start)
{
	pthread_mutex_lock(&d->lock);
	for (__u32 i = 0; i < d->nr_be; i++) {
		struct dbackend *b = &d->be[i];
		const struct xlb_service_conf *s = xlb_config_service(start, b->service);
		const struct xlb_backend_conf *bc = s ? xlb_service_backend(s, &b->addr, b->family)
						      : NULL;

		if (bc && bc->state == XLB_BACKEND_DOWN && b->h.up) {
			b->h.up = false;
			b->h.ok_run = 0;
		}
	}
	pthread_mutex_unlock(&d->lock);
}

/*
 * A health verdict that brings a backend back up in a service with
 * slow_start: instead of a commit, a rollout from the running configuration
 * to cfg in the service's steps (judged like any).  True when one started.
 */
bool slow_start(struct xlb_ctl *c, const struct xlb_config *cfg)
{
	const struct xlb_service_conf *ss = NULL;
	char a[INET6_ADDRSTRLEN] = "", why[512], reason[256], id[16];
	struct xlb_rollout_start st;

	for (__u32 s = 0; s < cfg->nr_services && !ss; s++) {
		const struct xlb_service_conf *sc = &cfg->services[s];
		const struct xlb_service_conf *old = xlb_config_service(&c->running, sc->name);

		for (__u32 j = 0; old && sc->slow_start_steps && j < sc->nr_backends && !ss; j++) {
			const struct xlb_backend_conf *b = &sc->backends[j];
			const struct xlb_backend_conf *ob = xlb_service_backend(old, &b->addr,
										b->family);

			if (ob && ob->state == XLB_BACKEND_DOWN && b->state == XLB_BACKEND_ACTIVE) {
				ss = sc;
				xlb_addr_str(&b->addr, b->family, a, sizeof(a));
			}
		}
	}
	if (!ss)
		return false;
	if (xlb_rollout_busy(c->hist, why, sizeof(why)))
		return false;	/* one at a time: this one comes in at once */
	snprintf(reason, sizeof(reason), "slow start: service %s backend %s is up (health)",
		 ss->name, a);
	st = (struct xlb_rollout_start){ .target = cfg, .start_gen = c->live_gen,
					 .steps = ss->slow_start_steps,
					 .step_ms = ss->slow_start_ms, .reason = reason,
					 .user = "daemon" };
	if (xlb_rollout_begin(c->hist, &st, id, sizeof(id)))
		return false;
	dlog(5, "rollout %s: %s: it enters in %u steps of %u ms", id, reason, st.steps,
	     ss->slow_start_ms);
	return true;
}

/* Load a rollout the daemon has not seen yet: its start configuration. */
static bool rollout_load(struct daemon *d, struct xlb_ctl *c, struct xlb_rollout *r)
{
	struct drollout *ro = &d->ro;
	struct xlb_record rec;
	struct xlb_plan plan;

	xlb_config_free(&ro->from);
	free(ro->changed.services);
	memset(&ro->changed, 0, sizeof(ro->changed));
	ro->active = false;
	if (xlb_history_read(c->hist, r->start_gen, XLB_RECORD_FULL, &rec)) {
		rollout_end(d, r, XLB_ROLLOUT_FAILED, "its start generation cannot be read");
		return false;
	}
	xlb_config_copy(&ro->from, &rec.config);
	xlb_record_free(&rec);
	/* the services it changes are the ones judged (settings only: no backends) */
	ro->changed.services = calloc(r->target.nr_services + 1, sizeof(*ro->changed.services));
	if (ro->changed.services && !xlb_plan_build(&ro->from, &r->target, &plan)) {
		for (__u32 i = 0; i < plan.nr; i++) {
			const struct xlb_service_conf *s = xlb_config_service(&r->target,
									      plan.svcs[i].name);
			struct xlb_service_conf *t;

			if (!s || !plan.svcs[i].changed)
				continue;
			t = &ro->changed.services[ro->changed.nr_services++];
			*t = *s;
			t->backends = NULL;
			t->nr_backends = 0;
		}
		xlb_plan_free(&plan);
	}
	snprintf(ro->id, sizeof(ro->id), "%s", r->id);
	ro->expect_gen = r->nr_gens ? r->gens[r->nr_gens - 1] : r->start_gen;
	ro->active = true;
	if (r->step)
		dlog(5, "rollout %s: resuming at step %u of %u; the step is watched for a whole "
		     "step time again", r->id, r->step, r->steps);
	return true;
}

/*
 * Once a second: the rollout in rollout.json, if one is active — its
 * requests (pause, resume, abort), its first step, and at the end of each
 * step's time the judgement: roll back, finish, or the next step.
 */
/* rollout.json when there is something to look at: changed since seen, or a rollout on. */
static bool rollout_due(struct daemon *d, char *path, size_t len)
{
	struct drollout *ro = &d->ro;
	char hist[512];
	struct stat st;

	/* the common case costs a stat: no rollout file, or one already seen ended */
	if (xlb_history_dir(d->o->state_root, d->o->ifname, hist, sizeof(hist)))
		return false;
	snprintf(path, len, "%s/rollout.json", hist);
	if (stat(path, &st) || (!ro->active && st.st_mtim.tv_sec == ro->seen_mtime.tv_sec &&
				st.st_mtim.tv_nsec == ro->seen_mtime.tv_nsec)) {
		ro->active = false;
		return false;
	}
	return true;
}

/* The running rollout r this tick: requests, its step's window, the judgement. */
static bool rollout_step(struct daemon *d, struct xlb_ctl *c, struct xlb_rollout *r)
{
	struct drollout *ro = &d->ro;
	struct xlb_rollout_signals sig;
	char why[600];

	if (c->live_gen != ro->expect_gen) {
		snprintf(why, sizeof(why), "generation %llu went live outside the rollout (it "
			 "expected %llu): stopped where it was, nothing rolled back",
			 (unsigned long long)c->live_gen, (unsigned long long)ro->expect_gen);
		dlog(3, "rollout %s: %s", r->id, why);
		rollout_end(d, r, XLB_ROLLOUT_FAILED, why);
		return false;
	}
	if (!strcmp(r->request, "abort")) {
		rollout_back(d, c, r, XLB_ROLLOUT_ABORTED, "aborted by hand");
		return false;
	}
	if (!strcmp(r->request, "pause") && r->state == XLB_ROLLOUT_RUNNING) {
		r->state = XLB_ROLLOUT_PAUSED;
		dlog(5, "rollout %s: paused at step %u of %u", r->id, r->step, r->steps);
	} else if (!strcmp(r->request, "resume") && r->state == XLB_ROLLOUT_PAUSED) {
		r->state = XLB_ROLLOUT_RUNNING;
		rollout_snapshot(d);	/* the step is watched for a whole step time again */
		dlog(5, "rollout %s: resumed at step %u of %u", r->id, r->step, r->steps);
	}
	r->request[0] = '\0';
	if (r->state != XLB_ROLLOUT_RUNNING)
		return false;
	if (!r->step)
		return rollout_apply(d, c, r, 1);
	if (now_ms() - ro->step_start_ms < r->step_ms)
		return false;
	rollout_signals(d, &sig);
	if (xlb_rollout_judge(&d->running, &ro->changed, &sig, why, sizeof(why))) {
		dlog(4, "rollout %s: step %u of %u: %s", r->id, r->step, r->steps, why);
		free(sig.be);
		rollout_back(d, c, r, XLB_ROLLOUT_ROLLED_BACK, why);
		return false;
	}
	free(sig.be);
	if (r->step == r->steps) {
		dlog(5, "rollout %s: done, %u steps (generations %llu..%llu)", r->id, r->steps,
		     (unsigned long long)r->gens[0], (unsigned long long)r->gens[r->nr_gens - 1]);
		rollout_end(d, r, XLB_ROLLOUT_DONE, NULL);
		return false;
	}
	return rollout_apply(d, c, r, r->step + 1);
}

void rollout_tick(struct daemon *d)
{
	struct drollout *ro = &d->ro;
	struct xlb_rollout r;
	struct xlb_ctl c;
	bool stepped = false;
	char path[600];
	struct stat st;

	if (!rollout_due(d, path, sizeof(path)))
		return;
	if (xlb_ctl_try_open(d->o->ifname, d->o->state_root, &c))
		return;	/* a command holds the lock: the next second */
	if (!stat(path, &st))
		ro->seen_mtime = st.st_mtim;
	if (xlb_rollout_read(c.hist, &r) || !xlb_rollout_active(&r)) {
		ro->active = false;
		xlb_rollout_free(&r);
		xlb_ctl_close(&c);
		return;
	}
	if (!(ro->active && !strcmp(ro->id, r.id)) && !rollout_load(d, &c, &r))
		goto out;
	if (!ro->nr_snap || !ro->step_start_ms)
		rollout_snapshot(d);
	stepped = rollout_step(d, &c, &r);
out:
	ro->step = r.step;
	ro->steps = r.steps;
	if (xlb_rollout_write(c.hist, &r))
		dlog(3, "rollout %s: %s", r.id, xlb_errmsg());
	xlb_ctl_close(&c);
	xlb_rollout_free(&r);
	sync_running(d);
	if (stepped)
		rollout_snapshot(d);	/* after the step's ids and shares are known */
}
