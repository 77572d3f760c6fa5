/* Moved slots: kept at a change, released when idle, marked on an upgrade. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "moved.h"
#include "log.h"
#include "bpf/hash.h"

__u32 xlb_moved_merge(__u32 *table, __u32 m, const __u32 *live, __u32 live_m,
		      const __u8 *ids, __u32 *fresh)
{
	__u32 moved = 0;

	*fresh = 0;
	for (__u32 i = 0; i < m; i++) {
		__u32 nc = XLB_TABLE_CUR(table[i]), oc, op, np = 0;

		if (!live || live_m != m || !nc) {
			table[i] = nc;
			continue;
		}
		oc = XLB_TABLE_CUR(live[i]);
		op = XLB_TABLE_PREV(live[i]);
		if (nc == oc && (ids[nc] & XLB_ID_SAME)) {
			/* not moved by this change: an earlier move stays until released */
			if (op)
				np = op == nc || (ids[op] & XLB_ID_UP) ? op : nc;
		} else {
			(*fresh)++;
			if (op && op == nc && (ids[op] & XLB_ID_SAME))
				np = nc;	/* back where it was: flows without state go there */
			else if (oc && (ids[oc] & XLB_ID_UP))
				np = oc;
			else if (op)
				np = ids[op] & XLB_ID_UP ? op : nc;
		}
		table[i] = XLB_TABLE_ENTRY(nc, np);
		moved += np != 0;
	}
	return moved;
}

__u32 xlb_moved_count(const __u32 *table, __u32 m)
{
	__u32 n = 0;

	for (__u32 i = 0; i < m; i++)
		n += XLB_TABLE_PREV(table[i]) != 0;
	return n;
}

__u32 xlb_moved_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* A live-slot service entry and its table. */
struct msvc {
	struct xlb_service svc;
	__u32 *table;		/* entries as published */
	__u8 *hit;		/* per table slot: released (release) or marked (adopt) */
	bool changed;
	bool held;		/* a replaced service whose previous placement stays */
};

/* Every service of a slot with its table; *n services, the array malloc'd. */
static int slot_services(const struct xlb_dp *dp, __u32 slot, struct msvc **out, __u32 *n)
{
	struct xlb_service *svcs = calloc(XLB_MAX_SERVICES, sizeof(*svcs));
	struct msvc *v = calloc(XLB_MAX_SERVICES, sizeof(*v));
	__u32 m, nr = 0;
	int err;

	*n = 0;
	*out = v;
	if (!v || !svcs) {
		free(svcs);
		return xlb_errf(-ENOMEM, "out of memory");
	}
	err = xlb_dp_slot_services(dp, slot, NULL, svcs, XLB_MAX_SERVICES, &nr);
	for (__u32 i = 0; !err && i < nr; i++) {
		v[*n].svc = svcs[i];
		err = xlb_dp_get_table_raw(dp, slot, v[*n].svc.index, &v[*n].table, &m);
		if (err == -ENOENT) {
			err = 0;
			continue;
		}
		if (err)
			break;
		if (m != v[*n].svc.table_size) {
			free(v[*n].table);
			continue;
		}
		(*n)++;
	}
	free(svcs);
	return err;
}

static void free_services(struct msvc *v, __u32 n)
{
	for (__u32 i = 0; v && i < n; i++) {
		free(v[i].table);
		free(v[i].hit);
	}
	free(v);
}

/* The service (of those read) that a flow's key belongs to, and its table slot. */
static struct msvc *flow_service(const struct xlb_dp *dp, __u32 slot, struct msvc *v, __u32 n,
				 const struct xlb_flow_key *f, __u32 *bucket)
{
	struct xlb_service_key k = { .vip = f->dst, .port = f->dport, .proto = f->proto,
				     .family = f->family };
	struct xlb_service svc;

	if (xlb_dp_get_service(dp, slot, k, &svc)) {
		k.port = 0;
		if (xlb_dp_get_service(dp, slot, k, &svc))
			return NULL;
	}
	for (__u32 i = 0; i < n; i++)
		if (v[i].svc.index == svc.index) {
			*bucket = xlb_table_index(xlb_flow_hash_fields(f, svc.hash_seed ?:
									   XLB_HASH_SEED,
									   svc.hash_fields),
						  v[i].svc.table_size);
			return &v[i];
		}
	return NULL;
}

