/* Stepped changes: the steps, the judgement between them, the rollout file. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <jansson.h>
#include "rollout.h"
#include "fsutil.h"
#include "log.h"
#include "netutil.h"
#include "plan.h"
#include "utf8.h"

#define LOCK_DIR "/run/xlb"

const char *const xlb_rollout_state_names[] = { "running", "paused", "done", "rolled_back",
						"aborted", "failed" };

static __u32 lerp(__u32 a, __u32 b, __u32 k, __u32 n)
{
	return (__u32)llround(a + ((double)b - a) * k / n);
}

/* One service's step: from o (may be NULL: a new service) to t. */
static int step_service(const struct xlb_service_conf *o, const struct xlb_service_conf *t,
			__u32 k, __u32 n, struct xlb_service_conf *out)
{
	__u32 cap = t->nr_backends + (o ? o->nr_backends : 0) + 1;

	*out = *t;
	out->backends = calloc(cap, sizeof(*out->backends));
	if (!out->backends)
		return -ENOMEM;
	out->nr_backends = 0;
	for (__u32 j = 0; j < t->nr_backends; j++) {
		const struct xlb_backend_conf *tb = &t->backends[j];
		const struct xlb_backend_conf *ob = o ? xlb_service_backend(o, &tb->addr, tb->family)
						      : NULL;
		struct xlb_backend_conf *b = &out->backends[out->nr_backends++];
		__u32 from = ob && ob->state == XLB_BACKEND_ACTIVE ? ob->weight : 0;

		*b = *tb;
		if (!o || k == n)
			continue;
		if (tb->state == XLB_BACKEND_ACTIVE) {
			b->weight = lerp(from, tb->weight, k, n);
		} else if (ob && ob->state == XLB_BACKEND_ACTIVE) {
			/* leaving the table: weight down first, the state at the last step */
			b->state = XLB_BACKEND_ACTIVE;
			b->weight = lerp(from, 0, k, n);
		} else if (ob) {
			*b = *ob;	/* not active before nor after: as it was until the end */
		}
	}
	for (__u32 j = 0; o && k < n && j < o->nr_backends; j++) {
		const struct xlb_backend_conf *ob = &o->backends[j];

		if (xlb_service_backend(t, &ob->addr, ob->family))
			continue;
		out->backends[out->nr_backends] = *ob;	/* leaving: weight down, removed at n */
		if (ob->state == XLB_BACKEND_ACTIVE)
			out->backends[out->nr_backends].weight = lerp(ob->weight, 0, k, n);
		out->nr_backends++;
	}
	return 0;
}

int xlb_rollout_step(const struct xlb_config *from, const struct xlb_config *to, __u32 k,
		     __u32 n, struct xlb_config *out)
{
	int err = 0;

	if (!n || !k || k > n)
		return -EINVAL;
	*out = *to;
	out->services = calloc(to->nr_services + 1, sizeof(*out->services));
	if (!out->services) {
		memset(out, 0, sizeof(*out));
		return -ENOMEM;
	}
	out->nr_services = 0;
	for (__u32 i = 0; i < to->nr_services && !err; i++) {
		err = step_service(xlb_config_service(from, to->services[i].name), &to->services[i],
				   k, n, &out->services[i]);
		if (!err)
			out->nr_services++;
	}
	if (err)
		xlb_config_free(out);
	return err;
}

int xlb_rollout_check(const struct xlb_config *from, const struct xlb_config *to, __u32 n,
		      bool force, char *why, size_t len)
{
	struct xlb_config prev, step;
	int err = 0;

	if (xlb_config_copy(&prev, from))
		return -ENOMEM;
	for (__u32 k = 1; k <= n && !err; k++) {
		struct xlb_diags d = { 0 };
		struct xlb_plan plan;

		if (xlb_rollout_step(from, to, k, n, &step)) {
			err = -ENOMEM;
			break;
		}
		if (xlb_config_validate(&step, &d)) {
			snprintf(why, len, "step %u of %u is not a valid configuration: %s: %s", k, n,
				 d.count ? d.items[0].path : "?", d.count ? d.items[0].msg : "?");
			err = -EINVAL;
		} else if (xlb_plan_build(&prev, &step, &plan)) {
			err = -ENOMEM;
		} else {
			for (__u32 i = 0; i < plan.nr && !err; i++)
				if (plan.svcs[i].nr_why && !force) {
					snprintf(why, len, "step %u of %u is refused by the guards: "
						 "service %s: %s (--force overrides)", k, n,
						 plan.svcs[i].name, plan.svcs[i].why[0]);
					err = -EPERM;
				}
			xlb_plan_free(&plan);
		}
		xlb_diags_free(&d);
		xlb_config_free(&prev);
		prev = step;
	}
	xlb_config_free(&prev);
	return err;
}

