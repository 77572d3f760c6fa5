/*
 * The backend of a flow in a table slot a change moved: the connection
 * table, the SYN cells, the flood guard, second chance (bpf/xlb.bpf.c's
 * pick_backend() asks pick_moved() for a moved slot).  Included once, by
 * xlb.bpf.c.
 */
#ifndef XLB_MOVED_H
#define XLB_MOVED_H

#include "compat.h"
#include "parse.h"
#include "hash.h"
#include "maps.h"

/* The backend a packet goes to, and what the connection table did. */
struct xlb_pick {
	struct xlb_backend *be;
	struct xlb_backend *alt_be;	/* second chance: the backend behind be, or NULL */
	__u32 id;
	__u32 alt;			/* its id */
	__u32 hash;			/* the flow hash the table slot was read with */
	__u8 new_flow;
	__u8 rehashed;
};

static __always_inline void count_event(__u32 event)
{
	__u64 *n = bpf_map_lookup_elem(&xlb_events, &event);

	if (n)
		(*n)++;
}

static __always_inline struct xlb_backend *lookup_backend(__u32 slot, __u32 id)
{
	__u32 key = slot * XLB_MAX_BACKENDS + (id & (XLB_MAX_BACKENDS - 1));

	return bpf_map_lookup_elem(&xlb_backends, &key);
}

/* A connection-table hit holds while its backend is there, same gen, not down. */
static __always_inline int flow_holds(const struct xlb_flow *f, const struct xlb_backend *be)
{
	return be && be->family != XLB_FAMILY_NONE && be->gen == f->gen &&
	       be->state != XLB_BACKEND_DOWN;
}

static __always_inline int usable(const struct xlb_backend *be)
{
	return be && be->family != XLB_FAMILY_NONE && be->state != XLB_BACKEND_DOWN;
}

static __always_inline int is_syn(const struct xlb_pkt *pkt)
{
	return pkt->flow.proto == IPPROTO_TCP && !pkt->icmp_err &&
	       (pkt->tcp_flags & (XLB_TCP_SYN | XLB_TCP_ACK)) == XLB_TCP_SYN;
}

static __always_inline __u32 now_sec(void)
{
	return bpf_ktime_get_coarse_ns() / 1000000000ull;
}

/* The flood guard: may this CPU make another connection-table entry now? */
static __always_inline int may_remember(const struct xlb_slot_conf *conf)
{
	__u32 zero = 0, rate = conf->flow_rate ?: XLB_FLOW_RATE_DEFAULT;
	struct xlb_flood *f;
	__u64 now;

	if (rate == XLB_FLOW_RATE_UNLIMITED)
		return 1;
	f = bpf_map_lookup_elem(&xlb_flood, &zero);
	if (!f)
		return 1;
	if (f->inserts < rate) {
		f->inserts++;
		return 1;
	}
	now = bpf_ktime_get_coarse_ns();
	if (now - f->window_ns >= 1000000000ull) {
		f->window_ns = now;
		f->inserts = 1;
		return 1;
	}
	f->limited++;
	return 0;
}

/*
 * Would the guard refuse an entry now?  Spends none; counts the refusal.
 * Asked before a SYN's cell is read, so that a flood the guard refuses
 * costs no more than a known flow (a retry refused then counts as a SYN).
 */
static __always_inline int guard_refuses(const struct xlb_slot_conf *conf)
{
	__u32 zero = 0, rate = conf->flow_rate ?: XLB_FLOW_RATE_DEFAULT;
	struct xlb_flood *f;

	if (rate == XLB_FLOW_RATE_UNLIMITED)
		return 0;
	f = bpf_map_lookup_elem(&xlb_flood, &zero);
	if (!f || f->inserts < rate ||
	    bpf_ktime_get_coarse_ns() - f->window_ns >= 1000000000ull)
		return 0;
	f->limited++;
	return 1;
}

static __always_inline void count_syn(__u32 id, int retry)
{
	__u32 key = id & (XLB_MAX_BACKENDS - 1);
	struct xlb_syn_stat *s = bpf_map_lookup_elem(&xlb_syn_stats, &key);

	if (!s)
		return;
	if (retry)
		s->retries++;
	else
		s->syns++;
}

/* A moved slot's previous backend is still needed: note the second (once a second). */
static __always_inline void touch_seen(__u32 service, __u32 bucket)
{
	__u32 cell = xlb_seen_cell(service, bucket), now, *t;

	t = bpf_map_lookup_elem(&xlb_moved_seen, &cell);
	if (!t)
		return;
	now = now_sec();
	if (*t != now)
		*t = now;
}

static __always_inline void count_moved(int kept)
{
	__u32 zero = 0;
	struct xlb_moved_stats *m = bpf_map_lookup_elem(&xlb_moved_stats, &zero);

	if (m) {
		m->packets++;
		m->kept += kept;
	}
}

