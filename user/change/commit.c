/*
 * Commit: a new configuration is written into the idle slot (backends,
 * Maglev tables, services, VIPs, slot settings), recorded as pending, then
 * switched in with one 4-byte map write and the record finalised.  Nothing
 * before the switch touches the live slot, so a failure at any step leaves
 * the running tables, backends and history as they were.
 *
 * Test hooks: XLB_FAIL_AT=backends|tables|services|conf|record|switch makes
 * the commit fail at that step (finalize only pauses: the switch is done); XLB_PAUSE_AT=STEP sleeps there for
 * XLB_PAUSE_SECONDS (default 5) so a test can kill the controller mid-apply; it says
 * "paused at step STEP" on stderr first, which is what the test waits for.
 * XLB_FAIL_AT_FILE=PATH: while PATH exists, the step it names fails (a test
 * makes a running daemon's commits fail, then recover).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "commit.h"
#include "loader.h"
#include "maglev.h"
#include "log.h"
#include "moved.h"
#include "netutil.h"

/* XLB_FAIL_AT, or the first word of the file XLB_FAIL_AT_FILE names (a running daemon's). */
static const char *fail_step(char *buf, size_t len)
{
	const char *path = getenv("XLB_FAIL_AT_FILE");
	FILE *f;

	if (!path)
		return getenv("XLB_FAIL_AT");
	f = fopen(path, "r");
	if (!f)
		return getenv("XLB_FAIL_AT");
	if (!fgets(buf, len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, " \n")] = '\0';
	return buf;
}

static int test_hook(const char *step)
{
	char buf[32];
	const char *fail = fail_step(buf, sizeof(buf)), *pause = getenv("XLB_PAUSE_AT");

	if (pause && !strcmp(pause, step)) {
		const char *s = getenv("XLB_PAUSE_SECONDS");

		fprintf(stderr, "xlb: paused at step '%s' (XLB_PAUSE_AT)\n", step);
		fflush(stderr);
		sleep(s ? atoi(s) : 5);
	}
	if (fail && !strcmp(fail, step))
		return xlb_errf(-EIO, "injected failure at step '%s' (XLB_FAIL_AT)", step);
	return 0;
}

/* ---- writing the idle slot ----------------------------------------------------- */

static int zero_counters(const struct xlb_dp *dp, int fd, __u32 key)
{
	void *zero = calloc(dp->nr_cpus, sizeof(struct xlb_counters));
	int err = 0;

	if (!zero)
		return xlb_errf(-ENOMEM, "out of memory");
	if (bpf_map_update_elem(fd, &key, zero, BPF_ANY))
		err = xlb_errf(-errno, "cannot reset counters: %s", strerror(errno));
	free(zero);
	return err;
}

/*
 * Would this service's table be the one already live?  Same size, the same
 * backends with the same weights and states, and the same ids: Maglev is a
 * function of exactly these.
 */
static bool same_table(const struct xlb_ctl *c, const struct xlb_service_conf *s,
		       const struct xlb_assign *a)
{
	const struct xlb_service_conf *o = xlb_config_service(&c->running, s->name);

	if (!o || o->table_size != s->table_size || o->nr_backends != s->nr_backends ||
	    !xlb_hash_seeds_equal(&o->seeds, &s->seeds) || !xlb_service_holders(o))
		return false;
	for (__u32 j = 0; j < s->nr_backends; j++) {
		const struct xlb_backend_conf *b = &s->backends[j];
		const struct xlb_backend_conf *ob = xlb_service_backend(o, &b->addr, b->family);
		__u32 w = b->state == XLB_BACKEND_ACTIVE ? b->weight : 0;

		if (!ob || (ob->state == XLB_BACKEND_ACTIVE ? ob->weight : 0) != w ||
		    xlb_assign_id(a, s->name, &b->addr, b->family) !=
		    xlb_assign_id(&c->assign, s->name, &b->addr, b->family))
			return false;
	}
	return true;
}

