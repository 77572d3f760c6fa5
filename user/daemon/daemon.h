/* xlb daemon: health checks with a floor, distribution watch, metrics, systemd. */
#ifndef XLB_DAEMON_H
#define XLB_DAEMON_H

#include <stdbool.h>
#include <linux/types.h>

/*
 * The metrics server's bounds: connections at once, from one address, idle
 * seconds.  At the limit it takes no more: the kernel queues XLB_METRICS_BACKLOG
 * and answers no further SYN until a connection ends.
 */
#define XLB_METRICS_CONNECTIONS	64
#define XLB_METRICS_PER_ADDR	8
#define XLB_METRICS_TIMEOUT_S	10
#define XLB_FLEET_MAX_PEERS	16	/* --fleet-peer URLs */
#define XLB_METRICS_BACKLOG	64	/* the kernel's queue of connections not yet taken */
#define XLB_HEALTH_GRACE_MS	10000	/* --health-grace's default */

struct xlb_store_opts;

struct xlb_daemon_opts {
	const char *ifname;
	const char *state_root;
	const char *config;		/* --config FILE: applied at start and on SIGHUP */
	const char *metrics_addr;	/* ADDR:PORT, NULL = none */
	const char *metrics_file;	/* textfile collector output */
	const char *announce;		/* BIRD control socket: VIPs announced by health */
	const char *fleet_peers[XLB_FLEET_MAX_PEERS];	/* --fleet-peer: checked before joining */
	__u32 nr_fleet_peers;
	const struct xlb_store_opts *store;	/* --store: follow this fleet (NULL: none) */
	const char *node;			/* --node: this node's name in the fleet */
	__u32 health_grace_ms;		/* --health-grace: the fleet's verdicts after the store is lost */
	double skew_threshold;		/* share points, 0..1 */
	__u32 skew_for_ms, skew_window_ms;
	__u64 skew_min_flows;
};

/* Runs until SIGTERM/SIGINT; returns an exit status. */
int xlb_daemon_run(const struct xlb_daemon_opts *opts);

#endif
