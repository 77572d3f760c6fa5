/* Map access for the controller and the tests: one place that knows the maps (dataplane.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include "dataplane.h"
#include "log.h"
#include "bpf/hash.h"

static int read_table(int outer, __u32 slot, __u32 service, __u32 **ids, __u32 *m);

struct dp_map {
	const char *name;
	size_t off;
};

#define DP_MAP(f) { "xlb_" #f, offsetof(struct xlb_dp, f) }
static const struct dp_map dp_maps[] = {
	DP_MAP(active), DP_MAP(slot_conf), DP_MAP(services), DP_MAP(vips), DP_MAP(vip_filter),
	DP_MAP(nexthops),
	DP_MAP(tables), DP_MAP(backends), DP_MAP(flows), DP_MAP(stats),
	DP_MAP(events), DP_MAP(backend_stats), DP_MAP(service_stats),
};
/* Maps that state pinned by an older version lacks: -1 until an attach pins them. */
static const struct dp_map dp_optional[] = {
	DP_MAP(flood), { "xlb_moved_seen", offsetof(struct xlb_dp, seen) },
	{ "xlb_syn_cells", offsetof(struct xlb_dp, syns) },
	DP_MAP(replaced), DP_MAP(prev_tables), DP_MAP(syn_stats), DP_MAP(moved_stats),
	DP_MAP(node_conf), DP_MAP(icmp_limit), DP_MAP(service_cells),
};
#define DP_NR(a)	(sizeof(a) / sizeof((a)[0]))

static int *dp_fd(struct xlb_dp *dp, const struct dp_map *m)
{
	return (int *)((char *)dp + m->off);
}

static int dp_init(struct xlb_dp *dp)
{
	size_t i;

	memset(dp, 0, sizeof(*dp));
	for (i = 0; i < DP_NR(dp_maps); i++)
		*dp_fd(dp, &dp_maps[i]) = -1;
	for (i = 0; i < DP_NR(dp_optional); i++)
		*dp_fd(dp, &dp_optional[i]) = -1;
	dp->nr_cpus = libbpf_num_possible_cpus();
	if (dp->nr_cpus <= 0)
		return xlb_errf(-EINVAL, "cannot count possible CPUs");
	return 0;
}

int xlb_dp_from_object(struct xlb_dp *dp, struct bpf_object *obj)
{
	size_t i;
	int err = dp_init(dp);

	if (err)
		return err;
	for (i = 0; i < DP_NR(dp_maps); i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(obj, dp_maps[i].name);

		if (!map || bpf_map__fd(map) < 0)
			return xlb_errf(-ENOENT, "object has no loaded map %s", dp_maps[i].name);
		*dp_fd(dp, &dp_maps[i]) = bpf_map__fd(map);
	}
	for (i = 0; i < DP_NR(dp_optional); i++)
		*dp_fd(dp, &dp_optional[i]) = bpf_object__find_map_fd_by_name(obj,
									      dp_optional[i].name);
	return 0;
}

int xlb_dp_open_pinned(struct xlb_dp *dp, const char *dir)
{
	char path[512];
	size_t i;
	int err = dp_init(dp);

	if (err)
		return err;
	dp->owned = true;
	for (i = 0; i < DP_NR(dp_maps); i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, dp_maps[i].name);
		fd = bpf_obj_get(path);
		if (fd < 0) {
			err = -errno;
			xlb_dp_close(dp);
			return xlb_errf(err, "cannot open pinned map %s: %s", path, strerror(-err));
		}
		*dp_fd(dp, &dp_maps[i]) = fd;
	}
	for (i = 0; i < DP_NR(dp_optional); i++) {	/* pinned by the next attach when older */
		snprintf(path, sizeof(path), "%s/%s", dir, dp_optional[i].name);
		*dp_fd(dp, &dp_optional[i]) = bpf_obj_get(path);
	}
	return 0;
}

static __u32 dp_map_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) ? info.id : 0;
}

