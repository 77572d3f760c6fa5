/* xlb decap attach|detach: the backend-side program for kernels without ipip. */
#include <stdio.h>
#include <string.h>
#include "cmd.h"
#include "decap.h"
#include "names.h"
#include "log.h"

/* What was attached: addresses, sources, second chance, GUE ports. */
static void decap_report(const struct xlb_decap_opts *o, const struct xlb_decap_info *i)
{
	char gue_text[XLB_DECAP_GUE_PORTS_MAX * 6 + 32] = "GUE refused";
	json_t *gue = json_array();
	size_t n = 0;

	for (__u32 k = 0; k < i->nr_gue_ports; k++) {
		json_array_append_new(gue, json_integer(i->gue_ports[k]));
		n += snprintf(gue_text + n, sizeof(gue_text) - n, "%s%u",
			      k ? "," : "GUE on UDP port ", i->gue_ports[k]);
	}
	if (xlb_json) {
		json_emit(json_pack("{s:s,s:i,s:i,s:b,s:b,s:i,s:b,s:o}", "ifname", o->ifname,
				    "addresses", i->nr_addrs, "sources", i->nr_from, "any_source",
				    o->any_source, "second_chance", o->second_chance, "peers",
				    i->nr_peers, "replaced_defunct", i->replaced_defunct,
				    "gue_ports", gue));
		return;
	}
	json_decref(gue);
	printf("decap attached to %s (%u tunnel address%s, %s, %s, %s)\n", o->ifname,
	       i->nr_addrs, i->nr_addrs == 1 ? "" : "es", o->any_source ? "from ANY source" :
	       i->nr_from == 1 ? "from 1 source prefix" : "from the source prefixes given",
	       o->second_chance ? "second chances sent on to the peers given" :
	       "no second chance sent on", gue_text);
}

static int do_decap_attach(int argc, char **argv)
{
	struct xlb_decap_opts o = { 0 };
	struct xlb_decap_info info;
	const char *addrs[16], *from[64], *peers[64], *gue[XLB_DECAP_GUE_PORTS_MAX];
	int err;

	if (argc < 1)
		return usage_error("decap attach: missing DEV");
	o.ifname = argv[0];
	o.addrs = addrs;
	o.from = from;
	o.peers = peers;
	o.gue_ports = gue;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--from") && i + 1 < argc) {
			if (o.nr_from == 64)
				return usage_error("decap attach: at most 64 --from prefixes");
			from[o.nr_from++] = argv[++i];
		} else if (!strcmp(argv[i], "--any-source")) {
			o.any_source = true;
		} else if (!strcmp(argv[i], "--peer") && i + 1 < argc) {
			if (o.nr_peers == 64)
				return usage_error("decap attach: at most 64 --peer prefixes");
			peers[o.nr_peers++] = argv[++i];
		} else if (!strcmp(argv[i], "--gue-port") && i + 1 < argc) {
			if (o.nr_gue_ports == XLB_DECAP_GUE_PORTS_MAX)
				return usage_error("decap attach: at most %d --gue-port ports",
						   XLB_DECAP_GUE_PORTS_MAX);
			gue[o.nr_gue_ports++] = argv[++i];
		} else if (!strcmp(argv[i], "--second-chance")) {
			o.second_chance = true;
		} else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
			if (xlb_mode_parse(argv[++i], &o.mode))
				return usage_error("decap attach: --mode is native or generic, not '%s'",
						   argv[i]);
		} else if (argv[i][0] != '-' && strchr(argv[i], '/')) {
			/* a prefix where an address stands: --from A B */
			return usage_error("decap attach: '%s' is a prefix, not a tunnel address: "
					   "--from and --peer take one prefix, repeat it for each "
					   "(--from PREFIX --from PREFIX...)", argv[i]);
		} else if (argv[i][0] != '-' && o.nr_addrs < 16) {
			addrs[o.nr_addrs++] = argv[i];
		} else {
			return usage_error("decap attach: unexpected '%s'", argv[i]);
		}
	}
	err = xlb_decap_attach(&o, &info);
	if (err) {
		p_err("%s", xlb_errmsg());
		return xlb_exit_for(err);
	}
	if (info.lo_forwarding_failed)
		pr_warn("cannot turn forwarding on for lo: second-chance packets that are not "
			"this host's cannot be sent on (counted second_chance_no_route)");
	decap_report(&o, &info);
	return 0;
}

static int do_decap_stats(int argc, char **argv)
{
	__u64 counts[XLB_DECAP_MAX];
	__u16 ports[XLB_DECAP_GUE_PORTS_MAX];
	__u32 nports;
	json_t *o, *top;
	int err;

	if (argc != 1)
		return usage_error("decap stats: takes DEV");
	err = xlb_decap_stats(argv[0], counts);
	if (err) {
		p_err("%s", xlb_errmsg());
		return xlb_exit_for(err);
	}
	o = json_object();
	top = json_pack("{s:s}", "ifname", argv[0]);
	if (!xlb_json)
		printf("decap on %s:", argv[0]);
	for (__u32 r = 0; r < XLB_DECAP_MAX; r++) {
		json_object_set_new(o, xlb_decap_names[r], json_integer(counts[r]));
		if (!xlb_json)
			printf(" %s=%llu", xlb_decap_names[r], (unsigned long long)counts[r]);
	}
	/* the GUE ports taken (none: --gue-port off); a decap older than GUE says nothing */
	if (!xlb_decap_gue_ports(argv[0], ports, &nports)) {
		json_t *a = json_array();

		for (__u32 i = 0; i < nports; i++)
			json_array_append_new(a, json_integer(ports[i]));
		json_object_set_new(top, "gue_ports", a);
		if (!xlb_json && !nports)
			printf(" gue_ports=off");
		for (__u32 i = 0; !xlb_json && i < nports; i++)
			printf("%s%u", i ? "," : " gue_ports=", ports[i]);
	}
	json_object_set_new(top, "packets", o);
	if (xlb_json)
		json_emit(top);
	else {
		printf("\n");
		json_decref(top);
	}
	return 0;
}

static int do_decap_detach(int argc, char **argv)
{
	if (argc != 1)
		return usage_error("decap detach: takes DEV");
	return report_detached(xlb_decap_detach(argv[0]), argv[0], "decap ");
}

int do_decap(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "attach", do_decap_attach },
		{ "detach", do_decap_detach },
		{ "stats", do_decap_stats },
		{ NULL, NULL },
	};

	return cmd_dispatch(cmds, argc, argv, "decap verb");
}
