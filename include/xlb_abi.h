/* xlb ABI: map keys and values, limits, stat reasons shared by bpf/ and user/. */
#ifndef XLB_ABI_H
#define XLB_ABI_H

#include <linux/types.h>

/*
 * Configuration slots.  Everything the packet path reads to make a decision
 * (services, VIPs, Maglev tables, backends, per-slot settings) exists twice,
 * once per slot.  The controller fills the inactive slot completely, then
 * writes the slot number into xlb_active[0]: one 4-byte map write switches
 * the whole configuration.  A packet reads xlb_active once, so it sees the
 * complete old or the complete new configuration, never a mix.
 */
/*
 * xlb_version[0]: the layout of the pinned state (maps and what their values
 * mean), written at attach.  An attach adopts state of its own version or of
 * one it can migrate from, and refuses a newer one.  1: state pinned before
 * this map existed (read as 1); 2: xlb_service.hash_seed, xlb_slot_conf.flow_rate,
 * xlb_flood, flows placed by (hash * M) >> 32; 3: table entries carry the
 * previous backend of a moved slot (XLB_TABLE_PREV), xlb_service.hold_until,
 * xlb_moved_seen, xlb_moved_stats: flows in unmoved slots keep no state;
 * 4: xlb_stats has XLB_STAT_SLOTS entries (XLB_REPLY_TOO_BIG), xlb_node_conf,
 * xlb_icmp_limit; 5: xlb_service_cells; SYNs of moved slots in the array xlb_syn_cells (the
 * hash map xlb_syns goes: its pin is removed once the new program runs, its
 * unanswered SYNs then take the previous backend with its second chance).
 * Attaching over 1 or 2 marks every slot where a remembered
 * flow holds a backend other than the table's as moved, so no established
 * flow moves; attaching over 1 to 3 carries the counters into the larger
 * xlb_stats.
 */
#define XLB_STATE_VERSION	5	/* 5: SYNs of moved slots in xlb_syn_cells, not xlb_syns */
#define XLB_STATE_VERSION_MIN	1	/* the oldest this build adopts */

#define XLB_SLOTS		2

/* Limits of the maps (per slot where the map is double-buffered). */
#define XLB_MAX_SERVICES	256	/* services per slot */
#define XLB_MAX_VIPS		256	/* distinct VIP addresses per slot */
#define XLB_MAX_BACKENDS	4096	/* backend ids; id 0 is never used */
#define XLB_MAX_TABLE_SIZE	1048573	/* largest Maglev table (prime) */
#define XLB_DEFAULT_TABLE_SIZE	65537
#define XLB_DEFAULT_FLOWS	1048576	/* connection-table entries */
#define XLB_SYN_SETS		16384	/* xlb_syn_cells: sets of XLB_SYN_WAYS (power of 2) */
#define XLB_SYN_WAYS		4
#define XLB_MAX_IPV6_EXT	6	/* IPv6 extension headers walked */

/* Backend id 0 means "no backend" in tables and in the connection table. */
#define XLB_BACKEND_NONE	0

/*
 * Seed of the flow hash when no hash key is configured: published, so that
 * every xlb node computes the same hash for a flow and, with the same table,
 * picks the same backend (ECMP).  A configured key replaces it (per service,
 * xlb_service.hash_seed), the same on every node that holds the same key.
 */
#define XLB_HASH_SEED		0x786c6231u	/* "xlb1" */

/* Address family tags used in keys and values (not AF_*: stable ABI). */
enum xlb_family {
	XLB_FAMILY_NONE	= 0,
	XLB_FAMILY_V4	= 4,
	XLB_FAMILY_V6	= 6,
};

/* Backend state in a slot's backend set. */
enum xlb_backend_state {
	XLB_BACKEND_ACTIVE = 0,	/* in the table, keeps its flows */
	XLB_BACKEND_DRAIN  = 1,	/* not in the table, keeps its flows */
	XLB_BACKEND_DOWN   = 2,	/* not in the table, its flows re-hash */
};

/*
 * How a service's packets reach its backends (config "forward"; struct
 * xlb_backend.fwd).  Inner and outer family are the same in every mode.
 */
