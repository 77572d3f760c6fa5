/* Opening an interface's controller state; see ctl.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ctl.h"
#include "fault.h"
#include "history.h"
#include "loader.h"
#include "log.h"

/* The running configuration and assignment: the live generation's record. */
static int load_running(struct xlb_ctl *c, bool lost_ok)
{
	struct xlb_record r;
	int err;

	if (!c->live_gen)
		return 0;
	err = xlb_history_read(c->hist, c->live_gen, XLB_RECORD_FULL, &r);
	if ((err == -ENOENT || err == -EINVAL) && lost_ok) {
		/* what the maps hold stands; the ids come back from them at the change */
		snprintf(c->lost, sizeof(c->lost), "%s", xlb_errmsg());
		xlb_err_clear();
		return 0;
	}
	if (err == -ENOENT)
		return xlb_errf(-ENOENT, "generation %llu is live on %s but %s has no record of "
				"it: re-apply the configuration with 'xlb config apply FILE'",
				(unsigned long long)c->live_gen, c->ifname, c->hist);
	if (err)
		return err;
	c->running = r.config;
	c->assign = r.assign;
	memset(&r.config, 0, sizeof(r.config));
	memset(&r.assign, 0, sizeof(r.assign));
	xlb_record_free(&r);
	return 0;
}

/*
 * A reader settles an interrupted apply too, unless one is under way: with
 * the lock, and against the live generation read under it — the one read
 * before may be older than a commit that landed since, whose record a
 * reconcile with it would take for one that never went live.
 */
static void settle(struct xlb_ctl *c)
{
	struct xlb_slot_conf conf;
	int fd;

	xlb_fault("reader");	/* tests: a commit lands between the read and the lock */
	fd = xlb_trylock_dev(c->ifname);
	if (fd < 0)
		return;
	if (!xlb_dp_active_slot(&c->dp, &c->live_slot) &&
	    !xlb_dp_get_slot_conf(&c->dp, c->live_slot, &conf)) {
		c->live_gen = conf.generation;
		xlb_history_reconcile(c->hist, c->live_gen);
	}
	close(fd);
}

