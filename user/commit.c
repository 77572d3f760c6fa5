/*
 * Commit: a new configuration is written into the idle slot (backends,
 * Maglev tables, services, VIPs, slot settings), recorded as pending, then
 * switched in with one 4-byte map write and the record finalised.  Nothing
 * before the switch touches the live slot, so a failure at any step leaves
 * the running tables, backends and history as they were.
 *
 * Test hooks: XLB_FAIL_AT=backends|tables|services|conf|record|switch makes
 * the commit fail at that step (finalize only pauses: the switch is done); XLB_PAUSE_AT=STEP sleeps there for
 * XLB_PAUSE_SECONDS (default 5) so a test can kill the controller mid-apply; it says
 * "paused at step STEP" on stderr first, which is what the test waits for.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "commit.h"
#include "history.h"
#include "loader.h"
#include "log.h"
#include "netutil.h"

static int test_hook(const char *step)
{
	const char *fail = getenv("XLB_FAIL_AT"), *pause = getenv("XLB_PAUSE_AT");

	if (pause && !strcmp(pause, step)) {
		const char *s = getenv("XLB_PAUSE_SECONDS");

		fprintf(stderr, "xlb: paused at step '%s' (XLB_PAUSE_AT)\n", step);
		fflush(stderr);
		sleep(s ? atoi(s) : 5);
	}
	if (fail && !strcmp(fail, step))
		return xlb_errf(-EIO, "injected failure at step '%s' (XLB_FAIL_AT)", step);
	return 0;
}

/* ---- assignment ---------------------------------------------------------- */

int xlb_assign_service(const struct xlb_assign *a, const char *service)
{
	for (__u32 i = 0; i < a->nr_svc; i++)
		if (!strcmp(a->svc_name[i], service))
			return a->svc_index[i];
	return -1;
}

/* Assignments are kept sorted by (service, family, address): lookups bisect. */
static int cmp_assigned(const void *x, const void *y)
{
	const struct xlb_assigned *a = x, *b = y;
	int c = strcmp(a->service, b->service);

	if (c)
		return c;
	if (a->family != b->family)
		return a->family - b->family;
	return memcmp(&a->addr, &b->addr, sizeof(a->addr));
}

static void assign_sort(struct xlb_assign *a)
{
	qsort(a->be, a->nr_be, sizeof(*a->be), cmp_assigned);
}

static const struct xlb_assigned *assigned(const struct xlb_assign *a, const char *service,
					   const union xlb_addr *addr, __u8 family)
{
	struct xlb_assigned key = { .addr = *addr, .family = family };

	if (!a || !a->nr_be)
		return NULL;
	snprintf(key.service, sizeof(key.service), "%s", service);
	return bsearch(&key, a->be, a->nr_be, sizeof(*a->be), cmp_assigned);
}

__u32 xlb_assign_id(const struct xlb_assign *a, const char *service, const union xlb_addr *addr,
		    __u8 family)
{
	const struct xlb_assigned *b = assigned(a, service, addr, family);

	return b ? b->id : 0;
}

void xlb_assign_free(struct xlb_assign *a)
{
	free(a->be);
	memset(a, 0, sizeof(*a));
}

