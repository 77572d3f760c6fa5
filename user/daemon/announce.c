/* Announcement: the VIPs this node's BGP speaker announces; the fleet check before joining. */
#define _GNU_SOURCE
#include "state.h"

/* ---- announcement: the VIPs this node's BGP speaker announces ------------------------ */

/* The BIRD protocol of a VIP: xlb_ and the address with '.' and ':' as '_'. */
static void vip_protocol(const union xlb_addr *a, __u8 family, char *out, size_t len)
{
	char s[INET6_ADDRSTRLEN];

	xlb_addr_str(a, family, s, sizeof(s));
	for (char *p = s; *p; p++)
		if (*p == '.' || *p == ':')
			*p = '_';
	snprintf(out, len, "xlb_%s", s);
}

/* birdc -s SOCKET enable|disable PROTOCOL, bounded in time: 0 or -1 (why in out). */
static int birdc(struct daemon *d, const char *verb, const char *proto, char *out, size_t len)
{
	char *argv[] = { "birdc", "-s", (char *)d->o->announce, (char *)verb, (char *)proto, NULL };
	int pfd[2], status = 0;
	size_t got = 0;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execvp("birdc", argv);
		_exit(127);
	}
	close(pfd[1]);
	for (__u64 end = now_ms() + 3000; pid > 0 && got + 1 < len;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		ssize_t n;

		if (now_ms() >= end || poll(&p, 1, (int)(end - now_ms())) <= 0) {
			kill(pid, SIGKILL);
			snprintf(out, len, "birdc did not answer within 3 s");
			break;
		}
		n = read(pfd[0], out + got, len - 1 - got);
		if (n <= 0)
			break;
		got += n;
		out[got] = '\0';
	}
	close(pfd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
	/* BIRD answers "xlb_...: enabled", "...: disabled" or "...: already ..." */
	return WIFEXITED(status) && !WEXITSTATUS(status) &&
	       (strstr(out, "enabled") || strstr(out, "disabled")) ? 0 : -1;
}

/*
 * Before a node joins (announces a VIP it does not announce yet) with
 * --fleet-peer: read each peer's metrics; every peer in service (announcing)
 * must have the same live tables, service by service, as this node: a flow the
 * router moves between nodes then reaches the same backend.  A node already
 * announcing is not withdrawn for a disagreement (a change rolling over the
 * fleet disagrees for a moment); it is logged.  With no peer in service to
 * compare with, the node joins alone (a fleet's first node), and says so.
 */
static void fleet_check(struct daemon *d)
{
	struct xlb_fleet_node *peer = calloc(1, sizeof(*peer));
	__u32 compared = 0, unread = 0;
	char why[sizeof(d->fleet_why)] = "";
	__u64 end;

	if (!peer)
		return;
	d->fleet_read_ms = now_ms();
	end = d->fleet_read_ms + 1500;	/* the loop runs the health checks too: 1.5 s for all */
	for (__u32 i = 0; i < d->o->nr_fleet_peers && !why[0]; i++) {
		__u64 now = now_ms();

		peer->source = d->o->fleet_peers[i];
		if (now + 100 > end) {
			unread++;
			continue;
		}
		xlb_fleet_read(peer, end - now < 1000 ? (int)(end - now) : 1000);
		if (peer->error[0]) {
			unread++;
			continue;
		}
		if (peer->announced <= 0)
			continue;
		compared++;
		if (peer->nr_tables != d->nr_tables)
			snprintf(why, sizeof(why), "the fleet disagrees: %s has %u live tables, this "
				 "node %u (xlb fleet check)", peer->source, peer->nr_tables,
				 d->nr_tables);
		for (__u32 k = 0; k < d->nr_tables && !why[0]; k++) {
			const char *fp = xlb_fleet_table(peer, d->tables[k].name);

			if (strcmp(fp, d->tables[k].fp))
				snprintf(why, sizeof(why), "the fleet disagrees: service %s's table is "
					 "%s here, %s on %s (xlb fleet check)", d->tables[k].name,
					 d->tables[k].fp, fp[0] ? fp : "none", peer->source);
		}
	}
	free(peer);
	if (strcmp(why, d->fleet_why) && why[0])
		dlog(4, "fleet: %s", why);
	if (!why[0] && !compared && !d->fleet_alone_logged) {
		dlog(4, "fleet: no peer in service to compare with (%u of %u unreadable): this "
		     "node joins alone", unread, d->o->nr_fleet_peers);
		d->fleet_alone_logged = true;
	}
	if (compared)
		d->fleet_alone_logged = false;
	pthread_mutex_lock(&d->lock);	/* the status page reads it */
	snprintf(d->fleet_why, sizeof(d->fleet_why), "%s", why);
	pthread_mutex_unlock(&d->lock);
}

/* Why this node must not announce vip now ("" when it may). */
static void announce_why(struct daemon *d, const union xlb_addr *vip, __u8 family,
			 bool attached, bool drained, char *why, size_t len)
{
	why[0] = '\0';
	if (!attached) {
		snprintf(why, len, "the balancer is not attached to %s", d->o->ifname);
		return;
	}
	if (drained) {
		snprintf(why, len, "the node is drained (xlb node undrain)");
		return;
	}
	if (d->o->config && d->reload_failed) {
		snprintf(why, len, "the running generation is not the configuration file's "
			 "(its last reload was not applied)");
		return;
	}
	for (__u32 s = 0; s < d->running.nr_services; s++) {
		const struct xlb_service_conf *sc = &d->running.services[s];
		__u32 up = 0, need = sc->guards.min_active ? sc->guards.min_active : 1;

		if (sc->family != family || memcmp(&sc->vip, vip, sizeof(*vip)))
			continue;
		for (__u32 j = 0; j < sc->nr_backends; j++) {
			const struct xlb_backend_conf *b = &sc->backends[j];
			struct dbackend *db = find_be(d, sc->name, &b->addr, b->family);

			up += b->state == XLB_BACKEND_ACTIVE && b->weight &&
			      !(db && (db->health_down || (db->checked && !db->h.up)));
		}
		if (up < need) {
			snprintf(why, len, "service %s has %u backends up, min_active %u", sc->name,
				 up, need);
			return;
		}
	}
}

