/* Opening an interface's controller state; see ctl.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ctl.h"
#include "history.h"
#include "loader.h"
#include "log.h"

/* The running configuration and assignment: the live generation's record. */
static int load_running(struct xlb_ctl *c)
{
	struct xlb_record r;
	int err;

	if (!c->live_gen)
		return 0;
	err = xlb_history_read(c->hist, c->live_gen, XLB_RECORD_FULL, &r);
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

static int ctl_open(const char *ifname, const char *state_root, bool readonly, bool wait,
		    struct xlb_ctl *c)
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
	return ctl_open(ifname, state_root, readonly, true, c);
}

int xlb_ctl_try_open(const char *ifname, const char *state_root, struct xlb_ctl *c)
{
	return ctl_open(ifname, state_root, false, false, c);
}
