/*
 * The daemon.  One thread: an epoll loop over non-blocking health checks,
 * a signalfd (SIGHUP reload, SIGTERM stop) and a 50 ms tick.  Health
 * verdicts become configuration changes through the one commit path (the
 * running configuration re-read under the interface lock, so CLI changes
 * are never lost), never below a service's min_active (fail open, alert).
 * Every second it samples the counters for the distribution watch and the
 * metrics file.  Metrics are served by libmicrohttpd from its own thread;
 * a mutex guards what both threads read.  Stopping leaves the data plane
 * forwarding.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include <systemd/sd-daemon.h>
#include "change.h"
#include "ctl.h"
#include "daemon.h"
#include "health.h"
#include "log.h"
#include "names.h"
#include "netutil.h"
#include "shares.h"

enum phase { CHECK_IDLE, CHECK_CONNECT, CHECK_READ };

struct dbackend {
	char service[XLB_NAME_MAX];
	union xlb_addr addr;
	__u8 family;
	bool present;			/* in the running configuration */
	bool checked;			/* its service has a health check */
	bool health_down;		/* the daemon took it out */
	struct xlb_hstate h;
	int fd;
	enum phase phase;
	__u64 deadline_ms;
	char buf[160];
	size_t len;
	char last_error[64];
	struct xlb_watch watch;
	double table_share;
	__u32 id;
};

struct dservice {
	char name[XLB_NAME_MAX];
	bool floor_hit;
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
	bool dirty;			/* a verdict flipped: commit */
	__u64 reloads[4];		/* applied, unchanged, invalid, refused */
	__u64 health_commits, health_refused;
};

static const char *const reload_results[4] = { "applied", "unchanged", "invalid", "refused" };

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

static void stop_check(struct daemon *d, struct dbackend *b)
{
	if (b->fd >= 0) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, b->fd, NULL);
		close(b->fd);
	}
	b->fd = -1;
	b->phase = CHECK_IDLE;
}

