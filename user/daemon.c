/*
 * The daemon's loop.  One thread: an epoll loop over the health probes
 * (probe.c), a signalfd (SIGHUP reload, SIGTERM stop) and a 50 ms tick.
 * Verdicts become configuration changes through the one change path
 * (change.c) with the health policy (health.c) overlaid on the running
 * configuration, re-read under the interface lock so CLI changes are never
 * lost.  Every second it samples the counters for the distribution watch and
 * the metrics file.  Metrics (metrics.c, from a snapshot) are served by
 * libmicrohttpd from its own thread; a mutex guards what both threads read.
 * Stopping leaves the data plane forwarding.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <poll.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include <systemd/sd-daemon.h>
#include "change.h"
#include "ctl.h"
#include <bpf/bpf.h>
#include "daemon.h"
#include "fleet.h"
#include "statuspage.h"
#include "fsutil.h"
#include "health.h"
#include "history.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "netutil.h"
#include "moved.h"
#include "names.h"
#include "probe.h"
#include "rollout.h"
#include "shares.h"

struct dbackend {
	char service[XLB_NAME_MAX];
	union xlb_addr addr;
	__u8 family;
	bool present;			/* in the running configuration */
	bool checked;			/* its service has a health check */
	bool health_down;		/* the daemon took it out */
	struct xlb_hstate h;
	struct xlb_probe probe;
	struct xlb_watch watch;
	double table_share;
	__u32 id;
};

struct dservice {
	char name[XLB_NAME_MAX];
	bool floor_hit;
};

/* A VIP's announcement through the node's BGP speaker (--announce). */
struct dvip {
	char proto[64];			/* its BIRD protocol: xlb_ADDRESS */
	int state;			/* -1 not known yet, 0 withdrawn, 1 announced */
	char why[200];			/* why it is withdrawn */
	__u64 seen;			/* generation that last had it */
	__u64 failed_ms;		/* last failed birdc (logged once a minute) */
};

/* A service's live table fingerprint (xlb_table_info). */
struct dtable {
	char name[XLB_NAME_MAX];
	char fp[17];
};

/* The rollout the daemon moves on (rollout.json holds the rest). */
struct drollout {
	bool active;
	char id[16];
	__u32 step, steps;
	struct xlb_config from;		/* the start generation's configuration */
	struct xlb_config changed;	/* the services the rollout changes (no backends) */
	__u64 expect_gen;		/* the live generation it expects */
	__u64 step_start_ms;		/* monotonic: the step's window began */
	struct xlb_rollout_backend *snap;	/* counters at the window's start */
	__u32 nr_snap;
	__u64 drops0;
	struct timespec seen_mtime;	/* rollout.json as last read (nothing to do while
					   it is unchanged and no rollout is active) */
};

struct daemon {
	const struct xlb_daemon_opts *o;
	pthread_mutex_t lock;		/* be[], svc[], counters: main vs metrics thread */
	struct dbackend *be;
	__u32 nr_be, cap_be;
	struct dservice svc[XLB_MAX_SERVICES];
	__u32 nr_svc;
	struct xlb_config running;	/* last seen, for checks and metrics */
	struct xlb_assign assign;
	__u64 generation;
	__u32 live_slot;
	char fingerprint[17];
	struct xlb_dp dp;		/* pinned maps, opened once */
	int epfd, sigfd;
	__u32 seed;
	bool pending;			/* a verdict flipped and is not applied yet */
	__u64 retry_at_ms;		/* the next attempt, after a failed one */
	__u32 backoff_ms;		/* 0, or the wait after the last failure */
	__u32 attempts;			/* failed attempts of the pending change */
	__u64 health_retries[XLB_HEALTH_RETRY_MAX];
	__u64 reloads[XLB_RELOAD_MAX];
	__u64 health_commits;
	__u64 unchecked;		/* checks this host could not make */
	__u64 unchecked_logged_ms;	/* last log line about them (one a minute) */
	struct xlb_history_usage usage;	/* of the history, every 10 s */
	bool has_usage;
	__u32 open_fds, max_fds;
	bool has_moved;			/* the release pass below ran */
	__u32 moved_by_index[XLB_MAX_SERVICES];
	__u32 flows_remembered;
	__u64 flows_counted_ms;		/* when flows_remembered was counted */
	__u64 moved_released;
	struct drollout ro;
	struct dtable tables[XLB_MAX_SERVICES];
	__u32 nr_tables;
	char fleet_why[320];		/* why the fleet refuses this node ("" when it agrees) */
	__u64 fleet_read_ms;		/* when the peers were last read */
	bool fleet_alone_logged;
	struct dvip vips[XLB_MAX_VIPS];
	__u32 nr_vips, announced;
	__u64 announce_changes;
	bool reload_failed;		/* the last reload of --config was not applied */
	__u64 rollouts_done, rollouts_back;
	int daemon_lock;		/* held while it runs: the CLI sees a daemon */
};

struct xlb_ctl;
static bool slow_start(struct daemon *d, struct xlb_ctl *c, const struct xlb_config *cfg);
static void slow_start_failed(struct daemon *d, const struct xlb_config *start);

/* One log line per event, syslog priority prefix (journald reads it). */
static void dlog(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dlog(int prio, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "<%d>xlb: ", prio);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static const char *addr_s(const struct dbackend *b, char *buf, size_t len)
{
	return xlb_addr_str(&b->addr, b->family, buf, len);
}

/* ---- following the running configuration ------------------------------------ */

static struct dbackend *find_be(struct daemon *d, const char *svc, const union xlb_addr *a,
				__u8 family)
{
	for (__u32 i = 0; i < d->nr_be; i++)
		if (d->be[i].family == family && !strcmp(d->be[i].service, svc) &&
		    !memcmp(&d->be[i].addr, a, sizeof(*a)))
			return &d->be[i];
	return NULL;
}

static struct dbackend *add_be(struct daemon *d, const char *svc, const struct xlb_backend_conf *bc)
{
	struct dbackend *b;

	if (d->nr_be == d->cap_be) {
		__u32 cap = d->cap_be ? 2 * d->cap_be : 64;
		void *p = realloc(d->be, cap * sizeof(*d->be));

		if (!p)
			return NULL;
		d->be = p;
		d->cap_be = cap;
	}
	b = &d->be[d->nr_be++];
	memset(b, 0, sizeof(*b));
	snprintf(b->service, sizeof(b->service), "%s", svc);
	b->addr = bc->addr;
	b->family = bc->family;
	xlb_probe_init(&b->probe);
	xlb_hstate_init(&b->h);
	b->h.next_ms = xlb_health_next(now_ms(), 1000, &d->seed) - 900;
	return b;
}

static __u32 map_max_entries(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) ? info.max_entries : 0;
}

