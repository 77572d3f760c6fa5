/* xlb attach / detach / status. */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include "attachrec.h"
#include "change.h"
#include "cmd.h"
#include "loader.h"
#include "log.h"
#include "netutil.h"

static const char *addr_or_none(const union xlb_addr *a, __u8 family, char *buf, size_t len)
{
	if (xlb_addr_is_zero(a))
		return "none";
	return xlb_addr_str(a, family, buf, len);
}

static json_t *json_addr(const union xlb_addr *a, __u8 family)
{
	char buf[INET6_ADDRSTRLEN];

	return xlb_addr_is_zero(a) ? json_null()
				   : json_string(xlb_addr_str(a, family, buf, sizeof(buf)));
}

static json_t *flow_rate_json(__u32 rate)
{
	return rate == XLB_FLOW_RATE_UNLIMITED ? json_string("unlimited") : json_integer(rate);
}

static json_t *icmp_rate_json(__u32 rate)
{
	return rate == XLB_ICMP_RATE_OFF ? json_string("off") : json_integer(rate);
}

/* Attach one recorded interface unless it is attached, then restore what ran. */
static int attach_one_recorded(const char *ifname, json_t *arr)
{
	struct xlb_change_result r = { 0 };
	struct xlb_attach_info info;
	struct xlb_attach_opts o;
	struct xlb_attach_rec rec;
	struct xlb_status st;
	bool already;
	__u64 from = 0;
	int err;

	err = xlb_attach_rec_load(xlb_state_root, ifname, &rec);
	if (err)
		goto fail;
	already = !xlb_status_get(ifname, &st) && st.linked;
	xlb_attach_rec_opts(&rec, &o);
	err = (already ? 0 : xlb_attach(&o, &info)) ?:
	      xlb_restore_live(ifname, xlb_state_root, &from, &r);
	if (err)
		goto fail;
	if (arr)
		json_array_append_new(arr, json_pack("{s:s,s:b,s:I,s:I}", "ifname", ifname,
				      "attached", !already, "restored_from", (json_int_t)from,
				      "generation", (json_int_t)(from ? r.generation : 0)));
	else
		printf("%s: %s with the recorded options%s", ifname, already ? "already attached" :
		       "attached", from ? "" : "\n");
	if (!arr && from)
		printf("; generation %llu restored as generation %llu (%s)\n",
		       (unsigned long long)from, (unsigned long long)r.generation, r.fingerprint);
	xlb_change_result_free(&r);
	return 0;
fail:
	p_err("%s%s%s", from ? "restoring the running configuration: " : "", xlb_errmsg(),
	      r.outcome == XLB_CHANGE_INVALID ? " (the record does not validate)" : "");
	xlb_change_result_free(&r);
	return xlb_exit_for(err);
}

/*
 * xlb attach --recorded: after a reboot (no pins, no link; the state kept),
 * every interface with recorded options (or --dev's) attached again with them,
 * and the generation that ran restored from the history.
 */
static int attach_recorded(int argc)
{
	char names[64][IF_NAMESIZE];
	json_t *arr = xlb_json ? json_array() : NULL;
	int n, rc = 0;

	if (argc != 1)
		return usage_error("attach: --recorded takes nothing else (--dev DEV names one)");
	if (xlb_dev) {
		snprintf(names[0], IF_NAMESIZE, "%s", xlb_dev);
		n = 1;
	} else {
		n = xlb_attach_rec_list(xlb_state_root, names, 64);
	}
	if (!n && !arr)
		printf("no attach options recorded in %s: nothing to attach\n", xlb_state_root);
	for (int i = 0; i < n; i++) {
		int r = attach_one_recorded(names[i], arr);

		rc = r > rc ? r : rc;
	}
	if (arr)
		json_emit(arr);
	return rc;
}

