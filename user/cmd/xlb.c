/* xlb: the command line.  `xlb [-j] [-p] [--state DIR] OBJECT VERB [ARGS]`. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include <curl/curl.h>
#include "cmd.h"
#include "log.h"

static const char synopsis[] =
"Usage: xlb [-j|--json] [-p|--pretty] [-v|--verbose] [--state DIR] [--dev DEV] OBJECT VERB [ARGS]\n"
"       xlb -V|--version\n"
"\n"
"  xlb attach DEV [--mode native|generic] [--flows N] [--flow-rate N|unlimited] [--icmp-rate N|off]\n"
"             [--src4 ADDR] [--src6 ADDR]\n"
"  xlb attach --recorded\n"
"  xlb detach DEV\n"
"  xlb status [DEV]\n"
"  xlb config validate FILE\n"
"  xlb config plan FILE\n"
"  xlb config apply FILE [--force] [--reason TEXT] [--steps N --step-time DURATION]\n"
"  xlb config show\n"
"  xlb config history\n"
"  xlb config rollback [GEN] [--force] [--reason TEXT]\n"
"  xlb config prune --keep N\n"
"  xlb backend list [SERVICE]\n"
"  xlb backend add SERVICE ADDR [weight N] [state active|drain|down] [--force] [--steps N --step-time DURATION]\n"
"  xlb backend remove SERVICE ADDR [--force] [--steps N --step-time DURATION]\n"
"  xlb backend set SERVICE ADDR {weight N | state active|drain|down} [--force] [--steps N --step-time DURATION]\n"
"  xlb rollout status|pause|resume|abort\n"
"  xlb fleet check SOURCE...\n"
"  xlb fleet plan FILE [STORE]\n"
"  xlb fleet apply FILE [--steps N --step-time D] [--force] [--reason TEXT] [STORE]\n"
"  xlb fleet rollout status|pause|resume|abort [--reason TEXT] [STORE]\n"
"  xlb fleet status|history [STORE]\n"
"  xlb fleet rollback [GEN] [--force] [--reason TEXT] [STORE]\n"
"  xlb fleet forget NODE [STORE]\n"
"  xlb node drain [--wait SECONDS] | undrain | join --alone | status\n"
"  xlb stats [SERVICE] [--watch [--count N]]\n"
"  xlb table SERVICE\n"
"  xlb flow SERVICE CLIENT-ADDR CLIENT-PORT [VIP-PORT]\n"
"  xlb decap attach DEV [--mode native|generic] {--from PREFIX [--from PREFIX]... | --any-source}\n"
"                   [--second-chance --peer PREFIX [--peer PREFIX]...]\n"
"                   [--gue-port PORT [--gue-port PORT]... | --gue-port off] [ADDR...]\n"
"  xlb decap detach DEV\n"
"  xlb decap stats DEV\n"
"  xlb daemon [--config FILE] [--metrics ADDR:PORT | --no-metrics] [--metrics-file PATH]\n"
"             [--skew-threshold SHARE] [--skew-for MS] [--skew-window MS] [--skew-min-flows N]\n"
"             [--announce BIRD-SOCKET [--fleet-peer http://HOST:PORT]...]\n"
"             [--store URL[,URL...] | --store-file FILE] [--fleet NAME --node NAME]\n"
"             [--health-grace D]\n"
"  xlb help\n"
"  xlb version\n"
"\n"
"DEV may be omitted when xlb is attached to one interface; --dev names it otherwise.\n"
"State (history) lives in --state DIR, default /var/lib/xlb.\n"
"STORE: --store URL[,URL...] --fleet NAME, or --store-file FILE (default /etc/xlb/fleet.json).\n"
"\n"
"Exit status: 0 done, 1 refused (usage, validation, guard), 2 system or kernel error.\n";

int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (xlb_json) {
		json_emit(json_pack("{s:s}", "usage", synopsis));
		return 0;
	}
	fputs(synopsis, stdout);
	return 0;
}

static int do_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (xlb_json)
		json_emit(json_pack("{s:s}", "version", XLB_VERSION));
	else
		printf("xlb %s\n", XLB_VERSION);
	return 0;
}

static const struct cmd objects[] = {
	{ "attach", do_attach },
	{ "detach", do_detach },
	{ "status", do_status },
	{ "config", do_config },
	{ "backend", do_backend },
	{ "stats", do_stats },
	{ "table", do_table },
	{ "flow", do_flow },
	{ "decap", do_decap },
	{ "daemon", do_daemon },
	{ "rollout", do_rollout },
	{ "fleet", do_fleet },
	{ "node", do_node },
	{ "help", do_help },
	{ "version", do_version },
	{ NULL, NULL },
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && xlb_verbosity < 2)
		return 0;
	if (level == LIBBPF_INFO && xlb_verbosity < 1)
		return 0;
	if (xlb_json)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "state", required_argument, NULL, 'S' },
		{ "dev", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	bool version = false;
	int c;

	/* options stop at the first non-option: the OBJECT */
	while ((c = getopt_long(argc, argv, "+jpvhV", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			xlb_json = true;
			break;
		case 'p':
			xlb_json = xlb_pretty = true;
			break;
		case 'v':
			xlb_verbosity++;
			break;
		case 'h':
			return do_help(0, NULL);
		case 'V':
			version = true;
			break;
		case 'S':
			xlb_state_root = optarg;
			break;
		case 'D':
			xlb_dev = optarg;
			break;
		default:
			return usage_error("unknown option");
		}
	}
	libbpf_set_print(libbpf_print);
	/* before any thread starts (the daemon's HTTP server): libcurl's global state */
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		p_err("cannot start libcurl");
		return XLB_EXIT_SYSTEM;
	}
	if (version)	/* -V / --version: xlb version, -j honoured wherever it stands */
		return do_version(0, NULL);
	if (optind >= argc) {
		do_help(0, NULL);
		return XLB_EXIT_REFUSED;
	}
	return cmd_dispatch(objects, argc - optind, argv + optind, "command");
}
