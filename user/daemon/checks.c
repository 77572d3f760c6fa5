/* Health checks and their verdicts, committed through the one change path; reload. */
#define _GNU_SOURCE
#include "state.h"

/* ---- health checks -------------------------------------------------------------- */

/*
 * What to probe for b; false when its service is gone.  Via tunnel: the VIP,
 * from the tunnel source with the probe's mark (tunnel.c claims it at start).
 */
static bool target_of(struct daemon *d, const struct dbackend *b, struct xlb_probe_target *t)
{
	const struct xlb_service_conf *s = xlb_config_service(&d->running, b->service);
	const union xlb_addr *src = b->hc_mark ? xlb_hcpath_source(d->hc, b->family) : NULL;

	if (!s)
		return false;
	*t = (struct xlb_probe_target){ .addr = b->addr, .family = b->family,
		.port = s->health.port ? s->health.port : s->port, .type = s->health.type,
		.path = s->health.path, .timeout_ms = s->health.timeout_ms,
		.health = &s->health, .via = s->health.via, .backend = b->addr };
	if (t->via == XLB_VIA_TUNNEL)
		t->addr = s->vip;
	if (t->via == XLB_VIA_TUNNEL && src) {
		t->mark = b->hc_mark;
		t->bind_src = true;
		t->src = *src;
	}
	return true;
}

/* A probe's verdict through rise/fall; a flip makes the daemon commit. */
static void record_verdict(struct daemon *d, struct dbackend *b, enum xlb_probe_result res)
{
	const struct xlb_service_conf *s = xlb_config_service(&d->running, b->service);
	bool ok = res == XLB_PROBE_OK;
	char a[INET6_ADDRSTRLEN];

	if (res == XLB_PROBE_PENDING)
		return;
	hc_release(d, b);	/* the probe is over: its mark is free */
	if (!s)
		return;
	if (res == XLB_PROBE_UNCHECKED) {	/* no verdict: the backend was not asked */
		pthread_mutex_lock(&d->lock);
		d->unchecked++;
		pthread_mutex_unlock(&d->lock);
		if (now_ms() - d->unchecked_logged_ms >= 60000) {
			d->unchecked_logged_ms = now_ms();
			dlog(4, "health: cannot check service=%s backend=%s: %s (not counted as a "
			     "failure; %llu checks not made so far)", b->service,
			     addr_s(b, a, sizeof(a)), b->probe.why,
			     (unsigned long long)d->unchecked);
		}
		b->h.next_ms = xlb_health_next(now_ms(), s->health.interval_ms, &d->seed);
		return;
	}
	pthread_mutex_lock(&d->lock);
	b->has_verdict = true;
	b->last_ok = ok;
	b->cls = ok ? XLB_PC_NONE : b->probe.cls;
	b->via = b->probe.via;
	snprintf(b->why, sizeof(b->why), "%s", ok ? "" : b->probe.why);
	if (!ok)
		b->fail_by[b->cls < XLB_PC_MAX ? b->cls : XLB_PC_ERROR]++;
	if (xlb_hstate_record(&b->h, ok, s->health.rise, s->health.fall)) {
		dlog(b->h.up ? 5 : 4, "health: service=%s backend=%s check=%s after %u %s%s%s",
		     b->service, addr_s(b, a, sizeof(a)), b->h.up ? "up" : "down",
		     b->h.up ? b->h.ok_run : b->h.fail_run, b->h.up ? "successes" : "failures",
		     ok ? "" : ": ", ok ? "" : b->probe.why);
		d->pending = true;
		d->fl.dirty = true;	/* the fleet's leader hears of it at once */
	}
	if (d->o->store)
		verdicts_checked(d, b);
	pthread_mutex_unlock(&d->lock);
	b->h.next_ms = xlb_health_next(now_ms(), s->health.interval_ms, &d->seed);
}

void progress_check(struct daemon *d, __u32 idx)
{
	struct dbackend *b = &d->be[idx];
	struct xlb_probe_target t;

	/* a probe that outlived its check (the configuration dropped it) says nothing */
	if (!b->checked || !target_of(d, b, &t))
		return check_stop(d, b);
	record_verdict(d, b, xlb_probe_progress(&b->probe, &t, d->epfd, idx));
}

