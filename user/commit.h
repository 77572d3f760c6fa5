/*
 * The one path of every change: validate -> build tables -> plan -> guards ->
 * commit -> record.  struct xlb_ctl holds an interface's controller state
 * under its exclusive lock: the maps, the live generation, the running
 * configuration and its backend id assignment.
 */
#ifndef XLB_COMMIT_H
#define XLB_COMMIT_H

#include <net/if.h>
#include <jansson.h>
#include "config.h"
#include "dataplane.h"
#include "plan.h"

struct xlb_assigned {
	char service[XLB_NAME_MAX];
	union xlb_addr addr;
	__u8 family;
	__u32 id, gen;
};

/* Stable numbers for a configuration: service indices, backend (id, gen). */
struct xlb_assign {
	char svc_name[XLB_MAX_SERVICES][XLB_NAME_MAX];
	__u32 svc_index[XLB_MAX_SERVICES];
	__u32 nr_svc;
	struct xlb_assigned *be;
	__u32 nr_be;
	__u32 next_gen;
};

struct xlb_ctl {
	char ifname[IF_NAMESIZE];
	char hist[512];			/* history directory */
	int lock_fd;			/* -1 when opened read-only */
	struct xlb_dp dp;
	__u32 live_slot;
	__u64 live_gen;
	__u64 last_gen;			/* highest generation with a record */
	struct xlb_config running;	/* configuration of the live generation */
	struct xlb_assign assign;	/* its assignment */
};

/* Open (and lock, unless readonly) an attached interface's state. */
int xlb_ctl_open(const char *ifname, const char *state_root, bool readonly, struct xlb_ctl *c);
void xlb_ctl_close(struct xlb_ctl *c);

struct xlb_apply_opts {
	bool force;
	const char *reason;		/* --reason, or a generated one */
	const char *source;		/* apply, rollback, backend, health */
	const struct xlb_assign *prefer;	/* rollback: the target's numbers */
};

struct xlb_apply_result {
	__u64 generation;
	bool applied;			/* false: no change */
	char fingerprint[17];
};

/*
 * Apply a validated configuration whose plan against c->running is given.
 * -EPERM when guards refuse and !force (nothing written).  Any failure
 * before the switch leaves the live slot and the history untouched.
 */
int xlb_apply(struct xlb_ctl *c, const struct xlb_config *cfg, const struct xlb_plan *plan,
	      const struct xlb_apply_opts *opts, struct xlb_apply_result *res);

/* Assignment of a history record; 0 or -EINVAL. */
int xlb_assign_from_json(json_t *j, struct xlb_assign *a);
void xlb_assign_free(struct xlb_assign *a);
/* The backend id of (service, address) in an assignment, 0 if none. */
__u32 xlb_assign_id(const struct xlb_assign *a, const char *service, const union xlb_addr *addr,
		    __u8 family);
int xlb_assign_service(const struct xlb_assign *a, const char *service);

#endif
