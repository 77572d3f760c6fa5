/*
 * Commit: what the new slot depends on is read from the live slot, the new
 * contents computed from it (xlb_slot_plan: no map, no clock) and written
 * into the idle slot in one pass (backends, Maglev tables, previous
 * placements, services, VIPs, slot settings), recorded as pending, then
 * switched in with one 4-byte map write and the record finalised.  Nothing
 * before the switch touches the live slot, so a failure at any step leaves
 * the running tables, backends and history as they were.
 *
 * Steps a test may fail or pause at (fault.h; none in production):
 * backends, tables, services, conf, record, switch, finalize (pauses only:
 * the switch is done).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include "commit.h"
#include "rtnl.h"
#include "fault.h"
#include "loader.h"
#include "maglev.h"
#include "log.h"
#include "moved.h"
#include "netutil.h"
#include "slotplan.h"
#include "utf8.h"

/* ---- what the live slot holds --------------------------------------------------- */

static void free_live(struct xlb_live *l, __u32 n)
{
	for (__u32 i = 0; l->svcs && i < n; i++) {
		free(l->svcs[i].table);
		free(l->svcs[i].prev);
	}
	free(l->svcs);
	free(l->backends);
}

/* The live backend of every id a table names (a few, not every id). */
static void read_ids(const struct xlb_ctl *c, const __u32 *t, __u32 m, struct xlb_live *l,
		     __u8 *read)
{
	for (__u32 i = 0; t && i < m; i++)
		for (int k = 0; k < 2; k++) {
			__u32 id = k ? XLB_TABLE_PREV(t[i]) : XLB_TABLE_CUR(t[i]);

			if (!id || id >= XLB_MAX_BACKENDS || read[id])
				continue;
			read[id] = 1;
			if (xlb_dp_get_backend(&c->dp, c->live_slot, id, &l->backends[id]))
				memset(&l->backends[id], 0, sizeof(l->backends[id]));
		}
}

/* Service s's live record (by key), its live table and held previous placement. */
static int read_live_service(const struct xlb_ctl *c, const struct xlb_service_conf *s,
			     struct xlb_live_service *ls)
{
	struct xlb_service_key key = { .vip = s->vip, .port = htons(s->port), .proto = s->proto,
				       .family = s->family };
	int idx = xlb_assign_service(&c->assign, s->name), err;

	ls->found = !xlb_dp_get_service(&c->dp, c->live_slot, key, &ls->svc);
	if (idx < 0)
		return 0;
	err = xlb_dp_get_table_raw(&c->dp, c->live_slot, idx, &ls->table, &ls->table_m);
	if (err && err != -ENOENT)
		return err;
	err = xlb_dp_get_replaced(&c->dp, c->live_slot, idx, &ls->rep);
	if (!err && ls->rep.table_size)
		err = xlb_dp_get_prev_table(&c->dp, c->live_slot, idx, &ls->prev, &ls->prev_m);
	return err == -ENOENT ? 0 : err;
}

/* What the new slot's contents depend on, read from the live slot (untouched). */
static int read_live(const struct xlb_ctl *c, const struct xlb_config *cfg, struct xlb_live *l)
{
	__u8 *read = calloc(XLB_MAX_BACKENDS, 1);
	int err = 0;

	memset(l, 0, sizeof(*l));
	l->svcs = calloc(cfg->nr_services + 1, sizeof(*l->svcs));
	l->backends = calloc(XLB_MAX_BACKENDS, sizeof(*l->backends));
	if (!read || !l->svcs || !l->backends)
		err = xlb_errf(-ENOMEM, "out of memory");
	l->replaced_maps = c->dp.replaced >= 0 && c->dp.prev_tables >= 0;
	err = err ?: xlb_dp_get_slot_conf(&c->dp, c->live_slot, &l->conf);
	for (__u32 i = 0; !err && i < cfg->nr_services; i++) {
		struct xlb_live_service *ls = &l->svcs[i];

		err = read_live_service(c, &cfg->services[i], ls);
		read_ids(c, ls->table, ls->table_m, l, read);
		read_ids(c, ls->prev, ls->prev_m, l, read);
	}
	free(read);
	return err;
}