/* Table shares of the live tables, per backend. */
static void load_shares(struct daemon *d)
{
	d->nr_tables = 0;
	for (__u32 s = 0; s < d->running.nr_services; s++) {
		const struct xlb_service_conf *sc = &d->running.services[s];
		struct xlb_live_table t;

		if (xlb_live_table_read(&d->dp, d->live_slot, &d->assign, sc, &t)) {
			dlog(3, "cannot read the live table of %s: %s", sc->name, xlb_errmsg());
			continue;
		}
		if (t.m && d->nr_tables < XLB_MAX_SERVICES) {
			snprintf(d->tables[d->nr_tables].name, XLB_NAME_MAX, "%s", sc->name);
			snprintf(d->tables[d->nr_tables++].fp, 17, "%s", t.fingerprint);
		}
		for (__u32 i = 0; i < d->nr_be; i++)
			if (!strcmp(d->be[i].service, sc->name))
				d->be[i].table_share = xlb_live_share(&t, d->be[i].id);
		xlb_live_table_free(&t);
	}
}

/* Backends of the running configuration: tracked, numbered, let go by an operator. */
static void track_backends(struct daemon *d, const struct xlb_ctl *c)
{
	for (__u32 i = 0; i < d->nr_be; i++)
		d->be[i].present = false;
	for (__u32 s = 0; s < c->running.nr_services; s++) {
		const struct xlb_service_conf *sc = &c->running.services[s];

		for (__u32 j = 0; j < sc->nr_backends; j++) {
			const struct xlb_backend_conf *bc = &sc->backends[j];
			struct dbackend *b = find_be(d, sc->name, &bc->addr, bc->family);

			if (!b && !(b = add_be(d, sc->name, bc)))
				break;
			b->present = true;
			b->checked = sc->health.type != XLB_HEALTH_NONE;
			b->id = xlb_assign_id(&c->assign, sc->name, &bc->addr, bc->family);
			/* an operator put it back or down by hand: the daemon lets go */
			if (b->health_down && bc->state != XLB_BACKEND_DOWN)
				b->health_down = false;
		}
	}
	/* forget backends that left the configuration */
	for (__u32 i = 0; i < d->nr_be;) {
		if (d->be[i].present) {
			i++;
			continue;
		}
		xlb_probe_stop(&d->be[i].probe, d->epfd);
		d->be[i] = d->be[--d->nr_be];
	}
	for (__u32 i = 0; i < d->nr_be; i++)	/* moved entries: re-point their epoll data */
		xlb_probe_retag(&d->be[i].probe, d->epfd, i);
}

/* Re-read the running configuration: backends to check, ids, shares. */
static int sync_running(struct daemon *d)
{
	struct xlb_ctl c;
	int err = xlb_ctl_open(d->o->ifname, d->o->state_root, true, &c);

	if (err) {
		dlog(3, "cannot read the running configuration: %s", xlb_errmsg());
		return err;
	}
	pthread_mutex_lock(&d->lock);
	track_backends(d, &c);
	xlb_config_free(&d->running);
	xlb_config_copy(&d->running, &c.running);
	xlb_assign_free(&d->assign);
	d->assign = c.assign;
	memset(&c.assign, 0, sizeof(c.assign));
	if (d->generation != c.live_gen) {
		d->generation = c.live_gen;
		d->live_slot = c.live_slot;
		xlb_config_fingerprint(&d->running, d->fingerprint);
		load_shares(d);
	}
	pthread_mutex_unlock(&d->lock);
	xlb_ctl_close(&c);
	return 0;
}

/* ---- health checks -------------------------------------------------------------- */

/* What to probe for b; false when its service is gone. */
static bool target_of(struct daemon *d, const struct dbackend *b, struct xlb_probe_target *t)
{
	const struct xlb_service_conf *s = xlb_config_service(&d->running, b->service);

	if (!s)
		return false;
	*t = (struct xlb_probe_target){ .addr = b->addr, .family = b->family,
		.port = s->health.port ? s->health.port : s->port, .type = s->health.type,
		.path = s->health.path, .timeout_ms = s->health.timeout_ms };
	return true;
}

/* A probe's verdict through rise/fall; a flip makes the daemon commit. */
static void record_verdict(struct daemon *d, struct dbackend *b, enum xlb_probe_result res)
{
	const struct xlb_service_conf *s = xlb_config_service(&d->running, b->service);
	bool ok = res == XLB_PROBE_OK;
	char a[INET6_ADDRSTRLEN];

	if (res == XLB_PROBE_PENDING || !s)
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
	if (xlb_hstate_record(&b->h, ok, s->health.rise, s->health.fall)) {
		dlog(b->h.up ? 5 : 4, "health: service=%s backend=%s check=%s after %u %s%s%s",
		     b->service, addr_s(b, a, sizeof(a)), b->h.up ? "up" : "down",
		     b->h.up ? b->h.ok_run : b->h.fail_run, b->h.up ? "successes" : "failures",
		     ok ? "" : ": ", ok ? "" : b->probe.why);
		d->pending = true;
	}
	pthread_mutex_unlock(&d->lock);
	b->h.next_ms = xlb_health_next(now_ms(), s->health.interval_ms, &d->seed);
}

static void progress_check(struct daemon *d, __u32 idx)
{
	struct dbackend *b = &d->be[idx];
	struct xlb_probe_target t;

	if (!target_of(d, b, &t))
		return xlb_probe_stop(&b->probe, d->epfd);
	record_verdict(d, b, xlb_probe_progress(&b->probe, &t, d->epfd, idx));
}

static void run_checks(struct daemon *d, __u64 now)
{
	for (__u32 i = 0; i < d->nr_be; i++) {
		struct dbackend *b = &d->be[i];
		struct xlb_probe_target t;

		if (!b->checked)
			continue;
		if (b->probe.phase != XLB_PROBE_IDLE)
			record_verdict(d, b, xlb_probe_expire(&b->probe, now, d->epfd));
		else if (now >= b->h.next_ms && target_of(d, b, &t))
			record_verdict(d, b, xlb_probe_start(&b->probe, &t, now, d->epfd, i));
	}
}

/* ---- committing verdicts --------------------------------------------------------- */

static struct dservice *service_state(struct daemon *d, const char *name)
{
	for (__u32 k = 0; k < d->nr_svc; k++)
		if (!strcmp(d->svc[k].name, name))
			return &d->svc[k];
	if (d->nr_svc == XLB_MAX_SERVICES)
		return NULL;
	snprintf(d->svc[d->nr_svc].name, sizeof(d->svc[0].name), "%s", name);
	return &d->svc[d->nr_svc++];
}

