/*
 * xlb node drain [--wait SECONDS] | undrain | join --alone | status: take
 * this node out of its fleet (the daemon withdraws its VIPs from the BGP
 * speaker) and back; let it join without the fleet peers it cannot read.
 * The data plane goes on forwarding whatever still arrives.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cmd.h"
#include "fleetfile.h"
#include "ctl.h"
#include "log.h"
#include "node.h"
#include "rollout.h"

static __u64 mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Every VIP withdrawn (want 0) or announced (want 1), as the daemon says. */
static bool all_are(const char *hist, bool want, bool drained)
{
	json_t *o = xlb_node_report_read(hist), *v;
	size_t i;
	bool ok;

	if (!o)
		return false;
	ok = json_is_true(json_object_get(o, "drained")) == drained;
	json_array_foreach(json_object_get(o, "vips"), i, v)
		ok = ok && json_is_true(json_object_get(v, "announced")) == want;
	json_decref(o);
	return ok;
}

/* Packets the data plane forwarded so far. */
static __u64 forwarded(const struct xlb_ctl *c)
{
	struct xlb_stat tx = { 0 }, rd = { 0 };

	xlb_dp_stat(&c->dp, XLB_STAT_TX, &tx);
	xlb_dp_stat(&c->dp, XLB_STAT_REDIRECT, &rd);
	return tx.packets + rd.packets;
}

static int do_node_drain(int argc, char **argv)
{
	unsigned int wait_s = 30;
	struct xlb_ctl c;
	__u64 t0, t_withdrawn = 0, last, quiet_since, end, n0;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--wait") && i + 1 < argc && parse_u32(argv[i + 1], 1, 3600,
									    &wait_s))
			i++;
		else
			return usage_error("node drain: takes [--wait SECONDS] (1..3600)");
	}
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	if (xlb_node_mark_set(c.hist, XLB_MARK_DRAIN, true)) {
		p_err("cannot mark %s drained: %s", c.ifname, xlb_errmsg());
		xlb_ctl_close(&c);
		return XLB_EXIT_SYSTEM;
	}
	if (!xlb_daemon_running(c.ifname)) {
		p_err("%s is marked drained, but no xlb daemon runs for it: nothing withdraws its "
		      "VIPs until one does (xlb daemon --announce SOCKET)", c.ifname);
		xlb_ctl_close(&c);
		return XLB_EXIT_REFUSED;
	}
	t0 = mono_ms();
	end = t0 + wait_s * 1000ull;
	while (mono_ms() < end && !all_are(c.hist, false, true))
		pause_ms(100);
	if (all_are(c.hist, false, true))
		t_withdrawn = mono_ms();
	/* the router moves the traffic away: wait until none has arrived for a second.
	 * That second is watched whole even past --wait: a withdrawal late in --wait must
	 * not read as traffic that still arrives. */
	n0 = last = forwarded(&c);
	quiet_since = mono_ms();
	if (t_withdrawn && end < quiet_since + 1000)
		end = quiet_since + 1000;
	while (t_withdrawn && mono_ms() < end && mono_ms() - quiet_since < 1000) {
		__u64 n;

		pause_ms(100);
		n = forwarded(&c);
		if (n != last)
			quiet_since = mono_ms();
		last = n;
	}
	rc = !t_withdrawn ? XLB_EXIT_SYSTEM : mono_ms() - quiet_since < 1000 ? XLB_EXIT_REFUSED : 0;
	if (xlb_json)
		json_emit(json_pack("{s:s,s:b,s:b,s:I,s:I}", "ifname", c.ifname, "withdrawn",
				    t_withdrawn != 0, "traffic_stopped", rc == 0,
				    "withdrawn_ms", (json_int_t)(t_withdrawn ? t_withdrawn - t0 : 0),
				    "forwarded_meanwhile", (json_int_t)(last - n0)));
	else if (!t_withdrawn)
		p_err("the daemon did not withdraw the VIPs of %s within %u s (xlb node status); "
		      "the node stays marked drained", c.ifname, wait_s);
	else
		printf("%s drained: VIPs withdrawn after %llu ms; %s (%llu packets forwarded "
		       "meanwhile; the data plane forwards whatever still arrives)\n", c.ifname,
		       (unsigned long long)(t_withdrawn - t0),
		       rc ? "traffic still arrives after --wait" : "no traffic arrives any more",
		       (unsigned long long)(last - n0));
	xlb_ctl_close(&c);
	return rc;
}

/* Wait up to 15 s for the daemon to announce every VIP: 0 or XLB_EXIT_REFUSED. */
static int wait_announced(const char *hist)
{
	for (__u64 end = mono_ms() + 15000; mono_ms() < end && !all_are(hist, true, false);)
		pause_ms(100);
	return all_are(hist, true, false) ? 0 : XLB_EXIT_REFUSED;
}

static int do_node_undrain(int argc, char **argv)
{
	struct xlb_ctl c;
	int rc;

	(void)argv;
	if (argc)
		return usage_error("node undrain: takes no arguments");
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	if (xlb_node_mark_set(c.hist, XLB_MARK_DRAIN, false)) {
		p_err("cannot undrain %s: %s", c.ifname, xlb_errmsg());
		xlb_ctl_close(&c);
		return XLB_EXIT_SYSTEM;
	}
	rc = xlb_daemon_running(c.ifname) ? wait_announced(c.hist) : 0;
	if (xlb_json)
		json_emit(json_pack("{s:s,s:b}", "ifname", c.ifname, "announced", rc == 0));
	else if (rc)
		p_err("%s is no longer drained, but not every VIP is announced (xlb node status "
		      "says why)", c.ifname);
	else
		printf("%s undrained: its VIPs are announced\n", c.ifname);
	xlb_ctl_close(&c);
	return rc;
}

