/* Following the running configuration: backends, their table shares, the generation. */
#define _GNU_SOURCE
#include "state.h"

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
		xlb_probe_stop(&d->be[i].probe, d->epfd);
		d->be[i] = d->be[--d->nr_be];
	}
	for (__u32 i = 0; i < d->nr_be; i++)	/* moved entries: re-point their epoll data */
		xlb_probe_retag(&d->be[i].probe, d->epfd, i);
}

/* Re-read the running configuration: backends to check, ids, shares. */
int sync_running(struct daemon *d)
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
