/* fleet-sim's halves: the nodes and the applier (fleet-sim.c), the run (fleet-sim-main.c). */
#ifndef XLB_FLEET_SIM_H
#define XLB_FLEET_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "store.h"

#define NR_SERVICES	4
#define NR_BACKENDS	50
#define RETRY_MS	1000
#define MAX_NODES	20000
#define MAX_APPLIES	200

struct node {
	char name[32];
	struct xlb_store *s;
	__s64 lease, lease_ttl, lease_kept, retry_at, published, acked_ms;
	bool lease_busy, range_busy, watching, created, body_busy, put_busy, dirty;
	__u64 want_gen, body_gen, applied, put_gen, acked_gen;
	char want_fp[17], applied_fp[17];
};

struct sim {
	struct xlb_store_opts base;
	const char *fleet;
	int n, applies, ttl, publish_ms, idle_s, gap_ms, deadline_s;
	bool json, same_order;
	struct node *nodes;
	char dkey[256];
	unsigned long activity;
	/* what the nodes did (their side of the wire) */
	unsigned long grants, keepalives, puts, bodies, events, watch_ends, errors, lost;
	unsigned long long body_bytes, status_bytes, event_bytes;
	size_t expect_body;		/* the body of the last apply, bytes */
	unsigned long short_bodies;	/* bodies read that were not that long */
};
extern struct sim S;

struct apply_res {
	int err;
	__s64 t0, t1;			/* write_desired's start and return, ms (monotonic) */
	__u64 gen;
	size_t body_len;
	char msg[256];
};

__s64 now_ms(void);
/* Run the nodes until every one has published gen (gen 0: for ms); the nodes still behind. */
int run(__u64 gen, __s64 ms);
int behind(__u64 gen);
/* The applier: a child forked before the nodes start; apply() writes the next generation. */
int start_applier(void);
int apply(struct apply_res *r);
void stop_applier(void);

#endif
