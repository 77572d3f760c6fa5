/* xlb decap attach|detach: the backend-side program for kernels without ipip. */
#include <stdio.h>
#include <string.h>
#include "cmd.h"
#include "loader.h"
#include "log.h"

static int do_decap_attach(int argc, char **argv)
{
	struct xlb_decap_opts o = { 0 };
	const char *addrs[16];
	__u32 n;
	int err;

	if (argc < 1)
		return usage_error("decap attach: missing DEV");
	o.ifname = argv[0];
	o.addrs = addrs;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "native"))
				o.mode = XLB_MODE_NATIVE;
			else if (!strcmp(argv[i], "generic"))
				o.mode = XLB_MODE_GENERIC;
			else
				return usage_error("decap attach: --mode is native or generic");
		} else if (argv[i][0] != '-' && o.nr_addrs < 16) {
			addrs[o.nr_addrs++] = argv[i];
		} else {
			return usage_error("decap attach: unexpected '%s'", argv[i]);
		}
	}
	err = xlb_decap_attach(&o, &n);
	if (err) {
		p_err("%s", xlb_errmsg());
		return xlb_exit_for(err);
	}
	if (xlb_json)
		json_emit(json_pack("{s:s,s:i}", "ifname", o.ifname, "addresses", n));
	else
		printf("decap attached to %s (%u tunnel address%s)\n", o.ifname, n, n == 1 ? "" : "es");
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
		{ NULL, NULL },
	};

	return cmd_dispatch(cmds, argc, argv, "decap verb");
}
