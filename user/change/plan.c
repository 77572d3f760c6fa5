/*
 * The planner: compares the running configuration with a new one service by
 * service, builds both Maglev tables, and reports shares, churn and guards.
 * It touches nothing; commit uses its verdict.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "maglev.h"
#include "plan.h"
#include "shares.h"
#include "log.h"
#include "netutil.h"

#define CHURN_SAMPLES	65536

const char *xlb_guard_name(enum xlb_guard g)
{
	switch (g) {
	case XLB_GUARD_EMPTY:
		return "empty";
	case XLB_GUARD_MIN_ACTIVE:
		return "min_active";
	case XLB_GUARD_MAX_SHARE:
		return "max_share";
	case XLB_GUARD_MAX_CHURN:
		return "max_churn";
	}
	return "?";
}

static struct xlb_plan_backend *plan_backend(struct xlb_plan_service *ps,
					     const struct xlb_backend_conf *b)
{
	for (__u32 i = 0; i < ps->nr_bes; i++)
		if (ps->bes[i].family == b->family && !memcmp(&ps->bes[i].addr, &b->addr, sizeof(b->addr)))
			return &ps->bes[i];
	ps->bes[ps->nr_bes] = (struct xlb_plan_backend){ .addr = b->addr, .family = b->family };
	return &ps->bes[ps->nr_bes++];
}

/* Table of a service with plan indices (1-based) as ids; NULL if it has no holder. */
static __u32 *table_of(const struct xlb_service_conf *s, struct xlb_plan_service *ps)
{
	__u32 *ids, *table;

	if (!s || !xlb_service_holders(s))
		return NULL;
	ids = calloc(s->nr_backends + 1, sizeof(*ids));
	table = malloc(sizeof(*table) * s->table_size);
	if (!ids || !table) {
		free(ids);
		free(table);
		return NULL;
	}
	for (__u32 i = 0; i < s->nr_backends; i++)
		ids[i] = plan_backend(ps, &s->backends[i]) - ps->bes + 1;
	if (xlb_service_table(s, ids, table)) {
		free(table);
		table = NULL;
	}
	free(ids);
	return table;
}

static void shares(const __u32 *table, __u32 m, struct xlb_plan_service *ps, bool after)
{
	double *share = calloc(ps->nr_bes + 1, sizeof(*share));

	if (!share)
		return;
	xlb_table_shares(table, m, share, ps->nr_bes + 1);
	for (__u32 i = 0; i < ps->nr_bes; i++) {
		if (after)
			ps->bes[i].share_new = share[i + 1];
		else
			ps->bes[i].share_old = share[i + 1];
	}
	free(share);
}

/*
 * Share of new flows that would land elsewhere.  Same M: slots that change
 * owner.  Different M: a fixed sample of hashes through both tables.
 */
static double churn(const __u32 *old, __u32 m_old, const __u32 *new, __u32 m_new)
{
	__u64 moved = 0, x = 0x9e3779b97f4a7c15ull;

	if (m_old == m_new) {
		for (__u32 i = 0; i < m_old; i++)
			moved += old[i] != new[i];
		return (double)moved / m_old;
	}
	for (__u32 i = 0; i < CHURN_SAMPLES; i++) {
		__u32 h;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		h = (__u32)(x >> 16);
		moved += old[h % m_old] != new[h % m_new];
	}
	return (double)moved / CHURN_SAMPLES;
}