/* The planner's new table of a service with backend ids in place of its indices. */
static int table_from_plan(const struct xlb_plan *plan, const struct xlb_service_conf *s,
			   const struct xlb_assign *a, __u32 *table)
{
	const struct xlb_plan_service *ps = NULL;
	__u32 *idmap;

	for (__u32 i = 0; plan && i < plan->nr && !ps; i++)
		if (!strcmp(plan->svcs[i].name, s->name) && plan->svcs[i].table &&
		    plan->svcs[i].table_size == s->table_size)
			ps = &plan->svcs[i];
	if (!ps)
		return -ENOENT;
	idmap = calloc(ps->nr_bes + 1, sizeof(*idmap));
	if (!idmap)
		return xlb_errf(-ENOMEM, "out of memory");
	for (__u32 k = 0; k < ps->nr_bes; k++)
		idmap[k + 1] = xlb_assign_id(a, s->name, &ps->bes[k].addr, ps->bes[k].family);
	for (__u32 i = 0; i < s->table_size; i++)
		table[i] = idmap[ps->table[i]];
	free(idmap);
	return 0;
}

/* XLB_ID_* of every backend id a live table names, against the new slot's backends. */
static void id_bits(const struct xlb_ctl *c, __u32 slot, const __u32 *live, __u32 m, __u8 *bits)
{
	__u8 seen[XLB_MAX_BACKENDS] = { 0 };

	for (__u32 i = 0; i < m; i++)
		for (int k = 0; k < 2; k++) {
			__u32 id = k ? XLB_TABLE_PREV(live[i]) : XLB_TABLE_CUR(live[i]);
			struct xlb_backend ob, nb;

			if (!id || id >= XLB_MAX_BACKENDS || seen[id])
				continue;
			seen[id] = 1;
			if (xlb_dp_get_backend(&c->dp, c->live_slot, id, &ob) ||
			    xlb_dp_get_backend(&c->dp, slot, id, &nb) ||
			    ob.family == XLB_FAMILY_NONE || nb.family == XLB_FAMILY_NONE ||
			    ob.gen != nb.gen || memcmp(&ob.addr, &nb.addr, sizeof(ob.addr)))
				continue;
			bits[id] = XLB_ID_SAME | (nb.state != XLB_BACKEND_DOWN ? XLB_ID_UP : 0);
		}
}

/*
 * The moved slots of a new table: from the live table of the same service
 * (xlb_moved_merge), and until when UDP flows without state take the
 * previous backend.  svc->hold_until is set.
 */
static int keep_moved(struct xlb_ctl *c, __u32 slot, const struct xlb_service_conf *s,
		      __u32 idx, const struct xlb_service *live_svc, __u32 *table,
		      struct xlb_service *svc)
{
	__u8 *bits;
	__u32 *live, lm, moved, fresh;
	int err;

	svc->hold_until = 0;
	if (!live_svc || xlb_assign_service(&c->assign, s->name) != (int)idx)
		return 0;	/* a new service: nothing to keep */
	err = xlb_dp_get_table_raw(&c->dp, c->live_slot, idx, &live, &lm);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	bits = calloc(XLB_MAX_BACKENDS, 1);
	if (!bits) {
		free(live);
		return xlb_errf(-ENOMEM, "out of memory");
	}
	id_bits(c, slot, live, lm, bits);
	moved = xlb_moved_merge(table, s->table_size, live, lm, bits, &fresh);
	if (fresh && moved)
		svc->hold_until = xlb_moved_now() +
				  (s->flow_idle_timeout ?: XLB_FLOW_IDLE_TIMEOUT);
	else if (moved)
		svc->hold_until = live_svc->hold_until;
	free(bits);
	free(live);
	return 0;
}

/* The table of a service for the new slot: the live one if unchanged, else new. */
static int service_table_fd(struct xlb_ctl *c, __u32 slot, const struct xlb_service_conf *s,
			    const struct xlb_assign *a, const __u32 *ids, __u32 idx,
			    const struct xlb_plan *plan, const struct xlb_service *live_svc,
			    struct xlb_service *svc)
{
	__u32 *table;
	int fd, err;