/* Table shares of the live tables, per backend. */
static void load_shares(struct daemon *d)
{
	for (__u32 s = 0; s < d->running.nr_services; s++) {
		const struct xlb_service_conf *sc = &d->running.services[s];
		struct xlb_live_table t;

		if (xlb_live_table_read(&d->dp, d->live_slot, &d->assign, sc, &t)) {
			dlog(3, "cannot read the live table of %s: %s", sc->name, xlb_errmsg());
			continue;
		}
		for (__u32 i = 0; i < d->nr_be; i++)
			if (!strcmp(d->be[i].service, sc->name))
				d->be[i].table_share = xlb_live_share(&t, d->be[i].id);
		xlb_live_table_free(&t);
	}
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
	for (__u32 i = 0; i < d->nr_be; i++)
		d->be[i].present = false;
	for (__u32 s = 0; s < c.running.nr_services; s++) {
		const struct xlb_service_conf *sc = &c.running.services[s];

		for (__u32 j = 0; j < sc->nr_backends; j++) {
			const struct xlb_backend_conf *bc = &sc->backends[j];
			struct dbackend *b = find_be(d, sc->name, &bc->addr, bc->family);

			if (!b) {
				if (d->nr_be == d->cap_be) {
					__u32 cap = d->cap_be ? 2 * d->cap_be : 64;
					void *p = realloc(d->be, cap * sizeof(*d->be));

					if (!p)
						break;
					d->be = p;
					d->cap_be = cap;
				}
				b = &d->be[d->nr_be++];
				memset(b, 0, sizeof(*b));
				snprintf(b->service, sizeof(b->service), "%s", sc->name);
				b->addr = bc->addr;
				b->family = bc->family;
				b->fd = -1;
				xlb_hstate_init(&b->h);
				b->h.next_ms = xlb_health_next(now_ms(), 1000, &d->seed) - 900;
			}
			b->present = true;
			b->checked = sc->health.type != XLB_HEALTH_NONE;
			b->id = xlb_assign_id(&c.assign, sc->name, &bc->addr, bc->family);
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
		stop_check(d, &d->be[i]);
		d->be[i] = d->be[--d->nr_be];
	}
	for (__u32 i = 0; i < d->nr_be; i++)
		if (d->be[i].fd >= 0)	/* moved entries: re-point their epoll data */
			epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->be[i].fd, &(struct epoll_event){
				  .events = d->be[i].phase == CHECK_CONNECT ? EPOLLOUT : EPOLLIN,
				  .data.u32 = i });
	xlb_config_free(&d->running);
	xlb_config_copy(&d->running, &c.running);
	xlb_assign_free(&d->assign);
	d->assign = c.assign;
	c.assign.be = NULL;
	c.assign.nr_be = 0;
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

static const struct xlb_service_conf *service_of(struct daemon *d, const struct dbackend *b)
{
	return xlb_config_service(&d->running, b->service);
}

static void finish_check(struct daemon *d, struct dbackend *b, bool ok, const char *why)
{
	const struct xlb_service_conf *s = service_of(d, b);
	char a[INET6_ADDRSTRLEN];

	stop_check(d, b);
	if (!s)
		return;
	snprintf(b->last_error, sizeof(b->last_error), "%s", ok ? "" : why);
	pthread_mutex_lock(&d->lock);
	if (xlb_hstate_record(&b->h, ok, s->health.rise, s->health.fall)) {
		dlog(b->h.up ? 5 : 4, "health: service=%s backend=%s check=%s after %u %s%s%s",
		     b->service, addr_s(b, a, sizeof(a)), b->h.up ? "up" : "down",
		     b->h.up ? b->h.ok_run : b->h.fail_run, b->h.up ? "successes" : "failures",
		     ok ? "" : ": ", ok ? "" : why);
		d->dirty = true;
	}
	pthread_mutex_unlock(&d->lock);
	b->h.next_ms = xlb_health_next(now_ms(), s->health.interval_ms, &d->seed);
}

static void start_check(struct daemon *d, struct dbackend *b, __u32 idx)
{
	const struct xlb_service_conf *s = service_of(d, b);
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	__u16 port;

	if (!s)
		return;
	port = s->health.port ? s->health.port : s->port;
	if (b->family == XLB_FAMILY_V4) {
		struct sockaddr_in *sin = (void *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = b->addr.v4;
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (void *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, b->addr.v6, 16);
		len = sizeof(*sin6);
	}
	b->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (b->fd < 0)
		return finish_check(d, b, false, "socket");
	b->deadline_ms = now_ms() + s->health.timeout_ms;
	b->len = 0;
	if (connect(b->fd, (void *)&ss, len) && errno != EINPROGRESS)
		return finish_check(d, b, false, strerror(errno));
	b->phase = CHECK_CONNECT;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, b->fd,
		  &(struct epoll_event){ .events = EPOLLOUT, .data.u32 = idx });
}

/* "HTTP/1.x NNN": 2xx and 3xx pass. */
static bool http_ok(const char *line, char *why, size_t len)
{
	int code;

	if (sscanf(line, "HTTP/%*d.%*d %d", &code) != 1) {
		snprintf(why, len, "not an HTTP answer");
		return false;
	}
	snprintf(why, len, "HTTP %d", code);
	return code >= 200 && code < 400;
}

static void progress_check(struct daemon *d, __u32 idx)
{
	struct dbackend *b = &d->be[idx];
	const struct xlb_service_conf *s = service_of(d, b);
	char req[400], why[64];
	int err = 0;
	socklen_t el = sizeof(err);
	ssize_t n;

	if (!s)
		return stop_check(d, b);
	if (b->phase == CHECK_CONNECT) {
		getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err)
			return finish_check(d, b, false, strerror(err));
		if (s->health.type == XLB_HEALTH_TCP)
			return finish_check(d, b, true, "");
		snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nUser-Agent: xlb-health\r\n"
			 "Connection: close\r\n\r\n", s->health.path);
		if (send(b->fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
			return finish_check(d, b, false, "send failed");
		b->phase = CHECK_READ;
		epoll_ctl(d->epfd, EPOLL_CTL_MOD, b->fd,
			  &(struct epoll_event){ .events = EPOLLIN, .data.u32 = idx });
		return;
	}
	n = recv(b->fd, b->buf + b->len, sizeof(b->buf) - 1 - b->len, 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0)
		b->len += n;
	b->buf[b->len] = '\0';
	if (strstr(b->buf, "\r\n") || n <= 0 || b->len == sizeof(b->buf) - 1) {
		bool ok = http_ok(b->buf, why, sizeof(why));

		finish_check(d, b, ok, n < 0 ? strerror(errno) : why);
	}
}

static void run_checks(struct daemon *d, __u64 now)
{
	for (__u32 i = 0; i < d->nr_be; i++) {
		struct dbackend *b = &d->be[i];

		if (!b->checked)
			continue;
		if (b->phase != CHECK_IDLE && now >= b->deadline_ms)
			finish_check(d, b, false, "timeout");
		else if (b->phase == CHECK_IDLE && now >= b->h.next_ms)
			start_check(d, b, i);
	}
}

/* ---- committing verdicts --------------------------------------------------------- */

/*
 * Health overlay on a configuration: unhealthy backends the configuration
 * wants active go down, never below min_active; those the daemon took out
 * come back when healthy.  Returns true if cfg changed.
 */
static bool overlay_health(struct daemon *d, struct xlb_config *cfg)
{
	bool changed = false;

	for (__u32 s = 0; s < cfg->nr_services; s++) {
		struct xlb_service_conf *sc = &cfg->services[s];
		__u32 n = 0, map[sc->nr_backends + 1];
		bool healthy[sc->nr_backends + 1], down[sc->nr_backends + 1], hit;
		__u32 runs[sc->nr_backends + 1];
		struct dservice *ds = NULL;

		if (sc->health.type == XLB_HEALTH_NONE)
			continue;
		for (__u32 j = 0; j < sc->nr_backends; j++) {
			struct xlb_backend_conf *bc = &sc->backends[j];
			struct dbackend *b = find_be(d, sc->name, &bc->addr, bc->family);

			/* an operator's drain/down stays; a backend not checked yet is healthy */
			if (!(bc->state == XLB_BACKEND_ACTIVE ||
			      (bc->state == XLB_BACKEND_DOWN && b && b->health_down)))
				continue;
			map[n] = j;
			healthy[n] = !b || b->h.up;
			runs[n++] = b ? b->h.fail_run : 0;
		}
		hit = xlb_health_floor(n, healthy, runs, sc->guards.min_active, down);
		for (__u32 k = 0; k < d->nr_svc && !ds; k++)
			if (!strcmp(d->svc[k].name, sc->name))
				ds = &d->svc[k];
		if (!ds && d->nr_svc < XLB_MAX_SERVICES) {
			ds = &d->svc[d->nr_svc++];
			snprintf(ds->name, sizeof(ds->name), "%s", sc->name);
		}
		if (ds && hit != ds->floor_hit)
			dlog(hit ? 2 : 5, "floor: service=%s %s min_active=%u: %s", sc->name,
			     hit ? "ALERT: more backends failed than" : "back above", sc->guards.min_active,
			     hit ? "keeping failing backends in the table (fail open)" : "alert cleared");
		if (ds)
			ds->floor_hit = hit;
		for (__u32 k = 0; k < n; k++) {
			struct xlb_backend_conf *bc = &sc->backends[map[k]];
			struct dbackend *b = find_be(d, sc->name, &bc->addr, bc->family);
			__u8 want = down[k] ? XLB_BACKEND_DOWN : XLB_BACKEND_ACTIVE;

			if (bc->state != want) {
				bc->state = want;
				changed = true;
			}
			if (b)
				b->health_down = down[k];
		}
	}
	return changed;
}

/* Apply cfg through the change path; 0 applied, 1 unchanged, -EPERM refused, <0. */
static int commit(struct xlb_ctl *c, const struct xlb_config *cfg, const char *source,
		  const char *reason)
{
	struct xlb_change ch = { .cfg = cfg, .source = source, .reason = reason };
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

static void commit_health(struct daemon *d)
{
	struct xlb_config cfg;
	struct xlb_ctl c;
	char reason[256] = "health:";
	int err;

	d->dirty = false;
	if (xlb_ctl_open(d->o->ifname, d->o->state_root, false, &c)) {
		dlog(3, "health: cannot open the interface state: %s", xlb_errmsg());
		d->dirty = true;
		return;
	}
	if (xlb_config_copy(&cfg, &c.running))
		goto out;
	pthread_mutex_lock(&d->lock);
	if (overlay_health(d, &cfg)) {
		for (__u32 s = 0; s < cfg.nr_services; s++)
			for (__u32 j = 0; j < cfg.services[s].nr_backends; j++) {
				const struct xlb_backend_conf *a = &cfg.services[s].backends[j];
				const struct xlb_service_conf *os = xlb_config_service(&c.running,
									cfg.services[s].name);
				const struct xlb_backend_conf *o = os ? xlb_service_backend(os, &a->addr,
								a->family) : NULL;
				char as[INET6_ADDRSTRLEN];

				if (!o || o->state == a->state)
					continue;
				dlog(4, "health: service=%s backend=%s state=%s->%s reason=health",
				     cfg.services[s].name, xlb_addr_str(&a->addr, a->family, as,
				     sizeof(as)), xlb_state_name(o->state), xlb_state_name(a->state));
				snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
					 " %s %s %s", cfg.services[s].name, as, xlb_state_name(a->state));
			}
		pthread_mutex_unlock(&d->lock);
		err = commit(&c, &cfg, "health", reason);
		pthread_mutex_lock(&d->lock);
		if (err == -EPERM || err == -EINVAL)
			d->health_refused++;
		else if (!err)
			d->health_commits++;
	}
	pthread_mutex_unlock(&d->lock);
	xlb_config_free(&cfg);
out:
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
		result = 2;
	} else if (xlb_ctl_open(d->o->ifname, d->o->state_root, false, &c)) {
		dlog(3, "reload: %s", xlb_errmsg());
		result = 3;
	} else {
		pthread_mutex_lock(&d->lock);
		overlay_health(d, &cfg);
		pthread_mutex_unlock(&d->lock);
		snprintf(reason, sizeof(reason), "reload of %s", d->o->config);
		err = commit(&c, &cfg, "reload", reason);
		result = err == 1 ? 1 : err ? 3 : 0;
		xlb_ctl_close(&c);
	}
	xlb_config_free(&cfg);
	xlb_diags_free(&diags);
	pthread_mutex_lock(&d->lock);
	d->reloads[result]++;
	pthread_mutex_unlock(&d->lock);
	dlog(result >= 2 ? 3 : 6, "reload: %s", reload_results[result]);
	sync_running(d);
	sd_notify(0, "READY=1");
}