/* The health policy over every checked service of cfg; true if cfg changed. */
static bool overlay(struct daemon *d, struct xlb_config *cfg)
{
	bool changed = false;

	for (__u32 s = 0; s < cfg->nr_services; s++) {
		struct xlb_service_conf *sc = &cfg->services[s];
		const struct xlb_health_view *views[sc->nr_backends + 1];
		struct xlb_health_view v[sc->nr_backends + 1];
		struct dbackend *bs[sc->nr_backends + 1];
		bool held[sc->nr_backends + 1], hit;
		struct dservice *ds;

		if (sc->health.type == XLB_HEALTH_NONE)
			continue;
		for (__u32 j = 0; j < sc->nr_backends; j++) {
			bs[j] = find_be(d, sc->name, &sc->backends[j].addr, sc->backends[j].family);
			if (bs[j])
				v[j] = (struct xlb_health_view){ .up = bs[j]->h.up,
					.fail_run = bs[j]->h.fail_run, .health_down = bs[j]->health_down };
			views[j] = bs[j] ? &v[j] : NULL;
		}
		changed |= xlb_health_overlay(sc, views, held, &hit);
		for (__u32 j = 0; j < sc->nr_backends; j++)
			if (bs[j])
				bs[j]->health_down = held[j];
		ds = service_state(d, sc->name);
		if (ds && hit != ds->floor_hit)
			dlog(hit ? 2 : 5, "floor: service=%s %s min_active=%u: %s", sc->name,
			     hit ? "ALERT: more backends failed than" : "back above", sc->guards.min_active,
			     hit ? "keeping failing backends in the table (fail open)" : "alert cleared");
		if (ds)
			ds->floor_hit = hit;
	}
	return changed;
}

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
	dlog(why == XLB_HEALTH_RETRY_LOCKED ? 5 : 3, "health: change pending (%s: %s); attempt %u, "
	     "retrying in %u ms", xlb_health_retry_names[why], msg, d->attempts, d->backoff_ms);
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
static void commit_health(struct daemon *d, __u64 now)
{
	struct xlb_config cfg;
	struct xlb_ctl c;
	char reason[256] = "health:";
	bool changed;
	int err;

	if (now < d->retry_at_ms)
		return;
	err = xlb_ctl_try_open(d->o->ifname, d->o->state_root, &c);
	if (err)
		return health_retry(d, err == -EWOULDBLOCK ? XLB_HEALTH_RETRY_LOCKED :
				    XLB_HEALTH_RETRY_FAILED, xlb_errmsg(), now);
	if (xlb_config_copy(&cfg, &c.running)) {
		xlb_ctl_close(&c);
		return health_retry(d, XLB_HEALTH_RETRY_FAILED, "out of memory", now);
	}
	pthread_mutex_lock(&d->lock);
	changed = overlay(d, &cfg);
	pthread_mutex_unlock(&d->lock);
	err = 1;
	if (changed) {
		log_health_changes(&c.running, &cfg, reason, sizeof(reason));
		if (slow_start(d, &c, &cfg))
			err = 0;	/* landed: the rollout brings it in, step by step */
		else
			err = commit(&c, &cfg, "health", reason,
				     XLB_GUARD_MAX_SHARE | XLB_GUARD_MAX_CHURN);
		if (!err && d->ro.active)	/* the rollout goes on from this generation */
			d->ro.expect_gen = c.live_gen;
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
static void reload(struct daemon *d)
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
	} else if (xlb_ctl_open(d->o->ifname, d->o->state_root, false, &c)) {
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

/* ---- distribution watch and metrics --------------------------------------------- */

static bool is_udp(const struct daemon *d, const char *service)
{
	const struct xlb_service_conf *s = xlb_config_service(&d->running, service);

	return s && s->proto == IPPROTO_UDP;
}

static void sample(struct daemon *d)
{
	struct xlb_watch_opts wo = { .window_ms = d->o->skew_window_ms,
				     .threshold = d->o->skew_threshold,
				     .for_ms = d->o->skew_for_ms, .min_flows = d->o->skew_min_flows };
	__u64 now = now_ms();

	pthread_mutex_lock(&d->lock);
	for (__u32 i = 0; i < d->nr_be; i++) {
		struct dbackend *b = &d->be[i];
		int idx = xlb_assign_service(&d->assign, b->service);
		struct xlb_counters mine = { 0 }, all = { 0 };
		char a[INET6_ADDRSTRLEN];

		if (idx < 0 || !b->id || xlb_dp_counters(&d->dp, d->dp.backend_stats, b->id, &mine) ||
		    xlb_dp_counters(&d->dp, d->dp.service_stats, idx, &all))
			continue;
		/* UDP has no connection start to count statelessly: its packets are the measure */
		if (xlb_watch_sample(&b->watch, &wo, now, is_udp(d, b->service) ? mine.packets :
				     mine.new_flows, is_udp(d, b->service) ? all.packets :
				     all.new_flows, b->table_share))
			dlog(4, "skew: ALERT service=%s backend=%s takes %.1f%% of new flows off "
			     "its table share %.1f%% (deviation %.3f above %.3f for %u ms)",
			     b->service, addr_s(b, a, sizeof(a)),
			     100 * (b->table_share + (b->watch.deviation)), 100 * b->table_share,
			     b->watch.deviation, wo.threshold, wo.for_ms);
	}
	pthread_mutex_unlock(&d->lock);
}

static void snapshot_backends(struct daemon *d, struct xlb_metrics *m)
{
	for (__u32 i = 0; i < d->nr_be; i++) {
		const struct dbackend *b = &d->be[i];
		struct xlb_metrics_backend *mb = &m->be[m->nr_be++];
		const struct xlb_service_conf *s = xlb_config_service(&d->running, b->service);
		const struct xlb_backend_conf *bc = s ? xlb_service_backend(s, &b->addr, b->family)
						      : NULL;

		snprintf(mb->service, sizeof(mb->service), "%s", b->service);
		addr_s(b, mb->address, sizeof(mb->address));
		mb->has_counters = b->id && !xlb_dp_counters(&d->dp, d->dp.backend_stats, b->id,
							     &mb->c);
		mb->up = !b->checked || b->h.up;
		mb->weight = bc && bc->state == XLB_BACKEND_ACTIVE ? bc->weight : 0;
		mb->table_share = b->table_share;
		mb->deviation = b->watch.deviation;
		mb->alert = b->watch.alert;
		mb->checks = b->h.checks;
		mb->failures = b->h.failures;
		mb->in_config = bc != NULL;
		mb->state = bc ? bc->state : XLB_BACKEND_DOWN;
	}
}

static void snapshot_services(struct daemon *d, struct xlb_metrics *m)
{
	for (__u32 s = 0; s < d->running.nr_services; s++) {
		const struct xlb_service_conf *sc = &d->running.services[s];
		struct xlb_metrics_service *ms = &m->svc[m->nr_svc++];
		int idx = xlb_assign_service(&d->assign, sc->name);

		snprintf(ms->name, sizeof(ms->name), "%s", sc->name);
		ms->has_counters = idx >= 0 && !xlb_dp_counters(&d->dp, d->dp.service_stats, idx,
								&ms->c);
		ms->active = xlb_service_holders(sc);
		ms->udp = sc->proto == IPPROTO_UDP;
		for (__u32 k = 0; k < d->nr_tables; k++)
			if (!strcmp(d->tables[k].name, sc->name))
				snprintf(ms->table_fingerprint, sizeof(ms->table_fingerprint), "%s",
					 d->tables[k].fp);
		ms->has_moved = d->has_moved && idx >= 0;
		ms->moved = ms->has_moved ? d->moved_by_index[idx] : 0;
		for (__u32 k = 0; k < d->nr_svc; k++)
			if (!strcmp(d->svc[k].name, sc->name)) {
				ms->has_floor = true;
				ms->floor_alert = d->svc[k].floor_hit;
			}
	}
}

/* What the metrics say, copied under the lock; m->be and m->svc malloc'd. */
static int snapshot(struct daemon *d, struct xlb_metrics *m)
{
	int err = 0;

	memset(m, 0, sizeof(*m));
	pthread_mutex_lock(&d->lock);
	m->be = calloc(d->nr_be + 1, sizeof(*m->be));
	m->svc = calloc(d->running.nr_services + 1, sizeof(*m->svc));
	if (!m->be || !m->svc) {
		err = -ENOMEM;
		goto out;
	}
	m->generation = d->generation;
	memcpy(m->fingerprint, d->fingerprint, sizeof(m->fingerprint));
	snapshot_backends(d, m);
	snapshot_services(d, m);
	for (__u32 r = 0; r < XLB_STAT_MAX; r++) {
		struct xlb_stat st;

		m->has_stat[r] = !xlb_dp_stat(&d->dp, r, &st);
		m->stat_packets[r] = m->has_stat[r] ? st.packets : 0;
	}
	for (__u32 e = 0; e < XLB_EV_MAX; e++)
		m->has_event[e] = !xlb_dp_event(&d->dp, e, &m->events[e]);
	memcpy(m->reloads, d->reloads, sizeof(m->reloads));
	m->health_commits = d->health_commits;
	m->health_pending = d->pending;
	memcpy(m->health_retries, d->health_retries, sizeof(m->health_retries));
	m->unchecked = d->unchecked;
	xlb_dp_flood_limited(&d->dp, &m->flows_not_remembered);
	m->has_moved = d->has_moved && !xlb_dp_moved_stats(&d->dp, &m->moved);
	m->flows_remembered = d->flows_remembered;
	m->flows_max = map_max_entries(d->dp.flows);
	m->moved_released = d->moved_released;
	m->rollout_active = d->ro.active;
	m->rollout_step = d->ro.step;
	m->rollout_steps = d->ro.steps;
	m->rollouts_done = d->rollouts_done;
	m->rollouts_back = d->rollouts_back;
	m->has_announce = d->o->announce != NULL;
	m->announced = d->announced;
	m->announce_changes = d->announce_changes;
	m->has_usage = d->has_usage;
	m->history_records = d->usage.records;
	m->history_bytes = d->usage.bytes;
	m->state_free_bytes = d->usage.free_bytes;
	m->open_fds = d->open_fds;
	m->max_fds = d->max_fds;
out:
	pthread_mutex_unlock(&d->lock);
	return err;
}

/* Render the current metrics into f; false when no snapshot could be taken. */
static bool render(struct daemon *d, FILE *f)
{
	struct xlb_metrics m;

	if (snapshot(d, &m)) {
		xlb_metrics_free(&m);
		return false;
	}
	xlb_metrics_render(&m, f);
	xlb_metrics_free(&m);
	return true;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned int code, char *text,
			       size_t len, enum MHD_ResponseMemoryMode mem, const char *type)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, mem);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, "Allow", "GET, HEAD");
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

