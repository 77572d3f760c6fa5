/*
 * Maglev table builder.  Each backend's preference list is the permutation
 * offset + j * skip (mod M), offset and skip from two hashes of its address;
 * backends take turns claiming their next free preferred slot.  Weights: at
 * each turn a backend earns its weight in credit and claims a slot for every
 * max-weight of credit, so slot shares follow weight shares.  Backends are
 * sorted by address first: the table is the same whatever the listing order,
 * on every machine (the hash reads bytes, not host words).  A configured
 * service's table (xlb_service_table) is built here, the one place.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "hashkey.h"
#include "maglev.h"
#include "log.h"

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
	__u64 claims;	/* slots claimed so far */
	__u32 weight;
	__u32 id;
};

/*
 * Turns: in round r every backend earns its weight in credit and claims a
 * slot for every wmax of credit, backends in address order.  Backend i's
 * k-th claim (from 0) is in round ceil((k + 1) * wmax / w_i): a min-heap of
 * (round, index) replays exactly that order while visiting only backends
 * that claim, so a 65535-to-1 weight ratio costs no idle rounds.
 */
struct turn {
	__u64 round;
	__u32 i;
};

static bool turn_before(const struct turn *a, const struct turn *b)
{
	return a->round < b->round || (a->round == b->round && a->i < b->i);
}

static void heap_down(struct turn *h, __u32 n, __u32 k)
{
	for (;;) {
		__u32 l = 2 * k + 1, r = l + 1, m = k;
		struct turn t;

		if (l < n && turn_before(&h[l], &h[m]))
			m = l;
		if (r < n && turn_before(&h[r], &h[m]))
			m = r;
		if (m == k)
			return;
		t = h[k];
		h[k] = h[m];
		h[m] = t;
		k = m;
	}
}

static __u64 claim_round(const struct perm *p, __u32 wmax)
{
	return ((p->claims + 1) * wmax + p->weight - 1) / p->weight;
}

/* p takes its next preferred free slot. */
static void claim(struct perm *p, __u32 m, __u8 *taken, __u32 *table)
{
	__u32 c;

	for (c = p->pos; taken[c]; c = c + p->skip >= m ? c + p->skip - m : c + p->skip)
		;
	taken[c] = 1;
	table[c] = p->id;
	p->pos = c + p->skip >= m ? c + p->skip - m : c + p->skip;
	p->claims++;
}

/* The turns round by round: cheap while most backends claim in most rounds. */
static void fill_rounds(struct perm *perm, __u32 n, __u32 m, __u32 wmax, __u8 *taken,
			__u32 *table)
{
	__u32 filled = 0;

	for (__u64 round = 1; filled < m; round++) {
		for (__u32 i = 0; i < n && filled < m; i++) {
			struct perm *p = &perm[i];

			if (!p->weight || claim_round(p, wmax) != round)
				continue;
			claim(p, m, taken, table);
			filled++;
		}
	}
}

/* The same turns from a heap: only backends that claim are visited. */
static void fill_heap(struct perm *perm, __u32 n, __u32 m, __u32 wmax, __u8 *taken,
		      __u32 *table, struct turn *heap)
{
	__u32 nh = 0, filled = 0;

	for (__u32 i = 0; i < n; i++)
		if (perm[i].weight)
			heap[nh++] = (struct turn){ .round = claim_round(&perm[i], wmax), .i = i };
	for (__u32 k = nh / 2; k-- > 0;)
		heap_down(heap, nh, k);
	while (filled < m) {
		struct perm *p = &perm[heap[0].i];

		claim(p, m, taken, table);
		filled++;
		heap[0].round = claim_round(p, wmax);
		heap_down(heap, nh, 0);
	}
}

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
	struct xlb_hash_seeds seeds;

	xlb_hash_seeds(NULL, &seeds);
	return xlb_maglev_build_seeded(backends, n, m, &seeds, table);
}

int xlb_maglev_build_seeded(const struct xlb_maglev_backend *backends, __u32 n, __u32 m,
			    const struct xlb_hash_seeds *seeds, __u32 *table)
{
	struct xlb_maglev_backend *sorted;
	struct turn *heap;
	struct perm *perm;
	__u8 *taken;
	__u32 wmax = 0;
	double total = 0;

	for (__u32 i = 0; i < n; i++) {
		wmax = backends[i].weight > wmax ? backends[i].weight : wmax;
		total += backends[i].weight;
	}
	if (!wmax || m < 2)
		return -EINVAL;
	sorted = malloc(sizeof(*sorted) * n);
	perm = calloc(n, sizeof(*perm));
	heap = calloc(n, sizeof(*heap));
	taken = calloc(m, 1);
	if (!sorted || !perm || !heap || !taken) {
		free(sorted);
		free(perm);
		free(heap);
		free(taken);
		return xlb_errf(-ENOMEM, "out of memory");
	}
	memcpy(sorted, backends, sizeof(*sorted) * n);
	qsort(sorted, n, sizeof(*sorted), cmp_backend);
	for (__u32 i = 0; i < n; i++) {
		__u32 alen = sorted[i].family == XLB_FAMILY_V4 ? 4 : 16;

		perm[i].pos = xlb_hash64(&sorted[i].addr, alen, seeds->offset) % m;
		perm[i].skip = xlb_hash64(&sorted[i].addr, alen, seeds->skip) % (m - 1) + 1;
		perm[i].weight = sorted[i].weight;
		perm[i].id = sorted[i].id;
	}
	/* rounds to fill the table ~ m * wmax / sum(w), each visiting n backends */
	if ((double)m * n * wmax / total <= 16.0 * m)
		fill_rounds(perm, n, m, wmax, taken, table);
	else
		fill_heap(perm, n, m, wmax, taken, table, heap);
	free(sorted);
	free(perm);
	free(heap);
	free(taken);
	return 0;
}

__u32 xlb_service_holders(const struct xlb_service_conf *s)
{
	__u32 n = 0;

	for (__u32 i = 0; i < s->nr_backends; i++)
		n += s->backends[i].state == XLB_BACKEND_ACTIVE && s->backends[i].weight > 0;
	return n;
}

int xlb_service_table(const struct xlb_service_conf *s, const __u32 *ids, __u32 *table)
{
	struct xlb_maglev_backend *in = calloc(s->nr_backends + 1, sizeof(*in));
	int err;

	if (!in)
		return -ENOMEM;
	for (__u32 i = 0; i < s->nr_backends; i++) {
		const struct xlb_backend_conf *b = &s->backends[i];

		in[i].addr = b->addr;
		in[i].family = b->family;
		in[i].weight = b->state == XLB_BACKEND_ACTIVE ? b->weight : 0;
		in[i].id = ids[i];
	}
	err = xlb_maglev_build_seeded(in, s->nr_backends, s->table_size, &s->seeds, table);
	free(in);
	return err;
}