/* ---- distribution watch and metrics --------------------------------------------- */

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
		if (xlb_watch_sample(&b->watch, &wo, now, mine.new_flows, all.new_flows,
				     b->table_share))
			dlog(4, "skew: ALERT service=%s backend=%s takes %.1f%% of new flows off "
			     "its table share %.1f%% (deviation %.3f above %.3f for %u ms)",
			     b->service, addr_s(b, a, sizeof(a)),
			     100 * (b->table_share + (b->watch.deviation)), 100 * b->table_share,
			     b->watch.deviation, wo.threshold, wo.for_ms);
	}
	pthread_mutex_unlock(&d->lock);
}

static void metric(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One counter family over the verdict reasons of a kind (drop, pass, forward). */
static void verdicts(struct daemon *d, FILE *f, const char *name, const char *kind,
		     const char *label, const char *help)
{
	metric(f, name, "counter", help);
	for (__u32 r = 0; r < XLB_STAT_MAX; r++) {
		struct xlb_stat st;

		if (!strcmp(xlb_stat_kind(r), kind) && !xlb_dp_stat(&d->dp, r, &st))
			fprintf(f, "%s{%s=\"%s\"} %llu\n", name, label, xlb_stat_names[r],
				(unsigned long long)st.packets);
	}
}

static void render(struct daemon *d, FILE *f)
{
	static const struct { const char *name, *help; size_t off; } be_counters[] = {
		{ "xlb_backend_packets_total", "Packets sent to the backend.",
		  offsetof(struct xlb_counters, packets) },
		{ "xlb_backend_bytes_total", "Bytes sent to the backend (as received).",
		  offsetof(struct xlb_counters, bytes) },
		{ "xlb_backend_new_flows_total", "New connections sent to the backend.",
		  offsetof(struct xlb_counters, new_flows) },
	};
	char a[INET6_ADDRSTRLEN];

	pthread_mutex_lock(&d->lock);
	metric(f, "xlb_build_info", "gauge", "Build of the xlb daemon.");
	fprintf(f, "xlb_build_info{version=\"%s\"} 1\n", XLB_VERSION);
	metric(f, "xlb_config_generation", "gauge", "Live configuration generation.");
	fprintf(f, "xlb_config_generation %llu\n", (unsigned long long)d->generation);
	metric(f, "xlb_config_info", "gauge", "Fingerprint of the live configuration.");
	fprintf(f, "xlb_config_info{fingerprint=\"%s\"} 1\n", d->fingerprint);
	for (size_t k = 0; k < sizeof(be_counters) / sizeof(be_counters[0]); k++) {
		metric(f, be_counters[k].name, "counter", be_counters[k].help);
		for (__u32 i = 0; i < d->nr_be; i++) {
			struct xlb_counters c;

			if (!d->be[i].id || xlb_dp_counters(&d->dp, d->dp.backend_stats, d->be[i].id, &c))
				continue;
			fprintf(f, "%s{service=\"%s\",backend=\"%s\"} %llu\n", be_counters[k].name,
				d->be[i].service, addr_s(&d->be[i], a, sizeof(a)),
				*(unsigned long long *)((char *)&c + be_counters[k].off));
		}
	}
	metric(f, "xlb_backend_up", "gauge", "1 when the backend's health check passes (or it has none).");
	for (__u32 i = 0; i < d->nr_be; i++)
		fprintf(f, "xlb_backend_up{service=\"%s\",backend=\"%s\"} %d\n", d->be[i].service,
			addr_s(&d->be[i], a, sizeof(a)), !d->be[i].checked || d->be[i].h.up);
	metric(f, "xlb_backend_weight", "gauge", "Configured weight (0 when not active).");
	for (__u32 i = 0; i < d->nr_be; i++) {
		const struct xlb_service_conf *s = xlb_config_service(&d->running, d->be[i].service);
		const struct xlb_backend_conf *b = s ? xlb_service_backend(s, &d->be[i].addr,
								   d->be[i].family) : NULL;

		fprintf(f, "xlb_backend_weight{service=\"%s\",backend=\"%s\"} %u\n",
			d->be[i].service, addr_s(&d->be[i], a, sizeof(a)),
			b && b->state == XLB_BACKEND_ACTIVE ? b->weight : 0);
	}
	metric(f, "xlb_backend_table_share", "gauge", "Share of the live table's slots.");
	for (__u32 i = 0; i < d->nr_be; i++)
		fprintf(f, "xlb_backend_table_share{service=\"%s\",backend=\"%s\"} %.6f\n",
			d->be[i].service, addr_s(&d->be[i], a, sizeof(a)), d->be[i].table_share);
	metric(f, "xlb_backend_share_deviation", "gauge",
	       "Observed share of new flows minus table share, absolute, over the window.");
	for (__u32 i = 0; i < d->nr_be; i++)
		fprintf(f, "xlb_backend_share_deviation{service=\"%s\",backend=\"%s\"} %.6f\n",
			d->be[i].service, addr_s(&d->be[i], a, sizeof(a)), d->be[i].watch.deviation);
	metric(f, "xlb_backend_share_alert", "gauge", "1 while the deviation alert holds.");
	for (__u32 i = 0; i < d->nr_be; i++)
		fprintf(f, "xlb_backend_share_alert{service=\"%s\",backend=\"%s\"} %d\n",
			d->be[i].service, addr_s(&d->be[i], a, sizeof(a)), d->be[i].watch.alert);
	metric(f, "xlb_backend_health_checks_total", "counter", "Health checks done.");
	for (__u32 i = 0; i < d->nr_be; i++)
		fprintf(f, "xlb_backend_health_checks_total{service=\"%s\",backend=\"%s\"} %llu\n",
			d->be[i].service, addr_s(&d->be[i], a, sizeof(a)),
			(unsigned long long)d->be[i].h.checks);
	metric(f, "xlb_backend_health_failures_total", "counter", "Failed health checks.");
	for (__u32 i = 0; i < d->nr_be; i++)
		fprintf(f, "xlb_backend_health_failures_total{service=\"%s\",backend=\"%s\"} %llu\n",
			d->be[i].service, addr_s(&d->be[i], a, sizeof(a)),
			(unsigned long long)d->be[i].h.failures);
	metric(f, "xlb_service_packets_total", "counter", "Packets forwarded for the service.");
	for (__u32 s = 0; s < d->running.nr_services; s++) {
		struct xlb_counters c;
		int idx = xlb_assign_service(&d->assign, d->running.services[s].name);

		if (idx >= 0 && !xlb_dp_counters(&d->dp, d->dp.service_stats, idx, &c))
			fprintf(f, "xlb_service_packets_total{service=\"%s\"} %llu\n",
				d->running.services[s].name, (unsigned long long)c.packets);
	}
	metric(f, "xlb_service_new_flows_total", "counter", "New connections of the service.");
	for (__u32 s = 0; s < d->running.nr_services; s++) {
		struct xlb_counters c;
		int idx = xlb_assign_service(&d->assign, d->running.services[s].name);

		if (idx >= 0 && !xlb_dp_counters(&d->dp, d->dp.service_stats, idx, &c))
			fprintf(f, "xlb_service_new_flows_total{service=\"%s\"} %llu\n",
				d->running.services[s].name, (unsigned long long)c.new_flows);
	}
	metric(f, "xlb_service_backends_active", "gauge", "Backends taking new flows.");
	for (__u32 s = 0; s < d->running.nr_services; s++)
		fprintf(f, "xlb_service_backends_active{service=\"%s\"} %u\n",
			d->running.services[s].name, xlb_service_holders(&d->running.services[s]));
	metric(f, "xlb_service_floor_alert", "gauge",
	       "1 while more backends fail than min_active allows (kept in: fail open).");
	for (__u32 s = 0; s < d->nr_svc; s++)
		fprintf(f, "xlb_service_floor_alert{service=\"%s\"} %d\n", d->svc[s].name,
			d->svc[s].floor_hit);
	verdicts(d, f, "xlb_drops_total", "drop", "reason", "Packets dropped, by reason.");
	verdicts(d, f, "xlb_passes_total", "pass", "reason",
		 "Packets passed to the kernel, by reason.");
	verdicts(d, f, "xlb_forwarded_total", "forward", "action",
		 "Packets encapsulated to a backend.");
	metric(f, "xlb_events_total", "counter",
	       "Data-plane events: connection-table entries made, hits, re-hashes, RSTs without "
	       "a flow, ICMP too-big routed to a flow's backend.");
	for (__u32 e = 0; e < XLB_EV_MAX; e++) {
		__u64 n;

		if (!xlb_dp_event(&d->dp, e, &n))
			fprintf(f, "xlb_events_total{event=\"%s\"} %llu\n", xlb_event_names[e],
				(unsigned long long)n);
	}
	metric(f, "xlb_daemon_reloads_total", "counter", "SIGHUP reloads by result.");
	for (int k = 0; k < 4; k++)
		fprintf(f, "xlb_daemon_reloads_total{result=\"%s\"} %llu\n", reload_results[k],
			(unsigned long long)d->reloads[k]);
	metric(f, "xlb_daemon_health_commits_total", "counter", "Health changes applied.");
	fprintf(f, "xlb_daemon_health_commits_total %llu\n", (unsigned long long)d->health_commits);
	metric(f, "xlb_daemon_health_refused_total", "counter", "Health changes refused by the guards.");
	fprintf(f, "xlb_daemon_health_refused_total %llu\n", (unsigned long long)d->health_refused);
	pthread_mutex_unlock(&d->lock);
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *data,
			     size_t *size, void **ctx)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)version; (void)data; (void)size; (void)ctx;
	if (strcmp(method, "GET") || strcmp(url, "/metrics")) {
		static char nf[] = "not found: GET /metrics\n";

		resp = MHD_create_response_from_buffer(strlen(nf), nf, MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	f = open_memstream(&buf, &len);
	if (!f)
		return MHD_NO;
	render(cls, f);
	fclose(f);
	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
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
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
				(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), port, NULL, NULL,
				serve, d, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_END);
}

