/*
 * The SYNs of moved slots (xlb_syn_cells, dataplane.h): a flow's cell, the
 * cells in use, all of them forgotten, the array mapped for release.  With
 * dataplane.c the one place that reads and writes maps.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include "dataplane.h"
#include "log.h"
#include "bpf/hash.h"

static int map_err(const char *what, const char *map)
{
	int err = -errno;

	return xlb_errf(err, "cannot %s %s: %s", what, map, strerror(errno));
}

int xlb_dp_get_syn(const struct xlb_dp *dp, const struct xlb_flow_key *k, __u32 service,
		   __u32 bucket, struct xlb_flow *f)
{
	__u32 tag, idx = xlb_syn_cell(k, &tag);
	struct xlb_syn_set set;

	if (dp->syns < 0 || bpf_map_lookup_elem(dp->syns, &idx, &set))
		return -ENOENT;
	for (int i = 0; i < XLB_SYN_WAYS; i++) {
		__u64 e = set.way[i].entry;

		if (XLB_SYN_TAG(e) != tag || (service != XLB_SYN_ANY &&
					       (set.way[i].service != service ||
						set.way[i].bucket != bucket)))
			continue;
		f->backend = XLB_SYN_ID(e);
		f->gen = XLB_SYN_GEN(e);
		return 0;
	}
	return -ENOENT;
}

struct xlb_syn_set *xlb_dp_map_syns(const struct xlb_dp *dp)
{
	void *sets = mmap(NULL, (size_t)XLB_SYN_SETS * sizeof(struct xlb_syn_set),
			  PROT_READ | PROT_WRITE, MAP_SHARED, dp->syns, 0);

	if (sets == MAP_FAILED) {
		map_err("map", "xlb_syn_cells");
		return NULL;
	}
	return sets;
}

void xlb_dp_unmap_syns(struct xlb_syn_set *sets)
{
	if (sets)
		munmap(sets, (size_t)XLB_SYN_SETS * sizeof(*sets));
}

/* Cells in use; with clear, each emptied (one 8-byte store, as the packet path's). */
static int each_syn_cell(const struct xlb_dp *dp, __u32 *used, bool clear)
{
	struct xlb_syn_set *sets;

	*used = 0;
	if (dp->syns < 0)
		return 0;
	sets = xlb_dp_map_syns(dp);
	if (!sets)
		return -EIO;
	for (__u32 i = 0; i < XLB_SYN_SETS; i++)
		for (int w = 0; w < XLB_SYN_WAYS; w++) {
			volatile __u64 *e = &sets[i].way[w].entry;

			if (!*e)
				continue;
			(*used)++;
			if (clear)
				*e = 0;
		}
	xlb_dp_unmap_syns(sets);
	return 0;
}

int xlb_dp_count_syns(const struct xlb_dp *dp, __u32 *count)
{
	return each_syn_cell(dp, count, false);
}

int xlb_dp_clear_syns(const struct xlb_dp *dp)
{
	__u32 used;

	return each_syn_cell(dp, &used, true);
}

__u32 xlb_dp_forget_syns(const struct xlb_dp *dp,
			 bool (*keep)(__u32 service, __u32 bucket, void *arg), void *arg)
{
	struct xlb_syn_set *sets;
	__u32 done = 0;

	if (dp->syns < 0 || !(sets = xlb_dp_map_syns(dp)))
		return 0;
	for (__u32 i = 0; i < XLB_SYN_SETS; i++)
		for (int w = 0; w < XLB_SYN_WAYS; w++) {
			struct xlb_syn_cell *cell = &sets[i].way[w];
			volatile __u64 *e = &cell->entry;

			if (!*e || keep(cell->service, cell->bucket, arg))
				continue;
			*e = 0;
			done++;
		}
	xlb_dp_unmap_syns(sets);
	return done;
}