int do_attach(int argc, char **argv)
{
	struct xlb_attach_opts o = { 0 };
	struct xlb_attach_info info;
	char s4[INET6_ADDRSTRLEN], s6[INET6_ADDRSTRLEN];
	int err, i;

	if (argc < 1)
		return usage_error("attach: missing DEV");
	if (!strcmp(argv[0], "--recorded"))
		return attach_recorded(argc);
	o.ifname = argv[0];
	for (i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val)
			return usage_error("attach: %s needs a value", opt);
		if (!strcmp(opt, "--mode")) {
			if (xlb_mode_parse(val, &o.mode))
				return usage_error("attach: --mode is native or generic, not '%s'", val);
		} else if (!strcmp(opt, "--flows")) {
			if (!parse_u32(val, 1024, 64u << 20, &o.flows))
				return usage_error("attach: --flows takes 1024..67108864, not '%s'", val);
		} else if (!strcmp(opt, "--flow-rate")) {
			if (!strcmp(val, "unlimited"))
				o.flow_rate = XLB_FLOW_RATE_UNLIMITED;
			else if (!parse_u32(val, 1, 100000000, &o.flow_rate))
				return usage_error("attach: --flow-rate takes 1..100000000 (entries per "
						   "second per CPU) or 'unlimited', not '%s'", val);
		} else if (!strcmp(opt, "--icmp-rate")) {
			if (!strcmp(val, "off"))
				o.icmp_rate = XLB_ICMP_RATE_OFF;
			else if (!parse_u32(val, 1, 1000000, &o.icmp_rate))
				return usage_error("attach: --icmp-rate takes 1..1000000 (too-big "
						   "answers per second per CPU) or 'off', not '%s'",
						   val);
		} else if (!strcmp(opt, "--src4")) {
			o.src4 = val;
		} else if (!strcmp(opt, "--src6")) {
			o.src6 = val;
		} else {
			return usage_error("attach: unknown option '%s'", opt);
		}
		i++;
	}
	err = xlb_attach(&o, &info);
	if (err) {
		p_err("%s", xlb_errmsg());
		return xlb_exit_for(err);
	}
	/* kept for xlb attach --recorded after a reboot */
	err = xlb_attach_rec_save(xlb_state_root, o.ifname);
	if (err) {
		p_err("attached to %s, but %s: after a reboot it is not attached again by "
		      "itself (xlb attach --recorded)", o.ifname, xlb_errmsg());
		return xlb_exit_for(err);
	}
	if (xlb_json) {
		json_emit(json_pack("{s:s,s:i,s:s,s:i,s:b,s:o,s:o,s:o,s:o,s:i}", "ifname", o.ifname,
				    "ifindex", info.ifindex, "mode", xlb_mode_name(info.mode),
				    "prog_id", info.prog_id, "adopted", info.adopted,
				    "src4", json_addr(&info.src4, XLB_FAMILY_V4),
				    "src6", json_addr(&info.src6, XLB_FAMILY_V6),
				    "flow_rate", flow_rate_json(info.flow_rate),
				    "icmp_rate", icmp_rate_json(info.icmp_rate),
				    "slots_marked_moved", info.marked));
		return 0;
	}
	if (info.marked)
		printf("%u table slots hold flows remembered by the older version: marked moved, "
		       "so they keep their backends\n", info.marked);
	printf("%s %s (%s mode, program %u); tunnel source %s, %s\n",
	       info.adopted ? "adopted the pinned state on" : "attached to", o.ifname,
	       xlb_mode_name(info.mode), info.prog_id,
	       addr_or_none(&info.src4, XLB_FAMILY_V4, s4, sizeof(s4)),
	       addr_or_none(&info.src6, XLB_FAMILY_V6, s6, sizeof(s6)));
	return 0;
}

int do_detach(int argc, char **argv)
{
	int err;

	if (argc != 1)
		return usage_error("detach: takes exactly one DEV");
	err = xlb_detach(argv[0]);
	/* detached on purpose: not attached again after a reboot */
	if (!err && xlb_attach_rec_forget(xlb_state_root, argv[0]))
		pr_warn("%s\n", xlb_errmsg());
	return report_detached(err, argv[0], "");
}

static json_t *status_json(const struct xlb_status *st)
{
	json_t *j = json_pack("{s:s,s:i,s:b,s:s,s:i,s:i,s:I,s:{s:i,s:i},s:{s:i,s:i},s:{s:i,s:i},"
			 "s:{s:o,s:o}}",
			 "ifname", st->ifname, "ifindex", st->ifindex, "attached", st->linked,
			 "mode", st->linked ? xlb_mode_name(st->mode) : "none",
			 "prog_id", st->prog_id, "active_slot", st->active_slot,
			 "generation", (json_int_t)st->generation,
			 "flows", "entries", st->flows, "max", st->flows_max,
			 "services", "entries", st->services, "max", st->services_max,
			 "backends", "entries", st->backends, "max", st->backends_max,
			 "tunnel_source", "ipv4", json_addr(&st->src4, XLB_FAMILY_V4),
			 "ipv6", json_addr(&st->src6, XLB_FAMILY_V6));

	json_object_set_new(j, "state_version", json_integer(st->state_version));
	json_object_set_new(j, "moved_slots", json_integer(st->moved));
	json_object_set_new(j, "flood_guard", json_pack("{s:o,s:I}", "flow_rate",
			    flow_rate_json(st->flow_rate), "not_remembered",
			    (json_int_t)st->flows_limited));
	json_object_set_new(j, "too_big_answers", json_pack("{s:o,s:I}", "icmp_rate",
			    icmp_rate_json(st->icmp_rate), "held_back",
			    (json_int_t)st->icmp_limited));
	return j;
}