static void refuse(struct xlb_plan_service *ps, enum xlb_guard g, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse(struct xlb_plan_service *ps, enum xlb_guard g, const char *fmt, ...)
{
	va_list ap;

	ps->refused |= g;
	if (ps->nr_why >= 4)
		return;
	va_start(ap, fmt);
	vsnprintf(ps->why[ps->nr_why++], sizeof(ps->why[0]), fmt, ap);
	va_end(ap);
}

static void guards(const struct xlb_service_conf *s, struct xlb_plan_service *ps)
{
	__u32 active = 0, top = 0;
	char a[INET6_ADDRSTRLEN];

	if (!s)
		return;
	for (__u32 i = 0; i < s->nr_backends; i++)
		active += s->backends[i].state == XLB_BACKEND_ACTIVE;
	for (__u32 i = 1; i < ps->nr_bes; i++)
		if (ps->bes[i].share_new > ps->bes[top].share_new)
			top = i;
	if (!ps->holders) {
		refuse(ps, XLB_GUARD_EMPTY, "no backend would take new flows (with --force the "
		       "service stops matching)");
		return;
	}
	if (ps->holders < s->guards.min_active)
		refuse(ps, XLB_GUARD_MIN_ACTIVE, "%u backend%s would take new flows, min_active "
		       "is %u", ps->holders, ps->holders == 1 ? "" : "s", s->guards.min_active);
	/* one slot of slack: an odd prime M cannot split evenly */
	if (active >= 2 && ps->nr_bes &&
	    ps->bes[top].share_new > s->guards.max_share + 1.0 / s->table_size + 1e-9)
		refuse(ps, XLB_GUARD_MAX_SHARE, "%s would hold %.1f%% of the slots, max_share "
		       "is %.1f%%", xlb_addr_str(&ps->bes[top].addr, ps->bes[top].family, a,
						 sizeof(a)), 100 * ps->bes[top].share_new,
		       100 * s->guards.max_share);
	if (ps->churn > s->guards.max_churn + 1e-9)
		refuse(ps, XLB_GUARD_MAX_CHURN, "%.1f%% of new flows would move, max_churn is "
		       "%.1f%%", 100 * ps->churn, 100 * s->guards.max_churn);
}

/* The GUE port packets go to: 0 when the service does not forward by GUE. */
static __u16 gue_port(const struct xlb_service_conf *s)
{
	if (s->forward != XLB_FWD_GUE)
		return 0;
	return s->gue_port ? s->gue_port : XLB_GUE_PORT_DEFAULT;
}

static bool service_settings_differ(const struct xlb_service_conf *a,
				    const struct xlb_service_conf *b)
{
	return a->family != b->family || memcmp(&a->vip, &b->vip, sizeof(a->vip)) ||
	       a->port != b->port || a->proto != b->proto || a->table_size != b->table_size ||
	       memcmp(&a->guards, &b->guards, sizeof(a->guards)) ||
	       !xlb_hash_seeds_equal(&a->seeds, &b->seeds) ||
	       memcmp(&a->health, &b->health, sizeof(a->health)) ||
	       a->flow_idle_timeout != b->flow_idle_timeout || a->has_rollout != b->has_rollout ||
	       a->slow_start_steps != b->slow_start_steps || a->slow_start_ms != b->slow_start_ms ||
	       memcmp(&a->rollout, &b->rollout, sizeof(a->rollout)) ||
	       a->forward != b->forward || a->hash_fields != b->hash_fields ||
	       gue_port(a) != gue_port(b);
}

/*
 * Share of new flows that land elsewhere when the flow hash takes other
 * fields: a flow's slot before and after are independent, so it stays only
 * where it lands on the same backend, sum(share before x share after).
 */
static double churn_rehashed(const struct xlb_plan_service *ps)
{
	double same = 0;

	for (__u32 i = 0; i < ps->nr_bes; i++)
		same += ps->bes[i].share_old * ps->bes[i].share_new;
	return 1.0 - same;
}

static void forwarding(const struct xlb_service_conf *o, const struct xlb_service_conf *n,
		       struct xlb_plan_service *ps)
{
	const struct xlb_service_conf *a = o ? o : n, *b = n ? n : o;

	ps->forward_old = a->forward;
	ps->forward_new = b->forward;
	ps->hash_old = a->hash_fields;
	ps->hash_new = b->hash_fields;
	ps->gue_port_old = gue_port(a);
	ps->gue_port_new = gue_port(b);
}

static int plan_service(const struct xlb_service_conf *o, const struct xlb_service_conf *n,
			struct xlb_plan_service *ps)
{
	__u32 cap = (o ? o->nr_backends : 0) + (n ? n->nr_backends : 0) + 1, *to, *tn;

	snprintf(ps->name, sizeof(ps->name), "%s", n ? n->name : o->name);
	ps->in_old = o;
	ps->in_new = n;
	ps->bes = calloc(cap, sizeof(*ps->bes));
	if (!ps->bes)
		return -ENOMEM;
	for (__u32 i = 0; o && i < o->nr_backends; i++) {
		struct xlb_plan_backend *b = plan_backend(ps, &o->backends[i]);

		b->in_old = true;
		b->weight_old = o->backends[i].weight;
		b->state_old = o->backends[i].state;
	}
	for (__u32 i = 0; n && i < n->nr_backends; i++) {
		struct xlb_plan_backend *b = plan_backend(ps, &n->backends[i]);

		b->in_new = true;
		b->weight_new = n->backends[i].weight;
		b->state_new = n->backends[i].state;
	}
	ps->changed = !o || !n || service_settings_differ(o, n);
	ps->replaced = o && n && (o->table_size != n->table_size ||
				  o->hash_fields != n->hash_fields ||
				  !xlb_hash_seeds_equal(&o->seeds, &n->seeds));
	forwarding(o, n, ps);
	for (__u32 i = 0; i < ps->nr_bes && !ps->changed; i++)
		ps->changed = !ps->bes[i].in_old || !ps->bes[i].in_new ||
			      ps->bes[i].weight_old != ps->bes[i].weight_new ||
			      ps->bes[i].state_old != ps->bes[i].state_new;
	/*
	 * An unchanged service keeps its live table (commit shares it): no table
	 * is built and its shares are not reported.
	 */
	ps->shares_known = ps->changed;
	to = ps->changed ? table_of(o, ps) : NULL;
	tn = ps->changed ? table_of(n, ps) : NULL;
	shares(to, o ? o->table_size : 0, ps, false);
	shares(tn, n ? n->table_size : 0, ps, true);
	ps->holders = n ? xlb_service_holders(n) : 0;
	ps->churn = !ps->changed ? 0 : to && tn ? churn(to, o->table_size, tn, n->table_size) :
		    to ? 1.0 : -1;
	if (to && tn && o->hash_fields != n->hash_fields)
		ps->churn = churn_rehashed(ps);
	if (ps->changed)
		guards(n, ps);
	free(to);
	ps->table = tn;		/* commit reuses it instead of building it again */
	ps->table_size = tn ? n->table_size : 0;
	return 0;
}

int xlb_plan_build(const struct xlb_config *old, const struct xlb_config *new,
		   struct xlb_plan *plan)
{
	__u32 cap = old->nr_services + new->nr_services + 1;
	int err = 0;

	memset(plan, 0, sizeof(*plan));
	plan->svcs = calloc(cap, sizeof(*plan->svcs));
	if (!plan->svcs)
		return -ENOMEM;
	for (__u32 i = 0; i < new->nr_services && !err; i++)
		err = plan_service(xlb_config_service(old, new->services[i].name),
				   &new->services[i], &plan->svcs[plan->nr++]);
	for (__u32 i = 0; i < old->nr_services && !err; i++)
		if (!xlb_config_service(new, old->services[i].name))
			err = plan_service(&old->services[i], NULL, &plan->svcs[plan->nr++]);
	/* settings that are not per service: recorded, so a change of them is a change */
	plan->changed = old->history_keep != new->history_keep ||
			old->second_chance != new->second_chance ||
			strcmp(old->hash_key_file, new->hash_key_file) ||
			!xlb_hash_key_equal(&old->hash_key, &new->hash_key);
	for (__u32 i = 0; i < plan->nr; i++) {
		plan->changed |= plan->svcs[i].changed;
		plan->refused |= plan->svcs[i].refused;
	}
	if (err)
		xlb_plan_free(plan);
	return err;
}

void xlb_plan_free(struct xlb_plan *plan)
{
	for (__u32 i = 0; plan->svcs && i < plan->nr; i++) {
		free(plan->svcs[i].bes);
		free(plan->svcs[i].table);
	}
	free(plan->svcs);
	memset(plan, 0, sizeof(*plan));
}

const char *xlb_plan_change_name(const struct xlb_plan_backend *b)
{
	if (!b->in_old)
		return "added";
	if (!b->in_new)
		return "removed";
	if (b->state_old != b->state_new)
		return "state";
	if (b->weight_old != b->weight_new)
		return "weight";
	return "same";
}

/* "forward", "gue_port", "hash" when a change changes them: {"before", "after"}. */
static void forwarding_json(const struct xlb_plan_service *ps, json_t *o)
{
	if (ps->forward_old != ps->forward_new)
		json_object_set_new(o, "forward", json_pack("{s:s,s:s}", "before",
				    xlb_fwd_name(ps->forward_old), "after",
				    xlb_fwd_name(ps->forward_new)));
	if (ps->gue_port_old != ps->gue_port_new)
		json_object_set_new(o, "gue_port", json_pack("{s:o,s:o}", "before",
				    ps->gue_port_old ? json_integer(ps->gue_port_old) : json_null(),
				    "after", ps->gue_port_new ? json_integer(ps->gue_port_new) :
				    json_null()));
	if (ps->hash_old != ps->hash_new)
		json_object_set_new(o, "hash", json_pack("{s:s,s:s}", "before",
				    xlb_hash_fields_name(ps->hash_old), "after",
				    xlb_hash_fields_name(ps->hash_new)));
}

json_t *xlb_plan_to_json(const struct xlb_plan *plan)
{
	json_t *svcs = json_array();

	for (__u32 i = 0; i < plan->nr; i++) {
		const struct xlb_plan_service *ps = &plan->svcs[i];
		json_t *bes = json_array(), *refusals = json_array();
		char a[INET6_ADDRSTRLEN];

		for (__u32 j = 0; j < ps->nr_bes; j++) {
			const struct xlb_plan_backend *b = &ps->bes[j];
			json_t *o = json_pack("{s:s,s:s,s:o,s:o}", "address",
					      xlb_addr_str(&b->addr, b->family, a, sizeof(a)),
					      "change", xlb_plan_change_name(b),
					      "share_before", ps->shares_known ?
					      json_real(b->share_old) : json_null(),
					      "share_after", ps->shares_known ?
					      json_real(b->share_new) : json_null());

			if (b->in_old)
				json_object_set_new(o, "before", json_pack("{s:i,s:s}", "weight",
						    b->weight_old, "state", xlb_state_name(b->state_old)));
			if (b->in_new)
				json_object_set_new(o, "after", json_pack("{s:i,s:s}", "weight",
						    b->weight_new, "state", xlb_state_name(b->state_new)));
			json_array_append_new(bes, o);
		}
		for (__u32 j = 0; j < ps->nr_why; j++)
			json_array_append_new(refusals, json_string(ps->why[j]));
		json_array_append_new(svcs, json_pack("{s:s,s:s,s:b,s:o,s:o,s:o}", "name", ps->name,
			"change", !ps->in_old ? "added" : !ps->in_new ? "removed" :
				  ps->changed ? "changed" : "same",
			"refused", ps->refused != 0,
			"moved_flows", ps->churn < 0 ? json_null() : json_real(ps->churn),
			"refusals", refusals, "backends", bes));
		json_object_set_new(json_array_get(svcs, json_array_size(svcs) - 1),
				    "replaces_placement", json_boolean(ps->replaced));
		forwarding_json(ps, json_array_get(svcs, json_array_size(svcs) - 1));
	}
	return json_pack("{s:b,s:b,s:o}", "changed", plan->changed, "refused",
			 plan->refused != 0, "services", svcs);
}