enum xlb_fwd {
	XLB_FWD_IPIP = 0,	/* IP-in-IP (IPv4 in IPv4, IPv6 in IPv6): the default */
	XLB_FWD_GUE  = 1,	/* GUE variant 1: outer IP, UDP to gue_port from a
				   source port taken from the flow hash
				   (XLB_GUE_SPORT_MIN..65535, checksum 0), then
				   the client's IP packet; second chance: the
				   IP-in-IP header to the alternative inside */
	XLB_FWD_L2   = 2,	/* L2 direct return ("direct routing"): the frame
				   unchanged but its MACs, to the backend's MAC on
				   the segment (VLAN tag kept); no second chance */
};
#define XLB_FWD_MAX		XLB_FWD_L2
#define XLB_GUE_PORT_DEFAULT	6080	/* IANA "gue" */
#define XLB_GUE_SPORT_MIN	49152	/* outer source ports 49152..65535 */

/*
 * What a service's flow hash takes (config "hash"; struct xlb_service and
 * xlb_replaced .hash_fields).  Protocol and family always count.
 */
enum xlb_hash_fields {
	XLB_HASH_5TUPLE	   = 0,	/* addresses and ports: the default */
	XLB_HASH_SRC	   = 1,	/* source address only: a client's flows, and a
				   UDP protocol whose ports change, stay together */
	XLB_HASH_SRC_DPORT = 2,	/* source address and destination port */
};
#define XLB_HASH_FIELDS_MAX	XLB_HASH_SRC_DPORT

/*
 * An IP address: IPv4 in addr[0] with addr[1..3] zero, IPv6 in all four.
 * Network byte order.
 */
union xlb_addr {
	__be32 v4;
	__be32 v6[4];
};

/* xlb_active[0]: the slot the packet path uses (0 or 1). */

/* xlb_slot_conf[slot]: settings that switch together with the tables. */
struct xlb_slot_conf {
	__u64 generation;	/* configuration generation of this slot */
	union xlb_addr src4;	/* outer source of IPv4-in-IPv4 (v4 part) */
	union xlb_addr src6;	/* outer source of IPv6-in-IPv6 */
	__u32 flags;		/* XLB_SLOT_F_* */
	__u32 flow_rate;	/* flood guard: connection-table entries a CPU makes
				   per second at most; 0 = XLB_FLOW_RATE_DEFAULT (and
				   state of an older version: this was padding),
				   XLB_FLOW_RATE_UNLIMITED = no guard */
};
_Static_assert(sizeof(struct xlb_slot_conf) == 48, "xlb_slot_conf ABI");
#define XLB_FLOW_RATE_DEFAULT	125000u
#define XLB_FLOW_RATE_UNLIMITED	0xffffffffu

/*
 * xlb_flood[0] (per-CPU): the flood guard.  A CPU makes at most flow_rate
 * connection-table entries per window of a second; past that a new flow is
 * still forwarded by the table but not remembered, so a SYN flood cannot
 * evict the entries of established flows faster than that.  The clock is
 * read only when the count is reached.
 */
struct xlb_flood {
	__u64 window_ns;	/* bpf_ktime_get_coarse_ns() when the window began */
	__u64 limited;		/* new flows forwarded, not remembered (guard) */
	__u32 inserts;		/* entries made in the window */
	__u32 pad;
};
_Static_assert(sizeof(struct xlb_flood) == 24, "xlb_flood ABI");

/*
 * xlb_node_conf[0]: settings of the node that do not switch with a
 * configuration (set by attach).
 */
struct xlb_node_conf {
	__u32 icmp_rate;	/* too-big answers (ICMP fragmentation needed, ICMPv6
				   packet too big) a CPU sends per second at most;
				   0 = XLB_ICMP_RATE_DEFAULT, XLB_ICMP_RATE_OFF = none */
	__u32 pad;
};
_Static_assert(sizeof(struct xlb_node_conf) == 8, "xlb_node_conf ABI");
#define XLB_ICMP_RATE_DEFAULT	1000u
#define XLB_ICMP_RATE_OFF	0xffffffffu

/* xlb_icmp_limit[0] (per-CPU): the too-big answers' rate limit. */
struct xlb_icmp_limit {
	__u64 window_ns;	/* bpf_ktime_get_coarse_ns() when the second began */
	__u64 limited;		/* answers not sent: the rate was reached (dropped, too_big) */
	__u32 sent;		/* answers sent in the window */
	__u32 pad;
};
_Static_assert(sizeof(struct xlb_icmp_limit) == 24, "xlb_icmp_limit ABI");

