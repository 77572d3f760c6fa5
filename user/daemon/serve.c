/* The distribution watch and what the daemon serves: metrics, status page, metrics file. */
#define _GNU_SOURCE
#include "state.h"
#include "maglev.h"

/* ---- distribution watch and metrics --------------------------------------------- */

bool is_udp(const struct daemon *d, const char *service)
{
	const struct xlb_service_conf *s = xlb_config_service(&d->running, service);

	return s && s->proto == IPPROTO_UDP;
}

void sample(struct daemon *d)
{
	struct xlb_watch_opts wo = { .window_ms = d->o->skew_window_ms,
				     .threshold = d->o->skew_threshold,
				     .for_ms = d->o->skew_for_ms, .min_flows = d->o->skew_min_flows };
	__u64 now = now_ms();

	pthread_mutex_lock(&d->lock);
	for (__u32 i = 0; i < d->nr_be; i++) {
		struct dbackend *b = &d->be[i];
		int idx = xlb_assign_service(&d->assign, b->service);
		struct xlb_counters mine = { 0 }, all = { 0 };
		char a[INET6_ADDRSTRLEN];

		if (idx < 0 || !b->id || xlb_dp_counters(&d->dp, d->dp.backend_stats, b->id, &mine) ||
		    xlb_dp_counters(&d->dp, d->dp.service_stats, idx, &all))
			continue;
		/* UDP has no connection start to count statelessly: its packets are the measure */
		if (xlb_watch_sample(&b->watch, &wo, now, is_udp(d, b->service) ? mine.packets :
				     mine.new_flows, is_udp(d, b->service) ? all.packets :
				     all.new_flows, b->table_share))
			dlog(4, "skew: ALERT service=%s backend=%s takes %.1f%% of new flows off "
			     "its table share %.1f%% (deviation %.3f above %.3f for %u ms)",
			     b->service, addr_s(b, a, sizeof(a)),
			     100 * (b->table_share + (b->watch.deviation)), 100 * b->table_share,
			     b->watch.deviation, wo.threshold, wo.for_ms);
	}
	pthread_mutex_unlock(&d->lock);
}

static void snapshot_backends(struct daemon *d, struct xlb_metrics *m)
{
	for (__u32 i = 0; i < d->nr_be; i++) {
		const struct dbackend *b = &d->be[i];
		struct xlb_metrics_backend *mb = &m->be[m->nr_be++];
		const struct xlb_service_conf *s = xlb_config_service(&d->running, b->service);
		const struct xlb_backend_conf *bc = s ? xlb_service_backend(s, &b->addr, b->family)
						      : NULL;

		snprintf(mb->service, sizeof(mb->service), "%s", b->service);
		addr_s(b, mb->address, sizeof(mb->address));
		mb->has_counters = b->id && !xlb_dp_counters(&d->dp, d->dp.backend_stats, b->id,
							     &mb->c);
		mb->up = !b->checked || b->h.up;
		mb->weight = bc && bc->state == XLB_BACKEND_ACTIVE ? bc->weight : 0;
		mb->table_share = b->table_share;
		mb->deviation = b->watch.deviation;
		mb->alert = b->watch.alert;
		mb->checks = b->h.checks;
		mb->failures = b->h.failures;
		mb->has_verdict = b->has_verdict;
		mb->last_ok = b->last_ok;
		snprintf(mb->why, sizeof(mb->why), "%s", b->why);
		mb->cls = b->cls;
		mb->tunnel = b->via == XLB_VIA_TUNNEL;
		memcpy(mb->fail_by, b->fail_by, sizeof(mb->fail_by));
		mb->in_config = bc != NULL;
		mb->state = bc ? bc->state : XLB_BACKEND_DOWN;
	}
}

