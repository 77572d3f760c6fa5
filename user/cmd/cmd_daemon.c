/* xlb daemon [--config FILE] [--metrics ADDR:PORT] [--metrics-file PATH] ... */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "daemon.h"
#include "loader.h"
#include "log.h"
#include "rollout.h"
#include "store.h"

/* --store URL[,URL...] --fleet NAME --store-file FILE --node NAME: the fleet to follow. */
static int store_opt(struct xlb_store_opts *so, const char **node, const char *a,
		     const char *val, bool *given)
{
	int err = 0;

	if (!strcmp(a, "--store"))
		err = xlb_store_opts_parse_urls(so, val);
	else if (!strcmp(a, "--store-file"))
		err = xlb_store_opts_load_file(so, val);
	else if (!strcmp(a, "--fleet")) {
		if (!xlb_store_name_ok(val))
			return usage_error("daemon: --fleet takes a name of [A-Za-z0-9_.-], "
					   "not '%s'", val);
		snprintf(so->fleet, sizeof(so->fleet), "%s", val);
	} else if (!strcmp(a, "--node")) {
		if (!xlb_store_name_ok(val))
			return usage_error("daemon: --node takes a name of [A-Za-z0-9_.-], "
					   "not '%s'", val);
		*node = val;
	} else {
		return -1;
	}
	*given = true;
	if (err) {
		p_err("daemon: %s", xlb_errmsg());
		return err == -EINVAL ? XLB_EXIT_REFUSED : xlb_exit_for(err);
	}
	return 0;
}

/* The fleet's options whole: a store, a fleet, a node, safe files; not with --config. */
static int store_check(const struct xlb_daemon_opts *o, const struct xlb_store_opts *so)
{
	int err;

	if (o->config)
		return usage_error("daemon: --config and --store: a node that follows a fleet "
				   "takes its configuration from the store");
	if (!so->nr_endpoints || !so->fleet[0] || !o->node)
		return usage_error("daemon: following a fleet takes --store URL[,URL...] (or "
				   "--store-file FILE), --fleet NAME and --node NAME");
	err = xlb_store_opts_check(so);
	if (err) {
		p_err("daemon: %s", xlb_errmsg());
		return err == -EINVAL ? XLB_EXIT_REFUSED : xlb_exit_for(err);
	}
	return 0;
}

/* The options together: what needs what. */
static int options_check(const struct xlb_daemon_opts *o, const struct xlb_store_opts *so,
			 bool fleet, bool grace)
{
	if (o->nr_fleet_peers && !o->announce)
		return usage_error("daemon: --fleet-peer is checked before announcing: it needs "
				   "--announce");
	if (grace && !fleet)
		return usage_error("daemon: --health-grace is the fleet's (how long the store may "
				   "be lost before own verdicts): it needs --store");
	return fleet ? store_check(o, so) : 0;
}

int do_daemon(int argc, char **argv)
{
	struct xlb_daemon_opts o = {
		.state_root = xlb_state_root, .metrics_addr = "127.0.0.1:9145",
		.skew_threshold = 0.1, .skew_for_ms = 30000, .skew_window_ms = 60000,
		.skew_min_flows = 100, .health_grace_ms = XLB_HEALTH_GRACE_MS,
	};
	long long ms;
	static struct xlb_store_opts so;
	bool fleet = false, grace = false;
	char dev[IF_NAMESIZE];
	unsigned int v;
	int err, rc;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--no-metrics")) {
			o.metrics_addr = NULL;
			continue;
		}
		if (!val)
			return usage_error("daemon: %s needs a value", a);
		i++;
		rc = store_opt(&so, &o.node, a, val, &fleet);
		if (rc >= 0) {
			if (rc)
				return rc;
			continue;
		}
		if (!strcmp(a, "--config"))
			o.config = val;
		else if (!strcmp(a, "--metrics"))
			o.metrics_addr = val;
		else if (!strcmp(a, "--metrics-file"))
			o.metrics_file = val;
		else if (!strcmp(a, "--announce"))
			o.announce = val;
		else if (!strcmp(a, "--fleet-peer")) {
			if (strncmp(val, "http://", 7))
				return usage_error("daemon: --fleet-peer takes http://HOST:PORT, not '%s'",
						   val);
			if (o.nr_fleet_peers == XLB_FLEET_MAX_PEERS)
				return usage_error("daemon: at most %d --fleet-peer",
						   XLB_FLEET_MAX_PEERS);
			o.fleet_peers[o.nr_fleet_peers++] = val;
		}
		else if (!strcmp(a, "--health-grace")) {
			if ((ms = xlb_duration_ms(val)) < 0 || ms > 3600000)
				return usage_error("daemon: --health-grace takes a duration of at most "
						   "1h, e.g. 10s or 500ms, not '%s'", val);
			o.health_grace_ms = ms;
			grace = true;
		} else if (!strcmp(a, "--skew-threshold")) {
			o.skew_threshold = atof(val);
			if (o.skew_threshold <= 0 || o.skew_threshold >= 1)
				return usage_error("daemon: --skew-threshold takes a share, 0 < x < 1");
		} else if (!strcmp(a, "--skew-for") && parse_u32(val, 0, 86400000, &v))
			o.skew_for_ms = v;
		else if (!strcmp(a, "--skew-window") && parse_u32(val, 1000, 600000, &v))
			o.skew_window_ms = v;
		else if (!strcmp(a, "--skew-min-flows") && parse_u32(val, 1, 1000000000, &v))
			o.skew_min_flows = v;
		else
			return usage_error("daemon: bad option '%s %s'", a, val);
	}
	if ((rc = options_check(&o, &so, fleet, grace)))
		return rc;
	o.store = fleet ? &so : NULL;
	err = xlb_resolve_dev(xlb_dev, dev, sizeof(dev));
	if (err) {
		p_err("%s", xlb_errmsg());
		return xlb_exit_for(err);
	}
	o.ifname = dev;
	return xlb_daemon_run(&o);
}
