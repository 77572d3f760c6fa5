/*
 * Announcement: the VIPs this node's BGP speaker announces.  Each VIP's
 * birdc enable|disable runs as a watched child (child.c): started by the
 * tick, collected on the loop's later turns, killed after BIRDC_MS; the
 * daemon's lock is never held while BIRD answers.  A VIP no longer in the
 * running configuration is withdrawn once and forgotten.  The fleet check
 * before joining is join.c's.
 */
#define _GNU_SOURCE
#include "state.h"
#include "decide.h"

#define BIRDC_MS	3000	/* one birdc, all of it */
#define BIRDC_AT_ONCE	8	/* birdc children under way at most */

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

/* Start birdc -s SOCKET enable|disable PROTOCOL for v, watched. */
static void birdc_start(struct daemon *d, struct dvip *v)
{
	char *argv[] = { "birdc", "-s", (char *)d->o->announce, v->want ? "enable" : "disable",
			 v->proto, NULL };

	v->asked = v->want;
	if (!child_start(&v->birdc, argv, NULL, NULL, BIRDC_MS))
		return;
	if (now_ms() - v->logged_ms > 60000) {
		v->logged_ms = now_ms();
		dlog(3, "announce: cannot run birdc: %s", strerror(errno));
	}
	v->failed_ms = now_ms();
}

/*
 * A daemon that starts does not know what BIRD announces: a restart beside a
 * data plane that kept forwarding finds its VIPs announced, and the fleet's
 * gate keeps an announced VIP through its grace while the node catches up;
 * taken for withdrawn, it would be withdrawn and announced again a moment
 * later, and ECMP would move the node's flows twice.  So its state is asked
 * first (birdc show protocols); an answer that says neither keeps it unknown.
 */
static void birdc_show(struct daemon *d, struct dvip *v)
{
	char *argv[] = { "birdc", "-s", (char *)d->o->announce, "show", "protocols", v->proto,
			 NULL };

	v->asked = VIP_ASKED_SHOW;
	v->probed = true;
	child_start(&v->birdc, argv, NULL, NULL, BIRDC_MS);
}

/* "NAME Static master4 up ..." (or down): 1, 0, or -1 when not said. */
static int shown_state(const char *out, const char *proto)
{
	const char *line = out;
	char name[64], kind[32], table[32], state[16];

	for (; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (sscanf(line, "%63s %31s %31s %15s", name, kind, table, state) == 4 &&
		    !strcmp(name, proto))
			return !strcmp(state, "up") ? 1 : !strcmp(state, "down") ? 0 : -1;
	return -1;
}

/* v's birdc ended: its answer becomes v's state.  False while it runs. */
static bool birdc_collect(struct daemon *d, struct dvip *v)
{
	int status = 0, r = child_poll(&v->birdc, &status);
	const char *verb = v->asked ? "enable" : "disable";
	char *out = v->birdc.out;
	bool ok;

	if (r != CHILD_DONE && r != CHILD_KILLED)
		return false;
	if (v->asked == VIP_ASKED_SHOW) {
		int st = r == CHILD_DONE ? shown_state(out, v->proto) : -1;

		dlog(6, "announce: %s is %s in BIRD at the daemon's start", v->proto,
		     st < 0 ? "not known" : st ? "announced" : "withdrawn");
		pthread_mutex_lock(&d->lock);
		v->state = st;
		pthread_mutex_unlock(&d->lock);
		return true;
	}
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
	/* BIRD answers "xlb_...: enabled", "...: disabled" or "...: already ..." */
	ok = r == CHILD_DONE && WIFEXITED(status) && !WEXITSTATUS(status) &&
	     (strstr(out, "enabled") || strstr(out, "disabled"));
	if (!ok && (now_ms() - v->logged_ms > 60000 || v->gone)) {
		v->logged_ms = now_ms();
		dlog(3, "announce: cannot %s %s through %s: %s", verb, v->proto, d->o->announce,
		     r == CHILD_KILLED ? "birdc did not answer within 3 s (killed)" :
		     out[0] ? out : WIFEXITED(status) && WEXITSTATUS(status) == 127 ?
		     "birdc cannot be run (not installed?)" : "birdc failed without a word");
	}
	if (!ok)
		v->failed_ms = now_ms();
	else
		dlog(v->asked ? 5 : 4, "announce: %s %s%s%s", v->proto, v->asked ? "announced" :
		     "withdrawn", v->asked ? "" : ": ", v->why);
	pthread_mutex_lock(&d->lock);
	if (ok)
		d->announce_changes++;
	if (ok || (v->gone && !v->asked))	/* a removed VIP is asked once */
		v->state = v->asked;
	pthread_mutex_unlock(&d->lock);
	return true;
}

/* Forget the removed VIPs that are withdrawn (under d->lock). */
static void forget_gone(struct daemon *d)
{
	__u32 k = 0;

	for (__u32 i = 0; i < d->nr_vips; i++) {
		struct dvip *v = &d->vips[i];

		if (v->gone && v->state == 0 && v->birdc.pid <= 0) {
			dlog(6, "announce: %s forgotten: no service has this VIP any more", v->proto);
			continue;
		}
		if (k != i)
			d->vips[k] = *v;
		k++;
	}
	d->nr_vips = k;
}

/*
 * Every VIP of the running configuration has an entry; one no longer in it
 * is gone: withdrawn once, then forgotten (under d->lock).
 */
static void track_vips(struct daemon *d)
{
	for (__u32 k = 0; k < d->nr_vips; k++)
		d->vips[k].gone = true;
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
			v->gone = false;
	}
	forget_gone(d);
}