int xlb_assign_from_json(json_t *j, struct xlb_assign *a)
{
	json_t *svcs = json_object_get(j, "services"), *bes = json_object_get(j, "backends"), *v;
	const char *name;
	size_t i;

	memset(a, 0, sizeof(*a));
	if (!json_is_object(svcs) || !json_is_array(bes))
		return -EINVAL;
	a->next_gen = json_integer_value(json_object_get(j, "next_gen"));
	json_object_foreach(svcs, name, v) {
		if (a->nr_svc == XLB_MAX_SERVICES)
			return -EINVAL;
		snprintf(a->svc_name[a->nr_svc], XLB_NAME_MAX, "%s", name);
		a->svc_index[a->nr_svc++] = json_integer_value(v);
	}
	a->be = calloc(json_array_size(bes) + 1, sizeof(*a->be));
	if (!a->be)
		return -ENOMEM;
	json_array_foreach(bes, i, v) {
		struct xlb_assigned *b = &a->be[a->nr_be++];
		const char *addr = json_string_value(json_object_get(v, "address"));

		snprintf(b->service, sizeof(b->service), "%s",
			 json_string_value(json_object_get(v, "service")) ?: "");
		b->id = json_integer_value(json_object_get(v, "id"));
		b->gen = json_integer_value(json_object_get(v, "gen"));
		if (!addr || xlb_addr_parse(addr, &b->addr, &b->family) || !b->id ||
		    b->id >= XLB_MAX_BACKENDS)
			return -EINVAL;
	}
	assign_sort(a);
	return 0;
}

static json_t *assign_to_json(const struct xlb_assign *a)
{
	json_t *svcs = json_object(), *bes = json_array();
	char s[INET6_ADDRSTRLEN];

	for (__u32 i = 0; i < a->nr_svc; i++)
		json_object_set_new(svcs, a->svc_name[i], json_integer(a->svc_index[i]));
	for (__u32 i = 0; i < a->nr_be; i++)
		json_array_append_new(bes, json_pack("{s:s,s:s,s:i,s:i}", "service", a->be[i].service,
				      "address", xlb_addr_str(&a->be[i].addr, a->be[i].family, s,
							      sizeof(s)),
				      "id", a->be[i].id, "gen", a->be[i].gen));
	return json_pack("{s:i,s:o,s:o}", "next_gen", a->next_gen, "services", svcs,
			 "backends", bes);
}

/*
 * Numbers for cfg: what the running assignment had for the same service or
 * (service, address); else what the rollback target had, if still free;
 * else the lowest number free in both the new and the running assignment,
 * with a new generation so stale connection-table entries never match.
 */
static int assign_build(const struct xlb_assign *cur, const struct xlb_assign *prefer,
			const struct xlb_config *cfg, struct xlb_assign *out)
{
	__u8 used_id[XLB_MAX_BACKENDS] = { 0 }, used_svc[XLB_MAX_SERVICES] = { 0 };
	__u32 total = 0;

	memset(out, 0, sizeof(*out));
	for (__u32 i = 0; i < cfg->nr_services; i++)
		total += cfg->services[i].nr_backends;
	out->be = calloc(total + 1, sizeof(*out->be));
	if (!out->be)
		return -ENOMEM;
	out->next_gen = cur->next_gen > 0 ? cur->next_gen : 1;
	if (prefer && prefer->next_gen > out->next_gen)
		out->next_gen = prefer->next_gen;
	for (__u32 i = 0; i < cur->nr_be; i++)
		used_id[cur->be[i].id] |= 2;		/* 2: live now */
	for (__u32 i = 0; i < cur->nr_svc; i++)
		used_svc[cur->svc_index[i]] |= 2;

	/* pass 1: services and backends that keep their numbers */
	for (__u32 i = 0; i < cfg->nr_services; i++) {
		const struct xlb_service_conf *s = &cfg->services[i];
		int idx = xlb_assign_service(cur, s->name);

		snprintf(out->svc_name[i], XLB_NAME_MAX, "%s", s->name);
		out->svc_index[i] = idx;
		if (idx >= 0)
			used_svc[idx] |= 1;
		for (__u32 j = 0; j < s->nr_backends; j++) {
			const struct xlb_assigned *k = assigned(cur, s->name, &s->backends[j].addr,
								s->backends[j].family);
			struct xlb_assigned *b = &out->be[out->nr_be++];

			snprintf(b->service, sizeof(b->service), "%s", s->name);
			b->addr = s->backends[j].addr;
			b->family = s->backends[j].family;
			if (k) {
				b->id = k->id;
				b->gen = k->gen;
				used_id[k->id] |= 1;
			}
		}
	}
	out->nr_svc = cfg->nr_services;
	/* pass 2: the rollback target's numbers where free; pass 3: new ones */
	for (__u32 i = 0; i < out->nr_svc; i++) {
		int idx;

		if ((int)out->svc_index[i] >= 0)
			continue;
		idx = prefer ? xlb_assign_service(prefer, out->svc_name[i]) : -1;
		if (idx < 0 || used_svc[idx]) {
			for (idx = 0; idx < XLB_MAX_SERVICES && used_svc[idx]; idx++)
				;
			for (int k = 0; idx == XLB_MAX_SERVICES && k < XLB_MAX_SERVICES; k++)
				if (!(used_svc[k] & 1))
					idx = k;
		}
		if (idx >= XLB_MAX_SERVICES)
			return xlb_errf(-ENOSPC, "no free service index");
		out->svc_index[i] = idx;
		used_svc[idx] |= 1;
	}
	for (__u32 i = 0; i < out->nr_be; i++) {
		struct xlb_assigned *b = &out->be[i];
		const struct xlb_assigned *p;
		__u32 id;

		if (b->id)
			continue;
		p = prefer ? assigned(prefer, b->service, &b->addr, b->family) : NULL;
		if (p && !used_id[p->id]) {
			b->id = p->id;
			b->gen = p->gen;
			used_id[p->id] |= 1;
			continue;
		}
		for (id = 1; id < XLB_MAX_BACKENDS && used_id[id]; id++)
			;
		for (__u32 k = 1; id == XLB_MAX_BACKENDS && k < XLB_MAX_BACKENDS; k++)
			if (!(used_id[k] & 1))
				id = k;
		if (id >= XLB_MAX_BACKENDS)
			return xlb_errf(-ENOSPC, "no free backend id");
		b->id = id;
		b->gen = out->next_gen++;
		used_id[id] |= 1;
	}
	assign_sort(out);
	return 0;
}