/* Every VIP of the running configuration has an entry (under d->lock). */
static void track_vips(struct daemon *d)
{
	for (__u32 s = 0; s < d->running.nr_services; s++) {
		const struct xlb_service_conf *sc = &d->running.services[s];
		struct dvip *v = NULL;
		char proto[64];

		vip_protocol(&sc->vip, sc->family, proto, sizeof(proto));
		for (__u32 k = 0; k < d->nr_vips && !v; k++)
			if (!strcmp(d->vips[k].proto, proto))
				v = &d->vips[k];
		if (!v && d->nr_vips < XLB_MAX_VIPS) {
			v = &d->vips[d->nr_vips++];
			memset(v, 0, sizeof(*v));
			snprintf(v->proto, sizeof(v->proto), "%s", proto);
			v->state = -1;
		}
		if (v)
			v->seen = d->generation;
	}
}

/* Announce or withdraw one VIP as the node's state says; its entry in vips. */
static void announce_vip(struct daemon *d, struct dvip *v, bool attached, bool drained,
			 json_t *vips)
{
	const struct xlb_service_conf *sc = NULL;
	char why[200], out[256];
	int want;

	for (__u32 s = 0; s < d->running.nr_services && !sc; s++) {
		char proto[64];

		vip_protocol(&d->running.services[s].vip, d->running.services[s].family,
			     proto, sizeof(proto));
		if (!strcmp(proto, v->proto))
			sc = &d->running.services[s];
	}
	if (sc)
		announce_why(d, &sc->vip, sc->family, attached, drained, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "no service has this VIP any more");
	if (!why[0] && v->state != 1 && d->fleet_why[0])
		snprintf(why, sizeof(why), "%s", d->fleet_why);
	want = !why[0];
	if (want != v->state) {
		if (birdc(d, want ? "enable" : "disable", v->proto, out, sizeof(out))) {
			if (now_ms() - v->failed_ms > 60000)
				dlog(3, "announce: cannot %s %s through %s: %s", want ? "enable" :
				     "disable", v->proto, d->o->announce, out);
			v->failed_ms = now_ms();
		} else {
			dlog(want ? 5 : 4, "announce: %s %s%s%s", v->proto,
			     want ? "announced" : "withdrawn", want ? "" : ": ", why);
			v->state = want;
			d->announce_changes++;
		}
	}
	snprintf(v->why, sizeof(v->why), "%s", why);
	json_array_append_new(vips, json_pack("{s:s,s:b,s:s}", "protocol", v->proto,
					      "announced", v->state == 1, "why", why));
}

/* announce.json for xlb node status (takes vips): a state file (xlb_write_state_file). */
static void write_announce_state(const char *hist, bool drained, bool attached, json_t *vips)
{
	static __u64 failed_ms;		/* the loop's thread only: logged once a minute */
	json_t *o = json_pack("{s:b,s:b,s:o,s:I}", "drained", drained, "attached", attached,
			      "vips", vips, "unix_ms", (json_int_t)time(NULL) * 1000);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	char path[600];

	json_decref(o);
	snprintf(path, sizeof(path), "%s/announce.json", hist);
	if (!text || xlb_write_state_file(path, text, strlen(text), 0600)) {
		if (now_ms() - failed_ms > 60000)
			dlog(3, "announce: cannot write %s: %s", path,
			     text ? xlb_errmsg() : "out of memory");
		failed_ms = now_ms();
	}
	free(text);
}

void announce_tick(struct daemon *d)
{
	char hist[512], path[600], pin[256];
	bool attached, drained;
	json_t *vips;

	if (!d->o->announce || xlb_history_dir(d->o->state_root, d->o->ifname, hist, sizeof(hist)))
		return;
	snprintf(path, sizeof(path), "%s/drain", hist);
	drained = !access(path, F_OK);
	/* the pinned link, live on this interface: cheap enough for once a second */
	attached = !xlb_pin_dir(d->o->ifname, pin, sizeof(pin));
	snprintf(path, sizeof(path), "%s/link", pin);
	attached = attached && xlb_pinned_link(path, if_nametoindex(d->o->ifname)) == XLB_LINK_LIVE;
	if (d->o->nr_fleet_peers && now_ms() - d->fleet_read_ms >= 2000) {
		bool joining = d->nr_vips == 0;

		for (__u32 k = 0; k < d->nr_vips; k++)
			joining |= d->vips[k].state != 1;
		if (joining)	/* peers are read without the lock: they may read ours */
			fleet_check(d);
		else		/* the next join reads the peers first */
			d->fleet_read_ms = 0;
	}
	vips = json_array();
	pthread_mutex_lock(&d->lock);
	track_vips(d);
	for (__u32 k = 0; k < d->nr_vips; k++)
		announce_vip(d, &d->vips[k], attached, drained, vips);
	d->announced = 0;
	for (__u32 k = 0; k < d->nr_vips; k++)
		d->announced += d->vips[k].state == 1;
	pthread_mutex_unlock(&d->lock);
	write_announce_state(hist, drained, attached, vips);
}
