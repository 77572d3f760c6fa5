/* The balancer's maps: the only place they are defined. */
#ifndef XLB_MAPS_H
#define XLB_MAPS_H

#include "compat.h"
#include "../include/xlb_abi.h"

/* [0]: the active configuration slot (0 or 1).  One write switches all. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xlb_active SEC(".maps");

/* [0]: XLB_STATE_VERSION of the state pinned beside it (written by attach). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xlb_version SEC(".maps");

/* [slot]: per-slot settings (generation, tunnel source addresses). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_SLOTS);
	__type(key, __u32);
	__type(value, struct xlb_slot_conf);
} xlb_slot_conf SEC(".maps");

/* (slot, VIP, port, proto) -> service. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_SLOTS * XLB_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlb_service_key);
	__type(value, struct xlb_service);
} xlb_services SEC(".maps");

/* [xlb_service_cell(key)] -> (key, service): xlb_services direct-mapped. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_SLOTS * XLB_SVC_CELLS);
	__type(key, __u32);
	__type(value, struct xlb_service_cell);
} xlb_service_cells SEC(".maps");

/* (slot, VIP) -> 1: every VIP address, to tell "VIP, no service" apart. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLB_SLOTS * XLB_MAX_VIPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xlb_vip_key);
	__type(value, __u32);
} xlb_vips SEC(".maps");

/* [slot * XLB_VIP_FILTER_WORDS + word]: "might be a VIP" bitmap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_SLOTS * XLB_VIP_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} xlb_vip_filter SEC(".maps");

/* [backend id] -> cached next hop, per CPU (no lock, no sharing). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_nexthop);
} xlb_nexthops SEC(".maps");

/* Template of a Maglev table: M backend ids (M differs per service). */
struct xlb_table_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	/* mmapable: the controller fills a table with one memcpy, then freezes it */
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

/* [slot * XLB_MAX_SERVICES + service index] -> that service's table. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XLB_SLOTS * XLB_MAX_SERVICES);
	__type(key, __u32);
	__array(values, struct xlb_table_inner);
} xlb_tables SEC(".maps");

/* [slot * XLB_MAX_SERVICES + service index] -> the previous placement (xlb_replaced). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_SLOTS * XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct xlb_replaced);
} xlb_replaced SEC(".maps");

/* [slot * XLB_MAX_SERVICES + service index] -> the previous table of a replaced service. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XLB_SLOTS * XLB_MAX_SERVICES);
	__type(key, __u32);
	__array(values, struct xlb_table_inner);
} xlb_prev_tables SEC(".maps");

/* [slot * XLB_MAX_BACKENDS + backend id] -> backend. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_SLOTS * XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_backend);
} xlb_backends SEC(".maps");

/*
 * Connection table: 5-tuple -> backend.  An LRU hash with per-CPU LRU lists
 * (no lock shared between CPUs on insert); the table itself is shared so a
 * flow whose packets change queue still finds its entry.  Size set at attach.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLB_DEFAULT_FLOWS);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_flow);
} xlb_flows SEC(".maps");

/*
 * New connections of moved slots: [xlb_syn_cell()] -> a set of cells (struct
 * xlb_syn_set), apart from the connection table until the connection's next
 * packet moves it there, so a SYN flood churns only this array and never
 * evicts an established flow.  A SYN costs one cache line read and one cell
 * written, no hash-table insert.  Mmapable: release forgets cells in place.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_SYN_SETS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xlb_syn_set);
} xlb_syn_cells SEC(".maps");

/* [0] -> the flood guard's window, per CPU (struct xlb_flood). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_flood);
} xlb_flood SEC(".maps");

/* [0] -> the node's settings (struct xlb_node_conf). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_node_conf);
} xlb_node_conf SEC(".maps");

/* [0] -> the too-big answers' rate limit, per CPU (struct xlb_icmp_limit). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_icmp_limit);
} xlb_icmp_limit SEC(".maps");

/* [xlb_seen_cell()] -> second a moved slot's previous backend was last needed. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLB_SEEN_CELLS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
} xlb_moved_seen SEC(".maps");

/* [backend id] -> SYNs of moved slots and their retransmissions, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_syn_stat);
} xlb_syn_stats SEC(".maps");

/* [0] -> packets of moved slots, per CPU (struct xlb_moved_stats). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlb_moved_stats);
} xlb_moved_stats SEC(".maps");

/* [reason] -> packets, bytes: every verdict, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_STAT_SLOTS);
	__type(key, __u32);
	__type(value, struct xlb_stat);
} xlb_stats SEC(".maps");

/* [event] -> count, per CPU (enum xlb_event). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} xlb_events SEC(".maps");

/* [backend id] -> counters of packets forwarded to it, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xlb_counters);
} xlb_backend_stats SEC(".maps");

/* [service index] -> counters of packets forwarded for it, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct xlb_counters);
} xlb_service_stats SEC(".maps");

#endif /* XLB_MAPS_H */