/*
 * With XLB_SLOT_F_SECOND_CHANCE, a TCP packet sent to p->be (the previous
 * backend of its slot) carries backend alt as its second chance: p->be's
 * decap delivers it if it has the connection, else sends it on to alt.
 */
static __always_inline void second_chance(const struct xlb_pkt *pkt, __u32 slot,
					  const struct xlb_slot_conf *conf, struct xlb_pick *p,
					  __u32 alt)
{
	struct xlb_backend *be;

	if (!alt || alt == p->id || !(conf->flags & XLB_SLOT_F_SECOND_CHANCE) ||
	    pkt->flow.proto != IPPROTO_TCP || pkt->icmp_err)
		return;
	be = lookup_backend(slot, alt);
	if (!usable(be) || be->family != p->be->family)
		return;
	p->alt = alt;
	p->alt_be = be;
}

/*
 * Remember a flow in map (xlb_flows) unless the flood guard says no.  A
 * connection answered after its SYN moves over unguarded: its SYN's entry
 * was made under the guard, so these are bounded by it already.
 */
static __always_inline void remember(void *map, const struct xlb_pkt *pkt,
				     const struct xlb_slot_conf *conf, const struct xlb_pick *p,
				     __u32 event, int guarded)
{
	struct xlb_flow entry;

	if (guarded && !may_remember(conf))
		return;
	entry.backend = XLB_FLOW_BACKEND(p->id, p->alt);
	entry.gen = p->be->gen;
	bpf_map_update_elem(map, &pkt->flow, &entry, BPF_ANY);
	count_event(event);
}

/*
 * A SYN of a moved slot (service, bucket) to the current backend, in its
 * cell of xlb_syn_cells unless the flood guard says no: one cache line read,
 * one cell written.
 */
static __always_inline void remember_syn(const struct xlb_pkt *pkt,
					 const struct xlb_slot_conf *conf, const struct xlb_pick *p,
					 __u32 service, __u32 bucket)
{
	__u32 tag, idx = xlb_syn_cell(&pkt->flow, &tag), way = tag, i;
	__u64 entry = XLB_SYN_ENTRY(tag, p->id, p->be->gen), e;
	struct xlb_syn_set *set;
	struct xlb_syn_cell *cell;
	int empty = -1;

	if (guard_refuses(conf)) {
		count_syn(p->id, 0);
		return;
	}
	set = bpf_map_lookup_elem(&xlb_syn_cells, &idx);
	if (!set)
		return;
XLB_UNROLL
	for (i = 0; i < XLB_SYN_WAYS; i++) {
		e = set->way[i].entry;
		if (XLB_SYN_TAG(e) == tag)
			break;
		if (!e && empty < 0)
			empty = i;
	}
	if (i < XLB_SYN_WAYS) {
		if (e == entry) {
			count_syn(p->id, 1);	/* sent again: unanswered; the entry stands */
			return;
		}
		way = i;
	} else if (empty >= 0) {
		way = empty;
	}
	count_syn(p->id, 0);
	if (!may_remember(conf))
		return;
	cell = &set->way[way & (XLB_SYN_WAYS - 1)];
	cell->service = service;
	cell->bucket = bucket;
	cell->entry = entry;
	count_event(XLB_EV_FLOW_NEW);
}

/*
 * A packet after its SYN: the SYN's cell while its backend holds (same id and
 * gen), its backend in *to and *be; NULL otherwise.
 */
static __always_inline struct xlb_syn_cell *syn_answered(const struct xlb_pkt *pkt, __u32 slot,
							 __u32 service, __u32 bucket,
							 __u32 *to, struct xlb_backend **be)
{
	__u32 tag, idx = xlb_syn_cell(&pkt->flow, &tag), i;
	struct xlb_syn_set *set;
	__u64 e;

	set = bpf_map_lookup_elem(&xlb_syn_cells, &idx);
	if (!set)
		return NULL;
XLB_UNROLL
	for (i = 0; i < XLB_SYN_WAYS; i++) {
		e = set->way[i].entry;
		/* the tag, and the moved slot the SYN was in: a stranger's cell never matches */
		if (XLB_SYN_TAG(e) != tag || set->way[i].service != service ||
		    set->way[i].bucket != bucket)
			continue;
		*be = lookup_backend(slot, XLB_SYN_ID(e));
		if (!usable(*be) || ((*be)->gen & 0xffff) != XLB_SYN_GEN(e))
			return NULL;
		*to = XLB_SYN_ID(e);
		return &set->way[i];
	}
	return NULL;
}

/*
 * A SYN of a moved slot is a new connection, whatever the connection table
 * holds for its tuple (a port reused after TIME_WAIT): the current backend,
 * remembered in its SYN cell unless the flood guard says no.  No hash-table
 * work: one cache line read, one cell written.
 */