#define XLB_SLOT_F_CONFIGURED	(1u << 0)	/* slot holds a configuration */
/* Resolve the next hop with bpf_fib_lookup for every packet (no cache). */
#define XLB_SLOT_F_FIB_EVERY_PACKET (1u << 1)
/*
 * Second chance ("second_chance": true): a TCP packet without state in a
 * moved slot goes to the previous backend inside a second tunnel to the
 * current one; the previous backend's decap delivers it when it has the
 * connection (a socket), else forwards it to the current backend.  A
 * connection opened after a change on another node then survives its move.
 */
#define XLB_SLOT_F_SECOND_CHANCE (1u << 2)

/*
 * xlb_vip_filter[slot * XLB_VIP_FILTER_WORDS + word]: a bitmap with one bit
 * set per VIP (bit xlb_vip_filter_hash(addr) of the slot's words).  A clear
 * bit proves "not a VIP" with one array read, so the node's own traffic is
 * passed without hash-map lookups.  A set bit is confirmed in xlb_vips.
 */
#define XLB_VIP_FILTER_WORDS	1024	/* 65536 bits per slot */

/*
 * xlb_nexthops[backend id] (per-CPU): the next hop of a backend as
 * bpf_fib_lookup last gave it, reused for XLB_NEXTHOP_TTL_NS (checked every
 * XLB_NEXTHOP_CLOCK_EVERY uses: a stale entry outlives its TTL by at most
 * that many packets per CPU).  Keyed by the
 * backend's (id, gen), whose address never changes.
 */
#define XLB_NEXTHOP_TTL_NS	1000000000ull
struct xlb_nexthop {
	__u64 expires_ns;	/* bpf_ktime_get_coarse_ns() deadline; 0 = empty */
	__u32 gen;		/* backend gen the entry was resolved for */
	__u32 ifindex;		/* egress device */
	__u32 mtu;		/* route MTU towards the backend */
	__u8 dmac[6];		/* next hop's MAC */
	__u8 smac[6];		/* egress device's MAC */
	__u32 uses;		/* packets since resolved: the clock is read every 64th */
	__u32 flags;		/* XLB_NEXTHOP_F_* (older states: padding, 0) */
};
#define XLB_NEXTHOP_F_DIRECT	1u	/* the backend is the next hop itself (no gateway):
					   what L2 direct return needs */
_Static_assert(sizeof(struct xlb_nexthop) == 40, "xlb_nexthop ABI");

/* The next-hop cache reads the clock once per this many uses (power of 2). */
#define XLB_NEXTHOP_CLOCK_EVERY	64

/* xlb_services key: (VIP, port, protocol) in one slot.  port 0 = all ports. */
struct xlb_service_key {
	union xlb_addr vip;	/* network order */
	__be16 port;		/* network order; 0 matches every port */
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;		/* enum xlb_family */
	__u8 slot;		/* 0 or 1 */
	__u8 pad[3];
};
_Static_assert(sizeof(struct xlb_service_key) == 24, "xlb_service_key ABI");

/* xlb_services value. */
struct xlb_service {
	__u16 index;		/* stable service index: stats, table slot */
	__u8 hash_fields;	/* enum xlb_hash_fields: what the flow hash takes
				   (0 = the 5-tuple; older states: padding) */
	__u8 pad;
	__u32 table_size;	/* M, entries of the service's Maglev table */
	__u32 hold_until;	/* CLOCK_MONOTONIC second until which a UDP flow
				   without state in a moved slot is taken as older
				   than the change (previous backend); 0 = none */
	__u32 hash_seed;	/* flow hash seed from the deployment's hash key;
				   0 = XLB_HASH_SEED (no key, or state of an older
				   version: the same field was padding) */
};
_Static_assert(sizeof(struct xlb_service) == 16, "xlb_service ABI");

/*
 * xlb_service_cells[xlb_service_cell(key)]: a direct-mapped copy of a slot's
 * xlb_services, written beside it by the controller, so that the packet path
 * finds a service with one array read and a 24-byte compare.  An empty cell
 * (key.family 0), or one two services share (key.pad[0] =
 * XLB_SVC_CELL_SHARED, which no packet's key has), sends the packet to
 * xlb_services itself.  The controller marks a slot's other cells
 * (key.pad[1] = XLB_SVC_CELL_NONE) when it fills the slot: a key whose cell
 * holds another service, or is so marked, has no service there, and the
 * all-ports (port 0) service is looked for the same way.  A cell of zeros
 * (state adopted from a version before the map) proves nothing.
 */