bool xlb_dp_pins_moved(const struct xlb_dp *dp, const char *dir)
{
	char path[512];
	bool moved = false;

	for (size_t i = 0; i < DP_NR(dp_maps) + DP_NR(dp_optional) && !moved; i++) {
		const struct dp_map *m = i < DP_NR(dp_maps) ? &dp_maps[i]
							    : &dp_optional[i - DP_NR(dp_maps)];
		int fd, held = *dp_fd((struct xlb_dp *)dp, m);

		snprintf(path, sizeof(path), "%s/%s", dir, m->name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;	/* gone, or an attach pinning map after map */
		moved = dp_map_id(fd) != dp_map_id(held);
		close(fd);
	}
	return moved;
}

void xlb_dp_close(struct xlb_dp *dp)
{
	size_t i;

	if (!dp->owned)
		return;
	for (i = 0; i < DP_NR(dp_maps) + DP_NR(dp_optional); i++) {
		int *fd = dp_fd(dp, i < DP_NR(dp_maps) ? &dp_maps[i]
						       : &dp_optional[i - DP_NR(dp_maps)]);

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
}

static int map_err(const char *what, const char *map)
{
	int err = -errno;

	return xlb_errf(err, "cannot %s %s: %s", what, map, strerror(errno));
}

int xlb_dp_active_slot(const struct xlb_dp *dp, __u32 *slot)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->active, &zero, slot))
		return map_err("read", "xlb_active");
	*slot &= 1;
	return 0;
}

int xlb_dp_switch(const struct xlb_dp *dp, __u32 slot)
{
	__u32 zero = 0;

	if (slot >= XLB_SLOTS)
		return xlb_errf(-EINVAL, "slot %u out of range", slot);
	if (bpf_map_update_elem(dp->active, &zero, &slot, BPF_ANY))
		return map_err("write", "xlb_active");
	return 0;
}

int xlb_dp_get_slot_conf(const struct xlb_dp *dp, __u32 slot, struct xlb_slot_conf *conf)
{
	if (bpf_map_lookup_elem(dp->slot_conf, &slot, conf))
		return map_err("read", "xlb_slot_conf");
	return 0;
}

int xlb_dp_set_slot_conf(const struct xlb_dp *dp, __u32 slot, const struct xlb_slot_conf *conf)
{
	if (bpf_map_update_elem(dp->slot_conf, &slot, conf, BPF_ANY))
		return map_err("write", "xlb_slot_conf");
	return 0;
}

/* Delete every key of a hash map whose slot byte (at slot_off) is slot. */
static int clear_hash_slot(int fd, __u32 key_size, size_t slot_off, __u32 slot,
			   const char *name)
{
	unsigned char key[64], next[64];
	unsigned char *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		if (next[slot_off] == slot) {
			if (bpf_map_delete_elem(fd, next) && errno != ENOENT)
				return map_err("delete from", name);
			continue;	/* go on from the last key kept */
		}
		memcpy(key, next, key_size);
		prev = key;
	}
	return errno == ENOENT ? 0 : map_err("walk", name);
}

/* Write n zeroed values of size bytes at keys first..first+n-1, in one call. */
static int zero_range(int fd, __u32 first, __u32 n, size_t size, const char *name)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 *keys = malloc(n * sizeof(*keys)), count = n;
	void *vals = calloc(n, size);
	int err = 0;

	if (!keys || !vals) {
		err = xlb_errf(-ENOMEM, "out of memory");
		goto out;
	}
	for (__u32 i = 0; i < n; i++)
		keys[i] = first + i;
	if (bpf_map_update_batch(fd, keys, vals, &count, &opts) || count != n)
		err = map_err("clear", name);
out:
	free(keys);
	free(vals);
	return err;
}