static void write_metrics_file(struct daemon *d, const char *path)
{
	char tmp[600];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		dlog(3, "cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	render(d, f);
	if (fclose(f) || rename(tmp, path))
		dlog(3, "cannot write %s: %s", path, strerror(errno));
}

/* ---- the loop ----------------------------------------------------------------- */

int xlb_daemon_run(const struct xlb_daemon_opts *o)
{
	struct epoll_event ev[64];
	struct daemon d = { .o = o, .seed = (__u32)getpid() * 2654435761u };
	struct MHD_Daemon *mhd = NULL;
	char dir[256], status[128];
	__u64 last_sample = 0;
	sigset_t sigs;
	bool stop = false;
	int rc = 0;

	pthread_mutex_init(&d.lock, NULL);
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/xlb/%s", o->ifname);
	if (xlb_dp_open_pinned(&d.dp, dir)) {
		dlog(3, "%s", xlb_errmsg());
		return XLB_EXIT_REFUSED;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	epoll_ctl(d.epfd, EPOLL_CTL_ADD, d.sigfd,
		  &(struct epoll_event){ .events = EPOLLIN, .data.u32 = UINT32_MAX });
	sync_running(&d);
	reload(&d);
	if (!d.generation && !o->config)
		dlog(4, "no configuration is live on %s yet: nothing to check", o->ifname);
	if (o->metrics_addr) {
		mhd = start_metrics(&d, o->metrics_addr);
		if (!mhd) {
			dlog(3, "cannot serve metrics on %s", o->metrics_addr);
			rc = XLB_EXIT_SYSTEM;
			goto out;
		}
	}
	dlog(6, "daemon: running on %s, generation %llu, %u backends%s%s", o->ifname,
	     (unsigned long long)d.generation, d.nr_be, o->metrics_addr ? ", metrics on " : "",
	     o->metrics_addr ? o->metrics_addr : "");
	sd_notify(0, "READY=1");
	while (!stop) {
		int n = epoll_wait(d.epfd, ev, 64, 50);
		__u64 now;

		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == UINT32_MAX) {
				struct signalfd_siginfo si;

				if (read(d.sigfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP)
					reload(&d);
				else
					stop = true;
			} else if (ev[i].data.u32 < d.nr_be) {
				progress_check(&d, ev[i].data.u32);
			}
		}
		now = now_ms();
		run_checks(&d, now);
		if (d.dirty)
			commit_health(&d);
		if (now - last_sample >= 1000) {
			last_sample = now;
			sample(&d);
			if (o->metrics_file)
				write_metrics_file(&d, o->metrics_file);
			snprintf(status, sizeof(status), "STATUS=generation %llu, %u backends",
				 (unsigned long long)d.generation, d.nr_be);
			sd_notify(0, status);
		}
	}
	sd_notify(0, "STOPPING=1");
	dlog(6, "daemon: stopping; the data plane keeps forwarding");
out:
	if (mhd)
		MHD_stop_daemon(mhd);
	for (__u32 i = 0; i < d.nr_be; i++)
		stop_check(&d, &d.be[i]);
	free(d.be);
	xlb_config_free(&d.running);
	xlb_assign_free(&d.assign);
	xlb_dp_close(&d.dp);
	close(d.sigfd);
	close(d.epfd);
	return rc;
}