#define XLB_SVC_CELL_BITS	10
#define XLB_SVC_CELLS		(1u << XLB_SVC_CELL_BITS)	/* per slot */
#define XLB_SVC_CELL_SHARED	1
#define XLB_SVC_CELL_NONE	1
struct xlb_service_cell {
	struct xlb_service_key key;
	struct xlb_service svc;
};
_Static_assert(sizeof(struct xlb_service_cell) == 40, "xlb_service_cell ABI");

/* xlb_vips key: every VIP address of a slot (classifies passes and drops). */
struct xlb_vip_key {
	union xlb_addr vip;
	__u8 family;
	__u8 slot;
	__u8 pad[2];
};
_Static_assert(sizeof(struct xlb_vip_key) == 20, "xlb_vip_key ABI");

/*
 * xlb_tables: array of maps, index slot * XLB_MAX_SERVICES + service index.
 * Each inner map is an array of M __u32 entries (Maglev lookup table): the
 * current backend id in the low 16 bits and, in a slot that a change moved,
 * the backend it had before in the high 16 bits (0: the slot is not moved).
 *
 * A flow in an unmoved slot is forwarded from the table alone, with no
 * connection-table work: every node with the same table sends it to the same
 * backend, whenever it started.  In a moved slot a connection-table entry
 * that holds decides; without one a TCP SYN goes to the current backend and
 * is remembered, any other packet belongs to a flow older than the change
 * and goes to the previous backend (UDP: until xlb_service.hold_until) and
 * is remembered.  prev == cur marks a slot moved where a flow without state
 * goes to the current backend (a change undone).  The controller clears
 * prev once no flow has needed it for the service's flow_idle_timeout
 * (xlb_moved_seen), so the state shrinks back to none after every change.
 */
#define XLB_TABLE_CUR(v)		((v) & 0xffffu)
#define XLB_TABLE_PREV(v)		((v) >> 16)
#define XLB_TABLE_ENTRY(cur, prev)	((__u32)(cur) | ((__u32)(prev) << 16))

/*
 * xlb_moved_seen[xlb_seen_cell(service index, slot of the table)]: the
 * CLOCK_MONOTONIC second a packet of a moved slot last went to a backend
 * other than the slot's current one (written at most once a second per
 * cell).  Services share cells: a shared cell only keeps a slot moved longer.
 */
#define XLB_SEEN_CELLS		(1u << 20)
#define XLB_FLOW_IDLE_TIMEOUT	600	/* seconds: the default flow_idle_timeout */

/*
 * xlb_replaced[slot * XLB_MAX_SERVICES + service index]: a change that places
 * every flow anew (table_size or hash key changed) keeps the service's
 * previous placement here and its previous table in xlb_prev_tables (same
 * index, backend ids that are still usable, others 0).  A flow whose previous
 * placement names another backend than the new table takes the moved-slot
 * path with that backend as its previous one; the others keep no state.
 * table_size 0: no such change is held.  Released like a moved slot.
 */
struct xlb_replaced {
	__u32 table_size : 24;	/* M of the previous table; 0 = none */
	__u32 hash_fields : 8;	/* its enum xlb_hash_fields (older states: 0) */
	__u32 hash_seed;	/* its flow hash seed (0 = XLB_HASH_SEED) */
};
_Static_assert(sizeof(struct xlb_replaced) == 8, "xlb_replaced ABI");

/*
 * xlb_syn_stats[backend id] (per-CPU): the SYNs of moved slots that went to a
 * backend, and those that found their own entry still there — the client
 * sent it again, so its answer never came.  A backend that passes its health
 * check but loses its connections shows here (a rollout's signal).
 */
struct xlb_syn_stat {
	__u64 syns;		/* SYNs of new connections remembered */
	__u64 retries;		/* SYNs retransmitted (same tuple, entry unanswered) */
};
_Static_assert(sizeof(struct xlb_syn_stat) == 16, "xlb_syn_stat ABI");

/* xlb_moved_stats[0] (per-CPU): the packets of moved slots. */
struct xlb_moved_stats {
	__u64 packets;		/* packets in moved slots (connection table consulted) */
	__u64 kept;		/* flows without state sent to their previous backend */
};
_Static_assert(sizeof(struct xlb_moved_stats) == 16, "xlb_moved_stats ABI");

