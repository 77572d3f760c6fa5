/*
 * The daemon's side of the checks' way through the tunnel (hcpath.h): made
 * when the running configuration has a check via tunnel (the default), with
 * the tunnel sources the XDP program writes (the live slot's src4/src6, the
 * attach's --src4/--src6), removed when the daemon stops.  A check through
 * the tunnel gets a mark for its probe and gives it back when the probe
 * ends.  When the path cannot be made its checks are "unchecked", saying
 * why: never made direct instead, which would judge another path.
 */
#define _GNU_SOURCE
#include "state.h"

#define HC_RETRY_MS	60000

static bool tunnel_checks(const struct daemon *d)
{
	for (__u32 s = 0; s < d->running.nr_services; s++) {
		const struct xlb_health *h = &d->running.services[s].health;

		if (h->type != XLB_HEALTH_NONE && h->via == XLB_VIA_TUNNEL)
			return true;
	}
	return false;
}

/* Make the path if a check needs it and it is not there (a failure: once a minute). */
void hc_open(struct daemon *d, __u64 now)
{
	struct xlb_hcpath *hp = NULL;
	struct xlb_slot_conf conf;
	__u32 slot;
	int err;

	if (d->hc || !tunnel_checks(d) || (d->hc_tried_ms && now - d->hc_tried_ms < HC_RETRY_MS))
		return;
	err = xlb_dp_active_slot(&d->dp, &slot) ?: xlb_dp_get_slot_conf(&d->dp, slot, &conf) ?:
	      xlb_hcpath_open(d->o->ifname, &conf.src4, &conf.src6, &hp);
	if (err) {
		d->hc_tried_ms = now ?: 1;
		snprintf(d->hc_why, sizeof(d->hc_why), "no path through the tunnel: %s",
			 xlb_errmsg());
		dlog(3, "health: cannot make the checks' path through the tunnel on %s: %s; checks "
		     "via tunnel are not made (unchecked) until it can be (tried again in %u s)",
		     d->o->ifname, xlb_errmsg(), HC_RETRY_MS / 1000);
		return;
	}
	pthread_mutex_lock(&d->lock);	/* the metrics thread reads its counters */
	d->hc = hp;
	pthread_mutex_unlock(&d->lock);
	d->hc_why[0] = '\0';
	d->hc_tried_ms = 0;
	dlog(6, "health: checks via tunnel leave by %s (tunnel sources: %s%s%s)",
	     xlb_hcpath_veth(d->hc), xlb_hcpath_source(d->hc, XLB_FAMILY_V4) ? "IPv4" : "",
	     xlb_hcpath_source(d->hc, XLB_FAMILY_V4) && xlb_hcpath_source(d->hc, XLB_FAMILY_V6) ?
	     ", " : "", xlb_hcpath_source(d->hc, XLB_FAMILY_V6) ? "IPv6" : "");
	if (xlb_hcpath_note(d->hc)[0])
		dlog(4, "health: %s", xlb_hcpath_note(d->hc));
}

/* After every probe is stopped (their marks given back). */
void hc_close(struct daemon *d)
{
	struct xlb_hcpath *hp = d->hc;

	pthread_mutex_lock(&d->lock);
	d->hc = NULL;
	pthread_mutex_unlock(&d->lock);
	xlb_hcpath_close(hp);
}

/* The probe ended (a verdict, its deadline, or it was stopped): its mark is free. */
void hc_release(struct daemon *d, struct dbackend *b)
{
	if (b->hc_mark)
		xlb_hcpath_release(d->hc, b->hc_mark);
	b->hc_mark = 0;
}

void check_stop(struct daemon *d, struct dbackend *b)
{
	xlb_probe_stop(&b->probe, d->epfd);
	xlb_probe_curl_forget(&b->probe);
	hc_release(d, b);
}

/*
 * Through the tunnel (t from target_of: to the VIP): from the tunnel source
 * with a mark that names b and the way its service forwards (IP-in-IP, GUE
 * to its port, or L2 to its MAC).  0, or -1 with b->probe.why saying why it cannot be checked.
 */
int hc_target(struct daemon *d, struct dbackend *b, struct xlb_probe_target *t)
{
	const struct xlb_service_conf *s = xlb_config_service(&d->running, b->service);
	struct xlb_hc_target ht = { .backend = b->addr, .family = b->family };
	const union xlb_addr *src;

	if (t->via != XLB_VIA_TUNNEL)
		return 0;
	hc_open(d, now_ms());
	if (!d->hc) {
		snprintf(b->probe.why, sizeof(b->probe.why), "%s", d->hc_why);
		return -1;
	}
	if (s && s->forward == XLB_FWD_GUE) {
		ht.fwd = XLB_FWD_GUE;
		ht.gue_port = htons(s->gue_port ?: XLB_GUE_PORT_DEFAULT);
	} else if (s) {
		ht.fwd = s->forward;
	}
	src = xlb_hcpath_source(d->hc, b->family);
	if (!b->hc_mark && (!src || xlb_hcpath_claim(d->hc, &ht, &b->hc_mark))) {
		snprintf(b->probe.why, sizeof(b->probe.why), "%s",
			 src ? xlb_errmsg() : b->family == XLB_FAMILY_V4 ?
			 "no IPv4 tunnel source (attach --src4)" :
			 "no IPv6 tunnel source (attach --src6)");
		b->hc_mark = 0;
		return -1;
	}
	t->mark = b->hc_mark;
	t->bind_src = true;
	t->src = *src;
	return 0;
}

static bool same_source(const struct xlb_hcpath *hp, __u8 family, const union xlb_addr *now)
{
	static const union xlb_addr none;
	const union xlb_addr *was = xlb_hcpath_source(hp, family);

	return !memcmp(was ? was : &none, now, sizeof(*now));
}

/*
 * Once a second: the path follows the data plane.  A new tunnel source
 * (xlb attach --src4/--src6 while the daemon runs) remakes it, so checks
 * leave from the address the XDP program writes; when no check goes via
 * tunnel any more it is removed.  Probes in flight are stopped first (their
 * marks name the old path) and checked again at once.
 */
void hc_refresh(struct daemon *d, __u64 now)
{
	static __u64 last_ms;
	struct xlb_slot_conf conf;
	__u32 slot;
	bool keep;

	if (!d->hc || now - last_ms < 1000)
		return;
	last_ms = now;
	keep = tunnel_checks(d);
	if (keep && (xlb_dp_active_slot(&d->dp, &slot) || xlb_dp_get_slot_conf(&d->dp, slot, &conf) ||
		     (same_source(d->hc, XLB_FAMILY_V4, &conf.src4) &&
		      same_source(d->hc, XLB_FAMILY_V6, &conf.src6))))
		return;
	dlog(5, "health: %s", keep ? "the tunnel source changed: the checks' path is made again" :
	     "no check goes via tunnel: the checks' path is removed");
	for (__u32 i = 0; i < d->nr_be; i++)
		if (d->be[i].hc_mark)
			check_stop(d, &d->be[i]);
	hc_close(d);
	if (keep)
		hc_open(d, now);
}