static void snapshot_services(struct daemon *d, struct xlb_metrics *m)
{
	for (__u32 s = 0; s < d->running.nr_services; s++) {
		const struct xlb_service_conf *sc = &d->running.services[s];
		struct xlb_metrics_service *ms = &m->svc[m->nr_svc++];
		int idx = xlb_assign_service(&d->assign, sc->name);

		snprintf(ms->name, sizeof(ms->name), "%s", sc->name);
		ms->has_counters = idx >= 0 && !xlb_dp_counters(&d->dp, d->dp.service_stats, idx,
								&ms->c);
		ms->active = xlb_service_holders(sc);
		ms->udp = sc->proto == IPPROTO_UDP;
		for (__u32 k = 0; k < d->nr_tables; k++)
			if (!strcmp(d->tables[k].name, sc->name))
				snprintf(ms->table_fingerprint, sizeof(ms->table_fingerprint), "%s",
					 d->tables[k].fp);
		ms->has_moved = d->has_moved && idx >= 0;
		ms->moved = ms->has_moved ? d->moved_by_index[idx] : 0;
		for (__u32 k = 0; k < d->nr_svc; k++)
			if (!strcmp(d->svc[k].name, sc->name)) {
				ms->has_floor = true;
				ms->floor_alert = d->svc[k].floor_hit;
			}
	}
}

/* What the metrics say, copied under the lock; m->be and m->svc malloc'd. */
static int snapshot(struct daemon *d, struct xlb_metrics *m)
{
	int err = 0;

	memset(m, 0, sizeof(*m));
	pthread_mutex_lock(&d->lock);
	m->be = calloc(d->nr_be + 1, sizeof(*m->be));
	m->svc = calloc(d->running.nr_services + 1, sizeof(*m->svc));
	if (!m->be || !m->svc) {
		err = -ENOMEM;
		goto out;
	}
	m->generation = d->generation;
	memcpy(m->fingerprint, d->fingerprint, sizeof(m->fingerprint));
	snapshot_backends(d, m);
	snapshot_services(d, m);
	for (__u32 r = 0; r < XLB_STAT_MAX; r++) {
		struct xlb_stat st;

		m->has_stat[r] = !xlb_dp_stat(&d->dp, r, &st);
		m->stat_packets[r] = m->has_stat[r] ? st.packets : 0;
	}
	for (__u32 e = 0; e < XLB_EV_MAX; e++)
		m->has_event[e] = !xlb_dp_event(&d->dp, e, &m->events[e]);
	memcpy(m->reloads, d->reloads, sizeof(m->reloads));
	m->health_commits = d->health_commits;
	m->health_pending = d->pending;
	memcpy(m->health_retries, d->health_retries, sizeof(m->health_retries));
	m->unchecked = d->unchecked;
	m->hc_up = d->hc && !xlb_hcpath_stats(d->hc, &m->hc_sent, &m->hc_dropped);
	xlb_dp_flood_limited(&d->dp, &m->flows_not_remembered);
	m->has_moved = d->has_moved && !xlb_dp_moved_stats(&d->dp, &m->moved);
	m->flows_remembered = d->flows_remembered;
	m->flows_max = map_max_entries(d->dp.flows);
	m->moved_released = d->moved_released;
	m->rollout_active = d->ro.active;
	m->rollout_step = d->ro.step;
	m->rollout_steps = d->ro.steps;
	m->rollouts_done = d->rollouts_done;
	m->rollouts_back = d->rollouts_back;
	m->has_announce = d->o->announce != NULL;
	m->announced = d->announced;
	m->announce_changes = d->announce_changes;
	m->has_usage = d->has_usage;
	m->history_records = d->usage.records;
	m->history_bytes = d->usage.bytes;
	m->state_free_bytes = d->usage.free_bytes;
	m->open_fds = d->open_fds;
	m->max_fds = d->max_fds;
	m->has_fleet = d->o->store != NULL;
	m->fleet_reachable = d->fl.m.reachable;
	m->fleet_watch_rev = d->fl.m.watch_rev;
	m->fleet_desired = d->fl.m.desired;
	m->fleet_applied = d->fl.m.applied;
	m->fleet_lease_age_s = d->fl.m.lease_age_s;
	memcpy(m->fleet_rereads, d->fl.m.rereads, sizeof(m->fleet_rereads));
	m->fleet_local_change = d->fl.m.local_change;
	m->fleet_refused = d->fl.m.refused;
	m->fleet_desired_absent = d->fl.m.desired_absent;
	m->fleet_health_fleet = d->vd.m.fleet;
	m->fleet_health_seq = d->vd.m.seq;
	m->fleet_disagree = d->vd.m.disagree;
	m->fleet_verdicts = d->vd.m.written;
	m->fleet_leader = d->dc.m.leading;
	m->fleet_leader_term = d->dc.m.term;
	m->fleet_elections = d->dc.m.elections;
	m->fleet_leader_changes = d->dc.m.changes;
	m->fleet_rollout = d->dc.m.rollout.have;
	m->fleet_rollout_step = d->dc.m.rollout.step;
	m->fleet_rollout_steps = d->dc.m.rollout.steps;
	m->fleet_rollout_state = d->dc.m.rollout_state;
	m->fleet_rollbacks = d->dc.m.rollbacks;
out:
	pthread_mutex_unlock(&d->lock);
	return err;
}