/* xlb_backends[slot * XLB_MAX_BACKENDS + id]: a slot's backend set. */
struct xlb_backend {
	union xlb_addr addr;	/* tunnel destination, network order */
	__u8 family;		/* enum xlb_family; NONE = id not in this slot */
	__u8 state;		/* enum xlb_backend_state */
	__u8 fwd;		/* enum xlb_fwd: how packets reach it (its service's;
				   older states: padding, so IP-in-IP) */
	__u8 pad;
	__u32 gen;		/* incarnation of the id, never 0 when present */
	__u32 service;		/* index of the service the backend belongs to */
	__be16 gue_port;	/* XLB_FWD_GUE: outer UDP destination port */
	__u16 pad2;
};
_Static_assert(sizeof(struct xlb_backend) == 32, "xlb_backend ABI");

/* xlb_flows key: the 5-tuple as the client sent it (LRU, per-CPU lists). */
struct xlb_flow_key {
	union xlb_addr src;
	union xlb_addr dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};
_Static_assert(sizeof(struct xlb_flow_key) == 40, "xlb_flow_key ABI");

/*
 * xlb_flows value.  A hit holds only while the backend id is present in the
 * active slot with the same gen and is not down: a removed backend's id
 * that is later given to another backend never inherits its flows.
 */
struct xlb_flow {
	__u32 backend;		/* backend id; high 16 bits: the second chance's
				   backend id (0: none), see XLB_SLOT_F_SECOND_CHANCE */
	__u32 gen;		/* backend gen when the flow was pinned */
};
#define XLB_FLOW_ID(b)		((b) & 0xffffu)
#define XLB_FLOW_ALT(b)		((b) >> 16)
#define XLB_FLOW_BACKEND(id, alt) ((__u32)(id) | ((__u32)(alt) << 16))
_Static_assert(sizeof(struct xlb_flow) == 8, "xlb_flow ABI");

/*
 * xlb_syn_cells: the SYNs of moved slots, a set-associative array.  A SYN's
 * 5-tuple picks a set and a tag (xlb_syn_cell() in bpf/hash.h); its cell in
 * the set is the one with its tag, else an empty one, else way (tag % WAYS).
 * A set is one 64-byte cache line: a SYN reads it and writes one cell.
 * entry: bits 63..32 the tuple's tag (never 0; 0 = empty cell), 31..16 the
 * backend's gen (low 16 bits), 15..0 the backend id.  service and bucket say
 * which moved slot the SYN was in, so releasing that slot forgets it.
 */
struct xlb_syn_cell {
	__u64 entry;
	__u32 service;		/* service index */
	__u32 bucket;		/* table slot of the service's table */
};
_Static_assert(sizeof(struct xlb_syn_cell) == 16, "xlb_syn_cell ABI");

struct xlb_syn_set {
	struct xlb_syn_cell way[XLB_SYN_WAYS];
};
_Static_assert(sizeof(struct xlb_syn_set) == 64, "xlb_syn_set ABI");

#define XLB_SYN_ENTRY(tag, id, gen) (((__u64)(tag) << 32) | (((__u64)(gen) & 0xffff) << 16) | \
				     ((id) & 0xffff))
#define XLB_SYN_TAG(e)		((__u32)((e) >> 32))
#define XLB_SYN_GEN(e)		((__u32)((e) >> 16) & 0xffff)
#define XLB_SYN_ID(e)		((__u32)(e) & 0xffff)

/* Per-backend and per-service counters (per-CPU arrays). */
struct xlb_counters {
	__u64 packets;
	__u64 bytes;		/* bytes of the frames as received */
	__u64 new_flows;	/* new connections: entries created, TCP SYNs on known tuples */
	__u64 rehashed;		/* flows moved here from a gone/down backend */
};
_Static_assert(sizeof(struct xlb_counters) == 32, "xlb_counters ABI");

/* Global counters, per reason (per-CPU array xlb_stats). */
struct xlb_stat {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct xlb_stat) == 16, "xlb_stat ABI");

/*
 * Every verdict of the balancer is counted under exactly one of these.
 * Keep xlb_stat_names (user/stats_names.c) in the same order.
 */
