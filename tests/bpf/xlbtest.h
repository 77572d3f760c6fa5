/* Shared fixture of the balancer's BPF tests: the object, the lab config, runs. */
#ifndef XLB_XLBTEST_H
#define XLB_XLBTEST_H

#include <stdbool.h>
#include "xlb.skel.h"
#include "dataplane.h"
#include "pktbuild.h"

#define VIP4		"192.0.2.10"
#define VIP6		"2001:db8:a::10"
#define VIP_NONEIGH	"192.0.2.20"
#define VIP_NOROUTE	"192.0.2.21"
#define VIP_EMPTY	"192.0.2.22"
#define CLIENT4		"203.0.113.7"
#define CLIENT6		"2001:db8:c::7"
#define OTHER4		"198.51.100.254"	/* the node's own address */

#define TABLE_M		13

enum { SVC_WEB4, SVC_DNS4, SVC_ANY6, SVC_DNS6, SVC_NONEIGH, SVC_NOROUTE, SVC_EMPTY };

struct tbackend {
	__u32 id;
	const char *addr;
	int family;		/* 4 or 6 */
	int mac;		/* neighbour index 1..4, 0 = none */
	__u8 state;
};

extern struct xlb_bpf *xt_skel;
extern struct xlb_dp xt_dp;
extern const struct tbackend xt_backends[];
/* Connection-table size xt_setup loads with (tests: small; bench: production). */
extern __u32 xt_flows;

/* Load the object in a private netns and write the lab config in slot 0. */
int xt_setup(const char **why);
void xt_teardown(void);
/* The configuration of the BPF tests, written into a slot. */
int xt_write_config(__u32 slot, __u32 web4_only_backend);
const struct tbackend *xt_backend(__u32 id);

/* Run the balancer once on in; returns the verdict or -errno. */
int xt_run(const struct pb *in, const char *ifname, __u8 *out, __u32 *out_len);
/* Flow key of a packet as the balancer computes it (host-side parser). */
void xt_flow_key(const struct pb *in, struct xlb_flow_key *key);
/* The flow hash of a packet in service svc (slot 0: its hash fields and seed). */
__u32 xt_hash(const struct pb *in, int svc);
/* The backend svc's table in slot 0 gives a flow. */
__u32 xt_table_pick(const struct pb *in, int svc);
/* Set svc's hash fields (enum xlb_hash_fields) in slot 0. */
void xt_set_hash_fields(int svc, __u8 fields);
/* Encapsulation a backend id's packet is expected to get. */
/* The table slot of a packet's flow in every service of the fixture. */
__u32 xt_bucket(const struct pb *in);
/*
 * Mark the slot of a packet's flow moved in a config slot's table of svc, with prev
 * as its previous backend (its current stays), and the service's hold_until;
 * xt_moved_dirty tells the runner to write the configuration again after.
 */
void xt_mark_moved(__u32 slot, const struct pb *in, int svc, __u32 prev, __u32 hold_until);
extern bool xt_moved_dirty;
__u32 xt_now_sec(void);
void xt_expect(struct pb *out, const struct pb *in, __u32 id);

#endif
