/*
 * Following the running configuration: backends, their table shares, the
 * generation; and the health overlay, the verdicts laid over a configuration.
 */
#define _GNU_SOURCE
#include "state.h"
#include "decide.h"

/* ---- following the running configuration ------------------------------------ */

struct dbackend *find_be(struct daemon *d, const char *svc, const union xlb_addr *a,
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
		void *p;

		/* libcurl and c-ares hold their probes' addresses: none may move under them */
		for (__u32 i = 0; i < d->nr_be; i++)
			if (d->be[i].probe.phase == XLB_PROBE_LIB)
				check_stop(d, &d->be[i]);
		p = realloc(d->be, cap * sizeof(*d->be));

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

__u32 map_max_entries(int fd)
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
		check_stop(d, &d->be[i]);
		if (d->be[d->nr_be - 1].probe.phase == XLB_PROBE_LIB)	/* it moves: see add_be */
			check_stop(d, &d->be[d->nr_be - 1]);
		d->be[i] = d->be[--d->nr_be];
	}
	for (__u32 i = 0; i < d->nr_be; i++)	/* moved entries: re-point their epoll data */
		xlb_probe_retag(&d->be[i].probe, d->epfd, i);
}

/* A checked backend of the running configuration that its checks hold down. */
static bool verdicts_to_keep(const struct daemon *d)
{
	for (__u32 i = 0; i < d->nr_be; i++)
		if (d->be[i].present && d->be[i].checked && !d->be[i].h.up)
			return true;
	return false;
}

/*
 * The live generation's record is lost or damaged (c->lost): carry on like
 * the CLI.  The configuration last read stands when it is that generation's,
 * with the backend ids of the live maps; otherwise the daemon cannot know what
 * runs and keeps checking what it knows (commit_health waits for a change).
 * Said once per generation.  True when the configuration last read is its.
 */
bool running_lost(struct daemon *d, const struct xlb_ctl *c)
{
	bool known = d->running_gen && d->running_gen == c->live_gen;

	if (d->lost_gen != c->live_gen) {
		d->lost_gen = c->live_gen;
		if (known)
			dlog(4, "%s; going on with the configuration it last read (generation "
			     "%llu), backend ids from the live maps; the next change's record "
			     "replaces the lost one", c->lost, (unsigned long long)c->live_gen);
		else
			dlog(3, "%s; this daemon never read generation %llu: it checks the "
			     "backends it knows and health changes wait for the next change "
			     "(xlb config apply FILE)", c->lost, (unsigned long long)c->live_gen);
	}
	return known;
}

static int carry_on_lost(struct daemon *d, struct xlb_ctl *c)
{
	if (!running_lost(d, c))
		return -ENOENT;
	if (xlb_config_copy(&c->running, &d->running))
		return -ENOMEM;
	return xlb_ctl_recover_assign(c, &c->running);
}

/* A failure to read the running configuration, said when it is new. */
static int sync_failed(struct daemon *d, int err)
{
	if (strcmp(d->sync_err, xlb_errmsg())) {
		snprintf(d->sync_err, sizeof(d->sync_err), "%s", xlb_errmsg());
		dlog(3, "cannot read the running configuration: %s", d->sync_err);
	}
	return err;
}

/* Re-read the running configuration: backends to check, ids, shares. */
int sync_running(struct daemon *d)
{
	struct xlb_ctl c;
	int err = xlb_ctl_open_lost_ok(d->o->ifname, d->o->state_root, true, &c);

	if (err)
		return sync_failed(d, err);
	d->sync_err[0] = '\0';
	if (c.lost[0] && carry_on_lost(d, &c)) {
		/* what runs is not known: follow the generation, keep checking */
		pthread_mutex_lock(&d->lock);
		d->generation = c.live_gen;
		d->live_slot = c.live_slot;
		pthread_mutex_unlock(&d->lock);
		xlb_ctl_close(&c);
		return -ENOENT;
	}
	pthread_mutex_lock(&d->lock);
	track_backends(d, &c);
	xlb_config_free(&d->running);
	xlb_config_copy(&d->running, &c.running);
	d->running_gen = c.live_gen;
	xlb_assign_free(&d->assign);
	d->assign = c.assign;
	memset(&c.assign, 0, sizeof(c.assign));
	if (d->generation != c.live_gen) {
		d->generation = c.live_gen;
		d->live_slot = c.live_slot;
		xlb_config_fingerprint(&d->running, d->fingerprint);
		load_shares(d);
		/* a change beside the daemon (apply, rollback) may have put back a
		 * backend it holds unhealthy: its verdict stands, the overlay goes again */
		d->pending |= verdicts_to_keep(d);
	}
	pthread_mutex_unlock(&d->lock);
	xlb_ctl_close(&c);
	return 0;
}

/* ---- the health overlay: the verdicts over a configuration ------------------ */

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

/*
 * The health policy over every checked service of cfg; true if cfg changed.
 * The verdicts are the node's own, or the fleet's (decide/health) while they
 * are in force (verdicts.c): then every node lays the same down set over the
 * same generation, and their tables are identical.
 */
bool overlay(struct daemon *d, struct xlb_config *cfg)
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
			v[j] = bs[j] ? (struct xlb_health_view){ .up = bs[j]->h.up,
				.fail_run = bs[j]->h.fail_run, .health_down = bs[j]->health_down } :
				(struct xlb_health_view){ .up = true };
			views[j] = bs[j] ? &v[j] : NULL;
			/* the fleet's verdicts in force: its down set, on every node alike */
			if (verdicts_fleet_view(d, sc->name, &sc->backends[j], &v[j]))
				views[j] = &v[j];
		}
		changed |= xlb_health_overlay(sc, views, held, &hit);
		hit |= verdicts_floor(d, sc->name);
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

/*
 * The running configuration without the health verdicts laid over it (the
 * backends the daemon holds down are the configuration's active ones): the
 * fleet's configuration when the node runs it.  0, -ENOENT before anything
 * runs, -ENOMEM.
 */
int running_base(struct daemon *d, struct xlb_config *base)
{
	int err;

	pthread_mutex_lock(&d->lock);
	err = d->running_gen ? xlb_config_copy(base, &d->running) : -ENOENT;
	for (__u32 s = 0; !err && s < base->nr_services; s++) {
		struct xlb_service_conf *sc = &base->services[s];

		for (__u32 j = 0; j < sc->nr_backends; j++) {
			struct xlb_backend_conf *b = &sc->backends[j];
			struct dbackend *db = find_be(d, sc->name, &b->addr, b->family);

			if (db && db->health_down && b->state == XLB_BACKEND_DOWN)
				b->state = XLB_BACKEND_ACTIVE;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return err;
}