bool xlb_rollout_judge(const struct xlb_config *cfg, const struct xlb_config *changed,
		       const struct xlb_rollout_signals *s, char *why, size_t len)
{
	double secs = s->seconds > 0.001 ? s->seconds : 0.001;

	for (__u32 i = 0; i < cfg->nr_services; i++) {
		const struct xlb_service_conf *sc = &cfg->services[i];
		const struct xlb_rollout_limits *l = &sc->rollout;
		__u64 total = 0;

		if (!xlb_config_service(changed, sc->name))
			continue;
		if (s->drops / secs > l->max_drops_per_second) {
			snprintf(why, len, "%.0f drops per second in the data plane during the step "
				 "(service %s allows %u)", s->drops / secs, sc->name,
				 l->max_drops_per_second);
			return true;
		}
		for (__u32 j = 0; j < s->nr_be; j++) {
			const struct xlb_rollout_backend *b = &s->be[j];

			if (strcmp(b->service, sc->name))
				continue;
			total += b->new_flows;
			if (b->went_down || b->health_failures > l->max_health_failures) {
				snprintf(why, len, "service %s backend %s failed %llu health checks "
					 "during the step%s (max_health_failures %u)", sc->name,
					 b->address, (unsigned long long)b->health_failures,
					 b->went_down ? " and went down" : "",
					 l->max_health_failures);
				return true;
			}
		}
		for (__u32 j = 0; j < s->nr_be; j++) {
			const struct xlb_rollout_backend *b = &s->be[j];
			__u64 all = b->syns + b->syn_retries;

			if (strcmp(b->service, sc->name) || all < 10 ||
			    (double)b->syn_retries / all <= l->max_syn_retry_share)
				continue;
			snprintf(why, len, "service %s backend %s: %llu of %llu SYNs were sent again "
				 "(its connections are not answered; max_syn_retry_share %.2f)",
				 sc->name, b->address, (unsigned long long)b->syn_retries,
				 (unsigned long long)all, l->max_syn_retry_share);
			return true;
		}
		if (total < l->min_flows)
			continue;
		for (__u32 j = 0; j < s->nr_be; j++) {
			const struct xlb_rollout_backend *b = &s->be[j];
			double seen, dev;

			if (strcmp(b->service, sc->name) || b->table_share <= 0)
				continue;
			seen = (double)b->new_flows / total;
			dev = fabs(seen - b->table_share) / b->table_share;
			/* and beyond chance: more than 3 standard deviations of a binomial
			   count, so a small share over a few flows does not stop a good change */
			if (dev > l->max_share_deviation &&
			    fabs(b->new_flows - total * b->table_share) >
			    3 * sqrt(total * b->table_share * (1 - b->table_share))) {
				snprintf(why, len, "service %s backend %s took %.1f%% of %llu new "
					 "flows against a table share of %.1f%% (deviation %.2f, "
					 "max_share_deviation %.2f)", sc->name, b->address,
					 100 * seen, (unsigned long long)total,
					 100 * b->table_share, dev, l->max_share_deviation);
				return true;
			}
		}
	}
	return false;
}

/* ---- the file ------------------------------------------------------------------- */

static void path_of(const char *hist, char *out, size_t len)
{
	snprintf(out, len, "%s/rollout.json", hist);
}

bool xlb_rollout_active(const struct xlb_rollout *r)
{
	return r->state == XLB_ROLLOUT_RUNNING || r->state == XLB_ROLLOUT_PAUSED;
}