/* ---- writing the idle slot ----------------------------------------------------- */

/* Tables and previous placements of the plan; fds[i] for service w->svcs[i] (or -1). */
static int write_tables(struct xlb_ctl *c, __u32 slot, const struct xlb_slot_write *w,
			int *fds)
{
	int err = 0;

	for (__u32 i = 0; i < w->nr && !err; i++) {
		const struct xlb_write_service *ws = &w->svcs[i];
		int fd;

		if (!ws->has_table)
			continue;
		fds[i] = ws->reuse ? xlb_dp_table_fd(&c->dp, c->live_slot, ws->live_index) :
			 xlb_dp_new_table(ws->table, ws->svc.table_size);
		if (fds[i] < 0) {
			err = fds[i] == -ENOENT ? xlb_errf(-ENOENT, "the live table of %u is gone",
							   ws->live_index) : fds[i];
			break;
		}
		if (!ws->replaced)
			continue;
		fd = xlb_dp_new_table(ws->rep_table, ws->rep.table_size);
		err = fd < 0 ? fd : xlb_dp_set_replaced(&c->dp, slot, ws->svc.index, &ws->rep, fd);
		if (fd >= 0)
			close(fd);
	}
	return err;
}

/* Services, VIPs and their counters; then the tables published at once. */
static int write_services(struct xlb_ctl *c, __u32 slot, const struct xlb_slot_write *w,
			  const int *fds)
{
	__u32 indices[XLB_MAX_SERVICES], n = 0;
	int tfds[XLB_MAX_SERVICES], err = 0;

	for (__u32 i = 0; i < w->nr && !err; i++) {
		const struct xlb_write_service *ws = &w->svcs[i];

		if (ws->has_table) {
			err = xlb_dp_set_service(&c->dp, slot, ws->key, &ws->svc);
			indices[n] = ws->svc.index;
			tfds[n++] = fds[i];
		}
		err = err ?: xlb_dp_set_vip(&c->dp, slot, &ws->key.vip, ws->key.family);
		if (!err && ws->reset)
			err = xlb_dp_reset_counters(&c->dp, c->dp.service_stats, ws->svc.index);
	}
	return err ?: xlb_dp_publish_tables(&c->dp, slot, indices, tfds, n);
}

