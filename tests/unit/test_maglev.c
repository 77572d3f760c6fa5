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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_table_whatever_the_order),
		cmocka_unit_test(table_is_pinned_across_machines),
		cmocka_unit_test(shares_follow_weights),
		cmocka_unit_test(removing_one_of_100_moves_little),
		cmocka_unit_test(zero_weight_gets_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
