/*
 * Maglev table builder.  Each backend's preference list is the permutation
 * offset + j * skip (mod M), offset and skip from two hashes of its address;
 * backends take turns claiming their next free preferred slot.  Weights: at
 * each turn a backend earns its weight in credit and claims a slot for every
 * max-weight of credit, so slot shares follow weight shares.  Backends are
 * sorted by address first: the table is the same whatever the listing order,
 * on every machine (the hash reads bytes, not host words).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "maglev.h"
#include "log.h"

#define SEED_OFFSET	0x5851f42d4c957f2dull
#define SEED_SKIP	0x14057b7ef767814full

static __u64 mix64(__u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

__u64 xlb_hash64(const void *data, __u32 len, __u64 seed)
{
	const __u8 *p = data;
	__u64 h = mix64(seed ^ len);

	for (__u32 i = 0; i < len; i += 8) {
		__u64 w = 0;

		for (__u32 j = 0; j < 8 && i + j < len; j++)
			w |= (__u64)p[i + j] << (8 * j);
		h = mix64(h ^ w) * 0x9e3779b97f4a7c15ull;
	}
	return mix64(h);
}

struct perm {
	__u32 pos;	/* next preferred slot */
	__u32 skip;
	__u64 credit;
	__u32 weight;
	__u32 id;
};

static int cmp_backend(const void *a, const void *b)
{
	const struct xlb_maglev_backend *x = a, *y = b;

	if (x->family != y->family)
		return x->family - y->family;
	return memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

int xlb_maglev_build(const struct xlb_maglev_backend *backends, __u32 n, __u32 m,
		     __u32 *table)
{
	struct xlb_maglev_backend *sorted;
	struct perm *perm;
	__u8 *taken;
	__u32 wmax = 0, filled = 0;

	for (__u32 i = 0; i < n; i++)
		wmax = backends[i].weight > wmax ? backends[i].weight : wmax;
	if (!wmax || m < 2)
		return -EINVAL;
	sorted = malloc(sizeof(*sorted) * n);
	perm = calloc(n, sizeof(*perm));
	taken = calloc(m, 1);
	if (!sorted || !perm || !taken) {
		free(sorted);
		free(perm);
		free(taken);
		return xlb_errf(-ENOMEM, "out of memory");
	}
	memcpy(sorted, backends, sizeof(*sorted) * n);
	qsort(sorted, n, sizeof(*sorted), cmp_backend);
	for (__u32 i = 0; i < n; i++) {
		__u32 alen = sorted[i].family == XLB_FAMILY_V4 ? 4 : 16;

		perm[i].pos = xlb_hash64(&sorted[i].addr, alen, SEED_OFFSET) % m;
		perm[i].skip = xlb_hash64(&sorted[i].addr, alen, SEED_SKIP) % (m - 1) + 1;
		perm[i].weight = sorted[i].weight;
		perm[i].id = sorted[i].id;
	}
	while (filled < m) {
		for (__u32 i = 0; i < n && filled < m; i++) {
			struct perm *p = &perm[i];
			__u32 c;

			if (!p->weight)
				continue;
			p->credit += p->weight;
			if (p->credit < wmax)
				continue;
			p->credit -= wmax;
			for (c = p->pos; taken[c]; c = c + p->skip >= m ? c + p->skip - m : c + p->skip)
				;
			taken[c] = 1;
			table[c] = p->id;
			p->pos = c + p->skip >= m ? c + p->skip - m : c + p->skip;
			filled++;
		}
	}
	free(sorted);
	free(perm);
	free(taken);
	return 0;
}