/* Republish the changed tables of a slot. */
static int republish(const struct xlb_dp *dp, __u32 slot, struct msvc *v, __u32 n,
		     __u32 *services)
{
	for (__u32 i = 0; i < n; i++) {
		int fd, err;

		if (!v[i].changed)
			continue;
		fd = xlb_dp_new_table(v[i].table, v[i].svc.table_size);
		if (fd < 0)
			return fd;
		err = xlb_dp_replace_table(dp, slot, v[i].svc.index, fd);
		close(fd);
		if (err)
			return err;
		(*services)++;
	}
	return 0;
}

/* The flow_idle_timeout of the service with this index in the running configuration. */
static __u32 idle_timeout(const struct xlb_ctl *c, __u32 index)
{
	for (__u32 i = 0; i < c->running.nr_services; i++) {
		const struct xlb_service_conf *s = &c->running.services[i];

		if (xlb_assign_service(&c->assign, s->name) == (int)index)
			return s->flow_idle_timeout ?: XLB_FLOW_IDLE_TIMEOUT;
	}
	return XLB_FLOW_IDLE_TIMEOUT;
}

/* The keys forget_flows gathers. */
struct gone {
	const struct xlb_dp *dp;
	__u32 slot, n;
	struct msvc *v;
	struct xlb_flow_key *keys;
	size_t nr, cap;
};

static int gather_gone(const struct xlb_flow_key *k, const struct xlb_flow *f, void *arg)
{
	struct gone *g = arg;
	struct msvc *s;
	__u32 bucket;

	(void)f;
	s = flow_service(g->dp, g->slot, g->v, g->n, k, &bucket);
	if (s && (!s->hit || !s->hit[bucket]))
		return 0;	/* no service: nothing will ever read it again */
	if (g->nr == g->cap) {
		struct xlb_flow_key *keys = realloc(g->keys, (g->cap = g->cap ? g->cap * 2 : 256) *
						    sizeof(*keys));

		if (!keys)
			return -ENOMEM;
		g->keys = keys;
	}
	g->keys[g->nr++] = *k;
	return 0;
}

/*
 * Forget the remembered flows of released slots, and of services that are
 * gone (keys gathered first, then deleted).
 */
static __u32 forget_flows(const struct xlb_dp *dp, int map, __u32 slot, struct msvc *v, __u32 n)
{
	struct gone g = { .dp = dp, .slot = slot, .n = n, .v = v };
	__u32 done = 0;

	xlb_dp_walk_flows(map, gather_gone, &g);	/* out of memory: those gathered */
	for (size_t i = 0; i < g.nr; i++)
		done += !xlb_dp_del_flow(map, &g.keys[i]);
	free(g.keys);
	return done;
}

/* Does a SYN remembered in a moved slot (service, bucket) stay?  No for released slots and gone services. */
struct syn_keep {
	struct msvc *v;
	__u32 n;
};

static bool keep_syn(__u32 service, __u32 bucket, void *arg)
{
	const struct syn_keep *k = arg;

	for (__u32 j = 0; j < k->n; j++)
		if (k->v[j].svc.index == service)
			return bucket < k->v[j].svc.table_size &&
			       (!k->v[j].hit || !k->v[j].hit[bucket]);
	return false;
}

/*
 * A replaced service's previous placement goes once no flow of the service
 * has needed a previous backend for its timeout; its remembered flows go with
 * it, but for those of slots still moved.
 */
static int release_replaced(struct xlb_ctl *c, struct msvc *s, const __u32 *seen, __u32 now,
			    struct xlb_release *r)
{
	__u32 m = s->svc.table_size, timeout = idle_timeout(c, s->svc.index);
	struct xlb_replaced rep;
	int err = xlb_dp_get_replaced(&c->dp, c->live_slot, s->svc.index, &rep);

	if (err || !rep.table_size)
		return err;
	s->held = true;
	if ((__s32)(now - s->svc.hold_until) < 0)
		return 0;
	for (__u32 b = 0; b < m; b++)
		if (now - seen[2 * xlb_seen_cell(s->svc.index, b)] <= timeout)
			return 0;
	err = xlb_dp_set_replaced(&c->dp, c->live_slot, s->svc.index, NULL, -1);
	if (err)
		return err;
	s->held = false;
	r->replaced++;
	if (!s->hit && !(s->hit = calloc(m, 1)))
		return xlb_errf(-ENOMEM, "out of memory");
	for (__u32 b = 0; b < m; b++)
		s->hit[b] |= !XLB_TABLE_PREV(s->table[b]);
	return 0;
}