/* ---- opening an interface's state --------------------------------------------- */

static int load_running(struct xlb_ctl *c)
{
	struct xlb_diags diags = { 0 };
	json_t *rec;
	int err;

	if (!c->live_gen)
		return 0;
	rec = xlb_history_load(c->hist, c->live_gen);
	if (!rec)
		return xlb_errf(-ENOENT, "generation %llu is live on %s but %s has no record of "
				"it: re-apply the configuration with 'xlb config apply FILE'",
				(unsigned long long)c->live_gen, c->ifname, c->hist);
	err = xlb_config_from_json(json_object_get(rec, "config"), &c->running, &diags);
	if (!err)
		err = xlb_assign_from_json(json_object_get(rec, "assignment"), &c->assign);
	json_decref(rec);
	xlb_diags_free(&diags);
	if (err)
		return xlb_errf(-EINVAL, "history record %llu in %s is damaged",
				(unsigned long long)c->live_gen, c->hist);
	return 0;
}

int xlb_ctl_open(const char *ifname, const char *state_root, bool readonly, struct xlb_ctl *c)
{
	struct xlb_slot_conf conf;
	char dir[256];
	__u64 *gens;
	__u32 n;
	int err;

	memset(c, 0, sizeof(*c));
	c->lock_fd = -1;
	snprintf(c->ifname, sizeof(c->ifname), "%s", ifname);
	err = xlb_pin_dir(ifname, dir, sizeof(dir));
	if (err)
		return err;
	if (access(dir, F_OK))
		return xlb_errf(-ENOENT, "xlb is not attached to %s (xlb attach %s)", ifname, ifname);
	if (!readonly) {
		c->lock_fd = xlb_lock_dev(ifname);
		if (c->lock_fd < 0)
			return c->lock_fd;
	}
	err = xlb_dp_open_pinned(&c->dp, dir) ?: xlb_dp_active_slot(&c->dp, &c->live_slot) ?:
	      xlb_dp_get_slot_conf(&c->dp, c->live_slot, &conf) ?:
	      xlb_history_dir(state_root, ifname, c->hist, sizeof(c->hist));
	if (err)
		goto fail;
	c->live_gen = conf.generation;
	if (!readonly) {
		err = xlb_history_reconcile(c->hist, c->live_gen);
		if (err)
			goto fail;
	} else {
		/* a reader settles an interrupted apply too, unless one is under way */
		int fd = xlb_trylock_dev(ifname);

		if (fd >= 0) {
			xlb_history_reconcile(c->hist, c->live_gen);
			close(fd);
		}
	}
	err = xlb_history_list(c->hist, &gens, &n);
	if (err)
		goto fail;
	c->last_gen = n ? gens[n - 1] : 0;
	free(gens);
	err = load_running(c);
	if (err)
		goto fail;
	return 0;
fail:
	xlb_ctl_close(c);
	return err;
}