/* What the node's state says of v: v->want, and v->why (under d->lock). */
static void decide(struct daemon *d, struct dvip *v)
{
	const struct xlb_service_conf *sc = NULL;

	for (__u32 s = 0; s < d->running.nr_services && !sc && !v->gone; s++) {
		char proto[64];

		vip_protocol(&d->running.services[s].vip, d->running.services[s].family,
			     proto, sizeof(proto));
		if (!strcmp(proto, v->proto))
			sc = &d->running.services[s];
	}
	if (sc)
		announce_why(d, &sc->vip, sc->family, d->ann_attached, d->ann_drained, v->why,
			     sizeof(v->why));
	else
		snprintf(v->why, sizeof(v->why), "no service has this VIP any more");
	if (!v->why[0] && d->o->store)
		follow_announce_why(d, v->state == 1, v->why, sizeof(v->why));
	if (!v->why[0] && d->o->store)	/* it alone sees a backend down: the sick one */
		decide_announce_why(d, v->why, sizeof(v->why));
	if (!v->why[0] && v->state != 1 && d->o->nr_fleet_peers)
		snprintf(v->why, sizeof(v->why), "%s", !d->fleet_fresh ? "the fleet's peers are "
			 "read first (--fleet-peer)" : d->fleet_why);
	v->want = !v->why[0];
	/* a VIP not announced: why, once per reason (the withdrawal says it too) */
	if (!v->want && v->state != 1 && strcmp(v->why, v->said))
		dlog(5, "announce: not announcing %s: %s", v->proto, v->why);
	snprintf(v->said, sizeof(v->said), "%s", v->want ? "" : v->why);
}

/*
 * announce.json for xlb node status (takes vips; node.c writes it): written
 * when what it says changes, and once a minute besides (unix_ms: when), so
 * the loop does not sync a file and its directory every second for nothing.
 */
static void write_announce_state(const char *hist, bool drained, bool attached, json_t *vips)
{
	static __u64 failed_ms, written_ms;	/* the loop's thread only */
	static json_t *last;			/* what the file says, without unix_ms */
	json_t *o = json_pack("{s:b,s:b,s:o}", "drained", drained, "attached", attached,
			      "vips", vips);

	if (o && last && json_equal(o, last) && now_ms() - written_ms < 60000) {
		json_decref(o);
		return;
	}
	if (o && !json_object_set_new(o, "unix_ms", json_integer((json_int_t)time(NULL) * 1000)) &&
	    !xlb_node_report_write(hist, o)) {
		json_object_del(o, "unix_ms");
		json_decref(last);
		last = json_incref(o);
		written_ms = now_ms();
	} else {
		if (now_ms() - failed_ms > 60000)
			dlog(3, "announce: cannot write announce.json in %s: %s", hist,
			     o ? xlb_errmsg() : "out of memory");
		failed_ms = now_ms();
	}
	json_decref(o);
}