static json_t *to_json(const struct xlb_rollout *r, bool private)
{
	json_t *gens = json_array(), *o;

	for (__u32 i = 0; i < r->nr_gens; i++)
		json_array_append_new(gens, json_integer(r->gens[i]));
	o = json_pack("{s:s,s:s,s:s,s:I,s:i,s:i,s:I,s:I,s:I,s:s,s:s,s:s,s:b,s:o,s:I}",
		      "id", r->id, "state", xlb_rollout_state_names[r->state],
		      "request", r->request, "start_generation", (json_int_t)r->start_gen,
		      "steps", r->steps, "step", r->step, "step_ms", (json_int_t)r->step_ms,
		      "started_unix", (json_int_t)r->started_unix,
		      "step_unix_ms", (json_int_t)r->step_unix_ms, "user", r->user,
		      "reason", r->reason, "why", r->why, "forced", r->forced,
		      "generations", gens, "rollback_generation", (json_int_t)r->rollback_gen);
	if (o && private)
		json_object_set_new(o, "target", xlb_config_to_json_private(&r->target));
	return o;
}

json_t *xlb_rollout_to_json(const struct xlb_rollout *r)
{
	return to_json(r, false);
}

static void copy_str(json_t *o, const char *key, char *out, size_t len)
{
	const char *v = json_string_value(json_object_get(o, key));

	snprintf(out, len, "%s", v ? v : "");
}

int xlb_rollout_read(const char *hist, struct xlb_rollout *r)
{
	struct xlb_diags d = { 0 };
	char path[600], state[32];
	json_error_t je;
	json_t *o, *g;
	int err = 0;

	memset(r, 0, sizeof(*r));
	path_of(hist, path, sizeof(path));
	if (access(path, F_OK))
		return -ENOENT;
	o = json_load_file(path, 0, &je);
	if (!o)
		return xlb_errf(-EINVAL, "%s: line %d: %s", path, je.line, je.text);
	copy_str(o, "id", r->id, sizeof(r->id));
	copy_str(o, "state", state, sizeof(state));
	r->state = XLB_ROLLOUT_FAILED;
	for (int i = 0; i <= XLB_ROLLOUT_FAILED; i++)
		if (!strcmp(state, xlb_rollout_state_names[i]))
			r->state = i;
	copy_str(o, "request", r->request, sizeof(r->request));
	copy_str(o, "user", r->user, sizeof(r->user));
	copy_str(o, "reason", r->reason, sizeof(r->reason));
	copy_str(o, "why", r->why, sizeof(r->why));
	r->start_gen = json_integer_value(json_object_get(o, "start_generation"));
	r->steps = json_integer_value(json_object_get(o, "steps"));
	r->step = json_integer_value(json_object_get(o, "step"));
	r->step_ms = json_integer_value(json_object_get(o, "step_ms"));
	r->started_unix = json_integer_value(json_object_get(o, "started_unix"));
	r->step_unix_ms = json_integer_value(json_object_get(o, "step_unix_ms"));
	r->rollback_gen = json_integer_value(json_object_get(o, "rollback_generation"));
	r->forced = json_is_true(json_object_get(o, "forced"));
	g = json_object_get(o, "generations");
	for (size_t i = 0; i < json_array_size(g) && r->nr_gens < XLB_ROLLOUT_MAX_STEPS + 1; i++)
		r->gens[r->nr_gens++] = json_integer_value(json_array_get(g, i));
	if (!r->steps || r->steps > XLB_ROLLOUT_MAX_STEPS || r->step > r->steps ||
	    xlb_config_from_record(json_object_get(o, "target"), &r->target, &d))
		err = xlb_errf(-EINVAL, "%s: not a rollout xlb can read", path);
	json_decref(o);
	free(d.items);
	return err;
}

int xlb_rollout_write(const char *hist, const struct xlb_rollout *r)
{
	json_t *o = to_json(r, true);
	char *text = o ? json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
	char path[600];
	int err;

	json_decref(o);
	if (!text)
		return xlb_errf(-ENOMEM, "out of memory writing the rollout");
	path_of(hist, path, sizeof(path));
	err = xlb_write_state_file(path, text, strlen(text), 0600);
	free(text);
	return err;
}

void xlb_rollout_free(struct xlb_rollout *r)
{
	xlb_config_free(&r->target);
}

long long xlb_duration_ms(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || !(v >= 0) || v > 86400.0 * 1000)	/* NaN too */
		return -EINVAL;
	if (!*end || !strcmp(end, "s"))
		v *= 1000;
	else if (!strcmp(end, "m"))
		v *= 60000;
	else if (!strcmp(end, "h"))
		v *= 3600000;
	else if (strcmp(end, "ms"))
		return -EINVAL;
	return v > 86400.0 * 1000 ? -EINVAL : (long long)v;
}