/* Every service cell of a slot says "none here" until its service is written. */
static int mark_service_cells(const struct xlb_dp *dp, __u32 slot)
{
	struct xlb_service_cell *cells;
	__u32 *keys, n = XLB_SVC_CELLS;
	int err = 0;

	if (dp->service_cells < 0)
		return 0;
	cells = calloc(n, sizeof(*cells));
	keys = calloc(n, sizeof(*keys));
	if (!cells || !keys) {
		err = xlb_errf(-ENOMEM, "out of memory");
		goto out;
	}
	for (__u32 i = 0; i < n; i++) {
		keys[i] = slot * XLB_SVC_CELLS + i;
		cells[i].key.pad[1] = XLB_SVC_CELL_NONE;
	}
	if (bpf_map_update_batch(dp->service_cells, keys, cells, &n, NULL) ||
	    n != XLB_SVC_CELLS)
		err = map_err("clear", "xlb_service_cells");
out:
	free(cells);
	free(keys);
	return err;
}

int xlb_dp_clear_slot(const struct xlb_dp *dp, __u32 slot)
{
	int err;

	err = mark_service_cells(dp, slot) ?: clear_hash_slot(dp->services, sizeof(struct xlb_service_key),
				     offsetof(struct xlb_service_key, slot), slot, "xlb_services");
	if (!err)
		err = clear_hash_slot(dp->vips, sizeof(struct xlb_vip_key),
				      offsetof(struct xlb_vip_key, slot), slot, "xlb_vips");
	if (!err)
		err = zero_range(dp->vip_filter, slot * XLB_VIP_FILTER_WORDS, XLB_VIP_FILTER_WORDS,
				 sizeof(__u64), "xlb_vip_filter");
	if (!err)
		err = zero_range(dp->backends, slot * XLB_MAX_BACKENDS, XLB_MAX_BACKENDS,
				 sizeof(struct xlb_backend), "xlb_backends");
	for (__u32 i = 0; !err && dp->replaced >= 0 && i < XLB_MAX_SERVICES; i++) {
		struct xlb_replaced r;

		if (!xlb_dp_get_replaced(dp, slot, i, &r) && r.table_size)
			err = xlb_dp_set_replaced(dp, slot, i, NULL, -1);
	}
	return err;
}

int xlb_dp_set_replaced(const struct xlb_dp *dp, __u32 slot, __u32 service,
			const struct xlb_replaced *r, int table_fd)
{
	struct xlb_replaced none = { 0 };
	__u32 key = slot * XLB_MAX_SERVICES + service, id;

	if (dp->replaced < 0 || dp->prev_tables < 0 || service >= XLB_MAX_SERVICES)
		return 0;
	if (r) {	/* the table first: a packet that sees r finds it */
		if (bpf_map_update_elem(dp->prev_tables, &key, &table_fd, BPF_ANY))
			return map_err("publish into", "xlb_prev_tables");
		if (bpf_map_update_elem(dp->replaced, &key, r, BPF_ANY))
			return map_err("write", "xlb_replaced");
		return 0;
	}
	if (bpf_map_update_elem(dp->replaced, &key, &none, BPF_ANY))
		return map_err("write", "xlb_replaced");
	if (!bpf_map_lookup_elem(dp->prev_tables, &key, &id) &&
	    bpf_map_delete_elem(dp->prev_tables, &key) && errno != ENOENT)
		return map_err("delete from", "xlb_prev_tables");
	return 0;
}

int xlb_dp_get_replaced(const struct xlb_dp *dp, __u32 slot, __u32 service,
			struct xlb_replaced *r)
{
	__u32 key = slot * XLB_MAX_SERVICES + service;

	memset(r, 0, sizeof(*r));
	if (dp->replaced < 0 || service >= XLB_MAX_SERVICES)
		return 0;
	if (bpf_map_lookup_elem(dp->replaced, &key, r))
		return map_err("read", "xlb_replaced");
	return 0;
}

int xlb_dp_set_service(const struct xlb_dp *dp, __u32 slot, struct xlb_service_key key,
		       const struct xlb_service *svc)
{
	struct xlb_service_cell cell;
	__u32 idx;

	key.slot = slot;
	if (bpf_map_update_elem(dp->services, &key, svc, BPF_ANY))
		return map_err("write", "xlb_services");
	if (dp->service_cells < 0)
		return 0;
	/* the cell after the map: a packet that finds it there finds it here too */
	idx = xlb_service_cell(&key);
	if (bpf_map_lookup_elem(dp->service_cells, &idx, &cell))
		return map_err("read", "xlb_service_cells");
	if (cell.key.family && memcmp(&cell.key, &key, sizeof(key))) {
		cell.key.pad[0] = XLB_SVC_CELL_SHARED;	/* two services: xlb_services decides */
	} else {
		cell.key = key;
		cell.svc = *svc;
	}
	if (bpf_map_update_elem(dp->service_cells, &idx, &cell, BPF_ANY))
		return map_err("write", "xlb_service_cells");
	return 0;
}

