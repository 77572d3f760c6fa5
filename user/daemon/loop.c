/*
 * The daemon's loop.  One thread: an epoll loop over the health probes
 * (probe.c), a signalfd (SIGHUP reload, SIGTERM stop) and a 50 ms tick.
 * Verdicts become configuration changes through the one change path
 * (change.c) with the health policy (health.c) overlaid on the running
 * configuration, re-read under the interface lock so CLI changes are never
 * lost.  Every second it samples the counters for the distribution watch and
 * the metrics file.  Metrics are served by libmicrohttpd from its own thread;
 * a mutex guards what both threads read.  Stopping leaves the data plane
 * forwarding.
 */
#define _GNU_SOURCE
#include "state.h"
#include "decide.h"

/* ---- the loop ----------------------------------------------------------------- */

/* The pinned maps, signals and epoll; an exit status on failure. */
/*
 * Every in-flight check holds a socket: take the whole hard limit of
 * descriptors (the unit sets it high), and say so when it is small for the
 * backends and metrics connections it must serve.
 */
static void raise_fd_limit(struct daemon *d)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	d->max_fds = rl.rlim_cur > UINT32_MAX ? UINT32_MAX : rl.rlim_cur;
	if (d->max_fds < XLB_MAX_BACKENDS + XLB_METRICS_CONNECTIONS + 64)
		dlog(4, "daemon: %u file descriptors at most (RLIMIT_NOFILE): with many "
		     "backends some checks may not be made (LimitNOFILE= in the unit)", d->max_fds);
}

static int daemon_init(struct daemon *d)
{
	char dir[256];
	sigset_t sigs;

	pthread_mutex_init(&d->lock, NULL);
	d->epfd = d->sigfd = -1;
	d->daemon_lock = xlb_daemon_lock(d->o->ifname);
	if (d->daemon_lock < 0) {
		dlog(3, "%s", xlb_errmsg());
		return XLB_EXIT_REFUSED;
	}
	raise_fd_limit(d);
	if (xlb_pin_dir(d->o->ifname, dir, sizeof(dir)) || xlb_dp_open_pinned(&d->dp, dir)) {
		dlog(3, "%s", xlb_errmsg());
		return XLB_EXIT_REFUSED;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sigfd < 0 || d->epfd < 0) {
		dlog(3, "cannot set up the event loop: %s", strerror(errno));
		return XLB_EXIT_SYSTEM;
	}
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->sigfd,
		  &(struct epoll_event){ .events = EPOLLIN, .data.u32 = UINT32_MAX });
	return 0;
}

static void daemon_fini(struct daemon *d)
{
	for (__u32 i = 0; i < d->nr_be; i++)
		check_stop(d, &d->be[i]);
	hc_close(d);	/* its veth, rules and routes: nothing left behind */
	free(d->be);
	xlb_config_free(&d->running);
	xlb_assign_free(&d->assign);
	xlb_dp_close(&d->dp);
	xlb_config_free(&d->ro.from);
	free(d->ro.changed.services);
	free(d->ro.snap);
	if (d->daemon_lock >= 0)
		close(d->daemon_lock);
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->epfd >= 0)
		close(d->epfd);
}

/* Ready fds: a signal (reload or stop) or a probe.  Returns true to stop. */
static bool handle_events(struct daemon *d, const struct epoll_event *ev, int n)
{
	bool stop = false;

	for (int i = 0; i < n; i++) {
		struct signalfd_siginfo si;

		if (ev[i].data.u32 < d->nr_be) {
			progress_check(d, ev[i].data.u32);
		} else if (ev[i].data.u32 == UINT32_MAX &&
			   read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP)
				reload(d);
			else
				stop = true;
		}
	}
	return stop;
}

/* Once a second: the distribution watch, the metrics file, systemd's status. */
static __u32 open_fds(void)
{
	struct dirent *de;
	DIR *dir = opendir("/proc/self/fd");
	__u32 n = 0;

	while (dir && (de = readdir(dir)))
		n += de->d_name[0] != '.';
	if (dir)
		closedir(dir);
	return n ? n - 1 : 0;	/* less the one reading */
}

/* The history's size and the room left for it (a full disk refuses every change). */
static void measure_state(struct daemon *d)
{
	struct xlb_history_usage u;
	char dir[512];
	bool ok;

	ok = !xlb_history_dir(d->o->state_root, d->o->ifname, dir, sizeof(dir)) &&
	     !xlb_history_usage(dir, &u);
	pthread_mutex_lock(&d->lock);
	d->has_usage = ok;
	if (ok)
		d->usage = u;
	pthread_mutex_unlock(&d->lock);
}

/*
 * A change made beside the daemon (the CLI): read the running configuration
 * again.  Two map lookups: every tick, so that health verdicts a CLI change
 * undid are put back within one tick of it.
 */
static void notice_generation(struct daemon *d)
{
	struct xlb_slot_conf conf;
	__u32 slot;

	if (!xlb_dp_active_slot(&d->dp, &slot) && !xlb_dp_get_slot_conf(&d->dp, slot, &conf) &&
	    conf.generation != d->generation)
		sync_running(d);
}

