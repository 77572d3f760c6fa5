/*
 * The data plane's maps as file descriptors, and every read and write of
 * their content.  The rule (tests/unit/layout.sh): in user/, bpf_map_lookup,
 * update, delete, get_next_key and the batch calls appear only in
 * dataplane.c and dataplane_counters.c, and in the loaders that create, pin
 * and carry maps over — loader.c (xlb_version), upgrade.c (a pinned map
 * carried into a larger one), decap.c (the decap program's own maps).
 */
#ifndef XLB_DATAPLANE_H
#define XLB_DATAPLANE_H

#include <stdbool.h>
#include <bpf/libbpf.h>
#include "xlb_abi.h"

struct xlb_dp {
	int active;		/* xlb_active */
	int slot_conf;		/* xlb_slot_conf */
	int services;		/* xlb_services */
	int vips;		/* xlb_vips */
	int vip_filter;		/* xlb_vip_filter */
	int nexthops;		/* xlb_nexthops */
	int tables;		/* xlb_tables (array of maps) */
	int backends;		/* xlb_backends */
	int flows;		/* xlb_flows */
	int stats;		/* xlb_stats */
	int events;		/* xlb_events */
	int backend_stats;	/* xlb_backend_stats */
	int service_stats;	/* xlb_service_stats */
	int flood;		/* xlb_flood; -1 in state pinned by a version before it */
	int seen;		/* xlb_moved_seen; -1 likewise */
	int syns;		/* xlb_syn_cells; -1 likewise (and in state before version 5) */
	int replaced;		/* xlb_replaced; -1 likewise */
	int prev_tables;	/* xlb_prev_tables; -1 likewise */
	int syn_stats;		/* xlb_syn_stats; -1 likewise */
	int moved_stats;	/* xlb_moved_stats; -1 likewise */
	int node_conf;		/* xlb_node_conf; -1 likewise */
	int icmp_limit;		/* xlb_icmp_limit; -1 likewise */
	int service_cells;	/* xlb_service_cells; -1 likewise */
	int nr_cpus;
	bool owned;		/* fds are ours to close */
};

/* Borrow the fds of a loaded object (tests, attach). */
int xlb_dp_from_object(struct xlb_dp *dp, struct bpf_object *obj);
/* Open the maps pinned in dir (a CLI command on an attached interface). */
int xlb_dp_open_pinned(struct xlb_dp *dp, const char *dir);
void xlb_dp_close(struct xlb_dp *dp);
/*
 * A map pinned in dir is not the one dp holds (attached again, or an attach
 * that carried counters into a larger map, or pinned one dp lacks): reopen.
 */
bool xlb_dp_pins_moved(const struct xlb_dp *dp, const char *dir);

int xlb_dp_active_slot(const struct xlb_dp *dp, __u32 *slot);
/* The atomic switch: one 4-byte write. */
int xlb_dp_switch(const struct xlb_dp *dp, __u32 slot);

int xlb_dp_get_slot_conf(const struct xlb_dp *dp, __u32 slot, struct xlb_slot_conf *conf);
int xlb_dp_set_slot_conf(const struct xlb_dp *dp, __u32 slot, const struct xlb_slot_conf *conf);
/* Remove every service, VIP and backend of a slot (tables: publish_tables). */
int xlb_dp_clear_slot(const struct xlb_dp *dp, __u32 slot);
int xlb_dp_set_service(const struct xlb_dp *dp, __u32 slot, struct xlb_service_key key,
		       const struct xlb_service *svc);
/* A slot's service record by key (key.slot is ignored): 0, or -ENOENT. */
int xlb_dp_get_service(const struct xlb_dp *dp, __u32 slot, struct xlb_service_key key,
		       struct xlb_service *svc);
int xlb_dp_set_vip(const struct xlb_dp *dp, __u32 slot, const union xlb_addr *vip, __u8 family);
int xlb_dp_set_backend(const struct xlb_dp *dp, __u32 slot, __u32 id,
		       const struct xlb_backend *be);
/* A new frozen table map holding ids[0..m-1]: returns its fd. */
int xlb_dp_new_table(const __u32 *ids, __u32 m);
/* An fd of the table published for a slot's service, or -ENOENT. */
int xlb_dp_table_fd(const struct xlb_dp *dp, __u32 slot, __u32 service);
/* Publish n tables in a slot at once; delete the slot's other tables. */
int xlb_dp_publish_tables(const struct xlb_dp *dp, __u32 slot, const __u32 *services,
			  const int *fds, __u32 n);
/* Publish one table (tests; commits use xlb_dp_publish_tables). */
int xlb_dp_set_table(const struct xlb_dp *dp, __u32 slot, __u32 service, const __u32 *ids,
		     __u32 m);
/* Read a slot's table (current backend ids); *ids is malloc'd, *m its length. -ENOENT if none. */
int xlb_dp_get_table(const struct xlb_dp *dp, __u32 slot, __u32 service, __u32 **ids, __u32 *m);
/* The same with each slot's previous backend (XLB_TABLE_PREV) left in. */
int xlb_dp_get_table_raw(const struct xlb_dp *dp, __u32 slot, __u32 service, __u32 **ids,
			 __u32 *m);
