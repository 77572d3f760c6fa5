/* Health state machine, floor and distribution watch: pure functions. */
#include <math.h>
#include <string.h>
#include <stdlib.h>
#include "health.h"

void xlb_hstate_init(struct xlb_hstate *h)
{
	memset(h, 0, sizeof(*h));
	h->up = true;
}

bool xlb_hstate_record(struct xlb_hstate *h, bool ok, __u32 rise, __u32 fall)
{
	bool was = h->up;

	h->checks++;
	if (ok) {
		h->ok_run++;
		h->fail_run = 0;
		if (!h->up && h->ok_run >= rise)
			h->up = true;
	} else {
		h->failures++;
		h->fail_run++;
		h->ok_run = 0;
		if (h->up && h->fail_run >= fall)
			h->up = false;
	}
	return h->up != was;
}

__u64 xlb_health_next(__u64 now_ms, __u32 interval_ms, __u32 *seed)
{
	__u32 x = *seed ? *seed : 0x9e3779b9u, span = interval_ms / 5;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*seed = x;
	/* interval - 10 % .. interval + 10 % */
	return now_ms + interval_ms - interval_ms / 10 + (span ? x % (span + 1) : 0);
}

bool xlb_health_floor(__u32 n, const bool *healthy, const __u32 *fail_run, __u32 min_active,
		      bool *down)
{
	__u32 up = 0, keep;

	for (__u32 i = 0; i < n; i++) {
		down[i] = !healthy[i];
		up += healthy[i];
	}
	if (up >= min_active)
		return false;
	/* fail open: put back the unhealthy ones that failed least recently first */
	keep = (min_active < n ? min_active : n) - up;
	while (keep--) {
		int best = -1;

		for (__u32 i = 0; i < n; i++)
			if (down[i] && (best < 0 || fail_run[i] < fail_run[best]))
				best = i;
		if (best < 0)
			break;
		down[best] = false;
	}
	return true;
}

bool xlb_watch_sample(struct xlb_watch *w, const struct xlb_watch_opts *o, __u64 now_ms,
		      __u64 mine, __u64 all, double table_share)
{
	__u32 oldest, newest;
	__u64 d_mine, d_all;
	bool was = w->alert;

	w->head = (w->head + 1) % XLB_WATCH_MAX_SAMPLES;
	w->t_ms[w->head] = now_ms;
	w->mine[w->head] = mine;
	w->all[w->head] = all;
	if (w->count < XLB_WATCH_MAX_SAMPLES)
		w->count++;
	/* the oldest sample still inside the window */
	newest = w->head;
	oldest = newest;
	for (__u32 k = 1; k < w->count; k++) {
		__u32 i = (newest + XLB_WATCH_MAX_SAMPLES - k) % XLB_WATCH_MAX_SAMPLES;

		if (now_ms - w->t_ms[i] > o->window_ms)
			break;
		oldest = i;
	}
	d_mine = w->mine[newest] - w->mine[oldest];
	d_all = w->all[newest] - w->all[oldest];
	w->deviation = d_all >= o->min_flows && d_all ?
		       fabs((double)d_mine / d_all - table_share) : 0;
	if (w->deviation > o->threshold) {
		if (!w->above_since_ms)
			w->above_since_ms = now_ms;
		w->alert = now_ms - w->above_since_ms >= o->for_ms;
	} else {
		w->above_since_ms = 0;
		w->alert = false;
	}
	return w->alert && !was;
}

bool xlb_health_overlay(struct xlb_service_conf *s, const struct xlb_health_view *const *views,
			bool *held, bool *floor_hit)
{
	__u32 n = 0, *map = calloc(s->nr_backends + 1, sizeof(*map));
	__u32 *runs = calloc(s->nr_backends + 1, sizeof(*runs));
	bool *healthy = calloc(s->nr_backends + 1, sizeof(*healthy));
	bool *down = calloc(s->nr_backends + 1, sizeof(*down));
	bool changed = false;

	*floor_hit = false;
	for (__u32 j = 0; j < s->nr_backends; j++)
		held[j] = false;
	if (!map || !runs || !healthy || !down)
		goto out;	/* no verdict without memory: nothing changes */
	for (__u32 j = 0; j < s->nr_backends; j++) {
		const struct xlb_backend_conf *b = &s->backends[j];
		const struct xlb_health_view *v = views[j];

		if (!(b->state == XLB_BACKEND_ACTIVE ||
		      (b->state == XLB_BACKEND_DOWN && v && v->health_down)))
			continue;
		map[n] = j;
		healthy[n] = !v || v->up;
		runs[n++] = v ? v->fail_run : 0;
	}
	*floor_hit = xlb_health_floor(n, healthy, runs, s->guards.min_active, down);
	for (__u32 k = 0; k < n; k++) {
		struct xlb_backend_conf *b = &s->backends[map[k]];
		__u8 want = down[k] ? XLB_BACKEND_DOWN : XLB_BACKEND_ACTIVE;

		changed |= b->state != want;
		b->state = want;
		held[map[k]] = down[k];
	}
out:
	free(map);
	free(runs);
	free(healthy);
	free(down);
	return changed;
}