static __always_inline int moved_syn(const struct xlb_pkt *pkt, const struct xlb_service *svc,
				     __u32 slot, const struct xlb_slot_conf *conf,
				     struct xlb_pick *p, __u32 cur, __u32 bucket)
{
	p->id = cur;
	p->be = lookup_backend(slot, cur);
	if (!usable(p->be))
		return XDP_DROP;
	p->new_flow = 1;
	count_moved(0);
	remember_syn(pkt, conf, p, svc->index, bucket);
	return XLB_CONTINUE;
}

/*
 * A TCP packet whose SYN cell holds: the SYN's backend.  The connection moves
 * into xlb_flows (unguarded: its SYN's cell was made under the guard),
 * overwriting an entry of an earlier connection on the same tuple, and its
 * cell is cleared.  1 if so.
 */
static __always_inline int moved_answered(const struct xlb_pkt *pkt,
					  const struct xlb_service *svc, __u32 slot,
					  const struct xlb_slot_conf *conf, struct xlb_pick *p,
					  __u32 cur, __u32 bucket)
{
	struct xlb_syn_cell *cell;
	struct xlb_backend *be;
	__u32 to;

	cell = syn_answered(pkt, slot, svc->index, bucket, &to, &be);
	if (!cell)
		return 0;
	p->id = to;
	p->be = be;
	count_moved(0);
	if (to != cur)
		touch_seen(svc->index, bucket);
	if (pkt->icmp_err)
		return 1;	/* errors follow flows, never make them */
	if (pkt->tcp_flags & XLB_TCP_RST) {
		count_event(XLB_EV_RST_NO_FLOW);
		return 1;
	}
	remember(&xlb_flows, pkt, conf, p, XLB_EV_FLOW_HIT, 0);
	cell->entry = 0;
	return 1;
}

/*
 * A slot that a change moved (prev != 0).  A SYN takes the current backend
 * and is remembered apart (xlb_syn_cells) until its connection's next
 * packet: moved_syn(), no connection-table lookup.  Any other TCP packet of a
 * connection that SYN'd since takes its SYN's backend (moved_answered()).
 * Then a connection-table entry that holds decides; else a packet of a flow
 * older than the change takes the previous backend (UDP: only until the
 * service's hold_until), and a flow whose backend went the current one.
 * These are remembered.
 */
static __always_inline int pick_moved(struct xlb_pkt *pkt, const struct xlb_service *svc,
				      __u32 slot, const struct xlb_slot_conf *conf,
				      struct xlb_pick *p, __u32 cur, __u32 prev, __u32 bucket)
{
	struct xlb_backend *be;
	struct xlb_flow *f;
	__u32 to = cur;

	if (is_syn(pkt))
		return moved_syn(pkt, svc, slot, conf, p, cur, bucket);
	if (pkt->flow.proto == IPPROTO_TCP &&
	    moved_answered(pkt, svc, slot, conf, p, cur, bucket))
		return XLB_CONTINUE;
	f = bpf_map_lookup_elem(&xlb_flows, &pkt->flow);
	if (f) {
		be = lookup_backend(slot, XLB_FLOW_ID(f->backend));
		if (flow_holds(f, be)) {
			p->id = XLB_FLOW_ID(f->backend);
			p->be = be;
			second_chance(pkt, slot, conf, p, XLB_FLOW_ALT(f->backend));
			count_event(XLB_EV_FLOW_HIT);
			if (p->id != cur)
				touch_seen(svc->index, bucket);
			count_moved(0);
			return XLB_CONTINUE;
		}
		p->rehashed = 1;
	}
	if (!p->rehashed && prev != cur &&
	    (pkt->flow.proto == IPPROTO_TCP || now_sec() < svc->hold_until)) {
		be = lookup_backend(slot, prev);
		if (usable(be))
			to = prev;
	}
	p->id = to;
	p->be = lookup_backend(slot, to);
	if (!usable(p->be))
		return XDP_DROP;
	/* older than the change, or opened since on another node: prev decides */
	if (to != cur) {
		second_chance(pkt, slot, conf, p, cur);
		touch_seen(svc->index, bucket);
	}
	count_moved(to != cur);
	if (pkt->icmp_err)
		return XLB_CONTINUE;	/* errors follow flows, never make them */
	if (pkt->flow.proto == IPPROTO_TCP && (pkt->tcp_flags & XLB_TCP_RST)) {
		count_event(XLB_EV_RST_NO_FLOW);
		return XLB_CONTINUE;
	}
	p->new_flow = !p->rehashed && pkt->flow.proto != IPPROTO_TCP;
	/* kept off the current backend, or a stale entry */
	if (to != cur || p->rehashed)
		remember(&xlb_flows, pkt, conf, p,
			 p->rehashed ? XLB_EV_FLOW_REHASH : XLB_EV_FLOW_NEW, 1);
	return XLB_CONTINUE;
}

#endif /* XLB_MOVED_H */
