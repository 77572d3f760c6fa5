/*
 * The controller's handle on one attached interface: its pinned maps, the
 * live slot and generation, and the running configuration with its
 * assignment, read from the live generation's history record.  Opened
 * writable it holds the interface's exclusive lock: every change is made
 * through one of these.
 */
#ifndef XLB_CTL_H
#define XLB_CTL_H

#include <net/if.h>
#include "assign.h"
#include "config.h"
#include "dataplane.h"

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
	char lost[512];			/* why the live generation's record could not be
					   read ("" when it was): running is then empty */
};

/* Open (and lock, unless readonly) an attached interface's state. */
int xlb_ctl_open(const char *ifname, const char *state_root, bool readonly, struct xlb_ctl *c);
/* Open writable without waiting: -EWOULDBLOCK while another process holds the lock. */
int xlb_ctl_try_open(const char *ifname, const char *state_root, struct xlb_ctl *c);
/*
 * Open for a whole new configuration (config apply, plan, rollback): a live
 * generation whose record is missing or damaged does not stop it; c->lost says
 * why, the running configuration is empty, and xlb_ctl_recover_assign() takes
 * the ids from the live maps so that established flows keep their backends.
 */
int xlb_ctl_open_lost_ok(const char *ifname, const char *state_root, bool readonly,
			 struct xlb_ctl *c);
/* The same without waiting for the lock (the daemon's health changes). */
int xlb_ctl_try_open_lost_ok(const char *ifname, const char *state_root, struct xlb_ctl *c);
/* With c->lost set: the live slot's (service, backend) ids, services named as cfg names
 * their (VIP, port, protocol), others "#index".  0 or -ENOMEM. */
int xlb_ctl_recover_assign(struct xlb_ctl *c, const struct xlb_config *cfg);
void xlb_ctl_close(struct xlb_ctl *c);

#endif
