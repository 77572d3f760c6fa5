/* xlb backend list|add|remove|set: edits of the running configuration, same path as apply. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "change.h"
#include "log.h"
#include "rollout.h"
#include "netutil.h"
#include "node.h"
#include <time.h>
#include "shares.h"

/* The daemon's last verdict of a backend and why (checks.json, issue 25): NULL
 * when there is none, or the file is stale (no daemon wrote it this 3 minutes). */
static json_t *check_of(json_t *checks, const char *svc, const char *addr)
{
	json_t *b, *arr = json_object_get(checks, "backends");
	json_int_t at = json_integer_value(json_object_get(checks, "unix_ms"));
	size_t i;

	if (at / 1000 + 180 < (json_int_t)time(NULL))
		return NULL;
	json_array_foreach(arr, i, b)
		if (!strcmp(json_string_value(json_object_get(b, "service")) ?: "", svc) &&
		    !strcmp(json_string_value(json_object_get(b, "address")) ?: "", addr))
			return b;
	return NULL;
}

/* "up", "down: HTTP 503 (tunnel)", "up, last failed: timeout (direct)" or "-". */
static const char *check_text(json_t *ck, char *buf, size_t len)
{
	const char *why = json_string_value(json_object_get(ck, "why")) ?: "";
	const char *path = json_string_value(json_object_get(ck, "path")) ?: "";
	bool up = json_is_true(json_object_get(ck, "up"));

	if (!ck)
		return "-";
	if (json_is_true(json_object_get(ck, "last_ok")))
		snprintf(buf, len, "%s (%s)", up ? "up" : "down, last passed", path);
	else
		snprintf(buf, len, "%s: %s (%s)", up ? "up, last failed" : "down", why, path);
	return buf;
}

static void list_one(const struct xlb_service_conf *s, const struct xlb_backend_conf *b,
		     double share, __u32 id, __u32 gen, json_t *checks, json_t *arr)
{
	char a[INET6_ADDRSTRLEN], ct[200];
	json_t *ck, *o;

	xlb_addr_str(&b->addr, b->family, a, sizeof(a));
	ck = check_of(checks, s->name, a);
	if (!xlb_json) {
		printf("%-16s %-40s %6u %-6s %6.2f%% %5u %s\n", s->name, a, b->weight,
		       xlb_state_name(b->state), 100 * share, id, check_text(ck, ct, sizeof(ct)));
		return;
	}
	o = json_pack("{s:s,s:s,s:i,s:s,s:f,s:i,s:i}", "service", s->name, "address", a,
		      "weight", b->weight, "state", xlb_state_name(b->state), "table_share",
		      share, "id", id, "gen", gen);
	if (ck)
		json_object_set_new(o, "check", json_pack("{s:O,s:O,s:O,s:O,s:O}", "up",
				    json_object_get(ck, "up"), "last_ok", json_object_get(ck, "last_ok"),
				    "reason", json_object_get(ck, "reason"), "why",
				    json_object_get(ck, "why"), "path", json_object_get(ck, "path")));
	json_array_append_new(arr, o);
}

static int do_backend_list(int argc, char **argv)
{
	json_t *arr = json_array(), *checks = NULL;
	struct xlb_ctl c;
	int rc = 0;

	if (argc > 1)
		return usage_error("backend list: takes at most SERVICE");
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	if (argc && !xlb_config_service(&c.running, argv[0])) {
		p_err("no service '%s' in the running configuration (generation %llu)", argv[0],
		      (unsigned long long)c.live_gen);
		rc = XLB_EXIT_REFUSED;
		goto out;
	}
	if (!xlb_json)
		printf("%-16s %-40s %6s %-6s %7s %5s %s\n", "service", "backend", "weight", "state",
		       "share", "id", "check");
	checks = xlb_node_checks_read(c.hist);
	for (__u32 i = 0; i < c.running.nr_services; i++) {
		const struct xlb_service_conf *s = &c.running.services[i];
		double *share = calloc(s->nr_backends + 1, sizeof(*share));

		if (argc && strcmp(argv[0], s->name)) {
			free(share);
			continue;
		}
		if (!share || xlb_config_shares(s, share)) {
			p_err("%s", xlb_errmsg());
			free(share);
			rc = XLB_EXIT_SYSTEM;
			goto out;
		}
		for (__u32 j = 0; j < s->nr_backends; j++) {
			const struct xlb_backend_conf *b = &s->backends[j];
			__u32 id = xlb_assign_id(&c.assign, s->name, &b->addr, b->family), gen = 0;

			for (__u32 k = 0; k < c.assign.nr_be; k++)
				if (c.assign.be[k].id == id)
					gen = c.assign.be[k].gen;
			list_one(s, b, share[j], id, gen, checks, arr);
		}
		free(share);
	}
	if (xlb_json) {
		json_emit(arr);
		arr = NULL;
	}
out:
	json_decref(arr);
	json_decref(checks);
	xlb_ctl_close(&c);
	return rc;
}

