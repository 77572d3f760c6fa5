/*
 * Assignment: the stable numbers of a configuration — a service index per
 * service and a backend (id, generation) per (service, address).  These
 * decide which flows keep their backend across a change: a backend that
 * keeps its id keeps its connection-table entries; a new generation makes
 * stale entries for a reused id miss.
 */
#ifndef XLB_ASSIGN_H
#define XLB_ASSIGN_H

#include <jansson.h>
#include "config.h"

struct xlb_assigned {
	char service[XLB_NAME_MAX];
	union xlb_addr addr;
	__u8 family;
	__u32 id, gen;
};

/* Stable numbers for a configuration: service indices, backend (id, gen). */
struct xlb_assign {
	char svc_name[XLB_MAX_SERVICES][XLB_NAME_MAX];
	__u32 svc_index[XLB_MAX_SERVICES];
	__u32 nr_svc;
	struct xlb_assigned *be;	/* sorted by (service, family, address) */
	__u32 nr_be;
	__u32 next_gen;
};

/*
 * Numbers for cfg: what cur had for the same service or (service, address);
 * else what prefer (a rollback target, may be NULL) had, if still free; else
 * the lowest number free in both, a new backend with a new generation.
 * 0, -ENOMEM, or -ENOSPC when no number is free.
 */
int xlb_assign_build(const struct xlb_assign *cur, const struct xlb_assign *prefer,
		     const struct xlb_config *cfg, struct xlb_assign *out);
void xlb_assign_free(struct xlb_assign *a);
/* Sort the backends into lookup order (after filling a->be by hand). */
void xlb_assign_sort(struct xlb_assign *a);

/* The entry of (service, address), or NULL. */
const struct xlb_assigned *xlb_assign_find(const struct xlb_assign *a, const char *service,
					   const union xlb_addr *addr, __u8 family);
/* The backend id of (service, address) in an assignment, 0 if none. */
__u32 xlb_assign_id(const struct xlb_assign *a, const char *service, const union xlb_addr *addr,
		    __u8 family);
/* The service index of a service, -1 if none. */
int xlb_assign_service(const struct xlb_assign *a, const char *service);

/* As kept in a history record; from_json bounds every number: 0 or -EINVAL. */
json_t *xlb_assign_to_json(const struct xlb_assign *a);
int xlb_assign_from_json(json_t *j, struct xlb_assign *a);

#endif
