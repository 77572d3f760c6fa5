/* bench-prog's parts: the harness and its timing, the rows, the flood scenario. */
#ifndef XLB_BENCH_PROG_H
#define XLB_BENCH_PROG_H

#include <stdbool.h>
#include <linux/types.h>
#include "baseline.skel.h"
#include "pktbuild.h"

#define BP_MAX_CPUS	2	/* the bench runs on one CPU and on two at once */
#define BP_VARY_NEW	0xffffffffu	/* vary_mod: every iteration a new flow */

extern struct baseline_bpf *bp_base;
extern int bp_repeat, bp_rounds;

/* What one timed run does to the harness: the packet, the program, the flows. */
struct bp_load {
	const struct pb *pkt;
	int target_fd;		/* the program the harness tail-calls */
	__s32 head_delta;	/* bytes the target pushes in front */
	__u32 vary_mod;		/* distinct flows (0: one; BP_VARY_NEW: each new) */
	int repeat;		/* iterations per round and CPU */
	void (*before_round)(void);	/* e.g. empty a table; NULL: nothing */
	bool warm;		/* an untimed round first (flows known) */
};

/*
 * ns per packet (x1000) of the load through the harness on ncpu CPUs at once
 * (threads pinned to CPU 0..ncpu-1): mean of the CPUs, trimmed mean of the
 * rounds; *verdict: the last run's.  0, or -errno.
 */
int bp_time(const struct bp_load *l, int ncpu, __u64 *ns_x1000, __u32 *verdict);
/* A program timed directly (no harness): the MAC-swap baseline. */
int bp_time_direct(int prog_fd, const struct pb *pkt, __u64 *ns_x1000);
/* Arm the harness with a packet and its target on every CPU (runs = 0). */
int bp_arm(const struct bp_load *l, __u32 vary_base);
/* CPUs the machine has online (the two-CPU runs need 2). */
int bp_online_cpus(void);

/* The balancer's counters that tell which path packets took. */
struct bp_counters {
	__u64 fwd;		/* xlb_stats TX + REDIRECT */
	__u64 pass_not_vip;
	__u64 flow_new, flow_hit;	/* xlb_events */
	__u64 syns;		/* xlb_syn_stats .syns, every backend */
	__u64 limited;		/* xlb_flood .limited */
	__u64 moved;		/* xlb_moved_stats .packets */
};
int bp_counters(struct bp_counters *c);
/* SYNs of moved slots remembered (cells of xlb_syn_cells in use). */
__u32 bp_syn_entries(void);
/* Entries of an LRU map (xlb_flows). */
__u32 bp_entries(int map_fd);
/* Empty an LRU map: 0 or -errno. */
int bp_clear(int map_fd);

/* The rows: the balancer's cases with the path each must take. */
enum bp_path {
	BP_STATELESS,		/* forwarded by the table alone: no connection-table work */
	BP_PASS,		/* passed: not a VIP */
	BP_MOVED_HIT,		/* moved slot, connection-table hit */
	BP_MOVED_NEW,		/* moved slot, a new entry each packet (xlb_syns) */
	BP_MOVED_MIX,		/* moved slot, hits and new entries */
	BP_GUARD_REFUSED,	/* moved slot, the flood guard refuses each entry */
};

struct bp_result {
	const char *name;
	const char *verdict;
	double ns[BP_MAX_CPUS];	/* ns per packet on 1 and 2 CPUs (0: not run) */
	bool skipped;		/* the data path has no such mode */
	bool failed;		/* wrong output, or counters of another path */
	const char *note;
};

/* Configure the extra services (big table, modes) next to xt_write_config's. */
int bp_rows_setup(void);
/* Run every row: results in r[], *n of them; bad: rows whose path check failed. */
int bp_rows_run(struct bp_result *r, int *n, int *bad, __u64 overhead[BP_MAX_CPUS], int ncpu);

/* -F: the flood survival scenario. */
int bp_flood_survival(int xlb, bool guard, __u32 established, __u32 factor,
		      bool json);

#endif
