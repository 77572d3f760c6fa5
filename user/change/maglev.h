/* Maglev lookup tables (Eisenbud et al., NSDI 2016) with weights. */
#ifndef XLB_MAGLEV_H
#define XLB_MAGLEV_H

#include "config.h"
#include "hashkey.h"
#include "xlb_abi.h"

struct xlb_maglev_backend {
	union xlb_addr addr;	/* identity: the permutation comes from it */
	__u8 family;
	__u32 weight;		/* 0 = no slots */
	__u32 id;		/* what the table stores (caller's choice) */
};

/*
 * Fill table[0..m-1] with the ids of the backends.  m must be prime.  The
 * result depends only on the set of (address, weight, id), not on its order.
 * -EINVAL when no backend has weight (table untouched), -ENOMEM.
 */
int xlb_maglev_build(const struct xlb_maglev_backend *backends, __u32 n, __u32 m,
		     __u32 *table);
/* The same with the permutation seeds of a hash key (xlb_maglev_build: no key). */
int xlb_maglev_build_seeded(const struct xlb_maglev_backend *backends, __u32 n, __u32 m,
			    const struct xlb_hash_seeds *seeds, __u32 *table);

/* Backends of a service that get table slots (active and weight > 0). */
__u32 xlb_service_holders(const struct xlb_service_conf *s);
/*
 * The Maglev table of a configured service (table_size slots, its seeds):
 * ids[i] is what the table stores for backend index i.
 */
int xlb_service_table(const struct xlb_service_conf *s, const __u32 *ids, __u32 *table);

/* 64-bit hash of bytes with a seed (the permutation's offset and skip). */
__u64 xlb_hash64(const void *data, __u32 len, __u64 seed);

#endif
