/* A commit's new slot contents, computed without touching a map: see slotplan.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "slotplan.h"
#include "maglev.h"
#include "log.h"
#include "moved.h"

/* The computation's state: the input and the new slot's backends by id. */
struct ctx {
	const struct xlb_slot_input *in;
	struct xlb_backend *nb;		/* [XLB_MAX_BACKENDS] */
};

/*
 * Would this service's table be the one already live?  Same size, the same
 * backends with the same weights and states, and the same ids: Maglev is a
 * function of exactly these.  Another hash (fields or key) places every flow
 * anew: a new table, no moved slot carried over.
 */
static bool same_table(const struct xlb_slot_input *in, const struct xlb_service_conf *s)
{
	const struct xlb_service_conf *o = xlb_config_service(in->running, s->name);

	if (!o || o->table_size != s->table_size || o->nr_backends != s->nr_backends ||
	    o->hash_fields != s->hash_fields || !xlb_hash_seeds_equal(&o->seeds, &s->seeds) ||
	    !xlb_service_holders(o))
		return false;
	for (__u32 j = 0; j < s->nr_backends; j++) {
		const struct xlb_backend_conf *b = &s->backends[j];
		const struct xlb_backend_conf *ob = xlb_service_backend(o, &b->addr, b->family);
		__u32 w = b->state == XLB_BACKEND_ACTIVE ? b->weight : 0;

		if (!ob || (ob->state == XLB_BACKEND_ACTIVE ? ob->weight : 0) != w ||
		    xlb_assign_id(in->assign, s->name, &b->addr, b->family) !=
		    xlb_assign_id(in->live_assign, s->name, &b->addr, b->family))
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
static __u8 *id_bits(const struct ctx *x, const __u32 *live, __u32 m)
{
	__u8 *bits = calloc(XLB_MAX_BACKENDS, 1);

	for (__u32 i = 0; bits && i < m; i++)
		for (int k = 0; k < 2; k++) {
			__u32 id = k ? XLB_TABLE_PREV(live[i]) : XLB_TABLE_CUR(live[i]);
			const struct xlb_backend *ob = &x->in->live->backends[id], *nb = &x->nb[id];

			if (!id || id >= XLB_MAX_BACKENDS || bits[id] || ob->family == XLB_FAMILY_NONE ||
			    nb->family == XLB_FAMILY_NONE || ob->gen != nb->gen ||
			    memcmp(&ob->addr, &nb->addr, sizeof(ob->addr)))
				continue;
			bits[id] = XLB_ID_SAME | (nb->state != XLB_BACKEND_DOWN ? XLB_ID_UP : 0);
		}
	if (!bits)
		xlb_errf(-ENOMEM, "out of memory");
	return bits;
}

static __u32 idle_timeout(const struct xlb_service_conf *s)
{
	return s->flow_idle_timeout ?: XLB_FLOW_IDLE_TIMEOUT;
}

/*
 * The moved slots of a new table: from the live table of the same service
 * (xlb_moved_merge), and until when UDP flows without state take the
 * previous backend.  live_svc: the live record when of the same shape.
 */
static int keep_moved(const struct ctx *x, const struct xlb_service_conf *s,
		      const struct xlb_live_service *l, const struct xlb_service *live_svc,
		      struct xlb_write_service *w)
{
	__u32 moved, fresh;
	__u8 *bits;

	w->svc.hold_until = 0;
	if (!live_svc || !l->table)
		return 0;	/* a new service: nothing to keep */
	bits = id_bits(x, l->table, l->table_m);
	if (!bits)
		return -ENOMEM;
	moved = xlb_moved_merge(w->table, s->table_size, l->table, l->table_m, bits, &fresh);
	if (fresh && moved)
		w->svc.hold_until = x->in->now + idle_timeout(s);
	else if (moved)
		w->svc.hold_until = live_svc->hold_until;
	free(bits);
	return 0;
}

/* The table of a service for the new slot: the live one if unchanged, else new. */
static int plan_table(const struct ctx *x, const struct xlb_service_conf *s, const __u32 *ids,
		      int live_index, const struct xlb_live_service *l,
		      const struct xlb_service *live_svc, struct xlb_write_service *w)
{
	int err;

	if (same_table(x->in, s) && live_index >= 0 && l->table) {
		w->reuse = true;
		w->live_index = live_index;
		w->svc.hold_until = live_svc ? live_svc->hold_until : 0;
		return 0;
	}
	w->table = malloc(sizeof(*w->table) * s->table_size);
	if (!w->table)
		return xlb_errf(-ENOMEM, "out of memory");
	err = table_from_plan(x->in->plan, s, x->in->assign, w->table);
	if (err == -ENOENT)
		err = xlb_service_table(s, ids, w->table);
	return err ?: keep_moved(x, s, l, live_index == (int)w->svc.index ? live_svc : NULL, w);
}

/*
 * A change that places every flow of a service anew (another table_size,
 * hash key or hash fields) keeps the live placement as the service's previous one, so that
 * flows without state find the backend they had; a later change of the same
 * shape carries a held one over.  Ids no longer usable are left out (0).
 */
static int keep_replaced(const struct ctx *x, const struct xlb_service_conf *s,
			 const struct xlb_live_service *l, const struct xlb_service *live_svc,
			 bool same_shape, struct xlb_write_service *w)
{
	struct xlb_replaced rep = { 0 };
	const __u32 *old = l->table;
	__u32 m = l->table_m;
	__u8 *bits;

	if (!x->in->live->replaced_maps || !live_svc)
		return 0;
	if (!same_shape) {
		rep.table_size = live_svc->table_size;
		rep.hash_fields = live_svc->hash_fields;
		rep.hash_seed = live_svc->hash_seed;
	} else {
		rep = l->rep;
		old = l->prev;
		m = l->prev_m;
		if (!rep.table_size)
			return 0;
	}
	if (!old || m != rep.table_size)
		return 0;
	bits = id_bits(x, old, m);
	w->rep_table = malloc(sizeof(*w->rep_table) * m);
	if (!bits || !w->rep_table) {
		free(bits);
		return xlb_errf(-ENOMEM, "out of memory");
	}
	for (__u32 i = 0; i < m; i++)
		w->rep_table[i] = bits[XLB_TABLE_CUR(old[i])] & XLB_ID_UP ? XLB_TABLE_CUR(old[i]) : 0;
	free(bits);
	w->replaced = true;
	w->rep = rep;
	if (!same_shape)
		w->svc.hold_until = x->in->now + idle_timeout(s);
	else if ((__s32)(live_svc->hold_until - w->svc.hold_until) > 0)
		w->svc.hold_until = live_svc->hold_until;
	return 0;
}

/* Service i of the configuration: its record, table and previous placement. */
static int plan_service(const struct ctx *x, __u32 i, struct xlb_write_service *w)
{
	const struct xlb_service_conf *s = &x->in->cfg->services[i];
	const struct xlb_live_service *l = &x->in->live->svcs[i];
	int idx = xlb_assign_service(x->in->assign, s->name);
	int live_index = xlb_assign_service(x->in->live_assign, s->name);
	bool live, same_shape;
	__u32 *ids;
	int err;

	if (idx < 0)
		return xlb_errf(-EINVAL, "internal: service %s has no index", s->name);
	w->key = (struct xlb_service_key){ .vip = s->vip, .port = htons(s->port),
					   .proto = s->proto, .family = s->family };
	w->svc = (struct xlb_service){ .index = idx, .table_size = s->table_size,
				       .hash_fields = s->hash_fields, .hash_seed = s->seeds.flow };
	w->reset = live_index < 0;
	if (!xlb_service_holders(s))
		return 0;	/* a forced-empty service keeps its VIP but no longer matches */
	w->has_table = true;
	live = l->found && l->svc.index == (__u32)idx;
	same_shape = live && l->svc.table_size == s->table_size &&
		     l->svc.hash_seed == s->seeds.flow && l->svc.hash_fields == s->hash_fields;
	ids = calloc(s->nr_backends + 1, sizeof(*ids));
	if (!ids)
		return xlb_errf(-ENOMEM, "out of memory");
	for (__u32 j = 0; j < s->nr_backends; j++)
		ids[j] = xlb_assign_id(x->in->assign, s->name, &s->backends[j].addr,
				       s->backends[j].family);
	err = plan_table(x, s, ids, live_index, l, same_shape ? &l->svc : NULL, w);
	free(ids);
	if (err || live_index != idx)
		return err;
	return keep_replaced(x, s, l, live ? &l->svc : NULL, same_shape, w);
}

/* Every backend of the configuration with its id and generation. */
static int plan_backends(struct ctx *x, struct xlb_slot_write *out)
{
	const struct xlb_config *cfg = x->in->cfg;
	__u32 n = 0;

	for (__u32 i = 0; i < cfg->nr_services; i++)
		n += cfg->services[i].nr_backends;
	out->backends = calloc(n + 1, sizeof(*out->backends));
	if (!out->backends)
		return xlb_errf(-ENOMEM, "out of memory");
	for (__u32 i = 0; i < cfg->nr_services; i++) {
		const struct xlb_service_conf *s = &cfg->services[i];
		int idx = xlb_assign_service(x->in->assign, s->name);

		for (__u32 j = 0; j < s->nr_backends; j++) {
			const struct xlb_backend_conf *b = &s->backends[j];
			const struct xlb_assigned *as = xlb_assign_find(x->in->assign, s->name,
									&b->addr, b->family);
			struct xlb_write_backend *wb = &out->backends[out->nr_backends];

			if (!as || as->id == XLB_BACKEND_NONE || as->id >= XLB_MAX_BACKENDS)
				return xlb_errf(-EINVAL, "internal: %s has a backend without an id",
						s->name);
			wb->id = as->id;
			wb->be = (struct xlb_backend){ .addr = b->addr, .family = b->family,
						       .state = b->state, .service = idx,
						       .gen = as->gen, .fwd = s->forward };
			if (s->forward == XLB_FWD_GUE)
				wb->be.gue_port = htons(s->gue_port ?: XLB_GUE_PORT_DEFAULT);
			wb->reset = !xlb_assign_find(x->in->live_assign, s->name, &b->addr,
						     b->family);
			x->nb[as->id] = wb->be;
			out->nr_backends++;
		}
	}
	return 0;
}

int xlb_slot_plan(const struct xlb_slot_input *in, struct xlb_slot_write *out)
{
	struct ctx x = { .in = in, .nb = calloc(XLB_MAX_BACKENDS, sizeof(*x.nb)) };
	int err;

	memset(out, 0, sizeof(*out));
	out->svcs = calloc(in->cfg->nr_services + 1, sizeof(*out->svcs));
	if (!x.nb || !out->svcs) {
		free(x.nb);
		return xlb_errf(-ENOMEM, "out of memory");
	}
	err = plan_backends(&x, out);
	for (__u32 i = 0; !err && i < in->cfg->nr_services; i++, out->nr++)
		err = plan_service(&x, i, &out->svcs[i]);
	free(x.nb);
	out->conf = in->live->conf;
	out->conf.generation = in->gen;
	out->conf.flags |= XLB_SLOT_F_CONFIGURED;
	out->conf.flags &= ~XLB_SLOT_F_SECOND_CHANCE;
	if (in->cfg->second_chance)
		out->conf.flags |= XLB_SLOT_F_SECOND_CHANCE;
	return err;
}

void xlb_slot_write_free(struct xlb_slot_write *w)
{
	for (__u32 i = 0; w->svcs && i <= w->nr; i++) {
		free(w->svcs[i].table);
		free(w->svcs[i].rep_table);
	}
	free(w->svcs);
	free(w->backends);
	memset(w, 0, sizeof(*w));
}