void xlb_ctl_close(struct xlb_ctl *c)
{
	xlb_dp_close(&c->dp);
	xlb_config_free(&c->running);
	xlb_assign_free(&c->assign);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	c->lock_fd = -1;
}

/* ---- writing the idle slot ----------------------------------------------------- */

static int zero_counters(const struct xlb_dp *dp, int fd, __u32 key)
{
	void *zero = calloc(dp->nr_cpus, sizeof(struct xlb_counters));
	int err = 0;

	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(fd, &key, zero, BPF_ANY))
		err = xlb_errf(-errno, "cannot reset counters: %s", strerror(errno));
	free(zero);
	return err;
}

/*
 * Would this service's table be the one already live?  Same size, the same
 * backends with the same weights and states, and the same ids: Maglev is a
 * function of exactly these.
 */
static bool same_table(const struct xlb_ctl *c, const struct xlb_service_conf *s,
		       const struct xlb_assign *a)
{
	const struct xlb_service_conf *o = xlb_config_service(&c->running, s->name);

	if (!o || o->table_size != s->table_size || o->nr_backends != s->nr_backends ||
	    !xlb_service_holders(o))
		return false;
	for (__u32 j = 0; j < s->nr_backends; j++) {
		const struct xlb_backend_conf *b = &s->backends[j];
		const struct xlb_backend_conf *ob = xlb_service_backend(o, &b->addr, b->family);
		__u32 w = b->state == XLB_BACKEND_ACTIVE ? b->weight : 0;

		if (!ob || (ob->state == XLB_BACKEND_ACTIVE ? ob->weight : 0) != w ||
		    xlb_assign_id(a, s->name, &b->addr, b->family) !=
		    xlb_assign_id(&c->assign, s->name, &b->addr, b->family))
			return false;
	}
	return true;
}

/* The planner's new table of a service with backend ids in place of its indices. */
static int table_from_plan(const struct xlb_plan *plan, const struct xlb_service_conf *s,
			   const struct xlb_assign *a)
{
	const struct xlb_plan_service *ps = NULL;
	__u32 *idmap, *table;
	int fd;

	for (__u32 i = 0; plan && i < plan->nr && !ps; i++)
		if (!strcmp(plan->svcs[i].name, s->name) && plan->svcs[i].table &&
		    plan->svcs[i].table_size == s->table_size)
			ps = &plan->svcs[i];
	if (!ps)
		return -ENOENT;
	idmap = calloc(ps->nr_bes + 1, sizeof(*idmap));
	table = malloc(sizeof(*table) * s->table_size);
	if (!idmap || !table) {
		free(idmap);
		free(table);
		return -ENOMEM;
	}
	for (__u32 k = 0; k < ps->nr_bes; k++)
		idmap[k + 1] = xlb_assign_id(a, s->name, &ps->bes[k].addr, ps->bes[k].family);
	for (__u32 i = 0; i < s->table_size; i++)
		table[i] = idmap[ps->table[i]];
	fd = xlb_dp_new_table(table, s->table_size);
	free(idmap);
	free(table);
	return fd;
}

