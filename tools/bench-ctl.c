/*
 * bench-ctl: controller costs.  Maglev table build (M = 65537 with 100 and
 * 1,000 backends, weighted) against a baseline that fills the same table by
 * round robin, in the same run; median of repeated builds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include "maglev.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define RUNS 21

static double median_build(const struct xlb_maglev_backend *b, __u32 n, __u32 m, __u32 *t,
			   int baseline)
{
	double d[RUNS];

	for (int r = 0; r < RUNS; r++) {
		double t0 = now_ms();

		if (baseline) {
			for (__u32 i = 0; i < m; i++)
				t[i] = b[i % n].id;
		} else if (xlb_maglev_build(b, n, m, t)) {
			return -1;
		}
		d[r] = now_ms() - t0;
		__asm__ volatile("" ::: "memory");
	}
	qsort(d, RUNS, sizeof(d[0]), cmp_d);
	return d[RUNS / 2];
}

int main(int argc, char **argv)
{
	static const __u32 sizes[] = { 100, 1000 };
	int json = argc > 1 && !strcmp(argv[1], "-j");
	struct xlb_maglev_backend *b = calloc(1000, sizeof(*b));
	__u32 m = 65537, *t = malloc(m * sizeof(*t));

	for (__u32 i = 0; i < 1000; i++) {
		b[i].family = XLB_FAMILY_V4;
		b[i].addr.v4 = htonl(0xc6330000 + i + 1);
		b[i].weight = 50 + i % 100;	/* weighted: the harder case */
		b[i].id = i + 1;
	}
	if (!json)
		printf("%-34s %10s %8s\n", "case (M = 65537)", "ms", "ratio");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double base = median_build(b, sizes[s], m, t, 1);
		double mag = median_build(b, sizes[s], m, t, 0);
		char name[64];

		snprintf(name, sizeof(name), "maglev build, %u backends", sizes[s]);
		if (json)
			printf("{\"name\":\"%s\",\"ms\":%.3f,\"baseline_ms\":%.3f,"
			       "\"ratio_to_baseline\":%.1f}\n", name, mag, base, mag / base);
		else
			printf("%-34s %10.3f %8.1f   (round-robin fill %.3f ms)\n", name, mag,
			       mag / base, base);
	}
	free(b);
	free(t);
	return 0;
}