int xlb_dp_get_service(const struct xlb_dp *dp, __u32 slot, struct xlb_service_key key,
		       struct xlb_service *svc)
{
	key.slot = slot;
	if (bpf_map_lookup_elem(dp->services, &key, svc))
		return errno == ENOENT ? -ENOENT : map_err("read", "xlb_services");
	return 0;
}

int xlb_dp_set_vip(const struct xlb_dp *dp, __u32 slot, const union xlb_addr *vip, __u8 family)
{
	struct xlb_vip_key key = { .vip = *vip, .family = family, .slot = slot };
	__u32 one = 1, bit = xlb_vip_filter_bit(vip, family);
	__u32 word_key = slot * XLB_VIP_FILTER_WORDS + bit / 64;
	__u64 word;

	if (bpf_map_update_elem(dp->vips, &key, &one, BPF_ANY))
		return map_err("write", "xlb_vips");
	if (bpf_map_lookup_elem(dp->vip_filter, &word_key, &word))
		return map_err("read", "xlb_vip_filter");
	word |= 1ull << (bit % 64);
	if (bpf_map_update_elem(dp->vip_filter, &word_key, &word, BPF_ANY))
		return map_err("write", "xlb_vip_filter");
	return 0;
}

int xlb_dp_set_backend(const struct xlb_dp *dp, __u32 slot, __u32 id,
		       const struct xlb_backend *be)
{
	__u32 key = slot * XLB_MAX_BACKENDS + id;

	if (id == XLB_BACKEND_NONE || id >= XLB_MAX_BACKENDS)
		return xlb_errf(-EINVAL, "backend id %u out of range 1..%u", id,
				XLB_MAX_BACKENDS - 1);
	if (bpf_map_update_elem(dp->backends, &key, be, BPF_ANY))
		return map_err("write", "xlb_backends");
	return 0;
}

int xlb_dp_new_table(const __u32 *ids, __u32 m)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	size_t len;
	void *mem;
	int fd, err;

	if (!m || m > XLB_MAX_TABLE_SIZE)
		return xlb_errf(-EINVAL, "table size %u out of range", m);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xlb_table", sizeof(__u32), sizeof(__u32), m,
			    &opts);
	if (fd < 0)
		return map_err("create", "a Maglev table");
	/* array elements sit at an 8-byte stride (round_up(value_size, 8)) */
	len = ((size_t)m * 8 + 4095) & ~4095UL;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		err = map_err("map", "a Maglev table");
		close(fd);
		return err;
	}
	for (__u32 i = 0; i < m; i++)
		((__u32 *)mem)[2 * i] = ids[i];
	munmap(mem, len);
	/* immutable from here on: a published table never changes under a packet */
	if (bpf_map_freeze(fd)) {
		err = map_err("freeze", "a Maglev table");
		close(fd);
		return err;
	}
	return fd;
}

int xlb_dp_table_fd(const struct xlb_dp *dp, __u32 slot, __u32 service)
{
	__u32 key = slot * XLB_MAX_SERVICES + service, id;
	int fd;

	if (bpf_map_lookup_elem(dp->tables, &key, &id))
		return errno == ENOENT ? -ENOENT : map_err("read", "xlb_tables");
	fd = bpf_map_get_fd_by_id(id);
	return fd < 0 ? map_err("open", "a Maglev table") : fd;
}

/*
 * Every write to an array of maps waits for an RCU grace period (packets in
 * flight finish with the old inner map), milliseconds each: a slot's tables
 * go in with one batch update, and only indices left without a service are
 * deleted one by one (a removed service: rare).
 */
