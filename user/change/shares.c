/* Table shares and live-table verification; see shares.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "maglev.h"
#include "shares.h"

void xlb_table_shares(const __u32 *table, __u32 m, double *share, __u32 nr_ids)
{
	memset(share, 0, sizeof(*share) * nr_ids);
	for (__u32 i = 0; table && i < m; i++)
		if (table[i] < nr_ids)
			share[table[i]] += 1.0 / m;
}

int xlb_config_shares(const struct xlb_service_conf *s, double *share)
{
	__u32 *ids = NULL, *table = NULL;
	double *by_id = NULL;
	int err = 0;

	memset(share, 0, sizeof(*share) * s->nr_backends);
	if (!xlb_service_holders(s))
		return 0;
	ids = calloc(s->nr_backends + 1, sizeof(*ids));
	table = malloc(sizeof(*table) * s->table_size);
	by_id = calloc(s->nr_backends + 1, sizeof(*by_id));
	if (!ids || !table || !by_id) {
		err = xlb_errf(-ENOMEM, "out of memory for the table of %s", s->name);
		goto out;
	}
	for (__u32 i = 0; i < s->nr_backends; i++)
		ids[i] = i + 1;
	err = xlb_service_table(s, ids, table);
	if (err)
		goto out;
	xlb_table_shares(table, s->table_size, by_id, s->nr_backends + 1);
	for (__u32 i = 0; i < s->nr_backends; i++)
		share[i] = by_id[i + 1];
out:
	free(ids);
	free(table);
	free(by_id);
	return err;
}

/* Does the live table equal the one the configuration gives, with a's ids? */
static bool table_matches(const struct xlb_live_table *t, const struct xlb_assign *a,
			  const struct xlb_service_conf *s)
{
	__u32 *ids = calloc(s->nr_backends + 1, sizeof(*ids));
	__u32 *want = malloc(sizeof(*want) * s->table_size);
	bool match = false;

	for (__u32 j = 0; ids && j < s->nr_backends; j++)
		ids[j] = xlb_assign_id(a, s->name, &s->backends[j].addr, s->backends[j].family);
	if (ids && want && t->m == s->table_size && !xlb_service_table(s, ids, want))
		match = !memcmp(want, t->ids, sizeof(*want) * t->m);
	free(ids);
	free(want);
	return match;
}

/*
 * FNV-1a over what each slot sends a flow to: the backend's family and
 * address (zeros for an empty slot), never its id — ids depend on a node's
 * history, addresses do not.  Equal fingerprints mean the same backend for
 * every flow, and the other way round.  Counts slots, moved slots; ids become
 * the current ones.
 */
static int fingerprint(const struct xlb_dp *dp, __u32 slot, struct xlb_live_table *t, __u64 *fp)
{
	struct who { __u8 read, family; union xlb_addr addr; } *seen;

	seen = calloc(XLB_MAX_BACKENDS, sizeof(*seen));
	if (!seen)
		return xlb_errf(-ENOMEM, "out of memory");
	for (__u32 i = 0; i < t->m; i++) {
		__u32 id;
		struct who *w;
		__u8 bytes[17] = { 0 };

		t->moved += XLB_TABLE_PREV(t->ids[i]) != 0;
		id = t->ids[i] = XLB_TABLE_CUR(t->ids[i]);
		id = id < XLB_MAX_BACKENDS ? id : 0;
		t->slots[id]++;
		w = &seen[id];
		if (id && !w->read) {
			struct xlb_backend be;

			w->read = 1;
			if (!xlb_dp_get_backend(dp, slot, id, &be)) {
				w->family = be.family;
				w->addr = be.addr;
			}
		}
		bytes[0] = w->family;
		memcpy(bytes + 1, &w->addr, 16);
		for (int k = 0; k < 17; k++)
			*fp = (*fp ^ bytes[k]) * 0x100000001b3ull;
	}
	free(seen);
	return 0;
}

int xlb_live_table_read(const struct xlb_dp *dp, __u32 slot, const struct xlb_assign *a,
			const struct xlb_service_conf *s, struct xlb_live_table *t)
{
	int idx = xlb_assign_service(a, s->name), err;
	__u64 fp = 0xcbf29ce484222325ull;	/* FNV-1a 64 */

	memset(t, 0, sizeof(*t));
	t->slots = calloc(XLB_MAX_BACKENDS, sizeof(*t->slots));
	if (!t->slots)
		return xlb_errf(-ENOMEM, "out of memory reading the table of %s", s->name);
	err = idx < 0 ? -ENOENT : xlb_dp_get_table_raw(dp, slot, idx, &t->ids, &t->m);
	if (err == -ENOENT) {	/* no backend holds slots: no table */
		t->m = 0;
		err = 0;
	}
	if (err) {
		xlb_live_table_free(t);
		return err;
	}
	err = fingerprint(dp, slot, t, &fp);
	if (err) {
		xlb_live_table_free(t);
		return err;
	}
	snprintf(t->fingerprint, sizeof(t->fingerprint), "%016llx", (unsigned long long)fp);
	{
		struct xlb_replaced rep;

		/* a replaced service's every slot consults state while it holds */
		if (idx >= 0 && !xlb_dp_get_replaced(dp, slot, idx, &rep) && rep.table_size)
			t->moved = t->m;
	}
	t->matches = t->m && table_matches(t, a, s);
	return 0;
}

double xlb_live_share(const struct xlb_live_table *t, __u32 id)
{
	return t->m && id < XLB_MAX_BACKENDS ? (double)t->slots[id] / t->m : 0;
}

void xlb_live_table_free(struct xlb_live_table *t)
{
	free(t->ids);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}
