/* Maglev properties: determinism, weighted shares, minimal disruption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "maglev.h"

#define M 65537

static void backends(struct xlb_maglev_backend *b, __u32 n, bool weighted)
{
	memset(b, 0, sizeof(*b) * n);
	for (__u32 i = 0; i < n; i++) {
		b[i].family = XLB_FAMILY_V4;
		b[i].addr.v4 = htonl(0xc6336400 + i + 1);	/* 198.51.100.x and beyond */
		b[i].weight = weighted ? i + 1 : 100;
		b[i].id = i + 1;
	}
}

static void counts(const __u32 *table, __u32 m, __u32 *count, __u32 n)
{
	memset(count, 0, sizeof(*count) * (n + 1));
	for (__u32 i = 0; i < m; i++) {
		assert_true(table[i] >= 1 && table[i] <= n);
		count[table[i]]++;
	}
}

static void same_table_whatever_the_order(void **state)
{
	struct xlb_maglev_backend b[50], r[50];
	__u32 *t1 = malloc(M * 4), *t2 = malloc(M * 4);

	(void)state;
	backends(b, 50, true);
	for (int i = 0; i < 50; i++)
		r[i] = b[49 - i];
	/* and a shuffle */
	for (int i = 0; i < 50; i += 2) {
		struct xlb_maglev_backend x = r[i];

		r[i] = r[(i * 7) % 50];
		r[(i * 7) % 50] = x;
	}
	assert_int_equal(xlb_maglev_build(b, 50, M, t1), 0);
	assert_int_equal(xlb_maglev_build(r, 50, M, t2), 0);
	assert_memory_equal(t1, t2, M * 4);
	free(t1);
	free(t2);
}

/* Pinned: the same configuration gives this table on every machine. */
static void table_is_pinned_across_machines(void **state)
{
	struct xlb_maglev_backend b[3];
	__u32 t[13];

	(void)state;
	backends(b, 3, false);
	assert_int_equal(xlb_maglev_build(b, 3, 13, t), 0);
	const __u32 want[13] = { 3, 1, 3, 1, 2, 3, 1, 3, 2, 1, 2, 2, 1 };

	for (int i = 0; i < 13; i++)
		if (t[i] != want[i]) {
			for (int j = 0; j < 13; j++)
				fprintf(stderr, "%u, ", t[j]);
			fail_msg("slot %d: %u, want %u", i, t[i], want[i]);
		}
}

static void shares_follow_weights(void **state)
{
	struct xlb_maglev_backend b[100];
	__u32 *t = malloc(M * 4), count[101];

	(void)state;
	/* 100 equal backends (M = 655 x N) and 10 weighted 1..10 */
	backends(b, 100, false);
	assert_int_equal(xlb_maglev_build(b, 100, M, t), 0);
	counts(t, M, count, 100);
	for (int i = 1; i <= 100; i++) {
		double share = (double)count[i] / M;

		if (share < 0.01 * 0.99 || share > 0.01 * 1.01)
			fail_msg("equal backend %d: share %.5f, want 0.01 +- 1%%", i, share);
	}
	backends(b, 10, true);
	assert_int_equal(xlb_maglev_build(b, 10, M, t), 0);
	counts(t, M, count, 10);
	for (int i = 1; i <= 10; i++) {
		double share = (double)count[i] / M, want = i / 55.0;

		if (share < want * 0.99 || share > want * 1.01)
			fail_msg("weight %d: share %.5f, want %.5f +- 1%%", i, share, want);
	}
	free(t);
}

static void removing_one_of_100_moves_little(void **state)
{
	struct xlb_maglev_backend b[100];
	__u32 *t1 = malloc(M * 4), *t2 = malloc(M * 4), moved = 0;

	(void)state;
	backends(b, 100, false);
	assert_int_equal(xlb_maglev_build(b, 100, M, t1), 0);
	b[37].weight = 0;	/* removed from the table */
	assert_int_equal(xlb_maglev_build(b, 100, M, t2), 0);
	for (__u32 i = 0; i < M; i++) {
		assert_int_not_equal(t2[i], 38);
		moved += t1[i] != t2[i];
	}
	/* at most 1/N + 1 percentage point of the slots */
	if ((double)moved / M > 0.01 + 0.01)
		fail_msg("%.4f of the slots moved, want <= 0.02", (double)moved / M);
	/* the slots it had must move; barely more than those should */
	assert_true(moved >= 600);
	free(t1);
	free(t2);
}

static void zero_weight_gets_nothing(void **state)
{
	struct xlb_maglev_backend b[3];
	__u32 t[101], count[4];

	(void)state;
	backends(b, 3, false);
	b[1].weight = 0;	/* drained or down: no slots */
	assert_int_equal(xlb_maglev_build(b, 3, 101, t), 0);
	counts(t, 101, count, 3);
	assert_int_equal(count[2], 0);
	assert_int_equal(count[1] + count[3], 101);
	b[0].weight = b[2].weight = 0;
	assert_int_equal(xlb_maglev_build(b, 3, 101, t), -EINVAL);
}

