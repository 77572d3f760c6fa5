/* xlb daemon [--config FILE] [--metrics ADDR:PORT] [--metrics-file PATH] ... */
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "daemon.h"
#include "loader.h"
#include "log.h"

int do_daemon(int argc, char **argv)
{
	struct xlb_daemon_opts o = {
		.state_root = xlb_state_root, .metrics_addr = "127.0.0.1:9145",
		.skew_threshold = 0.1, .skew_for_ms = 30000, .skew_window_ms = 60000,
		.skew_min_flows = 100,
	};
	char dev[IF_NAMESIZE];
	unsigned int v;
	int err;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--no-metrics")) {
			o.metrics_addr = NULL;
			continue;
		}
		if (!val)
			return usage_error("daemon: %s needs a value", a);
		i++;
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
		else if (!strcmp(a, "--skew-threshold")) {
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
	if (o.nr_fleet_peers && !o.announce)
		return usage_error("daemon: --fleet-peer is checked before announcing: it needs "
				   "--announce");
	err = xlb_resolve_dev(xlb_dev, dev, sizeof(dev));
	if (err) {
		p_err("%s", xlb_errmsg());
		return xlb_exit_for(err);
	}
	o.ifname = dev;
	return xlb_daemon_run(&o);
}