	if (same_table(c, s, a)) {
		fd = xlb_dp_table_fd(&c->dp, c->live_slot, xlb_assign_service(&c->assign, s->name));
		if (fd >= 0) {
			svc->hold_until = live_svc ? live_svc->hold_until : 0;
			return fd;
		}
	}
	table = malloc(sizeof(*table) * s->table_size);
	if (!table)
		return xlb_errf(-ENOMEM, "out of memory");
	err = table_from_plan(plan, s, a, table);
	if (err == -ENOENT)
		err = xlb_service_table(s, ids, table);
	err = err ?: keep_moved(c, slot, s, idx, live_svc, table, svc);
	fd = err ?: xlb_dp_new_table(table, s->table_size);
	free(table);
	return fd;
}

/*
 * A change that places every flow of a service anew (another table_size or
 * hash key) keeps the live placement as the service's previous one, so that
 * flows without state find the backend they had; a later change of the same
 * shape carries a held one over.  Ids no longer usable are left out (0).
 * svc->hold_until is set.
 */
static int keep_replaced(struct xlb_ctl *c, __u32 slot, const struct xlb_service_conf *s,
			 __u32 idx, const struct xlb_service *live_svc, bool same_shape,
			 struct xlb_service *svc)
{
	struct xlb_replaced rep = { 0 };
	__u32 *old = NULL, m = 0;
	__u8 *bits;
	int err, fd;

	if (c->dp.replaced < 0 || !live_svc || xlb_assign_service(&c->assign, s->name) != (int)idx)
		return 0;
	if (!same_shape) {
		rep.table_size = live_svc->table_size;
		rep.hash_seed = live_svc->hash_seed;
		err = xlb_dp_get_table_raw(&c->dp, c->live_slot, idx, &old, &m);
	} else {
		err = xlb_dp_get_replaced(&c->dp, c->live_slot, idx, &rep);
		if (err || !rep.table_size)
			return err;
		err = xlb_dp_get_prev_table(&c->dp, c->live_slot, idx, &old, &m);
	}
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	bits = calloc(XLB_MAX_BACKENDS, 1);
	if (!bits || m != rep.table_size) {
		free(old);
		free(bits);
		return bits ? 0 : xlb_errf(-ENOMEM, "out of memory");
	}
	id_bits(c, slot, old, m, bits);
	for (__u32 i = 0; i < m; i++)
		old[i] = bits[XLB_TABLE_CUR(old[i])] & XLB_ID_UP ? XLB_TABLE_CUR(old[i]) : 0;
	fd = xlb_dp_new_table(old, m);
	err = fd < 0 ? fd : xlb_dp_set_replaced(&c->dp, slot, idx, &rep, fd);
	if (fd >= 0)
		close(fd);
	if (!same_shape)
		svc->hold_until = xlb_moved_now() + (s->flow_idle_timeout ?: XLB_FLOW_IDLE_TIMEOUT);
	else if ((__s32)(live_svc->hold_until - svc->hold_until) > 0)
		svc->hold_until = live_svc->hold_until;
	free(old);
	free(bits);
	return err;
}