static void status_print(const struct xlb_status *st)
{
	char s4[INET6_ADDRSTRLEN], s6[INET6_ADDRSTRLEN];

	printf("%s: %s", st->ifname, st->linked ? "attached" : "NOT ATTACHED (pinned maps only)");
	if (st->linked)
		printf(", %s mode, program %u", xlb_mode_name(st->mode), st->prog_id);
	printf("\n  generation %llu (slot %u), state version %u\n",
	       (unsigned long long)st->generation, st->active_slot, st->state_version);
	printf("  flows     %u / %u (%.1f%%)\n", st->flows, st->flows_max,
	       st->flows_max ? 100.0 * st->flows / st->flows_max : 0.0);
	printf("  moved     %u table slots (their flows are remembered until released)\n",
	       st->moved);
	printf("  services  %u / %u\n", st->services, st->services_max);
	printf("  backends  %u / %u\n", st->backends, st->backends_max);
	printf("  tunnel source %s, %s\n", addr_or_none(&st->src4, XLB_FAMILY_V4, s4, sizeof(s4)),
	       addr_or_none(&st->src6, XLB_FAMILY_V6, s6, sizeof(s6)));
	if (st->flow_rate == XLB_FLOW_RATE_UNLIMITED)
		printf("  flood guard off (--flow-rate unlimited)\n");
	else
		printf("  flood guard %u new entries/s per CPU; %llu new flows not remembered\n",
		       st->flow_rate, (unsigned long long)st->flows_limited);
	if (st->icmp_rate == XLB_ICMP_RATE_OFF)
		printf("  too big   no ICMP answers (--icmp-rate off): too-big packets dropped, counted too_big\n");
	else
		printf("  too big   ICMP answers %u/s per CPU; %llu held back by the rate\n",
		       st->icmp_rate, (unsigned long long)st->icmp_limited);
}

/*
 * bpffs is shared by network namespaces: with interfaces of this namespace
 * among the n pinned, keep those (first n' of names) and list the others in
 * elsewhere; with none here, keep them all (gone interfaces' pins).
 */
static int here_first(char names[][IF_NAMESIZE], int n, char *elsewhere, size_t len)
{
	int here = 0;

	elsewhere[0] = '\0';
	for (int i = 0; i < n; i++)
		here += if_nametoindex(names[i]) != 0;
	if (!here)
		return n;
	for (int i = 0, k = 0; i < n; i++) {
		if (if_nametoindex(names[i])) {
			memmove(names[k++], names[i], IF_NAMESIZE);
			continue;
		}
		snprintf(elsewhere + strlen(elsewhere), len - strlen(elsewhere), "%s%s",
			 elsewhere[0] ? ", " : "", names[i]);
	}
	return here;
}

int do_status(int argc, char **argv)
{
	char names[64][IF_NAMESIZE], elsewhere[1024];
	struct xlb_status st;
	json_t *arr = NULL;
	int n, i, err, rc = 0;

	if (argc > 1)
		return usage_error("status: takes at most one DEV");
	elsewhere[0] = '\0';
	if (argc == 1 || xlb_dev) {
		snprintf(names[0], IF_NAMESIZE, "%s", argc == 1 ? argv[0] : xlb_dev);
		n = 1;
	} else {
		n = here_first(names, xlb_attached(names, 64), elsewhere, sizeof(elsewhere));
	}
	if (xlb_json)
		arr = json_array();
	else if (n == 0)
		printf("xlb is not attached to any interface\n");
	for (i = 0; i < n; i++) {
		err = xlb_status_get(names[i], &st);
		if (err) {
			p_err("%s", xlb_errmsg());
			rc = xlb_exit_for(err);
			continue;
		}
		if (arr)
			json_array_append_new(arr, status_json(&st));
		else
			status_print(&st);
	}
	if (arr)
		json_emit(arr);
	else if (elsewhere[0])
		printf("also pinned: %s (interfaces not in this network namespace; xlb status DEV "
		       "from theirs)\n", elsewhere);
	return rc;
}
