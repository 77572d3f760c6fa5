/*
 * The data plane's counters (dataplane.h): per-CPU sums, the rate limiters'
 * counts, entries of a map, and their reset when an id goes to a new backend
 * or service.  With dataplane.c the one place that reads and writes maps.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "dataplane.h"
#include "log.h"

static int map_err(const char *what, const char *map)
{
	int err = -errno;

	return xlb_errf(err, "cannot %s %s: %s", what, map, strerror(errno));
}

/* Look up a per-CPU value and sum it as an array of __u64. */
static int percpu_sum(const struct xlb_dp *dp, int fd, __u32 key, __u64 *out, size_t words,
		      const char *name)
{
	size_t stride = (words * sizeof(__u64) + 7) & ~7UL;
	__u64 *vals = calloc(dp->nr_cpus, stride);

	if (!vals)
		return xlb_errf(-ENOMEM, "out of memory");
	if (bpf_map_lookup_elem(fd, &key, vals)) {
		free(vals);
		return map_err("read", name);
	}
	memset(out, 0, words * sizeof(__u64));
	for (int c = 0; c < dp->nr_cpus; c++)
		for (size_t w = 0; w < words; w++)
			out[w] += vals[c * words + w];
	free(vals);
	return 0;
}

int xlb_dp_stat(const struct xlb_dp *dp, __u32 reason, struct xlb_stat *out)
{
	return percpu_sum(dp, dp->stats, reason, (__u64 *)out, 2, "xlb_stats");
}

int xlb_dp_event(const struct xlb_dp *dp, __u32 event, __u64 *out)
{
	return percpu_sum(dp, dp->events, event, out, 1, "xlb_events");
}

/*
 * The "limited" count of a rate limiter's per-CPU entry [0] (struct xlb_flood,
 * struct xlb_icmp_limit: window_ns, limited, then a 32-bit count and pad),
 * summed; 0 when state of an older version has no such map.
 */
static int limiter_count(const struct xlb_dp *dp, int fd, const char *name, __u64 *out)
{
	__u64 words[3];
	int err;

	_Static_assert(sizeof(struct xlb_flood) == sizeof(words), "xlb_flood as words");
	_Static_assert(sizeof(struct xlb_icmp_limit) == sizeof(words), "xlb_icmp_limit as words");
	_Static_assert(offsetof(struct xlb_flood, limited) == 8 &&
		       offsetof(struct xlb_icmp_limit, limited) == 8, "limited is word 1");
	*out = 0;
	if (fd < 0)
		return 0;
	err = percpu_sum(dp, fd, 0, words, 3, name);
	if (!err)
		*out = words[1];
	return err;
}

int xlb_dp_flood_limited(const struct xlb_dp *dp, __u64 *out)
{
	return limiter_count(dp, dp->flood, "xlb_flood", out);
}

int xlb_dp_icmp_limited(const struct xlb_dp *dp, __u64 *out)
{
	return limiter_count(dp, dp->icmp_limit, "xlb_icmp_limit", out);
}

int xlb_dp_syn_stats(const struct xlb_dp *dp, __u32 id, struct xlb_syn_stat *out)
{
	memset(out, 0, sizeof(*out));
	if (dp->syn_stats < 0 || id >= XLB_MAX_BACKENDS)
		return 0;
	return percpu_sum(dp, dp->syn_stats, id, (__u64 *)out, sizeof(*out) / 8, "xlb_syn_stats");
}

int xlb_dp_moved_stats(const struct xlb_dp *dp, struct xlb_moved_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (dp->moved_stats < 0)
		return 0;
	return percpu_sum(dp, dp->moved_stats, 0, (__u64 *)out, sizeof(*out) / 8, "xlb_moved_stats");
}

int xlb_dp_counters(const struct xlb_dp *dp, int map_fd, __u32 key, struct xlb_counters *out)
{
	return percpu_sum(dp, map_fd, key, (__u64 *)out, 4, "a counter map");
}


int xlb_dp_reset_counters(const struct xlb_dp *dp, int map_fd, __u32 key)
{
	void *zero = calloc(dp->nr_cpus, sizeof(struct xlb_counters));
	int err = 0;

	if (!zero)
		return xlb_errf(-ENOMEM, "out of memory");
	if (bpf_map_update_elem(map_fd, &key, zero, BPF_ANY))
		err = map_err("reset", "a counter map");
	free(zero);
	return err;
}

int xlb_dp_count_entries(int map_fd, __u32 key_size, __u32 *count)
{
	unsigned char key[64], next[64];
	void *prev = NULL;

	if (key_size > sizeof(key))
		return -EINVAL;
	*count = 0;
	while (!bpf_map_get_next_key(map_fd, prev, next)) {
		(*count)++;
		memcpy(key, next, key_size);
		prev = key;
	}
	return errno == ENOENT ? 0 : map_err("walk", "a map");
}