/* Backends, table, service and VIP of one service; *table_fd gets its table. */
static int write_service(struct xlb_ctl *c, __u32 slot, const struct xlb_service_conf *s,
			 const struct xlb_assign *a, __u32 idx, const struct xlb_plan *plan,
			 int *table_fd)
{
	struct xlb_service_key key = { .vip = s->vip, .port = htons(s->port), .proto = s->proto,
				       .family = s->family };
	struct xlb_service svc = { .index = idx, .table_size = s->table_size,
				   .hash_seed = s->seeds.flow }, live_svc;
	struct xlb_service_key live_key = key;
	__u32 *ids = calloc(s->nr_backends + 1, sizeof(*ids));
	bool live, same_shape;
	int err = 0;

	*table_fd = -1;
	if (!ids)
		return xlb_errf(-ENOMEM, "out of memory");
	for (__u32 j = 0; j < s->nr_backends && !err; j++) {
		const struct xlb_backend_conf *b = &s->backends[j];
		const struct xlb_assigned *as = xlb_assign_find(a, s->name, &b->addr, b->family);
		struct xlb_backend be = { .addr = b->addr, .family = b->family, .state = b->state,
					  .service = idx };

		if (!as) {
			err = xlb_errf(-EINVAL, "internal: %s has a backend without an id", s->name);
			break;
		}
		be.gen = as->gen;
		ids[j] = as->id;
		err = xlb_dp_set_backend(&c->dp, slot, as->id, &be);
		if (!err && !xlb_assign_find(&c->assign, s->name, &b->addr, b->family))
			err = zero_counters(&c->dp, c->dp.backend_stats, as->id);
	}
	err = err ?: test_hook("tables");
	live_key.slot = c->live_slot;
	live = !bpf_map_lookup_elem(c->dp.services, &live_key, &live_svc) && live_svc.index == idx;
	same_shape = live && live_svc.table_size == s->table_size &&
		     live_svc.hash_seed == s->seeds.flow;
	if (!err && xlb_service_holders(s)) {
		*table_fd = service_table_fd(c, slot, s, a, ids, idx, plan,
					     same_shape ? &live_svc : NULL, &svc);
		if (*table_fd < 0)
			err = *table_fd;
		err = err ?: keep_replaced(c, slot, s, idx, live ? &live_svc : NULL, same_shape,
					   &svc);
		err = err ?: test_hook("services") ?: xlb_dp_set_service(&c->dp, slot, key, &svc);
	}
	/* a forced-empty service keeps its VIP (classified) but no longer matches */
	err = err ?: xlb_dp_set_vip(&c->dp, slot, &s->vip, s->family);
	if (!err && xlb_assign_service(&c->assign, s->name) < 0)
		err = zero_counters(&c->dp, c->dp.service_stats, idx);
	free(ids);
	return err;
}

static int write_slot(struct xlb_ctl *c, __u32 slot, const struct xlb_config *cfg,
		      const struct xlb_assign *a, const struct xlb_plan *plan, __u64 gen)
{
	__u32 indices[XLB_MAX_SERVICES], n = 0;
	int fds[XLB_MAX_SERVICES];
	struct xlb_slot_conf conf;
	int err;

	err = xlb_dp_clear_slot(&c->dp, slot) ?: test_hook("backends");
	for (__u32 i = 0; i < cfg->nr_services && !err; i++) {
		__u32 idx = xlb_assign_service(a, cfg->services[i].name);
		int fd;

		err = write_service(c, slot, &cfg->services[i], a, idx, plan, &fd);
		if (fd >= 0) {
			indices[n] = idx;
			fds[n++] = fd;
		}
	}
	err = err ?: xlb_dp_publish_tables(&c->dp, slot, indices, fds, n);
	for (__u32 i = 0; i < n; i++)
		close(fds[i]);
	err = err ?: test_hook("conf") ?: xlb_dp_get_slot_conf(&c->dp, c->live_slot, &conf);
	if (err)
		return err;
	conf.generation = gen;
	conf.flags |= XLB_SLOT_F_CONFIGURED;
	conf.flags &= ~XLB_SLOT_F_SECOND_CHANCE;
	if (cfg->second_chance)
		conf.flags |= XLB_SLOT_F_SECOND_CHANCE;
	return xlb_dp_set_slot_conf(&c->dp, slot, &conf);
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
	snprintf(r->user, sizeof(r->user), "%s", xlb_who());
	snprintf(r->reason, sizeof(r->reason), "%s", m->reason ?: "");
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
	err = xlb_assign_build(&c->assign, m->prefer, cfg, &a);
	if (err)
		goto out;
	err = write_slot(c, slot, cfg, &a, plan, gen);
	if (err)
		goto out;
	record_of(&rec, cfg, &a, plan, m, gen);
	err = test_hook("record") ?: xlb_history_write(c->hist, &rec);
	if (err)
		goto out;
	err = test_hook("switch") ?: xlb_dp_switch(&c->dp, slot);
	if (err) {
		/* never went live: the pending record goes */
		xlb_history_reconcile(c->hist, c->live_gen);
		goto out;
	}
	test_hook("finalize");	/* live, record still pending: a crash here is reconciled */
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