/* Put the table fd in a slot's service entry (one map write: packets see old or new). */
int xlb_dp_replace_table(const struct xlb_dp *dp, __u32 slot, __u32 service, int fd);
int xlb_dp_get_backend(const struct xlb_dp *dp, __u32 slot, __u32 id, struct xlb_backend *be);
/* A connection-table entry (map: dp->flows): 0, or -ENOENT (none, or no map). */
int xlb_dp_get_flow(int map, const struct xlb_flow_key *k, struct xlb_flow *f);
/*
 * A SYN of a moved slot remembered for flow k (xlb_syn_cells): f->backend its
 * backend id, f->gen the low 16 bits of that backend's gen; or -ENOENT.
 */
/* service XLB_SYN_ANY: whatever moved slot the SYN was in (tests) */
#define XLB_SYN_ANY	0xffffffffu
int xlb_dp_get_syn(const struct xlb_dp *dp, const struct xlb_flow_key *k, __u32 service,
		   __u32 bucket, struct xlb_flow *f);
/* SYNs of moved slots remembered now (cells in use), and all of them forgotten. */
int xlb_dp_count_syns(const struct xlb_dp *dp, __u32 *count);
int xlb_dp_clear_syns(const struct xlb_dp *dp);
/*
 * xlb_syn_cells mapped read-write (XLB_SYN_SETS sets), or NULL (xlb_errmsg
 * says why); the packet path writes it under the caller, a cell's entry is
 * emptied with one 8-byte store.
 */
struct xlb_syn_set *xlb_dp_map_syns(const struct xlb_dp *dp);
void xlb_dp_unmap_syns(struct xlb_syn_set *sets);
/*
 * Forget every SYN of a moved slot (service, bucket) that keep() says not to
 * keep (released slots, gone services): its cell emptied in place with one
 * 8-byte store.  Cells forgotten.
 */
__u32 xlb_dp_forget_syns(const struct xlb_dp *dp,
			 bool (*keep)(__u32 service, __u32 bucket, void *arg), void *arg);
/*
 * A replaced service's previous placement in a slot: r and its table (fd), or
 * r NULL to hold none.  A no-op on state older than the maps.
 */
int xlb_dp_set_replaced(const struct xlb_dp *dp, __u32 slot, __u32 service,
			const struct xlb_replaced *r, int table_fd);
/* The same read back: r->table_size 0 when none (or state older than the maps). */
int xlb_dp_get_replaced(const struct xlb_dp *dp, __u32 slot, __u32 service,
			struct xlb_replaced *r);
/* The previous table of a replaced service (as xlb_dp_get_table_raw). */
int xlb_dp_get_prev_table(const struct xlb_dp *dp, __u32 slot, __u32 service, __u32 **ids,
			  __u32 *m);
/* A backend's SYNs of moved slots and their retransmissions (zeros without the map). */
int xlb_dp_syn_stats(const struct xlb_dp *dp, __u32 id, struct xlb_syn_stat *out);
/* Packets of moved slots, summed over CPUs (zeros in state older than the map). */
int xlb_dp_moved_stats(const struct xlb_dp *dp, struct xlb_moved_stats *out);

/* Every service of a slot: up to max records (and keys, unless NULL); *n of them. */
int xlb_dp_slot_services(const struct xlb_dp *dp, __u32 slot, struct xlb_service_key *keys,
			 struct xlb_service *svcs, __u32 max, __u32 *n);
/*
 * Call fn for every entry of a connection-table map (dp->flows; a
 * map < 0 has none) until it returns non-zero, which is returned.  Entries
 * may come and go under the walk (the data plane writes them).
 */
int xlb_dp_walk_flows(int map, int (*fn)(const struct xlb_flow_key *k, const struct xlb_flow *f,
					 void *arg), void *arg);
/* Forget a connection-table entry: 0, or -ENOENT (none, or no map). */
int xlb_dp_del_flow(int map, const struct xlb_flow_key *k);
/* xlb_moved_seen[cell] = now (a no-op in state older than the map). */
int xlb_dp_set_seen(const struct xlb_dp *dp, __u32 cell, __u32 now);
/*
 * xlb_moved_seen read-only: element i at [2 * i] (an 8-byte stride), or NULL
 * (xlb_errmsg says why); the packet path writes it under the reader.
 */
const __u32 *xlb_dp_map_seen(const struct xlb_dp *dp);
void xlb_dp_unmap_seen(const __u32 *seen);

/* Per-CPU sums (dataplane_counters.c). */
int xlb_dp_stat(const struct xlb_dp *dp, __u32 reason, struct xlb_stat *out);
int xlb_dp_event(const struct xlb_dp *dp, __u32 event, __u64 *out);
/* New flows the flood guard forwarded without remembering (0 when no such map). */
int xlb_dp_flood_limited(const struct xlb_dp *dp, __u64 *out);
/* Too-big answers the rate limit held back (0 when no such map). */
int xlb_dp_icmp_limited(const struct xlb_dp *dp, __u64 *out);
/* The node's settings (zeros: defaults, also when state has no such map). */
int xlb_dp_get_node_conf(const struct xlb_dp *dp, struct xlb_node_conf *conf);
int xlb_dp_set_node_conf(const struct xlb_dp *dp, const struct xlb_node_conf *conf);
int xlb_dp_counters(const struct xlb_dp *dp, int map_fd, __u32 key, struct xlb_counters *out);
/* Zero an id's counters (map_fd: dp->backend_stats or dp->service_stats). */
int xlb_dp_reset_counters(const struct xlb_dp *dp, int map_fd, __u32 key);
/* Entries of a hash map (walks the keys). */
int xlb_dp_count_entries(int map_fd, __u32 key_size, __u32 *count);

#endif