/* Render the current metrics into f; false when no snapshot could be taken. */
static bool render(struct daemon *d, FILE *f)
{
	struct xlb_metrics m;

	if (snapshot(d, &m)) {
		xlb_metrics_free(&m);
		return false;
	}
	xlb_metrics_render(&m, f);
	xlb_metrics_free(&m);
	return true;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned int code, char *text,
			       size_t len, enum MHD_ResponseMemoryMode mem, const char *type)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, mem);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, "Allow", "GET, HEAD");
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

#define PAGE_RECENT	10	/* changes the status page lists */

/* The status page: the snapshot, the announcements, the latest history records. */
static bool render_page(struct daemon *d, FILE *f)
{
	struct xlb_page_vip vips[XLB_MAX_VIPS];
	struct xlb_record recent[PAGE_RECENT];
	char hist[512], node[256] = "", now[32], fleet_why[sizeof(d->fleet_why)];
	struct xlb_page p = { .ifname = d->o->ifname, .node = node, .vips = vips,
			      .recent = recent, .refresh_s = 5, .now = now,
			      .fleet_why = fleet_why, .has_announce = d->o->announce != NULL };
	struct xlb_page_fleet fleet;
	struct xlb_metrics m;
	__u64 *gens = NULL;
	__u32 n = 0;
	time_t t = time(NULL);

	if (snapshot(d, &m)) {
		xlb_metrics_free(&m);
		return false;
	}
	p.m = &m;
	gethostname(node, sizeof(node) - 1);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	pthread_mutex_lock(&d->lock);
	for (__u32 k = 0; k < d->nr_vips && p.nr_vips < XLB_MAX_VIPS; k++) {
		struct xlb_page_vip *v = &vips[p.nr_vips];

		if (d->vips[k].gone)	/* no longer configured: being withdrawn, then forgotten */
			continue;
		p.nr_vips++;

		snprintf(v->proto, sizeof(v->proto), "%s", d->vips[k].proto);
		snprintf(v->why, sizeof(v->why), "%s", d->vips[k].why);
		v->announced = d->vips[k].state == 1;
	}
	snprintf(fleet_why, sizeof(fleet_why), "%s", d->fleet_why);
	if (d->o->store && d->fl.page.fleet[0]) {
		fleet = d->fl.page;
		snprintf(fleet.leader, sizeof(fleet.leader), "%s", d->dc.m.leader);
		snprintf(fleet.leader_since, sizeof(fleet.leader_since), "%s", d->dc.m.since);
		fleet.leader_term = d->dc.m.term;
		fleet.leading = d->dc.m.leading;
		fleet.elections = d->dc.m.elections;
		fleet.rollout = d->dc.m.rollout;
		memcpy(fleet.events, d->dc.m.events, sizeof(fleet.events));
		fleet.nr_events = d->dc.m.nr_events;
		fleet.events_read = d->dc.m.events_read;
		p.fleet = &fleet;
	}
	pthread_mutex_unlock(&d->lock);
	if (!xlb_history_dir(d->o->state_root, d->o->ifname, hist, sizeof(hist))) {
		p.drained = xlb_node_marked(hist, XLB_MARK_DRAIN);
		if (!xlb_history_list(hist, &gens, &n))
			for (__u32 i = n; i-- > 0 && p.nr_recent < PAGE_RECENT;)
				if (!xlb_history_read(hist, gens[i], XLB_RECORD_META,
						      &recent[p.nr_recent]))
					p.nr_recent++;
		free(gens);
	}
	xlb_status_page(&p, f);
	for (__u32 i = 0; i < p.nr_recent; i++)
		xlb_record_free(&recent[i]);
	xlb_metrics_free(&m);
	return true;
}