enum xlb_stat_reason {
	/* forwarded to a backend */
	XLB_STAT_TX = 0,		/* encapsulated, XDP_TX */
	XLB_STAT_REDIRECT,		/* encapsulated, redirected */
	/* passed to the kernel, untouched unless noted */
	XLB_PASS_NOT_IP,		/* ARP, LLDP, ... */
	XLB_PASS_VLAN_STACKED,		/* more than one VLAN tag */
	XLB_PASS_NOT_VIP,		/* destination is not a VIP */
	XLB_PASS_NO_SERVICE,		/* VIP, but no service for port/proto */
	XLB_PASS_IPIP_TO_VIP,		/* IP-in-IP to a VIP: never re-encapsulated */
	XLB_PASS_ICMP_TO_VIP,		/* ICMP to a VIP other than PTB (echo...) */
	XLB_PASS_IPV6_EXT_LIMIT,	/* more extension headers than walked, not a VIP */
	XLB_PASS_NO_NEIGH,		/* encapsulated, next hop unresolved: kernel forwards */
	/* dropped */
	XLB_DROP_MALFORMED_L2,		/* truncated Ethernet/VLAN header */
	XLB_DROP_MALFORMED_L3,		/* bad IP header, length or ext chain */
	XLB_DROP_MALFORMED_L4,		/* bad TCP/UDP header to a VIP */
	XLB_DROP_MALFORMED_ICMP,	/* truncated ICMP error to a VIP */
	XLB_DROP_FRAGMENT,		/* IP fragment to a VIP */
	XLB_DROP_IPV6_EXT_LIMIT,	/* ext chain longer than walked, to a VIP */
	XLB_DROP_NO_BACKEND,		/* service has no usable backend */
	XLB_DROP_TOO_BIG,		/* would exceed the MTU once encapsulated */
	XLB_DROP_FIB,			/* no route to the backend */
	XLB_DROP_FAMILY,		/* backend family differs from the packet's */
	XLB_DROP_NO_SOURCE,		/* no outer source address configured */
	XLB_DROP_ENCAP,			/* head/tail adjustment failed */
	XLB_DROP_INTERNAL,		/* a map that must exist did not answer */
	/* answered (XDP_TX back to the sender); appended: indices above are kept */
	XLB_REPLY_TOO_BIG,		/* too big once encapsulated: ICMP frag needed / PTB sent */
	XLB_DROP_COALESCED,		/* longer than the interface's MTU: segments coalesced
					   (GRO/LRO) before XDP, partial checksum, no wire frame */
	XLB_DROP_NO_NEIGH_L2,		/* L2 direct return, the backend's neighbour
					   unresolved: nothing to hand the kernel */
	XLB_DROP_L2_GATEWAY,		/* L2 direct return, the route to the backend goes
					   through a gateway: the frame (still to the VIP)
					   would go there and could come back */
	XLB_STAT_MAX,
};
/* xlb_stats entries: room for reasons to come without resizing a pinned map. */
#define XLB_STAT_SLOTS		64
_Static_assert(XLB_STAT_MAX <= XLB_STAT_SLOTS, "xlb_stats has room for every reason");

/* Events that are not verdicts, counted in xlb_events (per-CPU array). */
enum xlb_event {
	XLB_EV_FLOW_NEW = 0,	/* connection-table entry created */
	XLB_EV_FLOW_HIT,	/* connection-table hit that held */
	XLB_EV_FLOW_REHASH,	/* hit whose backend is gone or down: re-hashed */
	XLB_EV_RST_NO_FLOW,	/* TCP RST for an unknown flow: not recorded */
	XLB_EV_ICMP_PTB,	/* ICMP too-big routed to its flow's backend */
	XLB_EV_MAX,
};

/* Decap program (bpf/decap.bpf.c) counters: decap_stats[reason]. */
enum xlb_decap_reason {
	XLB_DECAP_V4 = 0,	/* IPv4-in-IPv4 stripped */
	XLB_DECAP_V6,		/* IPv6-in-IPv6 stripped */
	XLB_DECAP_PASS,		/* not IP-in-IP or GUE to this host: untouched */
	XLB_DECAP_MALFORMED,	/* IP-in-IP or GUE to this host, inner header bad: dropped */
	XLB_DECAP_UNTRUSTED,	/* IP-in-IP or GUE to this host from a source not allowed: dropped */
	XLB_DECAP_CHANCE_LOCAL,	/* second chance: this host has the connection: delivered */
	XLB_DECAP_CHANCE_FORWARD, /* second chance: not this host's: sent to the other backend */
	XLB_DECAP_CHANCE_NO_ROUTE, /* second chance: no route or neighbour entry to it: dropped */
	XLB_DECAP_CHANCE_NOT_PEER, /* second chance: not this host's, and its destination is
				      not a peer (decap_peer4/6, --peer): dropped, never relayed */
	XLB_DECAP_GUE_V4,	/* GUE (IPv4, UDP to a decap_gue_ports port) stripped; a
				   second chance in GUE counts as the CHANCE_* ones */
	XLB_DECAP_GUE_V6,	/* GUE over IPv6 stripped */
	XLB_DECAP_MAX,
};

