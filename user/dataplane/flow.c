/*
 * xlb flow's answer: the flow's table slot (current and, in a slot a change
 * moved, previous backend), what this node remembers of it (connection
 * table, SYNs of moved slots), and where a new connection and an established
 * one this node has not seen (one moved here from another node) would go.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "flow.h"
#include "log.h"
#include "moved.h"
#include "netutil.h"
#include "bpf/hash.h"

/* A backend id's address (or "" for none/unknown) and whether it can take flows. */
static bool backend_of(const struct xlb_ctl *c, __u32 id, char *out)
{
	struct xlb_backend be;

	out[0] = '\0';
	if (!id || xlb_dp_get_backend(&c->dp, c->live_slot, id, &be) || be.family == XLB_FAMILY_NONE)
		return false;
	xlb_addr_str(&be.addr, be.family, out, XLB_FLOW_ADDR_LEN);
	return be.state != XLB_BACKEND_DOWN;
}

/*
 * The backend an entry of map gives the flow, and its second chance ("" when
 * none holds); true when an entry is there but its backend is gone, another
 * generation or down (the data plane then re-hashes the flow).
 */
static bool remembered(const struct xlb_ctl *c, int map, const struct xlb_flow_key *k,
		       char *out, char *alt)
{
	struct xlb_backend be;
	struct xlb_flow f;

	out[0] = alt[0] = '\0';
	if (xlb_dp_get_flow(map, k, &f))
		return false;
	if (xlb_dp_get_backend(&c->dp, c->live_slot, XLB_FLOW_ID(f.backend), &be) ||
	    be.family == XLB_FAMILY_NONE || be.gen != f.gen || be.state == XLB_BACKEND_DOWN)
		return true;
	xlb_addr_str(&be.addr, be.family, out, XLB_FLOW_ADDR_LEN);
	backend_of(c, XLB_FLOW_ALT(f.backend), alt);
	return false;
}

/* The backend a SYN of flow k was sent to, remembered while it is unanswered ("" if none holds). */
static void syn_remembered(const struct xlb_ctl *c, const struct xlb_flow_key *k, __u32 svc,
			   __u32 bucket, char *out)
{
	struct xlb_backend be;
	struct xlb_flow f;

	out[0] = '\0';
	if (xlb_dp_get_syn(&c->dp, k, svc, bucket, &f) ||
	    xlb_dp_get_backend(&c->dp, c->live_slot, f.backend, &be) ||
	    be.family == XLB_FAMILY_NONE || (be.gen & 0xffff) != f.gen ||
	    be.state == XLB_BACKEND_DOWN)
		return;
	xlb_addr_str(&be.addr, be.family, out, XLB_FLOW_ADDR_LEN);
}

/* A service placed anew (table size, hash key or fields): the flow's previous backend, or 0. */
static __u32 replaced_prev(const struct xlb_ctl *c, __u32 svc, const struct xlb_flow_key *k,
			   __u32 cur)
{
	struct xlb_replaced r = { 0 };
	__u32 *ids, m, idx, prev = 0;

	if (xlb_dp_get_replaced(&c->dp, c->live_slot, svc, &r) || !r.table_size ||
	    xlb_dp_get_prev_table(&c->dp, c->live_slot, svc, &ids, &m))
		return 0;
	idx = m ? xlb_table_index(xlb_flow_hash_fields(k, r.hash_seed ?: XLB_HASH_SEED,
						       r.hash_fields), m) : 0;
	if (idx < m && XLB_TABLE_CUR(ids[idx]) != cur)
		prev = XLB_TABLE_CUR(ids[idx]);
	free(ids);
	return prev;
}

/* Does a packet without state of flow k still take the previous backend? UDP: until hold_until. */
static bool prev_holds(const struct xlb_ctl *c, const struct xlb_service_conf *s)
{
	struct xlb_service_key key = { .vip = s->vip, .port = htons(s->port), .proto = s->proto,
				       .family = s->family };
	struct xlb_service svc;

	if (s->proto == IPPROTO_TCP)
		return true;
	return !xlb_dp_get_service(&c->dp, c->live_slot, key, &svc) &&
	       (__s32)(xlb_moved_now() - svc.hold_until) < 0;
}

/*
 * What the program does in a moved slot (pick_moved) with a packet other than
 * a SYN (a SYN takes the current backend): its SYN's cell, while it holds,
 * decides (the connection table is not consulted); else a connection-table
 * entry, or, gone stale, the current backend; else the previous one.  An
 * unmoved slot consults no state.
 */
static void explain_moved(const struct xlb_ctl *c, const struct xlb_service_conf *s, __u32 svc,
			  const struct xlb_flow_key *k, bool differs, struct xlb_flow_explain *out)
{
	struct xlb_slot_conf conf;

	if (k->proto == IPPROTO_TCP)
		syn_remembered(c, k, svc, out->slot, out->syn);
	if (out->syn[0])
		return;
	out->stale = remembered(c, c->dp.flows, k, out->remembered, out->remembered_alt);
	if (out->stale || !differs || !out->previous_usable || !prev_holds(c, s))
		return;
	snprintf(out->unseen, sizeof(out->unseen), "%s", out->previous);
	if (s->proto == IPPROTO_TCP && !xlb_dp_get_slot_conf(&c->dp, c->live_slot, &conf) &&
	    (conf.flags & XLB_SLOT_F_SECOND_CHANCE))
		snprintf(out->second_chance, sizeof(out->second_chance), "%s", out->current);
}

/* The flow hash the live service record (what the program reads) gives k; else the configuration's. */
static __u32 live_hash(const struct xlb_ctl *c, const struct xlb_service_conf *s,
		       const struct xlb_flow_key *k)
{
	struct xlb_service_key key = { .vip = s->vip, .port = htons(s->port), .proto = s->proto,
				       .family = s->family };
	struct xlb_service svc = { .hash_fields = s->hash_fields, .hash_seed = s->seeds.flow };

	if (xlb_dp_get_service(&c->dp, c->live_slot, key, &svc))
		xlb_err_clear();
	return xlb_flow_hash_fields(k, svc.hash_seed ?: XLB_HASH_SEED, svc.hash_fields);
}

int xlb_flow_explain(const struct xlb_ctl *c, const struct xlb_service_conf *s,
		     const struct xlb_flow_key *k, struct xlb_flow_explain *out)
{
	__u32 *ids = NULL, m = 0, svc, cur, prev;

	memset(out, 0, sizeof(*out));
	svc = xlb_assign_service(&c->assign, s->name);
	if ((int)svc < 0 || xlb_dp_get_table_raw(&c->dp, c->live_slot, svc, &ids, &m) || !m) {
		free(ids);
		return xlb_errf(-ENOENT, "service %s has no live table (%s)", s->name,
				xlb_errmsg());
	}
	out->table_size = m;
	out->slot = xlb_table_index(live_hash(c, s, k), m);
	cur = XLB_TABLE_CUR(ids[out->slot]);
	prev = XLB_TABLE_PREV(ids[out->slot]) ?: replaced_prev(c, svc, k, cur);
	free(ids);
	backend_of(c, cur, out->current);
	out->previous_usable = backend_of(c, prev, out->previous);
	out->moved = prev != 0;
	/* an established connection this node has not seen: what the data plane does */
	snprintf(out->unseen, sizeof(out->unseen), "%s", out->current);
	if (out->moved)
		explain_moved(c, s, svc, k, prev != cur, out);
	return 0;
}