#define PAGE_RECENT	10	/* changes the status page lists */

/* The status page: the snapshot, the announcements, the latest history records. */
static bool render_page(struct daemon *d, FILE *f)
{
	struct xlb_page_vip vips[XLB_MAX_VIPS];
	struct xlb_record recent[PAGE_RECENT];
	char hist[512], node[256] = "", now[32], path[600], fleet_why[sizeof(d->fleet_why)];
	struct xlb_page p = { .ifname = d->o->ifname, .node = node, .vips = vips,
			      .recent = recent, .refresh_s = 5, .now = now,
			      .fleet_why = fleet_why, .has_announce = d->o->announce != NULL };
	struct xlb_metrics m;
	__u64 *gens = NULL;
	__u32 n = 0;
	time_t t = time(NULL);

	if (snapshot(d, &m)) {
		xlb_metrics_free(&m);
		return false;
	}
	p.m = &m;
	gethostname(node, sizeof(node) - 1);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	pthread_mutex_lock(&d->lock);
	for (__u32 k = 0; k < d->nr_vips && p.nr_vips < XLB_MAX_VIPS; k++) {
		struct xlb_page_vip *v = &vips[p.nr_vips++];

		snprintf(v->proto, sizeof(v->proto), "%s", d->vips[k].proto);
		snprintf(v->why, sizeof(v->why), "%s", d->vips[k].why);
		v->announced = d->vips[k].state == 1;
	}
	snprintf(fleet_why, sizeof(fleet_why), "%s", d->fleet_why);
	pthread_mutex_unlock(&d->lock);
	if (!xlb_history_dir(d->o->state_root, d->o->ifname, hist, sizeof(hist))) {
		snprintf(path, sizeof(path), "%s/drain", hist);
		p.drained = !access(path, F_OK);
		if (!xlb_history_list(hist, &gens, &n))
			for (__u32 i = n; i-- > 0 && p.nr_recent < PAGE_RECENT;)
				if (!xlb_history_read(hist, gens[i], XLB_RECORD_META,
						      &recent[p.nr_recent]))
					p.nr_recent++;
		free(gens);
	}
	xlb_status_page(&p, f);
	for (__u32 i = 0; i < p.nr_recent; i++)
		xlb_record_free(&recent[i]);
	xlb_metrics_free(&m);
	return true;
}

/*
 * GET /metrics: Prometheus text; GET /: the status page.  Read-only: any other
 * method is refused (405), any other path is not found (404); libmicrohttpd
 * refuses requests larger than its connection memory itself.
 */
static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *data,
			     size_t *size, void **ctx)
{
	static char not_found[] = "not found: GET / (status page) or GET /metrics\n";
	static char not_allowed[] = "method not allowed: this server is read-only (GET, HEAD)\n";
	static const char text[] = "text/plain; charset=utf-8";
	char *buf = NULL;
	size_t len = 0;
	bool page, ok;
	FILE *f;

	(void)version; (void)data; (void)size; (void)ctx;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed, strlen(not_allowed),
			       MHD_RESPMEM_PERSISTENT, text);
	page = !strcmp(url, "/");
	if (!page && strcmp(url, "/metrics"))
		return respond(conn, MHD_HTTP_NOT_FOUND, not_found, strlen(not_found),
			       MHD_RESPMEM_PERSISTENT, text);
	f = open_memstream(&buf, &len);
	if (!f)
		return MHD_NO;
	ok = page ? render_page(cls, f) : render(cls, f);
	fclose(f);
	if (!ok) {
		free(buf);
		return MHD_NO;
	}
	return respond(conn, MHD_HTTP_OK, buf, len, MHD_RESPMEM_MUST_FREE,
		       page ? "text/html; charset=utf-8" : "text/plain; version=0.0.4");
}