/*
 * The builder as it was first written: every round every backend earns its
 * weight, a claim per wmax of credit.  The builder must give the same table
 * by whichever path it takes (round by round, or from its heap of turns).
 */
static int cmp_ref(const void *a, const void *b)
{
	const struct xlb_maglev_backend *x = a, *y = b;

	if (x->family != y->family)
		return x->family - y->family;
	return memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

static void reference_build(const struct xlb_maglev_backend *in, __u32 n, __u32 m, __u32 *table)
{
	struct xlb_maglev_backend *b = malloc(sizeof(*b) * n);
	__u32 *pos = calloc(n, 4), *skip = calloc(n, 4), wmax = 0, filled = 0;
	__u64 *credit = calloc(n, 8);
	__u8 *taken = calloc(m, 1);

	memcpy(b, in, sizeof(*b) * n);
	qsort(b, n, sizeof(*b), cmp_ref);
	for (__u32 i = 0; i < n; i++) {
		__u32 alen = b[i].family == XLB_FAMILY_V4 ? 4 : 16;

		pos[i] = xlb_hash64(&b[i].addr, alen, 0x5851f42d4c957f2dull) % m;
		skip[i] = xlb_hash64(&b[i].addr, alen, 0x14057b7ef767814full) % (m - 1) + 1;
		wmax = b[i].weight > wmax ? b[i].weight : wmax;
	}
	while (filled < m)
		for (__u32 i = 0; i < n && filled < m; i++) {
			__u32 c;

			if (!b[i].weight || (credit[i] += b[i].weight) < wmax)
				continue;
			credit[i] -= wmax;
			for (c = pos[i]; taken[c]; c = (c + skip[i]) % m)
				;
			taken[c] = 1;
			table[c] = b[i].id;
			pos[i] = (c + skip[i]) % m;
			filled++;
		}
	free(b);
	free(pos);
	free(skip);
	free(credit);
	free(taken);
}

static void every_path_gives_the_reference_table(void **state)
{
	static const struct { __u32 n, m, heavy, light; } mixes[] = {
		{ 100, 10007, 100, 100 },	/* equal: round by round */
		{ 50, 5003, 300, 7 },		/* mixed */
		{ 1000, 100003, 65535, 1 },	/* one heavy, many light: the heap */
		{ 3, 1009, 65535, 0 },		/* zero weights among them */
	};

	(void)state;
	for (size_t k = 0; k < sizeof(mixes) / sizeof(mixes[0]); k++) {
		__u32 n = mixes[k].n, m = mixes[k].m;
		struct xlb_maglev_backend *b = calloc(n, sizeof(*b));
		__u32 *got = malloc(4 * m), *want = malloc(4 * m);

		for (__u32 i = 0; i < n; i++) {
			b[i].family = XLB_FAMILY_V4;
			b[i].addr.v4 = htonl(0xc6336400 + i);	/* 198.51.100.0 + i */
			b[i].weight = i == 0 ? mixes[k].heavy : i % 3 ? mixes[k].light :
				      mixes[k].light * 2;
			b[i].id = i + 1;
		}
		assert_int_equal(xlb_maglev_build(b, n, m, got), 0);
		reference_build(b, n, m, want);
		if (memcmp(got, want, 4 * m))
			fail_msg("mix %zu (%u backends, weights %u/%u): table differs from the reference",
				 k, n, mixes[k].heavy, mixes[k].light);
		free(b);
		free(got);
		free(want);
	}
}

/* 65535 against 1 x 4094 in a table of 409517: every light backend still gets a slot. */
static void an_extreme_weight_ratio_is_built(void **state)
{
	__u32 n = 4095, m = 409517, *t = malloc(4 * m), *count = calloc(n + 1, 4);
	struct xlb_maglev_backend *b = calloc(n, sizeof(*b));

	(void)state;
	for (__u32 i = 0; i < n; i++) {
		b[i].family = XLB_FAMILY_V4;
		b[i].addr.v4 = htonl(0xc6330000 + i);
		b[i].weight = i ? 1 : 65535;
		b[i].id = i + 1;
	}
	assert_int_equal(xlb_maglev_build(b, n, m, t), 0);
	for (__u32 i = 0; i < m; i++) {
		assert_true(t[i] >= 1 && t[i] <= n);
		count[t[i]]++;
	}
	for (__u32 i = 2; i <= n; i++)
		assert_true(count[i] >= 1);
	assert_true(count[1] > m * 9 / 10);
	free(t);
	free(count);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_table_whatever_the_order),
		cmocka_unit_test(table_is_pinned_across_machines),
		cmocka_unit_test(shares_follow_weights),
		cmocka_unit_test(removing_one_of_100_moves_little),
		cmocka_unit_test(zero_weight_gets_nothing),
		cmocka_unit_test(every_path_gives_the_reference_table),
		cmocka_unit_test(an_extreme_weight_ratio_is_built),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
