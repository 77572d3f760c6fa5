/*
 * Prometheus text of a snapshot.  The daemon copies what it knows and what
 * the maps say into struct xlb_metrics; rendering reads nothing else, so it
 * is the same for the HTTP endpoint and the textfile, and testable alone.
 */
#ifndef XLB_METRICS_H
#define XLB_METRICS_H

#include <stdbool.h>
#include <stdio.h>
#include <arpa/inet.h>
#include "config.h"

/* Classes of a failed check: enum xlb_probe_class (probe.h) indexes these names
 * (xlb_backend_health_failure_reasons_total's reason label). */
#define XLB_HEALTH_REASONS	9
extern const char *const xlb_health_reason_names[XLB_HEALTH_REASONS];	/* "none", "refused" ... */

struct xlb_metrics_backend {
	char service[XLB_NAME_MAX];
	char address[INET6_ADDRSTRLEN];
	bool has_counters;		/* counters below were read */
	struct xlb_counters c;
	bool up;			/* check passes, or it has none */
	__u32 weight;			/* 0 when not active */
	double table_share, deviation;
	bool alert;			/* share deviation alert */
	__u64 checks, failures;
	/* the last check's verdict (issue 25): why it failed, its class and path */
	bool has_verdict;		/* checked at least once */
	bool last_ok;
	char why[128];			/* "HTTP 503" ("" when it passed) */
	__u8 cls;			/* enum xlb_probe_class */
	bool tunnel;			/* the check went through the tunnel (else direct) */
	__u64 fail_by[XLB_HEALTH_REASONS];	/* failed checks by class */
	bool in_config;			/* in the running configuration (state below) */
	__u8 state;			/* enum xlb_backend_state */
};

struct xlb_metrics_service {
	char name[XLB_NAME_MAX];
	bool has_counters;
	struct xlb_counters c;
	__u32 active;			/* backends holding table slots */
	char table_fingerprint[17];	/* of the live table ("": none) */
	bool has_moved;			/* moved below was measured */
	__u32 moved;			/* table slots a change moved, not yet released */
	bool udp;			/* its share is of packets (a UDP flow's start is not seen) */
	bool has_floor;			/* health-checked: the floor applies */
	bool floor_alert;
};

/* Why a pending health change did not land (xlb_daemon_health_retries_total). */
enum xlb_health_retry { XLB_HEALTH_RETRY_LOCKED, XLB_HEALTH_RETRY_FAILED,
			XLB_HEALTH_RETRY_REFUSED, XLB_HEALTH_RETRY_MAX };
extern const char *const xlb_health_retry_names[XLB_HEALTH_RETRY_MAX];

enum { XLB_RELOAD_APPLIED, XLB_RELOAD_UNCHANGED, XLB_RELOAD_INVALID, XLB_RELOAD_REFUSED,
       XLB_RELOAD_MAX };
extern const char *const xlb_reload_names[XLB_RELOAD_MAX];

/* Why a node read the fleet's desired record again instead of watching on. */
enum { XLB_FLEET_REREAD_COMPACTED, XLB_FLEET_REREAD_CANCELED, XLB_FLEET_REREAD_RESTORED,
       XLB_FLEET_REREAD_MAX };

struct xlb_metrics {
	__u64 generation;
	char fingerprint[17];
	struct xlb_metrics_backend *be;
	__u32 nr_be;
	struct xlb_metrics_service *svc;
	__u32 nr_svc;
	bool has_stat[XLB_STAT_MAX];
	__u64 stat_packets[XLB_STAT_MAX];
	bool has_event[XLB_EV_MAX];
	__u64 events[XLB_EV_MAX];
	__u64 reloads[XLB_RELOAD_MAX];
	__u64 health_commits;
	bool health_pending;		/* a verdict waits to be applied */
	__u64 health_retries[XLB_HEALTH_RETRY_MAX];
	__u64 unchecked;		/* checks this host could not make */
	bool hc_up;			/* the checks' path through the tunnel is made */
	__u64 hc_sent, hc_dropped;	/* its tc program's packets (hcpath.h) */
	__u64 flows_not_remembered;	/* new flows the flood guard did not remember */
	bool has_moved;			/* the figures of moved slots below were read */
	struct xlb_moved_stats moved;	/* packets of moved slots, flows kept on the previous */
	__u32 flows_remembered;		/* connection-table entries */
	__u32 flows_max;		/* its size */
	__u64 moved_released;		/* moved slots released (daemon) */
	bool rollout_active;		/* a rollout is running or paused */
	__u32 rollout_step, rollout_steps;
	__u64 rollouts_done, rollouts_back;	/* rollouts finished; rolled back or stopped */
	bool has_announce;		/* --announce: the two below */
	__u32 announced;		/* VIPs announced now */
	__u64 announce_changes;
	__u32 open_fds, max_fds;
	bool has_fleet;			/* --store: the fleet's figures below */
	bool fleet_reachable, fleet_local_change, fleet_refused, fleet_desired_absent;
	__u64 fleet_watch_rev, fleet_desired, fleet_applied, fleet_lease_age_s;
	__u64 fleet_rereads[XLB_FLEET_REREAD_MAX];	/* the desired record read again, by why */
	bool fleet_health_fleet;	/* the fleet's health verdicts in force (else own) */
	__u64 fleet_health_seq;		/* decide/health's seq laid over the tables (0: none) */
	__u64 fleet_disagree;		/* backends this node alone sees down */
	__u64 fleet_verdicts;		/* decide/health records written as leader */
	bool fleet_leader;		/* this node leads the fleet */
	__s64 fleet_leader_term;	/* the leader's term as this node sees it (0: none) */
	__u64 fleet_elections, fleet_leader_changes;	/* won here; leaders seen to change */
	bool fleet_rollout;		/* decide/rollout is there: the three below */
	__u32 fleet_rollout_step, fleet_rollout_steps;
	int fleet_rollout_state;	/* enum xlb_rollout_state (rollout.h) */
	__u64 fleet_rollbacks;		/* rollouts this node rolled back as leader */
	bool has_usage;			/* the history's figures below were read */
	__u32 history_records;
	__u64 history_bytes, state_free_bytes;
};

void xlb_metrics_render(const struct xlb_metrics *m, FILE *f);
void xlb_metrics_free(struct xlb_metrics *m);

#endif
