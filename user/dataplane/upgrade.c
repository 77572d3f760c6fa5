/*
 * Carrying counters over when an attach adopts state whose xlb_stats is
 * smaller than this build's (state version 3 or older: one entry per reason
 * of its day).  A pinned map cannot grow, and the loader reuses pins only
 * when they match: the new program gets a larger map with the counters
 * copied, and it replaces the pin only once the program runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "upgrade.h"
#include "log.h"

void xlb_stats_growth_init(struct xlb_stats_growth *g)
{
	g->fd = -1;
	g->path[0] = '\0';
}

/* A copy of the pinned map old_fd (of old_entries) with XLB_STAT_SLOTS entries. */
static int copy_grown(int old_fd, __u32 old_entries)
{
	int ncpu = libbpf_num_possible_cpus(), fd, err = 0;
	struct xlb_stat *vals;

	if (ncpu <= 0)
		return xlb_errf(-EINVAL, "cannot count possible CPUs");
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "xlb_stats", sizeof(__u32),
			    sizeof(struct xlb_stat), XLB_STAT_SLOTS, NULL);
	if (fd < 0)
		return xlb_errf(-errno, "cannot create the larger xlb_stats: %s", strerror(errno));
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals) {
		close(fd);
		return xlb_errf(-ENOMEM, "out of memory");
	}
	for (__u32 k = 0; k < old_entries && !err; k++)
		if (bpf_map_lookup_elem(old_fd, &k, vals) || bpf_map_update_elem(fd, &k, vals, 0))
			err = xlb_errf(-errno, "cannot carry xlb_stats[%u] over: %s", k,
				       strerror(errno));
	free(vals);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int xlb_stats_growth_prepare(struct xlb_stats_growth *g, const char *dir,
			     struct bpf_map *stats)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int old, err;

	snprintf(g->path, sizeof(g->path), "%s/xlb_stats", dir);
	old = bpf_obj_get(g->path);
	if (old < 0)
		return 0;	/* none pinned: the load makes it */
	err = bpf_obj_get_info_by_fd(old, &info, &len) ? -errno : 0;
	if (err || info.max_entries >= XLB_STAT_SLOTS) {
		close(old);
		return err ? xlb_errf(err, "cannot read %s: %s", g->path, strerror(-err)) : 0;
	}
	if (info.type != BPF_MAP_TYPE_PERCPU_ARRAY || info.key_size != sizeof(__u32) ||
	    info.value_size != sizeof(struct xlb_stat)) {
		close(old);
		return xlb_errf(-EINVAL, "%s is not the counter map this build knows: detach "
				"first, which drops the connection table", g->path);
	}
	g->fd = copy_grown(old, info.max_entries);
	close(old);
	if (g->fd < 0)
		return g->fd;
	/* the object uses the copy; the old pin stays until the program runs */
	if (bpf_map__set_pin_path(stats, NULL) || bpf_map__reuse_fd(stats, g->fd)) {
		err = -errno;
		xlb_stats_growth_release(g);
		return xlb_errf(err, "cannot give the program the larger xlb_stats: %s",
				strerror(-err));
	}
	return 0;
}

int xlb_stats_growth_commit(struct xlb_stats_growth *g)
{
	char tmp[sizeof(g->path) + 8];

	if (g->fd < 0)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.grown", g->path);
	unlink(tmp);
	if (bpf_obj_pin(g->fd, tmp) || rename(tmp, g->path)) {
		int err = -errno;

		unlink(tmp);
		return xlb_errf(err, "the program runs, but its larger xlb_stats could not be "
				"pinned at %s (%s): counters read stale until the next attach",
				g->path, strerror(-err));
	}
	return 0;
}

void xlb_stats_growth_release(struct xlb_stats_growth *g)
{
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
}