void run_checks(struct daemon *d, __u64 now)
{
	for (__u32 i = 0; i < d->nr_be; i++) {
		struct dbackend *b = &d->be[i];
		struct xlb_probe_target t;

		if (!b->checked) {
			if (b->probe.phase != XLB_PROBE_IDLE)	/* its check was dropped */
				check_stop(d, b);
			continue;
		}
		if (b->probe.phase != XLB_PROBE_IDLE)
			record_verdict(d, b, xlb_probe_expire(&b->probe, now, d->epfd));
		else if (now < b->h.next_ms || !target_of(d, b, &t))
			continue;
		else if (hc_target(d, b, &t))	/* via tunnel, and no way through it */
			record_verdict(d, b, XLB_PROBE_UNCHECKED);
		else
			record_verdict(d, b, xlb_probe_start(&b->probe, &t, now, d->epfd, i));
	}
}

/* ---- committing verdicts --------------------------------------------------------- */

/* Apply cfg through the change path; 0 applied, 1 unchanged, -EPERM refused, <0. */
static int commit(struct xlb_ctl *c, const struct xlb_config *cfg, const char *source,
		  const char *reason, unsigned int exempt)
{
	struct xlb_change ch = { .cfg = cfg, .source = source, .reason = reason,
				 .exempt = exempt };
	struct xlb_change_result r;
	const struct xlb_plan *p = &r.plan;
	int err = xlb_change(c, &ch, &r);

	switch (r.outcome) {
	case XLB_CHANGE_INVALID:
		for (__u32 i = 0; i < r.diags.count; i++)
			dlog(3, "%s: invalid: %s: %s", source, r.diags.items[i].path,
			     r.diags.items[i].msg);
		break;
	case XLB_CHANGE_REFUSED:
		for (__u32 i = 0; i < p->nr; i++)
			for (__u32 j = 0; j < p->svcs[i].nr_why; j++)
				dlog(3, "%s: refused by the guards: service=%s %s", source,
				     p->svcs[i].name, p->svcs[i].why[j]);
		break;
	case XLB_CHANGE_FAILED:
		dlog(3, "%s: commit failed: %s", source, xlb_errmsg());
		break;
	case XLB_CHANGE_APPLIED:
		dlog(5, "%s: applied generation %llu (%s)", source, (unsigned long long)r.generation,
		     reason);
		break;
	default:
		err = 1;
	}
	xlb_change_result_free(&r);
	return err;
}

/* Log each state the overlay changed and say them in reason. */
static void log_health_changes(const struct xlb_config *old, const struct xlb_config *cfg,
			       char *reason, size_t len)
{
	for (__u32 s = 0; s < cfg->nr_services; s++) {
		const struct xlb_service_conf *ns = &cfg->services[s];
		const struct xlb_service_conf *os = xlb_config_service(old, ns->name);

		for (__u32 j = 0; os && j < ns->nr_backends; j++) {
			const struct xlb_backend_conf *a = &ns->backends[j];
			const struct xlb_backend_conf *o = xlb_service_backend(os, &a->addr, a->family);
			char as[INET6_ADDRSTRLEN];

			if (!o || o->state == a->state)
				continue;
			xlb_addr_str(&a->addr, a->family, as, sizeof(as));
			dlog(4, "health: service=%s backend=%s state=%s->%s reason=health", ns->name,
			     as, xlb_state_name(o->state), xlb_state_name(a->state));
			snprintf(reason + strlen(reason), len - strlen(reason), " %s %s %s", ns->name,
				 as, xlb_state_name(a->state));
		}
	}
}

/* Shortest health interval of the running configuration: the longest a retry waits. */
static __u32 retry_cap_ms(const struct daemon *d)
{
	__u32 cap = 5000;

	for (__u32 s = 0; s < d->running.nr_services; s++) {
		const struct xlb_health *h = &d->running.services[s].health;

		if (h->type != XLB_HEALTH_NONE && h->interval_ms < cap)
			cap = h->interval_ms;
	}
	return cap < 50 ? 50 : cap;
}