static struct MHD_Daemon *start_metrics(struct daemon *d, const char *spec)
{
	struct sockaddr_storage ss = { 0 };
	char host[64];
	const char *colon = strrchr(spec, ':');
	int port;

	if (!colon || colon - spec >= (long)sizeof(host) || (port = atoi(colon + 1)) <= 0 ||
	    port > 65535) {
		dlog(3, "--metrics %s: want ADDR:PORT", spec);
		return NULL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	} else {
		dlog(3, "--metrics %s: not an address", spec);
		return NULL;
	}
	/* bounded: idle or slow clients cannot take the descriptors the checks need */
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), port, NULL, NULL,
				serve, d, MHD_OPTION_SOCK_ADDR, &ss,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)XLB_METRICS_CONNECTIONS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)XLB_METRICS_PER_ADDR,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)XLB_METRICS_TIMEOUT_S,
				MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)XLB_METRICS_BACKLOG,
				MHD_OPTION_END);
}

static void write_metrics_file(struct daemon *d, const char *path)
{
	char tmp[600];
	FILE *f;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = xlb_create_new(tmp, 0644);	/* a textfile collector reads it */
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		dlog(3, "cannot write the metrics file: %s", fd < 0 ? xlb_errmsg() : strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	render(d, f);
	if (fclose(f) || rename(tmp, path))
		dlog(3, "cannot write %s: %s", path, strerror(errno));
}

/* ---- the loop ----------------------------------------------------------------- */

/* The pinned maps, signals and epoll; an exit status on failure. */
/*
 * Every in-flight check holds a socket: take the whole hard limit of
 * descriptors (the unit sets it high), and say so when it is small for the
 * backends and metrics connections it must serve.
 */
static void raise_fd_limit(struct daemon *d)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	d->max_fds = rl.rlim_cur > UINT32_MAX ? UINT32_MAX : rl.rlim_cur;
	if (d->max_fds < XLB_MAX_BACKENDS + XLB_METRICS_CONNECTIONS + 64)
		dlog(4, "daemon: %u file descriptors at most (RLIMIT_NOFILE): with many "
		     "backends some checks may not be made (LimitNOFILE= in the unit)", d->max_fds);
}

static int daemon_init(struct daemon *d)
{
	char dir[256];
	sigset_t sigs;

	pthread_mutex_init(&d->lock, NULL);
	d->epfd = d->sigfd = -1;
	d->daemon_lock = xlb_daemon_lock(d->o->ifname);
	if (d->daemon_lock < 0) {
		dlog(3, "%s", xlb_errmsg());
		return XLB_EXIT_REFUSED;
	}
	raise_fd_limit(d);
	if (xlb_pin_dir(d->o->ifname, dir, sizeof(dir)) || xlb_dp_open_pinned(&d->dp, dir)) {
		dlog(3, "%s", xlb_errmsg());
		return XLB_EXIT_REFUSED;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sigfd < 0 || d->epfd < 0) {
		dlog(3, "cannot set up the event loop: %s", strerror(errno));
		return XLB_EXIT_SYSTEM;
	}
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->sigfd,
		  &(struct epoll_event){ .events = EPOLLIN, .data.u32 = UINT32_MAX });
	return 0;
}

static void daemon_fini(struct daemon *d)
{
	for (__u32 i = 0; i < d->nr_be; i++)
		xlb_probe_stop(&d->be[i].probe, d->epfd);
	free(d->be);
	xlb_config_free(&d->running);
	xlb_assign_free(&d->assign);
	xlb_dp_close(&d->dp);
	xlb_config_free(&d->ro.from);
	free(d->ro.changed.services);
	free(d->ro.snap);
	if (d->daemon_lock >= 0)
		close(d->daemon_lock);
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->epfd >= 0)
		close(d->epfd);
}

/* Ready fds: a signal (reload or stop) or a probe.  Returns true to stop. */
static bool handle_events(struct daemon *d, const struct epoll_event *ev, int n)
{
	bool stop = false;

	for (int i = 0; i < n; i++) {
		struct signalfd_siginfo si;

		if (ev[i].data.u32 < d->nr_be) {
			progress_check(d, ev[i].data.u32);
		} else if (ev[i].data.u32 == UINT32_MAX &&
			   read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP)
				reload(d);
			else
				stop = true;
		}
	}
	return stop;
}

/* Once a second: the distribution watch, the metrics file, systemd's status. */
static __u32 open_fds(void)
{
	struct dirent *de;
	DIR *dir = opendir("/proc/self/fd");
	__u32 n = 0;

	while (dir && (de = readdir(dir)))
		n += de->d_name[0] != '.';
	if (dir)
		closedir(dir);
	return n ? n - 1 : 0;	/* less the one reading */
}

/* The history's size and the room left for it (a full disk refuses every change). */
static void measure_state(struct daemon *d)
{
	struct xlb_history_usage u;
	char dir[512];
	bool ok;

	ok = !xlb_history_dir(d->o->state_root, d->o->ifname, dir, sizeof(dir)) &&
	     !xlb_history_usage(dir, &u);
	pthread_mutex_lock(&d->lock);
	d->has_usage = ok;
	if (ok)
		d->usage = u;
	pthread_mutex_unlock(&d->lock);
}

/* ---- rollouts: steps the CLI asked for, judged between them ----------------------- */

/* Counters of the data plane's drops, summed. */
static __u64 drops_now(struct daemon *d)
{
	__u64 n = 0;

	for (__u32 r = 0; r < XLB_STAT_MAX; r++) {
		struct xlb_stat st;

		if (!strcmp(xlb_stat_kind(r), "drop") && !xlb_dp_stat(&d->dp, r, &st))
			n += st.packets;
	}
	return n;
}

/* One backend's counters as a rollout watches them (under d->lock). */
static void rollout_read_backend(struct daemon *d, struct dbackend *b,
				 struct xlb_rollout_backend *s)
{
	struct xlb_counters c = { 0 };

	snprintf(s->service, sizeof(s->service), "%s", b->service);
	addr_s(b, s->address, sizeof(s->address));
	if (b->id)
		xlb_dp_counters(&d->dp, d->dp.backend_stats, b->id, &c);
	s->new_flows = is_udp(d, b->service) ? c.packets : c.new_flows;
	s->health_failures = b->h.failures;
	s->went_down = b->health_down;
	s->table_share = b->table_share;
	if (b->id) {
		struct xlb_syn_stat ss;

		xlb_dp_syn_stats(&d->dp, b->id, &ss);
		s->syns = ss.syns;
		s->syn_retries = ss.retries;
	}
}