/*
 * GET /metrics: Prometheus text; GET /: the status page.  Read-only: any other
 * method is refused (405), any other path is not found (404); libmicrohttpd
 * refuses requests larger than its connection memory itself.
 */
static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *data,
			     size_t *size, void **ctx)
{
	static char not_found[] = "not found: GET / (status page) or GET /metrics\n";
	static char not_allowed[] = "method not allowed: this server is read-only (GET, HEAD)\n";
	static const char text[] = "text/plain; charset=utf-8";
	char *buf = NULL;
	size_t len = 0;
	bool page, ok;
	FILE *f;

	(void)version; (void)data; (void)size; (void)ctx;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed, strlen(not_allowed),
			       MHD_RESPMEM_PERSISTENT, text);
	page = !strcmp(url, "/");
	if (!page && strcmp(url, "/metrics"))
		return respond(conn, MHD_HTTP_NOT_FOUND, not_found, strlen(not_found),
			       MHD_RESPMEM_PERSISTENT, text);
	f = open_memstream(&buf, &len);
	if (!f)
		return MHD_NO;
	ok = page ? render_page(cls, f) : render(cls, f);
	fclose(f);
	if (!ok) {
		free(buf);
		return MHD_NO;
	}
	return respond(conn, MHD_HTTP_OK, buf, len, MHD_RESPMEM_MUST_FREE,
		       page ? "text/html; charset=utf-8" : "text/plain; version=0.0.4");
}

struct MHD_Daemon *start_metrics(struct daemon *d, const char *spec)
{
	struct sockaddr_storage ss = { 0 };
	char host[64];
	const char *colon = strrchr(spec, ':');
	int port;

	if (!colon || colon - spec >= (long)sizeof(host) || (port = atoi(colon + 1)) <= 0 ||
	    port > 65535) {
		dlog(3, "--metrics %s: want ADDR:PORT", spec);
		return NULL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	} else {
		dlog(3, "--metrics %s: not an address", spec);
		return NULL;
	}
	/* bounded: idle or slow clients cannot take the descriptors the checks need */
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), port, NULL, NULL,
				serve, d, MHD_OPTION_SOCK_ADDR, &ss,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)XLB_METRICS_CONNECTIONS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)XLB_METRICS_PER_ADDR,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)XLB_METRICS_TIMEOUT_S,
				MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)XLB_METRICS_BACKLOG,
				MHD_OPTION_END);
}

/* The metrics as a state file (xlb_write_state_file), mode 0644: a textfile collector reads it. */
void write_metrics_file(struct daemon *d, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool ok = f && render(d, f);

	if (f)
		fclose(f);
	if (!ok)
		dlog(3, "cannot write the metrics file %s: %s", path,
		     f ? "no snapshot of the maps" : strerror(errno));
	else if (xlb_write_state_file(path, buf, len, 0644))
		dlog(3, "cannot write the metrics file: %s", xlb_errmsg());
	free(buf);
}