enum edit { EDIT_ADD, EDIT_REMOVE, EDIT_SET };

/* Apply one edit to a copy of the running configuration. */
static int edit_config(struct xlb_config *cfg, enum edit op, const char *svc_name,
		       const char *addr_s, int argc, char **argv, char *reason, size_t rlen)
{
	struct xlb_service_conf *s = xlb_config_service(cfg, svc_name);
	struct xlb_backend_conf nb = { .weight = 100, .state = XLB_BACKEND_ACTIVE }, *b;
	unsigned int v;

	if (!s)
		return xlb_errf(-ENOENT, "no service '%s' in the running configuration", svc_name);
	if (xlb_addr_parse(addr_s, &nb.addr, &nb.family))
		return xlb_errf(-EINVAL, "'%s' is not an IPv4 or IPv6 address", addr_s);
	b = xlb_service_backend(s, &nb.addr, nb.family);
	if (op == EDIT_ADD && b)
		return xlb_errf(-EEXIST, "%s is already a backend of %s", addr_s, svc_name);
	if (op != EDIT_ADD && !b)
		return xlb_errf(-ENOENT, "%s is not a backend of %s", addr_s, svc_name);
	if (op == EDIT_ADD) {
		void *p = realloc(s->backends, (s->nr_backends + 1) * sizeof(*s->backends));

		if (!p)
			return xlb_errf(-ENOMEM, "out of memory");
		s->backends = p;
		b = &s->backends[s->nr_backends++];
		*b = nb;
	} else if (op == EDIT_REMOVE) {
		*b = s->backends[--s->nr_backends];
		snprintf(reason, rlen, "backend remove %s %s", svc_name, addr_s);
		return argc ? xlb_errf(-EINVAL, "backend remove: unexpected '%s'", argv[0]) : 0;
	}
	if (op == EDIT_SET && !argc)
		return xlb_errf(-EINVAL, "backend set: needs weight N or state active|drain|down");
	for (int i = 0; i < argc; i += 2) {
		if (i + 1 >= argc)
			return xlb_errf(-EINVAL, "'%s' needs a value", argv[i]);
		if (!strcmp(argv[i], "weight")) {
			if (!parse_u32(argv[i + 1], 0, 65535, &v))
				return xlb_errf(-EINVAL, "weight '%s': an integer 0..65535",
						argv[i + 1]);
			b->weight = v;
		} else if (!strcmp(argv[i], "state")) {
			if (xlb_state_parse(argv[i + 1], &b->state))
				return xlb_errf(-EINVAL, "state '%s': active, drain or down",
						argv[i + 1]);
		} else {
			return xlb_errf(-EINVAL, "unexpected '%s' (weight N, state S)", argv[i]);
		}
	}
	snprintf(reason, rlen, "backend %s %s %s%s%s%s%s", op == EDIT_ADD ? "add" : "set",
		 svc_name, addr_s, argc ? " " : "", argc ? argv[0] : "", argc ? " " : "",
		 argc ? argv[1] : "");
	return 0;
}

/*
 * A backend that becomes active in a service with slow_start, while a daemon
 * runs to step it: the service's steps.  True when they apply.
 */