/* Attached again or upgraded: the maps held are stale; then the generation. */
static void notice_changes(struct daemon *d)
{
	char dir[256], path[300];
	int fd;

	/* attached again (new maps pinned) or upgraded (counters carried into a larger
	 * map, maps added): the ones held are stale */
	if (!xlb_pin_dir(d->o->ifname, dir, sizeof(dir))) {
		snprintf(path, sizeof(path), "%s/xlb_active", dir);
		fd = bpf_obj_get(path);
		if (fd >= 0 && xlb_dp_pins_moved(&d->dp, dir)) {
			struct xlb_dp fresh;

			static __u32 failed;	/* an attach under way pins map after map */

			if (xlb_dp_open_pinned(&fresh, dir)) {
				if (++failed == 5)
					dlog(3, "the balancer was attached again; %s", xlb_errmsg());
			} else {
				failed = 0;
				dlog(4, "the balancer was attached again to %s: reading its new maps",
				     d->o->ifname);
				pthread_mutex_lock(&d->lock);
				xlb_dp_close(&d->dp);
				d->dp = fresh;
				d->generation = UINT64_MAX;	/* read the running generation again */
				pthread_mutex_unlock(&d->lock);
			}
		}
		if (fd >= 0)
			close(fd);
	}
	notice_generation(d);
}

/*
 * Every few seconds: release the moved slots no flow needs any more (the
 * lock is tried, never waited on: a CLI change releases them too), and
 * count what the connection table remembers.
 */
static void release_moved(struct daemon *d)
{
	struct xlb_release r;
	struct xlb_ctl c;
	__u32 flows = 0;
	int err;

	if (xlb_ctl_try_open(d->o->ifname, d->o->state_root, &c))
		return;
	err = xlb_moved_release(&c, xlb_moved_now(), &r);
	xlb_ctl_close(&c);
	if (err) {
		dlog(4, "cannot release moved table slots: %s", xlb_errmsg());
		return;
	}
	if (r.released)
		dlog(6, "released %u moved table slots of %u services (no flow needed their "
		     "previous backend for flow_idle_timeout); %u remembered flows forgotten, "
		     "%u slots still moved", r.released, r.services, r.forgotten, r.moved);
	/* walking a full table takes ~0.5 s per million entries: every 30 s, or after a release */
	if (r.released || r.replaced || now_ms() - d->flows_counted_ms >= 30000) {
		xlb_dp_count_entries(d->dp.flows, sizeof(struct xlb_flow_key), &flows);
		d->flows_counted_ms = now_ms();
	} else {
		flows = d->flows_remembered;
	}
	pthread_mutex_lock(&d->lock);
	d->has_moved = true;
	memcpy(d->moved_by_index, r.moved_by_index, sizeof(d->moved_by_index));
	d->moved_released += r.released;
	d->flows_remembered = flows;
	pthread_mutex_unlock(&d->lock);
}

static void every_second(struct daemon *d)
{
	static __u32 ticks;
	char status[128];

	rollout_tick(d);
	notice_changes(d);
	follow_second(d);
	decide_second(d);
	fleetroll_second(d);
	announce_tick(d);
	checks_tick(d);
	if (ticks % 5 == 0)
		release_moved(d);
	if (ticks++ % 10 == 0)
		measure_state(d);
	d->open_fds = open_fds();
	sample(d);
	if (d->o->metrics_file)
		write_metrics_file(d, d->o->metrics_file);
	snprintf(status, sizeof(status), "STATUS=generation %llu, %u backends",
		 (unsigned long long)d->generation, d->nr_be);
	sd_notify(0, status);
}

int xlb_daemon_run(const struct xlb_daemon_opts *o)
{
	struct daemon d = { .o = o, .seed = (__u32)getpid() * 2654435761u };
	struct MHD_Daemon *mhd = NULL;
	struct epoll_event ev[64];
	__u64 last_sample = 0;
	bool stop = false;
	int rc = daemon_init(&d);

	if (rc)
		goto out;
	sync_running(&d);
	reload(&d);
	hc_open(&d, now_ms());	/* when a check goes via tunnel: said at once if it cannot */
	if ((rc = follow_start(&d)) || (rc = decide_start(&d)))
		goto out;
	if (!d.generation && !o->config && !o->store)
		dlog(4, "no configuration is live on %s yet: nothing to check", o->ifname);
	if (o->metrics_addr && !(mhd = start_metrics(&d, o->metrics_addr))) {
		dlog(3, "cannot serve metrics on %s", o->metrics_addr);
		rc = XLB_EXIT_SYSTEM;
		goto out;
	}
	dlog(6, "daemon: running on %s, generation %llu, %u backends%s%s", o->ifname,
	     (unsigned long long)d.generation, d.nr_be, o->metrics_addr ? ", metrics on " : "",
	     o->metrics_addr ? o->metrics_addr : "");
	sd_notify(0, "READY=1");
	while (!stop) {
		int n = epoll_wait(d.epfd, ev, 64, 50);
		__u64 now;

		stop = handle_events(&d, ev, n);
		now = now_ms();
		run_checks(&d, now);
		hc_refresh(&d, now);
		neigh_tick(&d, now);
		announce_poll(&d);
		follow_poll(&d);
		decide_poll(&d);
		notice_generation(&d);
		if (d.pending)
			commit_health(&d, now);
		if (now - last_sample >= 1000) {
			last_sample = now;
			every_second(&d);
		}
	}
	sd_notify(0, "STOPPING=1");
	announce_stop(&d);
	dlog(6, "daemon: stopping; the data plane keeps forwarding");
out:
	if (mhd)
		MHD_stop_daemon(mhd);
	decide_stop(&d);	/* resigns while the lease is still there */
	fleetroll_stop(&d);
	follow_stop(&d);	/* revokes the lease */
	daemon_fini(&d);
	return rc;
}
