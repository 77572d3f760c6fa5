/* Assignment of stable service indices and backend ids; see assign.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "assign.h"
#include "log.h"
#include "netutil.h"

int xlb_assign_service(const struct xlb_assign *a, const char *service)
{
	for (__u32 i = 0; i < a->nr_svc; i++)
		if (!strcmp(a->svc_name[i], service))
			return a->svc_index[i];
	return -1;
}

/* Assignments are kept sorted by (service, family, address): lookups bisect. */
static int cmp_assigned(const void *x, const void *y)
{
	const struct xlb_assigned *a = x, *b = y;
	int c = strcmp(a->service, b->service);

	if (c)
		return c;
	if (a->family != b->family)
		return a->family - b->family;
	return memcmp(&a->addr, &b->addr, sizeof(a->addr));
}

void xlb_assign_sort(struct xlb_assign *a)
{
	qsort(a->be, a->nr_be, sizeof(*a->be), cmp_assigned);
}

const struct xlb_assigned *xlb_assign_find(const struct xlb_assign *a, const char *service,
					   const union xlb_addr *addr, __u8 family)
{
	struct xlb_assigned key = { .addr = *addr, .family = family };

	if (!a || !a->nr_be)
		return NULL;
	snprintf(key.service, sizeof(key.service), "%s", service);
	return bsearch(&key, a->be, a->nr_be, sizeof(*a->be), cmp_assigned);
}

__u32 xlb_assign_id(const struct xlb_assign *a, const char *service, const union xlb_addr *addr,
		    __u8 family)
{
	const struct xlb_assigned *b = xlb_assign_find(a, service, addr, family);

	return b ? b->id : 0;
}

void xlb_assign_free(struct xlb_assign *a)
{
	free(a->be);
	memset(a, 0, sizeof(*a));
}

int xlb_assign_from_json(json_t *j, struct xlb_assign *a)
{
	json_t *svcs = json_object_get(j, "services"), *bes = json_object_get(j, "backends"), *v;
	json_int_t next_gen = json_integer_value(json_object_get(j, "next_gen"));
	const char *name;
	size_t i;

	memset(a, 0, sizeof(*a));
	if (!json_is_object(svcs) || !json_is_array(bes) || next_gen < 0 || next_gen > UINT32_MAX ||
	    json_object_size(svcs) > XLB_MAX_SERVICES || json_array_size(bes) >= XLB_MAX_BACKENDS)
		return -EINVAL;
	a->next_gen = next_gen;
	json_object_foreach(svcs, name, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) >= XLB_MAX_SERVICES || strlen(name) >= XLB_NAME_MAX)
			return -EINVAL;
		snprintf(a->svc_name[a->nr_svc], XLB_NAME_MAX, "%s", name);
		a->svc_index[a->nr_svc++] = json_integer_value(v);
	}
	a->be = calloc(json_array_size(bes) + 1, sizeof(*a->be));
	if (!a->be)
		return xlb_errf(-ENOMEM, "out of memory");
	json_array_foreach(bes, i, v) {
		struct xlb_assigned *b = &a->be[a->nr_be++];
		const char *addr = json_string_value(json_object_get(v, "address"));
		const char *svc = json_string_value(json_object_get(v, "service"));
		json_int_t id = json_integer_value(json_object_get(v, "id"));
		json_int_t gen = json_integer_value(json_object_get(v, "gen"));

		if (!addr || !svc || strlen(svc) >= XLB_NAME_MAX ||
		    xlb_addr_parse(addr, &b->addr, &b->family) || id <= 0 ||
		    id >= XLB_MAX_BACKENDS || gen < 0 || gen > UINT32_MAX) {
			xlb_assign_free(a);
			return -EINVAL;
		}
		snprintf(b->service, sizeof(b->service), "%s", svc);
		b->id = id;
		b->gen = gen;
	}
	xlb_assign_sort(a);
	return 0;
}

json_t *xlb_assign_to_json(const struct xlb_assign *a)
{
	json_t *svcs = json_object(), *bes = json_array();
	char s[INET6_ADDRSTRLEN];

	for (__u32 i = 0; i < a->nr_svc; i++)
		json_object_set_new(svcs, a->svc_name[i], json_integer(a->svc_index[i]));
	for (__u32 i = 0; i < a->nr_be; i++)
		json_array_append_new(bes, json_pack("{s:s,s:s,s:i,s:i}", "service", a->be[i].service,
				      "address", xlb_addr_str(&a->be[i].addr, a->be[i].family, s,
							      sizeof(s)),
				      "id", a->be[i].id, "gen", a->be[i].gen));
	return json_pack("{s:i,s:o,s:o}", "next_gen", a->next_gen, "services", svcs,
			 "backends", bes);
}