/* The table of a service for the new slot: the live one if unchanged, else new. */
static int service_table_fd(struct xlb_ctl *c, const struct xlb_service_conf *s,
			    const struct xlb_assign *a, const __u32 *ids,
			    const struct xlb_plan *plan)
{
	__u32 *table;
	int fd;

	if (same_table(c, s, a)) {
		fd = xlb_dp_table_fd(&c->dp, c->live_slot, xlb_assign_service(&c->assign, s->name));
		if (fd >= 0)
			return fd;
	}
	fd = table_from_plan(plan, s, a);
	if (fd != -ENOENT)
		return fd;
	table = malloc(sizeof(*table) * s->table_size);
	if (!table)
		return -ENOMEM;
	fd = xlb_service_table(s, ids, table);
	if (!fd)
		fd = xlb_dp_new_table(table, s->table_size);
	free(table);
	return fd;
}

/* Backends, table, service and VIP of one service; *table_fd gets its table. */
static int write_service(struct xlb_ctl *c, __u32 slot, const struct xlb_service_conf *s,
			 const struct xlb_assign *a, __u32 idx, const struct xlb_plan *plan,
			 int *table_fd)
{
	struct xlb_service_key key = { .vip = s->vip, .port = htons(s->port), .proto = s->proto,
				       .family = s->family };
	struct xlb_service svc = { .index = idx, .table_size = s->table_size };
	__u32 *ids = calloc(s->nr_backends + 1, sizeof(*ids));
	int err = 0;

	*table_fd = -1;
	if (!ids)
		return -ENOMEM;
	for (__u32 j = 0; j < s->nr_backends && !err; j++) {
		const struct xlb_backend_conf *b = &s->backends[j];
		const struct xlb_assigned *as = assigned(a, s->name, &b->addr, b->family);
		struct xlb_backend be = { .addr = b->addr, .family = b->family, .state = b->state,
					  .service = idx };

		if (!as) {
			err = xlb_errf(-EINVAL, "internal: %s has a backend without an id", s->name);
			break;
		}
		be.gen = as->gen;
		ids[j] = as->id;
		err = xlb_dp_set_backend(&c->dp, slot, as->id, &be);
		if (!err && !assigned(&c->assign, s->name, &b->addr, b->family))
			err = zero_counters(&c->dp, c->dp.backend_stats, as->id);
	}
	err = err ?: test_hook("tables");
	if (!err && xlb_service_holders(s)) {
		*table_fd = service_table_fd(c, s, a, ids, plan);
		if (*table_fd < 0)
			err = *table_fd;
		err = err ?: test_hook("services") ?: xlb_dp_set_service(&c->dp, slot, key, &svc);
	}
	/* a forced-empty service keeps its VIP (classified) but no longer matches */
	err = err ?: xlb_dp_set_vip(&c->dp, slot, &s->vip, s->family);
	if (!err && xlb_assign_service(&c->assign, s->name) < 0)
		err = zero_counters(&c->dp, c->dp.service_stats, idx);
	free(ids);
	return err;
}

static int write_slot(struct xlb_ctl *c, __u32 slot, const struct xlb_config *cfg,
		      const struct xlb_assign *a, const struct xlb_plan *plan, __u64 gen)
{
	__u32 indices[XLB_MAX_SERVICES], n = 0;
	int fds[XLB_MAX_SERVICES];
	struct xlb_slot_conf conf;
	int err;

	err = xlb_dp_clear_slot(&c->dp, slot) ?: test_hook("backends");
	for (__u32 i = 0; i < cfg->nr_services && !err; i++) {
		__u32 idx = xlb_assign_service(a, cfg->services[i].name);
		int fd;

		err = write_service(c, slot, &cfg->services[i], a, idx, plan, &fd);
		if (fd >= 0) {
			indices[n] = idx;
			fds[n++] = fd;
		}
	}
	err = err ?: xlb_dp_publish_tables(&c->dp, slot, indices, fds, n);
	for (__u32 i = 0; i < n; i++)
		close(fds[i]);
	err = err ?: test_hook("conf") ?: xlb_dp_get_slot_conf(&c->dp, c->live_slot, &conf);
	if (err)
		return err;
	conf.generation = gen;
	conf.flags |= XLB_SLOT_F_CONFIGURED;
	return xlb_dp_set_slot_conf(&c->dp, slot, &conf);
}