int xlb_moved_release(struct xlb_ctl *c, __u32 now, struct xlb_release *r)
{
	struct msvc *v = NULL;
	const __u32 *seen;
	__u32 n = 0;
	int err;

	memset(r, 0, sizeof(*r));
	if (c->dp.seen < 0)
		return 0;	/* state of an older version: nothing is moved */
	err = slot_services(&c->dp, c->live_slot, &v, &n);
	if (err)
		goto out;
	seen = xlb_dp_map_seen(&c->dp);
	if (!seen) {
		err = -EIO;
		goto out;
	}
	for (__u32 i = 0; i < n; i++) {
		struct msvc *s = &v[i];
		__u32 m = s->svc.table_size, timeout = idle_timeout(c, s->svc.index);

		if (!xlb_moved_count(s->table, m) || (__s32)(now - s->svc.hold_until) < 0)
			continue;
		for (__u32 b = 0; b < m; b++) {
			__u32 last;

			if (!XLB_TABLE_PREV(s->table[b]))
				continue;
			/* element i of an mmapped array sits at an 8-byte stride */
			last = seen[2 * xlb_seen_cell(s->svc.index, b)];
			if (now - last <= timeout)
				continue;
			if (!s->hit && !(s->hit = calloc(m, 1))) {
				err = xlb_errf(-ENOMEM, "out of memory");
				break;
			}
			s->table[b] = XLB_TABLE_CUR(s->table[b]);
			s->hit[b] = 1;
			s->changed = true;
			r->released++;
		}
	}
	for (__u32 i = 0; i < n && !err; i++)
		err = release_replaced(c, &v[i], seen, now, r);
	xlb_dp_unmap_seen(seen);
	err = err ?: republish(&c->dp, c->live_slot, v, n, &r->services);
	if (!err && (r->released || r->replaced))
		r->forgotten = forget_flows(&c->dp, c->dp.flows, c->live_slot, v, n) +
			       xlb_dp_forget_syns(&c->dp, keep_syn, &(struct syn_keep){ v, n });
	for (__u32 i = 0; i < n; i++) {
		__u32 k = v[i].held ? v[i].svc.table_size :
			  xlb_moved_count(v[i].table, v[i].svc.table_size);

		r->moved += k;
		r->moved_by_index[v[i].svc.index & (XLB_MAX_SERVICES - 1)] = k;
	}
out:
	free_services(v, n);
	return err;
}

/* What xlb_moved_adopt carries through the connection table. */
struct adopt {
	const struct xlb_dp *dp;
	struct msvc *v;
	__u32 slot, n, now, marked;
};

/* A remembered flow whose backend is not its slot's: the slot is marked moved. */
static int adopt_flow(const struct xlb_flow_key *key, const struct xlb_flow *f, void *arg)
{
	struct adopt *a = arg;
	struct xlb_backend be;
	struct msvc *s;
	__u32 e, bucket;

	s = flow_service(a->dp, a->slot, a->v, a->n, key, &bucket);
	if (!s)
		return 0;
	e = s->table[bucket];
	if (XLB_TABLE_PREV(e) || XLB_FLOW_ID(f->backend) == XLB_TABLE_CUR(e) ||
	    xlb_dp_get_backend(a->dp, a->slot, XLB_FLOW_ID(f->backend), &be) ||
	    be.family == XLB_FAMILY_NONE || be.gen != f->gen || be.state == XLB_BACKEND_DOWN)
		return 0;
	s->table[bucket] = XLB_TABLE_ENTRY(XLB_TABLE_CUR(e), XLB_TABLE_CUR(e));
	s->changed = true;
	xlb_dp_set_seen(a->dp, xlb_seen_cell(s->svc.index, bucket), a->now);
	a->marked++;
	return 0;
}

int xlb_moved_adopt(const struct xlb_dp *dp, __u32 *marked)
{
	struct adopt a = { .dp = dp, .now = xlb_moved_now() };
	__u32 services = 0;
	int err;

	*marked = 0;
	err = xlb_dp_active_slot(dp, &a.slot) ?: slot_services(dp, a.slot, &a.v, &a.n);
	err = err ?: xlb_dp_walk_flows(dp->flows, adopt_flow, &a);
	*marked = a.marked;
	err = err ?: republish(dp, a.slot, a.v, a.n, &services);
	free_services(a.v, a.n);
	return err;
}