int xlb_dp_publish_tables(const struct xlb_dp *dp, __u32 slot, const __u32 *services,
			  const int *fds, __u32 n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 keys[XLB_MAX_SERVICES], count = n;
	__u8 keep[XLB_MAX_SERVICES] = { 0 };

	if (n > XLB_MAX_SERVICES)
		return -EINVAL;
	for (__u32 i = 0; i < n; i++) {
		keys[i] = slot * XLB_MAX_SERVICES + services[i];
		keep[services[i]] = 1;
	}
	if (n && (bpf_map_update_batch(dp->tables, keys, fds, &count, &opts) || count != n))
		return map_err("publish into", "xlb_tables");
	for (__u32 i = 0; i < XLB_MAX_SERVICES; i++) {
		__u32 key = slot * XLB_MAX_SERVICES + i, id;

		if (keep[i] || bpf_map_lookup_elem(dp->tables, &key, &id))
			continue;
		if (bpf_map_delete_elem(dp->tables, &key) && errno != ENOENT)
			return map_err("delete from", "xlb_tables");
	}
	return 0;
}

int xlb_dp_set_table(const struct xlb_dp *dp, __u32 slot, __u32 service, const __u32 *ids,
		     __u32 m)
{
	__u32 key = slot * XLB_MAX_SERVICES + service;
	int fd, err = 0;

	if (service >= XLB_MAX_SERVICES)
		return xlb_errf(-EINVAL, "service index %u out of range", service);
	fd = xlb_dp_new_table(ids, m);
	if (fd < 0)
		return fd;
	if (bpf_map_update_elem(dp->tables, &key, &fd, BPF_ANY))
		err = map_err("publish into", "xlb_tables");
	close(fd);
	return err;
}

int xlb_dp_get_table(const struct xlb_dp *dp, __u32 slot, __u32 service, __u32 **ids, __u32 *m)
{
	int err = xlb_dp_get_table_raw(dp, slot, service, ids, m);

	for (__u32 i = 0; !err && i < *m; i++)
		(*ids)[i] = XLB_TABLE_CUR((*ids)[i]);
	return err;
}

int xlb_dp_replace_table(const struct xlb_dp *dp, __u32 slot, __u32 service, int fd)
{
	__u32 key = slot * XLB_MAX_SERVICES + service;

	if (service >= XLB_MAX_SERVICES)
		return xlb_errf(-EINVAL, "service index %u out of range", service);
	if (bpf_map_update_elem(dp->tables, &key, &fd, BPF_ANY))
		return map_err("publish into", "xlb_tables");
	return 0;
}

int xlb_dp_get_flow(int map, const struct xlb_flow_key *k, struct xlb_flow *f)
{
	if (map < 0 || bpf_map_lookup_elem(map, k, f))
		return -ENOENT;
	return 0;
}

int xlb_dp_get_backend(const struct xlb_dp *dp, __u32 slot, __u32 id, struct xlb_backend *be)
{
	__u32 key = slot * XLB_MAX_BACKENDS + (id & (XLB_MAX_BACKENDS - 1));

	if (bpf_map_lookup_elem(dp->backends, &key, be))
		return map_err("read", "xlb_backends");
	return 0;
}

int xlb_dp_get_table_raw(const struct xlb_dp *dp, __u32 slot, __u32 service, __u32 **ids,
			 __u32 *m)
{
	return read_table(dp->tables, slot, service, ids, m);
}

int xlb_dp_get_prev_table(const struct xlb_dp *dp, __u32 slot, __u32 service, __u32 **ids,
			  __u32 *m)
{
	return dp->prev_tables < 0 ? -ENOENT : read_table(dp->prev_tables, slot, service, ids, m);
}