/*
 * decap_gue_ports (hash): the UDP destination ports GUE is taken on.  Key:
 * __be16 port; value: __u32 1.  Empty: no GUE (xlb decap attach --gue-port
 * off); xlb decap attach puts XLB_GUE_PORT_DEFAULT unless told otherwise.
 */
#define XLB_DECAP_GUE_PORTS_MAX	16

/* decap_addrs key: an outer destination this host accepts tunnels for. */
struct xlb_decap_key {
	union xlb_addr addr;
	__u8 family;
	__u8 pad[3];
};
_Static_assert(sizeof(struct xlb_decap_key) == 20, "xlb_decap_key ABI");

/*
 * decap_from4 / decap_from6 keys (LPM tries): outer source prefixes that may
 * tunnel to this host — the balancers.  Value: __u32 1.  The same keys in
 * decap_peer4 / decap_peer6: the destinations a second chance may be sent
 * on to — the other backends (--peer); empty: none.
 */
struct xlb_decap_from4 {
	__u32 prefixlen;	/* 0..32, host order (LPM trie rule) */
	__be32 addr;
};
_Static_assert(sizeof(struct xlb_decap_from4) == 8, "xlb_decap_from4 ABI");

struct xlb_decap_from6 {
	__u32 prefixlen;	/* 0..128 */
	__u8 addr[16];
};
_Static_assert(sizeof(struct xlb_decap_from6) == 20, "xlb_decap_from6 ABI");

/*
 * The health checks' tc program (bpf/hc.bpf.c, issue 25): a packet on the
 * veth xlbhcIFINDEX whose mark & XLB_HC_MARK_MASK == XLB_HC_MARK is wrapped
 * for the backend that hc_targets[mark & 0xffff] names.
 */
#define XLB_HC_MARK		0x584c0000u	/* "XL": the high half of every mark */
#define XLB_HC_MARK_MASK	0xffff0000u
#define XLB_HC_SLOTS		65536u		/* marks in flight at once */

/* hc_targets[mark & 0xffff]: the backend a check's packets go to. */
struct xlb_hc_target {
	union xlb_addr backend;	/* outer destination, network order */
	__u8 family;		/* XLB_FAMILY_V4/V6; 0: slot free (packets dropped) */
	__u8 fwd;		/* enum xlb_fwd of the checked service */
	__be16 gue_port;	/* XLB_FWD_GUE: outer UDP destination port */
};
_Static_assert(sizeof(struct xlb_hc_target) == 20, "xlb_hc_target ABI");

/* hc_conf[0]: the tunnel sources and where routes are looked up from. */
struct xlb_hc_conf {
	union xlb_addr src4;	/* outer source of IPv4 checks (all zero: none) */
	union xlb_addr src6;	/* outer source of IPv6 checks */
	__u32 fib_ifindex;	/* the XDP interface: bpf_fib_lookup's ingress (as the
				   XDP program's lookup; it must forward) */
	__u32 pad;
};
_Static_assert(sizeof(struct xlb_hc_conf) == 40, "xlb_hc_conf ABI");

/* hc_stats[reason]: packets, per CPU. */
enum xlb_hc_reason {
	XLB_HC_SENT = 0,	/* wrapped and redirected towards the backend */
	XLB_HC_UNKNOWN_MARK,	/* marked, but no target in that slot: dropped */
	XLB_HC_NO_ROOM,		/* the head could not grow, or a store failed: dropped */
	XLB_HC_NO_ROUTE,	/* no route (or forwarding off) to the backend: dropped */
	XLB_HC_MALFORMED,	/* not IP, or not the target's family: dropped */
	XLB_HC_UNMARKED,	/* not a check's mark: dropped (nothing else routes here) */
	XLB_HC_L2_GATEWAY,	/* an L2 service's backend reached through a gateway:
				   dropped, as the balancer drops its packets */
	XLB_HC_MAX,
};

#endif /* XLB_ABI_H */