/* The pending change did not land: say why, count it, try again later. */
static void health_retry(struct daemon *d, enum xlb_health_retry why, const char *msg,
			 __u64 now)
{
	__u32 cap = retry_cap_ms(d);

	d->backoff_ms = d->backoff_ms ? 2 * d->backoff_ms : 50;
	if (d->backoff_ms > cap)
		d->backoff_ms = cap;
	d->retry_at_ms = now + d->backoff_ms;
	d->attempts++;
	pthread_mutex_lock(&d->lock);
	d->health_retries[why]++;
	pthread_mutex_unlock(&d->lock);
	/* said at the first attempts, then once a minute: a failure that lasts is one line */
	if (d->attempts <= 3 || now - d->retry_logged_ms >= 60000) {
		d->retry_logged_ms = now;
		dlog(why == XLB_HEALTH_RETRY_LOCKED ? 5 : 3, "health: change pending (%s: %s); "
		     "attempt %u, retrying in %u ms%s", xlb_health_retry_names[why], msg,
		     d->attempts, d->backoff_ms, d->attempts > 3 ? " (said once a minute)" : "");
	}
}

static void health_landed(struct daemon *d, bool applied)
{
	if (d->attempts)
		dlog(5, "health: pending change %s after %u failed attempt%s",
		     applied ? "applied" : "no longer needed", d->attempts, d->attempts == 1 ? "" : "s");
	d->pending = false;
	d->attempts = 0;
	d->backoff_ms = 0;
	d->retry_at_ms = 0;
}

/*
 * The health overlay on the running configuration, through the change path:
 * exempt from max_share and max_churn, never from min_active.  A change that
 * does not land (the lock held by a CLI, a failed commit, a refusal) stays
 * pending and is retried with backoff; the lock is tried, never waited on.
 */
void commit_health(struct daemon *d, __u64 now)
{
	const struct xlb_config *base;
	struct xlb_config cfg;
	struct xlb_ctl c;
	char reason[256] = "health:";
	bool changed;
	int err;

	if (now < d->retry_at_ms)
		return;
	/* a lost running record: the change path carries on (ids from the live maps) */
	err = xlb_ctl_try_open_lost_ok(d->o->ifname, d->o->state_root, &c);
	if (err)
		return health_retry(d, err == -EWOULDBLOCK ? XLB_HEALTH_RETRY_LOCKED :
				    XLB_HEALTH_RETRY_FAILED, xlb_errmsg(), now);
	base = c.lost[0] ? &d->running : &c.running;
	if (c.lost[0] && !running_lost(d, &c)) {
		xlb_ctl_close(&c);
		return health_retry(d, XLB_HEALTH_RETRY_FAILED, "the running generation's record "
				    "is lost and this daemon never read it", now);
	}
	if (xlb_config_copy(&cfg, base)) {
		xlb_ctl_close(&c);
		return health_retry(d, XLB_HEALTH_RETRY_FAILED, "out of memory", now);
	}
	pthread_mutex_lock(&d->lock);
	changed = overlay(d, &cfg);
	pthread_mutex_unlock(&d->lock);
	err = 1;
	if (changed) {
		log_health_changes(base, &cfg, reason, sizeof(reason));
		if (slow_start(&c, &cfg))
			err = 0;	/* landed: the rollout brings it in, step by step */
		else
			err = commit(&c, &cfg, "health", reason,
				     XLB_GUARD_MAX_SHARE | XLB_GUARD_MAX_CHURN);
		if (!err && d->ro.active)	/* the rollout goes on from this generation */
			d->ro.expect_gen = c.live_gen;
		if (!err)
			d->fl.dirty = true;	/* the status record's tables */
	}
	if (err < 0)
		health_retry(d, err == -EPERM || err == -EINVAL ? XLB_HEALTH_RETRY_REFUSED :
			     XLB_HEALTH_RETRY_FAILED, xlb_errmsg(), now);
	else
		health_landed(d, !err);
	pthread_mutex_lock(&d->lock);
	d->health_commits += !err;
	pthread_mutex_unlock(&d->lock);
	xlb_config_free(&cfg);
	xlb_ctl_close(&c);
	sync_running(d);
}