/* The plan into the idle slot, in one pass; a failure leaves the live slot as it was. */
static int write_slot(struct xlb_ctl *c, __u32 slot, const struct xlb_slot_write *w)
{
	int *fds = malloc((w->nr + 1) * sizeof(*fds)), err;

	if (!fds || w->nr > XLB_MAX_SERVICES) {
		free(fds);
		return xlb_errf(fds ? -EINVAL : -ENOMEM, "internal: %u services", w->nr);
	}
	for (__u32 i = 0; i < w->nr; i++)
		fds[i] = -1;
	err = xlb_dp_clear_slot(&c->dp, slot) ?: xlb_fault("backends");
	for (__u32 i = 0; i < w->nr_backends && !err; i++) {
		const struct xlb_write_backend *b = &w->backends[i];

		err = xlb_dp_set_backend(&c->dp, slot, b->id, &b->be);
		if (!err && b->reset)
			err = xlb_dp_reset_counters(&c->dp, c->dp.backend_stats, b->id);
	}
	err = err ?: xlb_fault("tables") ?: write_tables(c, slot, w, fds);
	err = err ?: xlb_fault("services") ?: write_services(c, slot, w, fds);
	for (__u32 i = 0; i < w->nr; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return err ?: xlb_fault("conf") ?: xlb_dp_set_slot_conf(&c->dp, slot, &w->conf);
}

/* The new contents, computed (xlb_slot_plan) from the live slot, then written. */
static int fill_slot(struct xlb_ctl *c, __u32 slot, const struct xlb_config *cfg,
		     const struct xlb_assign *a, const struct xlb_plan *plan, __u64 gen)
{
	struct xlb_slot_write w = { 0 };
	struct xlb_live live;
	struct xlb_slot_input in = { .cfg = cfg, .assign = a, .running = &c->running,
				     .live_assign = &c->assign, .plan = plan, .live = &live,
				     .now = xlb_moved_now(), .gen = gen };
	int err = read_live(c, cfg, &live) ?: xlb_slot_plan(&in, &w) ?: write_slot(c, slot, &w);

	xlb_slot_write_free(&w);
	free_live(&live, cfg->nr_services);
	return err;
}

/* The record of a change; it borrows cfg and a (not to be freed). */
static void record_of(struct xlb_record *r, const struct xlb_config *cfg,
		      const struct xlb_assign *a, const struct xlb_plan *plan,
		      const struct xlb_commit_meta *m, __u64 gen)
{
	time_t now = time(NULL);
	__u32 n = 0;

	memset(r, 0, sizeof(*r));
	r->generation = gen;
	r->unix_time = now;
	strftime(r->time, sizeof(r->time), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	xlb_utf8_trunc(r->user, sizeof(r->user), xlb_who());
	xlb_utf8_trunc(r->reason, sizeof(r->reason), m->reason ?: "");
	snprintf(r->source, sizeof(r->source), "%s", m->source ?: "apply");
	xlb_config_fingerprint(cfg, r->fingerprint);
	r->forced = m->forced;
	r->pending = true;
	for (__u32 i = 0; i < plan->nr; i++)
		n += plan->svcs[i].nr_why;
	r->overridden = m->forced ? calloc(n + 1, sizeof(*r->overridden)) : NULL;
	for (__u32 i = 0; r->overridden && i < plan->nr; i++)
		for (__u32 j = 0; j < plan->svcs[i].nr_why; j++)
			snprintf(r->overridden[r->nr_overridden++], sizeof(*r->overridden),
				 "%s: %s", plan->svcs[i].name, plan->svcs[i].why[j]);
	r->full = true;
	r->config = *cfg;
	r->assign = *a;
}

#define L2_RESOLVE_MS	200	/* a change waits this long at most for L2 neighbours */

/* Each L2 backend of cfg with the route to it: fn's non-zero answer stops. */
static int each_l2(const struct xlb_config *cfg,
		   int (*fn)(const struct xlb_service_conf *, const struct xlb_backend_conf *,
			     int af, int oif, bool gw, int err))
{
	int rc = 0;

	for (__u32 s = 0; s < cfg->nr_services && !rc; s++) {
		const struct xlb_service_conf *sc = &cfg->services[s];

		for (__u32 i = 0; sc->forward == XLB_FWD_L2 && i < sc->nr_backends && !rc; i++) {
			const struct xlb_backend_conf *b = &sc->backends[i];
			int af = b->family == XLB_FAMILY_V4 ? AF_INET : AF_INET6, oif = 0, err;
			bool gw = false;

			err = xlb_rtnl_route_get(af, &b->addr, &oif, &gw);
			rc = fn(sc, b, af, oif, gw, err);
		}
	}
	return rc;
}

/* Refuse a backend behind a gateway (its frames, to the VIP, would go there); resolve the others. */
static int l2_ask(const struct xlb_service_conf *sc, const struct xlb_backend_conf *b, int af,
		  int oif, bool gw, int err)
{
	char a[INET6_ADDRSTRLEN];

	if (!err && !gw)
		xlb_rtnl_neigh_use(af, &b->addr, oif);	/* l2_warn says what stays unresolved */
	if (err || !gw)
		return 0;
	inet_ntop(af, &b->addr, a, sizeof(a));
	return xlb_errf(-EINVAL, "service %s backend %s: \"forward\": \"l2\" needs the backend on "
			"this node's segment, but the route to it goes through a gateway (its "
			"frames would be sent to the gateway)", sc->name, a);
}

static int l2_unresolved(const struct xlb_service_conf *sc, const struct xlb_backend_conf *b,
			 int af, int oif, bool gw, int err)
{
	(void)sc;
	return !err && !gw && xlb_rtnl_neigh_valid(af, &b->addr, oif) == 0;
}

static int l2_warn(const struct xlb_service_conf *sc, const struct xlb_backend_conf *b, int af,
		   int oif, bool gw, int err)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(af, &b->addr, a, sizeof(a));
	if (err)
		pr_warn("service %s backend %s (forward l2): no route to it: its packets are "
			"dropped\n", sc->name, a);
	else if (!gw && xlb_rtnl_neigh_valid(af, &b->addr, oif) == 0)
		pr_warn("service %s backend %s (forward l2): its neighbour is not resolved after "
			"%d ms: its packets are dropped (no_neigh_l2) until it is (the daemon keeps "
			"L2 neighbours resolved)\n", sc->name, a, L2_RESOLVE_MS);
	return 0;
}

/*
 * L2 direct return sends a frame to its backend's MAC, which the packet path
 * cannot resolve (it drops until the kernel has it: no_neigh_l2).  Before a
 * slot goes live: a backend routed through a gateway is refused (the frame
 * keeps the VIP as its destination: the gateway would send it back), the
 * kernel is asked to resolve every other one, and the change waits for them
 * up to L2_RESOLVE_MS, saying which are not.  The daemon keeps them resolved.
 */
static int resolve_l2(const struct xlb_config *cfg)
{
	struct timespec t = { 0, 10 * 1000000 };
	int err = each_l2(cfg, l2_ask);

	if (err)
		return err;
	for (int i = 0; i < L2_RESOLVE_MS / 10 && each_l2(cfg, l2_unresolved); i++)
		nanosleep(&t, NULL);
	return each_l2(cfg, l2_warn);
}

int xlb_commit(struct xlb_ctl *c, const struct xlb_config *cfg, const struct xlb_plan *plan,
	       const struct xlb_commit_meta *m, __u64 *out_gen)
{
	struct xlb_record rec = { 0 };
	struct xlb_release rel;
	struct xlb_assign a;
	__u32 slot = !c->live_slot;
	__u64 gen;
	int err;

	if (c->lock_fd < 0)
		return xlb_errf(-EINVAL, "internal: commit without the interface lock");
	gen = (c->live_gen > c->last_gen ? c->live_gen : c->last_gen) + 1;
	/* moved slots that no flow needs any more go first: the new table starts from them */
	if (xlb_moved_release(c, xlb_moved_now(), &rel))
		pr_warn("cannot release moved table slots (they stay moved): %s\n", xlb_errmsg());
	err = resolve_l2(cfg);
	if (err)
		return err;
	err = xlb_assign_build(&c->assign, m->prefer, cfg, &a);
	if (err)
		goto out;
	err = fill_slot(c, slot, cfg, &a, plan, gen);
	if (err)
		goto out;
	record_of(&rec, cfg, &a, plan, m, gen);
	err = xlb_fault("record") ?: xlb_history_write(c->hist, &rec);
	if (err)
		goto out;
	err = xlb_fault("switch") ?: xlb_dp_switch(&c->dp, slot);
	if (err) {
		/* never went live: the pending record goes */
		xlb_history_reconcile(c->hist, c->live_gen);
		goto out;
	}
	xlb_fault("finalize");	/* live, record still pending: a crash here is reconciled */
	rec.pending = false;
	if (xlb_history_write(c->hist, &rec))
		pr_warn("generation %llu is live but its record stays pending: %s\n",
			(unsigned long long)gen, xlb_errmsg());
	else if (xlb_history_prune(c->hist, cfg->history_keep, gen) < 0)
		pr_warn("cannot prune the history in %s: %s\n", c->hist, xlb_errmsg());
	*out_gen = gen;
	c->live_slot = slot;
	c->live_gen = c->last_gen = gen;
	xlb_config_free(&c->running);
	xlb_config_copy(&c->running, cfg);
	xlb_assign_free(&c->assign);
	c->assign = a;
	a.be = NULL;
out:
	free(rec.overridden);
	xlb_assign_free(&a);
	return err;
}