static bool slow_start_of(const struct xlb_ctl *c, const struct xlb_config *cfg,
			  const char *svc, unsigned int *steps, long long *step_ms)
{
	const struct xlb_service_conf *s = xlb_config_service(cfg, svc);
	const struct xlb_service_conf *o = xlb_config_service(&c->running, svc);

	if (!s || !o || !s->slow_start_steps || !xlb_daemon_running(c->ifname))
		return false;
	for (__u32 j = 0; j < s->nr_backends; j++) {
		const struct xlb_backend_conf *b = &s->backends[j];
		const struct xlb_backend_conf *ob = xlb_service_backend(o, &b->addr, b->family);

		if (b->state == XLB_BACKEND_ACTIVE && b->weight &&
		    (!ob || ob->state != XLB_BACKEND_ACTIVE || !ob->weight)) {
			*steps = s->slow_start_steps;
			*step_ms = s->slow_start_ms;
			return true;
		}
	}
	return false;
}

static int backend_edit(enum edit op, int argc, char **argv)
{
	struct xlb_change o = { .source = "backend" };
	struct xlb_config cfg;
	struct xlb_ctl c;
	char reason[256], hist[sizeof(c.hist)], id[16];
	unsigned int steps;
	long long step_ms;
	bool local = false;
	int rc, err, n;

	rc = rollout_opts(&argc, argv, &steps, &step_ms);
	if (rc)
		return rc;
	n = argc;

	/* --force and --reason TEXT may end any edit */
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "--reason")) {
			n = i;
			break;
		}
	}
	for (int i = n; i < argc; i++) {
		if (!strcmp(argv[i], "--force"))
			o.force = true;
		else if (!strcmp(argv[i], "--reason") && i + 1 < argc)
			o.reason = argv[++i];
		else
			return usage_error("backend: unexpected '%s'", argv[i]);
	}
	if (n < 2)
		return usage_error("backend: needs SERVICE ADDR");
	if ((rc = ctl_open(&c, false)))
		return xlb_exit_for(rc);
	if ((rc = fleet_guard(&c, o.force, o.reason, &local))) {
		xlb_ctl_close(&c);
		return rc;
	}
	err = xlb_config_copy(&cfg, &c.running);
	if (!err)
		err = edit_config(&cfg, op, argv[0], argv[1], n - 2, argv + 2, reason,
				  sizeof(reason));
	if (err) {
		p_err("%s", xlb_errmsg());
		rc = xlb_exit_for(err);
		goto out;
	}
	o.cfg = &cfg;
	if (!o.reason)
		o.reason = reason;
	if (!steps && slow_start_of(&c, &cfg, argv[0], &steps, &step_ms) && !xlb_json)
		printf("service %s has slow_start: the backend enters in %u steps of %lld ms\n",
		       argv[0], steps, step_ms);
	if (steps)
		rc = start_rollout(&c, &cfg, steps, step_ms, o.reason, o.force,
				   "edited configuration", id, sizeof(id));
	else
		rc = run_change(&c, &o, "edited configuration");
	if (!rc && local)
		fleet_record(&c, o.reason);
out:
	snprintf(hist, sizeof(hist), "%s", c.hist);
	xlb_config_free(&cfg);
	xlb_ctl_close(&c);	/* a rollout: the daemon takes it from here, under the lock */
	return steps && !rc ? rollout_started(hist, id) : rc;
}

static int do_backend_add(int argc, char **argv) { return backend_edit(EDIT_ADD, argc, argv); }
static int do_backend_remove(int argc, char **argv) { return backend_edit(EDIT_REMOVE, argc, argv); }
static int do_backend_set(int argc, char **argv) { return backend_edit(EDIT_SET, argc, argv); }

int do_backend(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "list", do_backend_list },
		{ "add", do_backend_add },
		{ "remove", do_backend_remove },
		{ "set", do_backend_set },
		{ NULL, NULL },
	};

	return cmd_dispatch(cmds, argc, argv, "backend verb");
}
