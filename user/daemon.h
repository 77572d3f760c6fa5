/* xlb daemon: health checks with a floor, distribution watch, metrics, systemd. */
#ifndef XLB_DAEMON_H
#define XLB_DAEMON_H

#include <stdbool.h>
#include <linux/types.h>

struct xlb_daemon_opts {
	const char *ifname;
	const char *state_root;
	const char *config;		/* --config FILE: applied at start and on SIGHUP */
	const char *metrics_addr;	/* ADDR:PORT, NULL = none */
	const char *metrics_file;	/* textfile collector output */
	double skew_threshold;		/* share points, 0..1 */
	__u32 skew_for_ms, skew_window_ms;
	__u64 skew_min_flows;
};

/* Runs until SIGTERM/SIGINT; returns an exit status. */
int xlb_daemon_run(const struct xlb_daemon_opts *opts);

#endif
