/*
 * Every node's side of a fleet rollout (the leader's: fleetroll.c): the
 * counters a rollout judges (read here for the node's own rollouts too,
 * rollouts.c), published in the status record's "counters"; decide/rollout
 * as watched; while a fleet rollout runs, the status put every second so
 * the leader's window ends on fresh counters.
 */
#define _GNU_SOURCE
#include "state.h"
#include "decide.h"

#define FLEETROLL_PUT_MS	1000	/* the status put this often while a rollout runs */

/* The data plane's drops, summed over the drop reasons. */
__u64 dp_drops(struct daemon *d)
{
	__u64 n = 0;

	for (__u32 r = 0; r < XLB_STAT_MAX; r++) {
		struct xlb_stat st;

		if (!strcmp(xlb_stat_kind(r), "drop") && !xlb_dp_stat(&d->dp, r, &st))
			n += st.packets;
	}
	return n;
}

/* One backend's counters as a rollout judges them (under d->lock): running totals. */
void backend_signals(struct daemon *d, struct dbackend *b, struct xlb_rollout_backend *s)
{
	struct xlb_counters c = { 0 };

	snprintf(s->service, sizeof(s->service), "%s", b->service);
	addr_s(b, s->address, sizeof(s->address));
	if (b->id)
		xlb_dp_counters(&d->dp, d->dp.backend_stats, b->id, &c);
	s->new_flows = is_udp(d, b->service) ? c.packets : c.new_flows;
	s->health_failures = b->h.failures;
	s->went_down = b->health_down;
	s->table_share = b->table_share;
	s->syns = s->syn_retries = 0;
	if (b->id) {
		struct xlb_syn_stat ss;

		xlb_dp_syn_stats(&d->dp, b->id, &ss);
		s->syns = ss.syns;
		s->syn_retries = ss.retries;
	}
}

json_t *fleetroll_counters(struct daemon *d)
{
	json_t *svcs = json_object(), *o;

	pthread_mutex_lock(&d->lock);
	for (__u32 i = 0; svcs && i < d->nr_be; i++) {
		struct xlb_rollout_backend s = { 0 };
		json_t *svc;

		if (!d->be[i].present)
			continue;
		backend_signals(d, &d->be[i], &s);
		if (!(svc = json_object_get(svcs, s.service)))
			json_object_set_new(svcs, s.service, svc = json_object());
		json_object_set_new(svc, s.address, json_pack("{s:I,s:I,s:I,s:I,s:f}", "new_flows",
				    (json_int_t)s.new_flows, "health_failures",
				    (json_int_t)s.health_failures, "syns", (json_int_t)s.syns,
				    "syn_retries", (json_int_t)s.syn_retries, "table_share",
				    s.table_share));
	}
	pthread_mutex_unlock(&d->lock);
	o = json_pack("{s:I,s:o}", "drops", (json_int_t)dp_drops(d), "backends", svcs);
	return o ?: json_object();
}

void fleetroll_record(struct daemon *d, json_t *value, __s64 mod_rev)
{
	struct dfleetroll *fr = &d->fr;
	struct xlb_fleet_rollout r;

	if (!value) {
		memset(&fr->rec, 0, sizeof(fr->rec));
		return;
	}
	if (xlb_fleet_rollout_from_json(value, &r)) {
		if (strcmp(fr->bad, xlb_errmsg()))
			dlog(3, "fleet rollout: decide/rollout at revision %lld is not a rollout "
			     "record (%s): left alone", (long long)mod_rev, xlb_errmsg());
		snprintf(fr->bad, sizeof(fr->bad), "%s", xlb_errmsg());
		memset(&fr->rec, 0, sizeof(fr->rec));
		return;
	}
	fr->bad[0] = '\0';
	if (strcmp(r.id, fr->rec.id) || r.state != fr->rec.state || r.step != fr->rec.step)
		dlog(6, "fleet rollout %s: %s, step %u of %u (revision %lld)", r.id,
		     xlb_rollout_state_names[r.state], r.step, r.steps, (long long)mod_rev);
	r.mod_rev = mod_rev;
	fr->rec = r;
}

/* Once a second: while a fleet rollout runs, this node's counters put again. */
void fleetroll_second(struct daemon *d)
{
	struct dfleetroll *fr = &d->fr;

	if (!d->fl.st || !fr->rec.mod_rev || fr->rec.state != XLB_ROLLOUT_RUNNING)
		return;
	if (now_ms() - fr->put_ms >= FLEETROLL_PUT_MS - 100) {
		d->fl.dirty = true;
		fr->put_ms = now_ms();
	}
}