/*
 * The operator's override of the join check: the daemon passes over the
 * fleet peers it cannot read, for one join (the mark join-alone, spent once
 * every VIP is announced); the peers it reads are still compared.
 */
static int do_node_join(int argc, char **argv)
{
	struct xlb_ctl c;
	bool drained;
	int rc;

	if (argc != 1 || strcmp(argv[0], "--alone"))
		return usage_error("node join: takes --alone (announce without the fleet peers "
				   "that cannot be read)");
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	drained = xlb_node_marked(c.hist, XLB_MARK_DRAIN);
	rc = XLB_EXIT_REFUSED;
	if (drained)
		p_err("%s is drained: it joins nothing (xlb node undrain)", c.ifname);
	else if (!xlb_daemon_running(c.ifname))
		p_err("no xlb daemon runs for %s: nothing announces its VIPs", c.ifname);
	else if (xlb_node_mark_set(c.hist, XLB_MARK_JOIN_ALONE, true)) {
		p_err("%s", xlb_errmsg());
		rc = XLB_EXIT_SYSTEM;
	} else {
		rc = wait_announced(c.hist);
		if (xlb_json)
			json_emit(json_pack("{s:s,s:b}", "ifname", c.ifname, "announced", rc == 0));
		else if (rc)
			p_err("%s may join without the peers it cannot read, but not every VIP is "
			      "announced (xlb node status says why)", c.ifname);
		else
			printf("%s joined alone: its VIPs are announced without the peers it "
			       "cannot read\n", c.ifname);
	}
	xlb_ctl_close(&c);
	return rc;
}

/* The fleet this node follows, as fleet.json says. */
static void print_fleet(json_t *f)
{
	json_t *ap = json_object_get(f, "applied"), *rf = json_object_get(f, "refused");
	json_t *lc = json_object_get(f, "local_change");

	if (json_object_get(f, "error")) {
		printf("fleet: %s\n", json_string_value(json_object_get(f, "error")));
		return;
	}
	printf("fleet %s, node %s: generation %lld applied (configuration %s)\n",
	       json_string_value(json_object_get(f, "fleet")),
	       json_string_value(json_object_get(f, "node")),
	       (long long)json_integer_value(json_object_get(ap, "generation")),
	       json_is_object(ap) ? json_string_value(json_object_get(ap, "fingerprint")) : "none");
	if (json_is_object(rf))
		printf("  REFUSED generation %lld: %s\n",
		       (long long)json_integer_value(json_object_get(rf, "generation")),
		       json_string_value(json_object_get(rf, "why")));
	if (json_is_object(lc))
		printf("  LOCAL CHANGE forced by %s at %s: %s\n",
		       json_string_value(json_object_get(lc, "who")),
		       json_string_value(json_object_get(lc, "when")),
		       json_string_value(json_object_get(lc, "reason")));
}

static int do_node_status(int argc, char **argv)
{
	json_t *o, *v, *fleet = NULL;
	struct xlb_ctl c;
	char path[600];
	size_t i;
	int rc;

	(void)argv;
	if (argc)
		return usage_error("node status: takes no arguments");
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	o = xlb_node_report_read(c.hist);
	if (!o)
		o = json_pack("{s:n}", "vips");
	json_object_set_new(o, "daemon", json_boolean(xlb_daemon_running(c.ifname)));
	xlb_fleetfile_path(c.hist, path, sizeof(path));
	if (xlb_fleetfile_read(path, &fleet))
		fleet = json_pack("{s:s}", "error", xlb_errmsg());
	json_object_set_new(o, "fleet", fleet ? fleet : json_null());
	xlb_ctl_close(&c);
	if (xlb_json) {
		json_emit(o);
		return 0;
	}
	if (fleet)
		print_fleet(fleet);
	printf("daemon %s; %s; %s\n", json_is_true(json_object_get(o, "daemon")) ? "running" :
	       "NOT RUNNING", json_is_true(json_object_get(o, "drained")) ? "DRAINED" :
	       "not drained", json_is_true(json_object_get(o, "attached")) ? "attached" :
	       "NOT ATTACHED");
	json_array_foreach(json_object_get(o, "vips"), i, v)
		printf("  %-36s %s%s%s\n", json_string_value(json_object_get(v, "protocol")),
		       json_is_true(json_object_get(v, "announced")) ? "announced" : "withdrawn",
		       *json_string_value(json_object_get(v, "why")) ? ": " : "",
		       json_string_value(json_object_get(v, "why")));
	json_decref(o);
	return 0;
}

int do_node(int argc, char **argv)
{
	static const struct cmd verbs[] = {
		{ "drain", do_node_drain },
		{ "undrain", do_node_undrain },
		{ "join", do_node_join },
		{ "status", do_node_status },
		{ NULL, NULL },
	};

	return cmd_dispatch(verbs, argc, argv, "node verb");
}