/* Start the birdc of the VIPs whose state must change, BIRDC_AT_ONCE at most under way. */
static void start_pending(struct daemon *d)
{
	__u32 busy = 0;

	for (__u32 k = 0; k < d->nr_vips; k++)
		busy += d->vips[k].birdc.pid > 0;
	for (__u32 k = 0; k < d->nr_vips && busy < BIRDC_AT_ONCE; k++) {
		struct dvip *v = &d->vips[k];

		if (v->birdc.pid <= 0 && v->state < 0 && !v->probed) {
			birdc_show(d, v);
			busy += v->birdc.pid > 0;
		} else if (v->birdc.pid <= 0 && v->want != v->state &&
			   now_ms() - v->failed_ms >= 1000) {
			birdc_start(d, v);
			busy += v->birdc.pid > 0;
		}
	}
}

/* announce.json and xlb_announced_vips from the VIPs' states. */
static void publish(struct daemon *d, const char *hist)
{
	json_t *vips = json_array();
	bool drained, attached;

	pthread_mutex_lock(&d->lock);
	d->announced = 0;
	for (__u32 k = 0; k < d->nr_vips; k++) {
		const struct dvip *v = &d->vips[k];

		d->announced += v->state == 1;
		if (!v->gone)
			json_array_append_new(vips, json_pack("{s:s,s:b,s:s}", "protocol", v->proto,
							      "announced", v->state == 1, "why",
							      v->why));
	}
	drained = d->ann_drained;
	attached = d->ann_attached;
	pthread_mutex_unlock(&d->lock);
	write_announce_state(hist, drained, attached, vips);
}

/* Every turn of the loop: the birdc answers and the peers' verdict, without waiting. */
void announce_poll(struct daemon *d)
{
	char hist[512];
	bool changed = false;

	if (!d->o->announce)
		return;
	fleet_collect(d);
	for (__u32 k = 0; k < d->nr_vips; k++)
		if (d->vips[k].birdc.pid > 0)
			changed |= birdc_collect(d, &d->vips[k]);
	if (!changed)
		return;
	pthread_mutex_lock(&d->lock);
	forget_gone(d);
	pthread_mutex_unlock(&d->lock);
	start_pending(d);
	if (!xlb_history_dir(d->o->state_root, d->o->ifname, hist, sizeof(hist)))
		publish(d, hist);
}

/* Once a second: decide every VIP; start the birdc of those that must change. */
void announce_tick(struct daemon *d)
{
	char hist[512], path[600], pin[256];
	bool attached, drained, joining = false;
	__u32 live = 0;

	if (!d->o->announce || xlb_history_dir(d->o->state_root, d->o->ifname, hist, sizeof(hist)))
		return;
	drained = xlb_node_marked(hist, XLB_MARK_DRAIN);
	/* the pinned link, live on this interface: cheap enough for once a second */
	attached = !xlb_pin_dir(d->o->ifname, pin, sizeof(pin));
	snprintf(path, sizeof(path), "%s/link", pin);
	attached = attached && xlb_pinned_link(path, if_nametoindex(d->o->ifname)) == XLB_LINK_LIVE;
	for (__u32 k = 0; k < d->nr_vips; k++) {
		live += !d->vips[k].gone;
		joining |= !d->vips[k].gone && d->vips[k].state != 1;
	}
	joining |= !live;
	fleet_tick(d, joining, hist);
	pthread_mutex_lock(&d->lock);
	d->ann_drained = drained;
	d->ann_attached = attached;
	track_vips(d);
	for (__u32 k = 0; k < d->nr_vips; k++)
		decide(d, &d->vips[k]);
	pthread_mutex_unlock(&d->lock);
	start_pending(d);
	publish(d, hist);
}

/* Stopping: no birdc or peers' reading is left running. */
void announce_stop(struct daemon *d)
{
	child_stop(&d->fleet);
	for (__u32 k = 0; k < d->nr_vips; k++)
		child_stop(&d->vips[k].birdc);
}