/* What numbers are taken: bit 2 live now (cur), bit 1 by the new assignment. */
struct used {
	__u8 id[XLB_MAX_BACKENDS];
	__u8 svc[XLB_MAX_SERVICES];
};

/* The lowest number free in both; else the lowest only the live one has; -1: none. */
static int free_number(const __u8 *used, int first, int max)
{
	for (int n = first; n < max; n++)
		if (!used[n])
			return n;
	for (int n = first; n < max; n++)
		if (!(used[n] & 1))
			return n;
	return -1;
}

/* Pass 1: services and backends that keep their numbers. */
static void keep_numbers(const struct xlb_assign *cur, const struct xlb_config *cfg,
			 struct xlb_assign *out, struct used *u)
{
	for (__u32 i = 0; i < cfg->nr_services; i++) {
		const struct xlb_service_conf *s = &cfg->services[i];
		int idx = xlb_assign_service(cur, s->name);

		snprintf(out->svc_name[i], XLB_NAME_MAX, "%s", s->name);
		out->svc_index[i] = idx;
		if (idx >= 0)
			u->svc[idx] |= 1;
		for (__u32 j = 0; j < s->nr_backends; j++) {
			const struct xlb_backend_conf *bc = &s->backends[j];
			const struct xlb_assigned *k = xlb_assign_find(cur, s->name, &bc->addr,
								       bc->family);
			struct xlb_assigned *b = &out->be[out->nr_be++];

			snprintf(b->service, sizeof(b->service), "%s", s->name);
			b->addr = bc->addr;
			b->family = bc->family;
			if (k) {
				b->id = k->id;
				b->gen = k->gen;
				u->id[k->id] |= 1;
			}
		}
	}
	out->nr_svc = cfg->nr_services;
}

/* Passes 2 and 3 for services: the rollback target's index where free, else a free one. */
static int number_services(const struct xlb_assign *prefer, struct xlb_assign *out,
			   struct used *u)
{
	for (__u32 i = 0; i < out->nr_svc; i++) {
		int idx;

		if ((int)out->svc_index[i] >= 0)
			continue;
		idx = prefer ? xlb_assign_service(prefer, out->svc_name[i]) : -1;
		if (idx < 0 || u->svc[idx])
			idx = free_number(u->svc, 0, XLB_MAX_SERVICES);
		if (idx < 0)
			return xlb_errf(-ENOSPC, "no free service index");
		out->svc_index[i] = idx;
		u->svc[idx] |= 1;
	}
	return 0;
}

/* Passes 2 and 3 for backends: the target's (id, gen) where free, else a new one. */
static int number_backends(const struct xlb_assign *prefer, struct xlb_assign *out,
			   struct used *u)
{
	for (__u32 i = 0; i < out->nr_be; i++) {
		struct xlb_assigned *b = &out->be[i];
		const struct xlb_assigned *p;
		int id;

		if (b->id)
			continue;
		p = prefer ? xlb_assign_find(prefer, b->service, &b->addr, b->family) : NULL;
		if (p && !u->id[p->id]) {
			b->id = p->id;
			b->gen = p->gen;
			u->id[p->id] |= 1;
			continue;
		}
		id = free_number(u->id, 1, XLB_MAX_BACKENDS);
		if (id < 0)
			return xlb_errf(-ENOSPC, "no free backend id");
		b->id = id;
		b->gen = out->next_gen++;
		u->id[id] |= 1;
	}
	return 0;
}

int xlb_assign_build(const struct xlb_assign *cur, const struct xlb_assign *prefer,
		     const struct xlb_config *cfg, struct xlb_assign *out)
{
	struct used *u = calloc(1, sizeof(*u));
	__u32 total = 0;
	int err;

	memset(out, 0, sizeof(*out));
	for (__u32 i = 0; i < cfg->nr_services; i++)
		total += cfg->services[i].nr_backends;
	out->be = calloc(total + 1, sizeof(*out->be));
	if (!out->be || !u) {
		free(u);
		return xlb_errf(-ENOMEM, "out of memory");
	}
	out->next_gen = cur->next_gen > 0 ? cur->next_gen : 1;
	if (prefer && prefer->next_gen > out->next_gen)
		out->next_gen = prefer->next_gen;
	for (__u32 i = 0; i < cur->nr_be; i++)
		u->id[cur->be[i].id] |= 2;
	for (__u32 i = 0; i < cur->nr_svc; i++)
		u->svc[cur->svc_index[i]] |= 2;
	keep_numbers(cur, cfg, out, u);
	err = number_services(prefer, out, u) ?: number_backends(prefer, out, u);
	free(u);
	if (!err)
		xlb_assign_sort(out);
	return err;
}