/* SIGHUP (and start): the file through validate/plan/guards, health overlaid. */
void reload(struct daemon *d)
{
	struct xlb_diags diags = { 0 };
	struct xlb_config cfg;
	struct xlb_ctl c;
	char reason[300];
	int err, result;

	if (!d->o->config)
		return (void)sync_running(d);
	sd_notify(0, "RELOADING=1");
	err = xlb_config_load(d->o->config, &cfg, &diags) ?: xlb_config_validate(&cfg, &diags);
	if (err) {
		for (__u32 i = 0; i < diags.count; i++)
			dlog(3, "reload: %s: %s%s%s: keeping the running configuration",
			     d->o->config, diags.items[i].path, diags.items[i].path[0] ? ": " : "",
			     diags.items[i].msg);
		result = XLB_RELOAD_INVALID;
	} else if (xlb_ctl_open_lost_ok(d->o->ifname, d->o->state_root, false, &c)) {
		dlog(3, "reload: %s", xlb_errmsg());
		result = XLB_RELOAD_REFUSED;
	} else {
		pthread_mutex_lock(&d->lock);
		overlay(d, &cfg);
		pthread_mutex_unlock(&d->lock);
		snprintf(reason, sizeof(reason), "reload of %s", d->o->config);
		err = commit(&c, &cfg, "reload", reason, 0);
		result = err == 1 ? XLB_RELOAD_UNCHANGED : err ? XLB_RELOAD_REFUSED : XLB_RELOAD_APPLIED;
		xlb_ctl_close(&c);
	}
	xlb_config_free(&cfg);
	xlb_diags_free(&diags);
	pthread_mutex_lock(&d->lock);
	d->reloads[result]++;
	d->reload_failed = result == XLB_RELOAD_INVALID || result == XLB_RELOAD_REFUSED;
	pthread_mutex_unlock(&d->lock);
	dlog(result >= XLB_RELOAD_INVALID ? 3 : 6, "reload: %s", xlb_reload_names[result]);
	sync_running(d);
	sd_notify(0, "READY=1");
}

/* ---- why: checks.json for xlb backend list (issue 25) ---------------------------- */

static json_t *checks_json(struct daemon *d)
{
	json_t *arr = json_array();
	char a[INET6_ADDRSTRLEN];

	pthread_mutex_lock(&d->lock);
	for (__u32 i = 0; arr && i < d->nr_be; i++) {
		const struct dbackend *b = &d->be[i];

		if (!b->checked || !b->present || !b->has_verdict)
			continue;
		json_array_append_new(arr, json_pack("{s:s,s:s,s:b,s:b,s:s,s:s,s:s}", "service",
			b->service, "address", addr_s(b, a, sizeof(a)), "up", b->h.up, "last_ok",
			b->last_ok, "reason", b->last_ok ? "" : xlb_probe_class_names[b->cls],
			"why", b->why, "path", b->via == XLB_VIA_TUNNEL ? "tunnel" : "direct"));
	}
	pthread_mutex_unlock(&d->lock);
	return arr;
}

/*
 * Once a second: checks.json beside the history when what it says changed,
 * and once a minute besides (unix_ms: when; a reader trusts a fresh file only).
 */
void checks_tick(struct daemon *d)
{
	static __u64 written_ms, failed_ms;	/* the loop's thread only */
	static json_t *last;
	json_t *o = json_pack("{s:o}", "backends", checks_json(d));
	char hist[512];

	if (!o || xlb_history_dir(d->o->state_root, d->o->ifname, hist, sizeof(hist)) ||
	    (last && json_equal(o, last) && now_ms() - written_ms < 60000)) {
		json_decref(o);
		return;
	}
	json_object_set_new(o, "unix_ms", json_integer((json_int_t)time(NULL) * 1000));
	if (!xlb_node_checks_write(hist, o)) {
		json_object_del(o, "unix_ms");
		json_decref(last);
		last = json_incref(o);
		written_ms = now_ms();
	} else if (now_ms() - failed_ms > 60000) {
		failed_ms = now_ms();
		dlog(3, "health: cannot write checks.json in %s: %s", hist, xlb_errmsg());
	}
	json_decref(o);
}