static const char *who(void)
{
	const char *u = getenv("SUDO_USER");
	struct passwd *pw;

	if (u && *u)
		return u;
	pw = getpwuid(getuid());
	return pw ? pw->pw_name : "?";
}

static json_t *record_of(const struct xlb_config *cfg, const struct xlb_assign *a,
			 const struct xlb_plan *plan, const struct xlb_apply_opts *o, __u64 gen,
			 const char *fp)
{
	char when[32];
	time_t now = time(NULL);
	json_t *refusals = json_array();

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	for (__u32 i = 0; i < plan->nr; i++)
		for (__u32 j = 0; j < plan->svcs[i].nr_why; j++)
			json_array_append_new(refusals, json_sprintf("%s: %s", plan->svcs[i].name,
								     plan->svcs[i].why[j]));
	return json_pack("{s:I,s:s,s:I,s:s,s:s,s:s,s:s,s:b,s:o,s:b,s:o,s:o}",
			 "generation", (json_int_t)gen, "time", when, "unix_time",
			 (json_int_t)now, "user", who(), "reason", o->reason ? o->reason : "",
			 "source", o->source ? o->source : "apply", "fingerprint", fp,
			 "forced", o->force && plan->refused, "overridden_guards", refusals,
			 "pending", 1, "config", xlb_config_to_json(cfg),
			 "assignment", assign_to_json(a));
}

int xlb_apply(struct xlb_ctl *c, const struct xlb_config *cfg, const struct xlb_plan *plan,
	      const struct xlb_apply_opts *o, struct xlb_apply_result *res)
{
	struct xlb_assign a;
	json_t *rec = NULL;
	__u32 slot = !c->live_slot;
	__u64 gen;
	int err;

	memset(res, 0, sizeof(*res));
	xlb_config_fingerprint(cfg, res->fingerprint);
	if (c->lock_fd < 0)
		return xlb_errf(-EINVAL, "internal: apply without the interface lock");
	if (plan->refused && !o->force)
		return xlb_errf(-EPERM, "refused by the guards (see the plan); --force overrides");
	if (!plan->changed && c->live_gen)
		return 0;
	gen = (c->live_gen > c->last_gen ? c->live_gen : c->last_gen) + 1;
	err = assign_build(&c->assign, o->prefer, cfg, &a);
	if (err)
		goto out;
	err = write_slot(c, slot, cfg, &a, plan, gen);
	if (err)
		goto out;
	rec = record_of(cfg, &a, plan, o, gen, res->fingerprint);
	err = test_hook("record") ?: xlb_history_write(c->hist, gen, rec);
	if (err)
		goto out;
	err = test_hook("switch") ?: xlb_dp_switch(&c->dp, slot);
	if (err) {
		/* never went live: the pending record goes */
		xlb_history_reconcile(c->hist, c->live_gen);
		goto out;
	}
	test_hook("finalize");	/* live, record still pending: a crash here is reconciled */
	json_object_del(rec, "pending");
	if (xlb_history_write(c->hist, gen, rec))
		pr_warn("generation %llu is live but its record stays pending: %s\n",
			(unsigned long long)gen, xlb_errmsg());
	res->generation = gen;
	res->applied = true;
	c->live_slot = slot;
	c->live_gen = c->last_gen = gen;
	xlb_config_free(&c->running);
	xlb_config_copy(&c->running, cfg);
	xlb_assign_free(&c->assign);
	c->assign = a;
	a.be = NULL;
out:
	json_decref(rec);
	xlb_assign_free(&a);
	return err;
}