static int read_table(int outer, __u32 slot, __u32 service, __u32 **ids, __u32 *m)
{
	struct bpf_map_info info = {};
	__u32 key = slot * XLB_MAX_SERVICES + service, id, len = sizeof(info);
	int fd, err = 0;

	if (bpf_map_lookup_elem(outer, &key, &id))
		return errno == ENOENT ? -ENOENT : map_err("read", "a table of maps");
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return map_err("open", "a Maglev table");
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = map_err("inspect", "a Maglev table");
		goto out;
	}
	*m = info.max_entries;
	*ids = calloc(*m, sizeof(__u32));
	if (!*ids) {
		err = xlb_errf(-ENOMEM, "out of memory");
		goto out;
	}
	{
		/* frozen tables are mmapable read-only: one copy, not M syscalls */
		size_t len = ((size_t)*m * 8 + 4095) & ~4095UL;
		void *mem = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);

		if (mem == MAP_FAILED) {
			for (__u32 i = 0; i < *m && !err; i++)
				if (bpf_map_lookup_elem(fd, &i, &(*ids)[i]))
					err = map_err("read", "a Maglev table");
		} else {
			for (__u32 i = 0; i < *m; i++)
				(*ids)[i] = ((const __u32 *)mem)[2 * i];
			munmap(mem, len);
		}
	}
	if (err) {
		free(*ids);
		*ids = NULL;
	}
out:
	close(fd);
	return err;
}

int xlb_dp_get_node_conf(const struct xlb_dp *dp, struct xlb_node_conf *conf)
{
	__u32 zero = 0;

	memset(conf, 0, sizeof(*conf));
	if (dp->node_conf < 0)
		return 0;
	if (bpf_map_lookup_elem(dp->node_conf, &zero, conf))
		return map_err("read", "xlb_node_conf");
	return 0;
}

int xlb_dp_set_node_conf(const struct xlb_dp *dp, const struct xlb_node_conf *conf)
{
	__u32 zero = 0;

	if (dp->node_conf < 0)
		return xlb_errf(-ENOENT, "no xlb_node_conf map: attach this build first");
	if (bpf_map_update_elem(dp->node_conf, &zero, conf, BPF_ANY))
		return map_err("write", "xlb_node_conf");
	return 0;
}

int xlb_dp_slot_services(const struct xlb_dp *dp, __u32 slot, struct xlb_service_key *keys,
			 struct xlb_service *svcs, __u32 max, __u32 *n)
{
	struct xlb_service_key key, next, *prev = NULL;

	*n = 0;
	while (!bpf_map_get_next_key(dp->services, prev, &next)) {
		key = next;
		prev = &key;
		if (key.slot != slot || *n >= max)
			continue;
		if (bpf_map_lookup_elem(dp->services, &key, &svcs[*n]))
			continue;	/* removed under us: a commit of another process */
		if (keys)
			keys[*n] = key;
		(*n)++;
	}
	return errno == ENOENT ? 0 : map_err("walk", "xlb_services");
}

int xlb_dp_walk_flows(int map, int (*fn)(const struct xlb_flow_key *k, const struct xlb_flow *f,
					 void *arg), void *arg)
{
	struct xlb_flow_key key, next, *prev = NULL;
	struct xlb_flow f;
	int err = 0;

	if (map < 0)
		return 0;
	while (!err && !bpf_map_get_next_key(map, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(map, &key, &f))
			err = fn(&key, &f, arg);
	}
	return err;
}

int xlb_dp_del_flow(int map, const struct xlb_flow_key *k)
{
	if (map < 0 || bpf_map_delete_elem(map, k))
		return -ENOENT;
	return 0;
}

int xlb_dp_set_seen(const struct xlb_dp *dp, __u32 cell, __u32 now)
{
	if (dp->seen < 0)
		return 0;
	if (bpf_map_update_elem(dp->seen, &cell, &now, BPF_ANY))
		return map_err("write", "xlb_moved_seen");
	return 0;
}

const __u32 *xlb_dp_map_seen(const struct xlb_dp *dp)
{
	void *seen = mmap(NULL, (size_t)XLB_SEEN_CELLS * 8, PROT_READ, MAP_SHARED, dp->seen, 0);

	if (seen == MAP_FAILED) {
		map_err("map", "xlb_moved_seen");
		return NULL;
	}
	return seen;
}

void xlb_dp_unmap_seen(const __u32 *seen)
{
	if (seen)
		munmap((void *)seen, (size_t)XLB_SEEN_CELLS * 8);
}