static int open_handle(const char *ifname, const char *state_root, bool readonly, bool wait,
		    bool lost_ok, struct xlb_ctl *c)
{
	struct xlb_slot_conf conf;
	char dir[256];
	__u64 *gens;
	__u32 n;
	int err;

	xlb_err_clear();
	memset(c, 0, sizeof(*c));
	c->lock_fd = -1;
	snprintf(c->ifname, sizeof(c->ifname), "%s", ifname);
	err = xlb_pin_dir(ifname, dir, sizeof(dir));
	if (err)
		return err;
	if (access(dir, F_OK))
		return xlb_errf(-ENOENT, "xlb is not attached to %s (xlb attach %s)", ifname, ifname);
	if (!readonly) {
		c->lock_fd = wait ? xlb_lock_dev(ifname) : xlb_trylock_dev(ifname);
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
		settle(c);
	}
	err = xlb_history_list(c->hist, &gens, &n);
	if (err)
		goto fail;
	c->last_gen = n ? gens[n - 1] : 0;
	free(gens);
	err = load_running(c, lost_ok);
	if (err)
		goto fail;
	xlb_err_clear();	/* what reconcile or the listing said is said (pr_*) */
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

int xlb_ctl_open(const char *ifname, const char *state_root, bool readonly, struct xlb_ctl *c)
{
	return open_handle(ifname, state_root, readonly, true, false, c);
}

int xlb_ctl_open_lost_ok(const char *ifname, const char *state_root, bool readonly,
			 struct xlb_ctl *c)
{
	return open_handle(ifname, state_root, readonly, true, true, c);
}

int xlb_ctl_try_open(const char *ifname, const char *state_root, struct xlb_ctl *c)
{
	return open_handle(ifname, state_root, false, false, false, c);
}

int xlb_ctl_try_open_lost_ok(const char *ifname, const char *state_root, struct xlb_ctl *c)
{
	return open_handle(ifname, state_root, false, false, true, c);
}

/* ---- a running record that cannot be read ------------------------------------ */

/* Is the live service (key) the one cfg names s? */
static bool same_key(const struct xlb_service_key *k, const struct xlb_service_conf *s)
{
	return k->family == s->family && k->proto == s->proto && k->port == htons(s->port) &&
	       !memcmp(&k->vip, &s->vip, sizeof(k->vip));
}

/* The live slot's services: index -> the name cfg gives its key, or "#index". */
static int recover_services(struct xlb_ctl *c, const struct xlb_config *cfg,
			    struct xlb_assign *a)
{
	struct xlb_service_key *keys = calloc(XLB_MAX_SERVICES, sizeof(*keys));
	struct xlb_service *svcs = calloc(XLB_MAX_SERVICES, sizeof(*svcs));
	__u32 n = 0;
	int err = keys && svcs ? xlb_dp_slot_services(&c->dp, c->live_slot, keys, svcs,
						      XLB_MAX_SERVICES, &n)
			       : xlb_errf(-ENOMEM, "out of memory");

	for (__u32 j = 0; !err && j < n; j++) {
		const struct xlb_service_key *k = &keys[j];

		if (svcs[j].index >= XLB_MAX_SERVICES || a->nr_svc >= XLB_MAX_SERVICES)
			continue;
		snprintf(a->svc_name[a->nr_svc], XLB_NAME_MAX, "#%u", svcs[j].index);
		for (__u32 i = 0; i < cfg->nr_services; i++)
			if (same_key(k, &cfg->services[i]))
				snprintf(a->svc_name[a->nr_svc], XLB_NAME_MAX, "%s",
					 cfg->services[i].name);
		a->svc_index[a->nr_svc++] = svcs[j].index;
	}
	free(keys);
	free(svcs);
	return err;
}

static const char *service_named(const struct xlb_assign *a, __u32 index)
{
	for (__u32 i = 0; i < a->nr_svc; i++)
		if (a->svc_index[i] == index)
			return a->svc_name[i];
	return NULL;
}

/*
 * Generations already given: both slots' backends and the newest readable
 * record's next_gen, so that a new backend never takes the (id, gen) of a
 * removed one whose flows the connection table may still hold.
 */
static __u32 recover_next_gen(struct xlb_ctl *c)
{
	__u32 next = 1;
	struct xlb_record r;
	__u64 *gens;
	__u32 n;

	for (__u32 key = 0; key < XLB_SLOTS * XLB_MAX_BACKENDS; key++) {
		struct xlb_backend be;

		if (!xlb_dp_get_backend(&c->dp, key / XLB_MAX_BACKENDS, key % XLB_MAX_BACKENDS, &be) &&
		    be.family != XLB_FAMILY_NONE && be.gen >= next)
			next = be.gen + 1;
	}
	if (xlb_history_list(c->hist, &gens, &n))
		return next;
	for (__u32 i = n; i-- > 0;)
		if (!xlb_history_read(c->hist, gens[i], XLB_RECORD_FULL, &r)) {
			next = r.assign.next_gen > next ? r.assign.next_gen : next;
			xlb_record_free(&r);
			break;
		}
	free(gens);
	xlb_err_clear();
	return next;
}

int xlb_ctl_recover_assign(struct xlb_ctl *c, const struct xlb_config *cfg)
{
	struct xlb_assign a = { 0 };

	if (!c->lost[0])
		return 0;
	a.be = calloc(XLB_MAX_BACKENDS, sizeof(*a.be));
	if (!a.be)
		return xlb_errf(-ENOMEM, "out of memory");
	if (recover_services(c, cfg, &a)) {
		xlb_assign_free(&a);
		return xlb_errf(-EIO, "cannot read the live services: %s", xlb_errmsg());
	}
	for (__u32 id = 1; id < XLB_MAX_BACKENDS; id++) {
		struct xlb_assigned *b = &a.be[a.nr_be];
		struct xlb_backend be;
		const char *svc;

		if (xlb_dp_get_backend(&c->dp, c->live_slot, id, &be) || be.family == XLB_FAMILY_NONE ||
		    !(svc = service_named(&a, be.service)))
			continue;
		snprintf(b->service, sizeof(b->service), "%s", svc);
		b->addr = be.addr;
		b->family = be.family;
		b->id = id;
		b->gen = be.gen;
		a.nr_be++;
	}
	a.next_gen = recover_next_gen(c);
	xlb_assign_sort(&a);
	xlb_assign_free(&c->assign);
	c->assign = a;
	return 0;
}