static int daemon_lock_fd(const char *ifname, int how)
{
	char path[128];
	int fd;

	mkdir(LOCK_DIR, 0755);
	snprintf(path, sizeof(path), "%s/%s.daemon", LOCK_DIR, ifname);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return xlb_errf(-errno, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, how)) {
		int err = -errno;

		close(fd);
		return err == -EWOULDBLOCK ? -EWOULDBLOCK :
		       xlb_errf(err, "cannot lock %s: %s", path, strerror(-err));
	}
	return fd;
}

int xlb_daemon_lock(const char *ifname)
{
	int fd = daemon_lock_fd(ifname, LOCK_EX | LOCK_NB);

	if (fd == -EWOULDBLOCK)
		return xlb_errf(-EBUSY, "another xlb daemon runs for %s (%s/%s.daemon is locked)",
				ifname, LOCK_DIR, ifname);
	return fd;
}

bool xlb_daemon_running(const char *ifname)
{
	int fd = daemon_lock_fd(ifname, LOCK_SH | LOCK_NB);

	if (fd == -EWOULDBLOCK)
		return true;
	if (fd >= 0)
		close(fd);
	return false;
}

bool xlb_rollout_busy(const char *hist, char *why, size_t len)
{
	struct xlb_rollout now;
	bool busy;

	why[0] = '\0';
	if (xlb_rollout_read(hist, &now))
		return false;
	busy = xlb_rollout_active(&now);
	if (busy)
		snprintf(why, len, "rollout %s is %s (step %u of %u): one at a time (xlb rollout "
			 "status, xlb rollout abort)", now.id, xlb_rollout_state_names[now.state],
			 now.step, now.steps);
	xlb_rollout_free(&now);
	return busy;
}

int xlb_rollout_begin(const char *hist, const struct xlb_rollout_start *st, char *id,
		      size_t idlen)
{
	struct xlb_rollout r;
	__u32 rnd = 0;
	int err;

	memset(&r, 0, sizeof(r));
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (__u32)time(NULL) ^ (__u32)getpid() * 2654435761u;
	snprintf(r.id, sizeof(r.id), "r%08x", rnd);
	r.state = XLB_ROLLOUT_RUNNING;
	r.start_gen = st->start_gen;
	r.steps = st->steps;
	r.step_ms = st->step_ms;
	r.started_unix = time(NULL);
	r.forced = st->forced;
	xlb_utf8_trunc(r.user, sizeof(r.user), st->user ?: xlb_who());
	xlb_utf8_trunc(r.reason, sizeof(r.reason), st->reason);
	err = xlb_config_copy(&r.target, st->target) ?: xlb_rollout_write(hist, &r);
	if (!err)
		snprintf(id, idlen, "%s", r.id);
	xlb_rollout_free(&r);
	return err;
}

int xlb_rollout_start(const char *hist, const char *ifname, const struct xlb_config *running,
		      const struct xlb_rollout_start *st, char *id, size_t idlen)
{
	struct xlb_plan plan;
	char why[512];
	bool changed;
	int err;

	if (!xlb_daemon_running(ifname))
		return xlb_errf(-ESRCH, "no xlb daemon runs for %s: a stepped change needs it to "
				"watch the signals between steps and roll back by itself (start "
				"it, or apply without --steps)", ifname);
	if (xlb_rollout_busy(hist, why, sizeof(why)))
		return xlb_errf(-EBUSY, "%s", why);
	err = xlb_plan_build(running, st->target, &plan);
	if (err)
		return xlb_errf(err, "cannot plan the rollout: %s", strerror(-err));
	changed = plan.changed;
	xlb_plan_free(&plan);
	if (!changed)
		return xlb_errf(-EALREADY, "nothing to roll out: generation %llu already has "
				"this configuration", (unsigned long long)st->start_gen);
	err = xlb_rollout_check(running, st->target, st->steps, st->forced, why, sizeof(why));
	if (err == -EINVAL || err == -EPERM)
		return xlb_errf(err, "%s", why);
	if (err)
		return xlb_errf(err, "cannot check the rollout's steps: %s", strerror(-err));
	return xlb_rollout_begin(hist, st, id, idlen);
}