/* What each backend has counted so far: the start of a step's window. */
static void rollout_snapshot(struct daemon *d)
{
	struct drollout *ro = &d->ro;

	pthread_mutex_lock(&d->lock);
	free(ro->snap);
	ro->snap = calloc(d->nr_be + 1, sizeof(*ro->snap));
	ro->nr_snap = 0;
	for (__u32 i = 0; ro->snap && i < d->nr_be; i++)
		rollout_read_backend(d, &d->be[i], &ro->snap[ro->nr_snap++]);
	pthread_mutex_unlock(&d->lock);
	ro->drops0 = drops_now(d);
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

		rollout_read_backend(d, &d->be[i], s);
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
	sig->drops = drops_now(d) - ro->drops0;
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
static bool slow_start(struct daemon *d, struct xlb_ctl *c, const struct xlb_config *cfg)
{
	const struct xlb_service_conf *ss = NULL;
	struct xlb_rollout r = { 0 }, now;
	char a[INET6_ADDRSTRLEN] = "";
	__u32 rnd = (__u32)now_ms() * 2654435761u ^ d->seed;

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
	if (!xlb_rollout_read(c->hist, &now)) {
		bool busy = xlb_rollout_active(&now);

		xlb_rollout_free(&now);
		if (busy)
			return false;	/* one at a time: this one comes in at once */
	}
	snprintf(r.id, sizeof(r.id), "r%08x", rnd);
	r.state = XLB_ROLLOUT_RUNNING;
	r.start_gen = c->live_gen;
	r.steps = ss->slow_start_steps;
	r.step_ms = ss->slow_start_ms;
	r.started_unix = time(NULL);
	snprintf(r.user, sizeof(r.user), "daemon");
	snprintf(r.reason, sizeof(r.reason), "slow start: service %s backend %s is up (health)",
		 ss->name, a);
	if (xlb_config_copy(&r.target, cfg) || xlb_rollout_write(c->hist, &r)) {
		xlb_rollout_free(&r);
		return false;
	}
	dlog(5, "rollout %s: %s: it enters in %u steps of %u ms", r.id, r.reason, r.steps,
	     ss->slow_start_ms);
	xlb_rollout_free(&r);
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
static void rollout_tick(struct daemon *d)
{
	struct drollout *ro = &d->ro;
	struct xlb_rollout_signals sig;
	struct xlb_rollout r;
	struct xlb_ctl c;
	char why[600];
	bool stepped = false;

	char hist[512], path[600];
	struct stat st;

	/* the common case costs a stat: no rollout file, or one already seen ended */
	if (xlb_history_dir(d->o->state_root, d->o->ifname, hist, sizeof(hist)))
		return;
	snprintf(path, sizeof(path), "%s/rollout.json", hist);
	if (stat(path, &st) || (!ro->active && st.st_mtim.tv_sec == ro->seen_mtime.tv_sec &&
				st.st_mtim.tv_nsec == ro->seen_mtime.tv_nsec)) {
		ro->active = false;
		return;
	}
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
	if ((!ro->active || strcmp(ro->id, r.id)) && !rollout_load(d, &c, &r))
		goto out;
	if (!ro->nr_snap || !ro->step_start_ms)
		rollout_snapshot(d);
	if (c.live_gen != ro->expect_gen) {
		snprintf(why, sizeof(why), "generation %llu went live outside the rollout (it "
			 "expected %llu): stopped where it was, nothing rolled back",
			 (unsigned long long)c.live_gen, (unsigned long long)ro->expect_gen);
		dlog(3, "rollout %s: %s", r.id, why);
		rollout_end(d, &r, XLB_ROLLOUT_FAILED, why);
		goto out;
	}
	if (!strcmp(r.request, "abort")) {
		rollout_back(d, &c, &r, XLB_ROLLOUT_ABORTED, "aborted by hand");
		goto out;
	}
	if (!strcmp(r.request, "pause") && r.state == XLB_ROLLOUT_RUNNING) {
		r.state = XLB_ROLLOUT_PAUSED;
		dlog(5, "rollout %s: paused at step %u of %u", r.id, r.step, r.steps);
	} else if (!strcmp(r.request, "resume") && r.state == XLB_ROLLOUT_PAUSED) {
		r.state = XLB_ROLLOUT_RUNNING;
		rollout_snapshot(d);	/* the step is watched for a whole step time again */
		dlog(5, "rollout %s: resumed at step %u of %u", r.id, r.step, r.steps);
	}
	r.request[0] = '\0';
	if (r.state != XLB_ROLLOUT_RUNNING)
		goto out;
	if (!r.step) {
		stepped = rollout_apply(d, &c, &r, 1);
		goto out;
	}
	if (now_ms() - ro->step_start_ms < r.step_ms)
		goto out;
	rollout_signals(d, &sig);
	if (xlb_rollout_judge(&d->running, &ro->changed, &sig, why, sizeof(why))) {
		dlog(4, "rollout %s: step %u of %u: %s", r.id, r.step, r.steps, why);
		free(sig.be);
		rollout_back(d, &c, &r, XLB_ROLLOUT_ROLLED_BACK, why);
		goto out;
	}
	free(sig.be);
	if (r.step == r.steps) {
		dlog(5, "rollout %s: done, %u steps (generations %llu..%llu)", r.id, r.steps,
		     (unsigned long long)r.gens[0], (unsigned long long)r.gens[r.nr_gens - 1]);
		rollout_end(d, &r, XLB_ROLLOUT_DONE, NULL);
		goto out;
	}
	stepped = rollout_apply(d, &c, &r, r.step + 1);
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

/* ---- announcement: the VIPs this node's BGP speaker announces ------------------------ */

/* The BIRD protocol of a VIP: xlb_ and the address with '.' and ':' as '_'. */
static void vip_protocol(const union xlb_addr *a, __u8 family, char *out, size_t len)
{
	char s[INET6_ADDRSTRLEN];

	xlb_addr_str(a, family, s, sizeof(s));
	for (char *p = s; *p; p++)
		if (*p == '.' || *p == ':')
			*p = '_';
	snprintf(out, len, "xlb_%s", s);
}

/* birdc -s SOCKET enable|disable PROTOCOL, bounded in time: 0 or -1 (why in out). */
static int birdc(struct daemon *d, const char *verb, const char *proto, char *out, size_t len)
{
	char *argv[] = { "birdc", "-s", (char *)d->o->announce, (char *)verb, (char *)proto, NULL };
	int pfd[2], status = 0;
	size_t got = 0;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execvp("birdc", argv);
		_exit(127);
	}
	close(pfd[1]);
	for (__u64 end = now_ms() + 3000; pid > 0 && got + 1 < len;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		ssize_t n;

		if (now_ms() >= end || poll(&p, 1, (int)(end - now_ms())) <= 0) {
			kill(pid, SIGKILL);
			snprintf(out, len, "birdc did not answer within 3 s");
			break;
		}
		n = read(pfd[0], out + got, len - 1 - got);
		if (n <= 0)
			break;
		got += n;
		out[got] = '\0';
	}
	close(pfd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
	/* BIRD answers "xlb_...: enabled", "...: disabled" or "...: already ..." */
	return WIFEXITED(status) && !WEXITSTATUS(status) &&
	       (strstr(out, "enabled") || strstr(out, "disabled")) ? 0 : -1;
}

/*
 * Before a node joins (announces a VIP it does not announce yet) with
 * --fleet-peer: read each peer's metrics; every peer in service (announcing)
 * must have the same live tables, service by service, as this node: a flow the
 * router moves between nodes then reaches the same backend.  A node already
 * announcing is not withdrawn for a disagreement (a change rolling over the
 * fleet disagrees for a moment); it is logged.  With no peer in service to
 * compare with, the node joins alone (a fleet's first node), and says so.
 */
static void fleet_check(struct daemon *d)
{
	struct xlb_fleet_node *peer = calloc(1, sizeof(*peer));
	__u32 compared = 0, unread = 0;
	char why[sizeof(d->fleet_why)] = "";
	__u64 end;

	if (!peer)
		return;
	d->fleet_read_ms = now_ms();
	end = d->fleet_read_ms + 1500;	/* the loop runs the health checks too: 1.5 s for all */
	for (__u32 i = 0; i < d->o->nr_fleet_peers && !why[0]; i++) {
		__u64 now = now_ms();

		peer->source = d->o->fleet_peers[i];
		if (now + 100 > end) {
			unread++;
			continue;
		}
		xlb_fleet_read(peer, end - now < 1000 ? (int)(end - now) : 1000);
		if (peer->error[0]) {
			unread++;
			continue;
		}
		if (peer->announced <= 0)
			continue;
		compared++;
		if (peer->nr_tables != d->nr_tables)
			snprintf(why, sizeof(why), "the fleet disagrees: %s has %u live tables, this "
				 "node %u (xlb fleet check)", peer->source, peer->nr_tables,
				 d->nr_tables);
		for (__u32 k = 0; k < d->nr_tables && !why[0]; k++) {
			const char *fp = xlb_fleet_table(peer, d->tables[k].name);

			if (strcmp(fp, d->tables[k].fp))
				snprintf(why, sizeof(why), "the fleet disagrees: service %s's table is "
					 "%s here, %s on %s (xlb fleet check)", d->tables[k].name,
					 d->tables[k].fp, fp[0] ? fp : "none", peer->source);
		}
	}
	free(peer);
	if (strcmp(why, d->fleet_why) && why[0])
		dlog(4, "fleet: %s", why);
	if (!why[0] && !compared && !d->fleet_alone_logged) {
		dlog(4, "fleet: no peer in service to compare with (%u of %u unreadable): this "
		     "node joins alone", unread, d->o->nr_fleet_peers);
		d->fleet_alone_logged = true;
	}
	if (compared)
		d->fleet_alone_logged = false;
	pthread_mutex_lock(&d->lock);	/* the status page reads it */
	snprintf(d->fleet_why, sizeof(d->fleet_why), "%s", why);
	pthread_mutex_unlock(&d->lock);
}

/* Why this node must not announce vip now ("" when it may). */
static void announce_why(struct daemon *d, const union xlb_addr *vip, __u8 family,
			 bool attached, bool drained, char *why, size_t len)
{
	why[0] = '\0';
	if (!attached) {
		snprintf(why, len, "the balancer is not attached to %s", d->o->ifname);
		return;
	}
	if (drained) {
		snprintf(why, len, "the node is drained (xlb node undrain)");
		return;
	}
	if (d->o->config && d->reload_failed) {
		snprintf(why, len, "the running generation is not the configuration file's "
			 "(its last reload was not applied)");
		return;
	}
	for (__u32 s = 0; s < d->running.nr_services; s++) {
		const struct xlb_service_conf *sc = &d->running.services[s];
		__u32 up = 0, need = sc->guards.min_active ? sc->guards.min_active : 1;

		if (sc->family != family || memcmp(&sc->vip, vip, sizeof(*vip)))
			continue;
		for (__u32 j = 0; j < sc->nr_backends; j++) {
			const struct xlb_backend_conf *b = &sc->backends[j];
			struct dbackend *db = find_be(d, sc->name, &b->addr, b->family);

			up += b->state == XLB_BACKEND_ACTIVE && b->weight &&
			      !(db && (db->health_down || (db->checked && !db->h.up)));
		}
		if (up < need) {
			snprintf(why, len, "service %s has %u backends up, min_active %u", sc->name,
				 up, need);
			return;
		}
	}
}

/*
 * Once a second with --announce: each VIP of the running configuration is
 * announced (its BIRD protocol enabled) while the balancer is attached, the
 * node is not drained, the running generation is the configuration file's,
 * and each of the VIP's services has min_active backends up; else withdrawn.
 * What it did goes to the log, the metrics and announce.json beside the
 * history (xlb node status).
 */
static void announce_tick(struct daemon *d)
{
	char hist[512], path[600], tmp[620], why[200], out[256], pin[256];
	bool attached, drained;
	json_t *vips = json_array();
	FILE *f;

	if (!d->o->announce || xlb_history_dir(d->o->state_root, d->o->ifname, hist, sizeof(hist)))
		return;
	snprintf(path, sizeof(path), "%s/drain", hist);
	drained = !access(path, F_OK);
	/* the pinned link, live on this interface: cheap enough for once a second */
	attached = !xlb_pin_dir(d->o->ifname, pin, sizeof(pin));
	snprintf(path, sizeof(path), "%s/link", pin);
	attached = attached && xlb_pinned_link(path, if_nametoindex(d->o->ifname)) == XLB_LINK_LIVE;
	if (d->o->nr_fleet_peers && now_ms() - d->fleet_read_ms >= 2000) {
		bool joining = d->nr_vips == 0;

		for (__u32 k = 0; k < d->nr_vips; k++)
			joining |= d->vips[k].state != 1;
		if (joining)	/* peers are read without the lock: they may read ours */
			fleet_check(d);
		else		/* the next join reads the peers first */
			d->fleet_read_ms = 0;
	}
	pthread_mutex_lock(&d->lock);
	for (__u32 s = 0; s < d->running.nr_services; s++) {
		const struct xlb_service_conf *sc = &d->running.services[s];
		struct dvip *v = NULL;
		char proto[64];

		vip_protocol(&sc->vip, sc->family, proto, sizeof(proto));
		for (__u32 k = 0; k < d->nr_vips && !v; k++)
			if (!strcmp(d->vips[k].proto, proto))
				v = &d->vips[k];
		if (!v && d->nr_vips < XLB_MAX_VIPS) {
			v = &d->vips[d->nr_vips++];
			memset(v, 0, sizeof(*v));
			snprintf(v->proto, sizeof(v->proto), "%s", proto);
			v->state = -1;
		}
		if (v)
			v->seen = d->generation;
	}
	for (__u32 k = 0; k < d->nr_vips; k++) {
		struct dvip *v = &d->vips[k];
		const struct xlb_service_conf *sc = NULL;
		int want;

		for (__u32 s = 0; s < d->running.nr_services && !sc; s++) {
			char proto[64];

			vip_protocol(&d->running.services[s].vip, d->running.services[s].family,
				     proto, sizeof(proto));
			if (!strcmp(proto, v->proto))
				sc = &d->running.services[s];
		}
		if (sc)
			announce_why(d, &sc->vip, sc->family, attached, drained, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "no service has this VIP any more");
		if (!why[0] && v->state != 1 && d->fleet_why[0])
			snprintf(why, sizeof(why), "%s", d->fleet_why);
		want = !why[0];
		if (want != v->state) {
			if (birdc(d, want ? "enable" : "disable", v->proto, out, sizeof(out))) {
				if (now_ms() - v->failed_ms > 60000)
					dlog(3, "announce: cannot %s %s through %s: %s", want ? "enable" :
					     "disable", v->proto, d->o->announce, out);
				v->failed_ms = now_ms();
			} else {
				dlog(want ? 5 : 4, "announce: %s %s%s%s", v->proto,
				     want ? "announced" : "withdrawn", want ? "" : ": ", why);
				v->state = want;
				d->announce_changes++;
			}
		}
		snprintf(v->why, sizeof(v->why), "%s", why);
		json_array_append_new(vips, json_pack("{s:s,s:b,s:s}", "protocol", v->proto,
						      "announced", v->state == 1, "why", why));
	}
	d->announced = 0;
	for (__u32 k = 0; k < d->nr_vips; k++)
		d->announced += d->vips[k].state == 1;
	pthread_mutex_unlock(&d->lock);
	snprintf(path, sizeof(path), "%s/announce.json", hist);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f) {
		json_t *o = json_pack("{s:b,s:b,s:o,s:I}", "drained", drained, "attached", attached,
				      "vips", vips, "unix_ms", (json_int_t)time(NULL) * 1000);

		json_dumpf(o, f, JSON_COMPACT);
		json_decref(o);
		if (!fclose(f))
			rename(tmp, path);
	} else {
		json_decref(vips);
	}
}

/* A change made beside the daemon (the CLI): read the running configuration again. */
static void notice_changes(struct daemon *d)
{
	struct xlb_slot_conf conf;
	char dir[256], path[300];
	__u32 slot;
	int fd;

	/* attached again (new maps pinned) or upgraded (counters carried into a larger
	 * map, maps added): the ones held are stale */
	if (!xlb_pin_dir(d->o->ifname, dir, sizeof(dir))) {
		snprintf(path, sizeof(path), "%s/xlb_active", dir);
		fd = bpf_obj_get(path);
		if (fd >= 0 && xlb_dp_pins_moved(&d->dp, dir)) {
			struct xlb_dp fresh;

			static __u32 failed;	/* an attach under way pins map after map */

			if (xlb_dp_open_pinned(&fresh, dir)) {
				if (++failed == 5)
					dlog(3, "the balancer was attached again; %s", xlb_errmsg());
			} else {
				failed = 0;
				dlog(4, "the balancer was attached again to %s: reading its new maps",
				     d->o->ifname);
				pthread_mutex_lock(&d->lock);
				xlb_dp_close(&d->dp);
				d->dp = fresh;
				d->generation = UINT64_MAX;	/* read the running generation again */
				pthread_mutex_unlock(&d->lock);
			}
		}
		if (fd >= 0)
			close(fd);
	}
	if (!xlb_dp_active_slot(&d->dp, &slot) && !xlb_dp_get_slot_conf(&d->dp, slot, &conf) &&
	    conf.generation != d->generation)
		sync_running(d);
}

/*
 * Every few seconds: release the moved slots no flow needs any more (the
 * lock is tried, never waited on: a CLI change releases them too), and
 * count what the connection table remembers.
 */
static void release_moved(struct daemon *d)
{
	struct xlb_release r;
	struct xlb_ctl c;
	__u32 flows = 0;
	int err;

	if (xlb_ctl_try_open(d->o->ifname, d->o->state_root, &c))
		return;
	err = xlb_moved_release(&c, xlb_moved_now(), &r);
	xlb_ctl_close(&c);
	if (err) {
		dlog(4, "cannot release moved table slots: %s", xlb_errmsg());
		return;
	}
	if (r.released)
		dlog(6, "released %u moved table slots of %u services (no flow needed their "
		     "previous backend for flow_idle_timeout); %u remembered flows forgotten, "
		     "%u slots still moved", r.released, r.services, r.forgotten, r.moved);
	/* walking a full table takes ~0.5 s per million entries: every 30 s, or after a release */
	if (r.released || r.replaced || now_ms() - d->flows_counted_ms >= 30000) {
		xlb_dp_count_entries(d->dp.flows, sizeof(struct xlb_flow_key), &flows);
		d->flows_counted_ms = now_ms();
	} else {
		flows = d->flows_remembered;
	}
	pthread_mutex_lock(&d->lock);
	d->has_moved = true;
	memcpy(d->moved_by_index, r.moved_by_index, sizeof(d->moved_by_index));
	d->moved_released += r.released;
	d->flows_remembered = flows;
	pthread_mutex_unlock(&d->lock);
}

static void every_second(struct daemon *d)
{
	static __u32 ticks;
	char status[128];

	rollout_tick(d);
	notice_changes(d);
	announce_tick(d);
	if (ticks % 5 == 0)
		release_moved(d);
	if (ticks++ % 10 == 0)
		measure_state(d);
	d->open_fds = open_fds();
	sample(d);
	if (d->o->metrics_file)
		write_metrics_file(d, d->o->metrics_file);
	snprintf(status, sizeof(status), "STATUS=generation %llu, %u backends",
		 (unsigned long long)d->generation, d->nr_be);
	sd_notify(0, status);
}

int xlb_daemon_run(const struct xlb_daemon_opts *o)
{
	struct daemon d = { .o = o, .seed = (__u32)getpid() * 2654435761u };
	struct MHD_Daemon *mhd = NULL;
	struct epoll_event ev[64];
	__u64 last_sample = 0;
	bool stop = false;
	int rc = daemon_init(&d);

	if (rc)
		goto out;
	sync_running(&d);
	reload(&d);
	if (!d.generation && !o->config)
		dlog(4, "no configuration is live on %s yet: nothing to check", o->ifname);
	if (o->metrics_addr && !(mhd = start_metrics(&d, o->metrics_addr))) {
		dlog(3, "cannot serve metrics on %s", o->metrics_addr);
		rc = XLB_EXIT_SYSTEM;
		goto out;
	}
	dlog(6, "daemon: running on %s, generation %llu, %u backends%s%s", o->ifname,
	     (unsigned long long)d.generation, d.nr_be, o->metrics_addr ? ", metrics on " : "",
	     o->metrics_addr ? o->metrics_addr : "");
	sd_notify(0, "READY=1");
	while (!stop) {
		int n = epoll_wait(d.epfd, ev, 64, 50);
		__u64 now;

		stop = handle_events(&d, ev, n);
		now = now_ms();
		run_checks(&d, now);
		if (d.pending)
			commit_health(&d, now);
		if (now - last_sample >= 1000) {
			last_sample = now;
			every_second(&d);
		}
	}
	sd_notify(0, "STOPPING=1");
	dlog(6, "daemon: stopping; the data plane keeps forwarding");
out:
	if (mhd)
		MHD_stop_daemon(mhd);
	daemon_fini(&d);
	return rc;
}
