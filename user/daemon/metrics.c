/* Prometheus text exposition of a struct xlb_metrics; see metrics.h. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"
#include "names.h"
#include "rollout.h"

const char *const xlb_health_retry_names[XLB_HEALTH_RETRY_MAX] = { "locked", "failed",
								  "refused" };

const char *const xlb_reload_names[XLB_RELOAD_MAX] = { "applied", "unchanged", "invalid",
						       "refused" };

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

#define BE_LABELS "{service=\"%s\",backend=\"%s\"}"

static void backend_counters(const struct xlb_metrics *m, FILE *f)
{
	static const struct { const char *name, *help; size_t off; } fams[] = {
		{ "xlb_backend_packets_total", "Packets sent to the backend.",
		  offsetof(struct xlb_counters, packets) },
		{ "xlb_backend_bytes_total", "Bytes sent to the backend (as received).",
		  offsetof(struct xlb_counters, bytes) },
		{ "xlb_backend_new_flows_total", "New connections sent to the backend.",
		  offsetof(struct xlb_counters, new_flows) },
	};

	for (size_t k = 0; k < sizeof(fams) / sizeof(fams[0]); k++) {
		family(f, fams[k].name, "counter", fams[k].help);
		for (__u32 i = 0; i < m->nr_be; i++)
			if (m->be[i].has_counters)
				fprintf(f, "%s" BE_LABELS " %llu\n", fams[k].name, m->be[i].service,
					m->be[i].address,
					*(const unsigned long long *)((const char *)&m->be[i].c +
								      fams[k].off));
	}
}

/* A gauge or counter of every backend; value(b) printed with fmt. */
#define BACKEND_FAMILY(f, m, name, type, help, fmt, value) do {				\
	family(f, name, type, help);							\
	for (__u32 i_ = 0; i_ < (m)->nr_be; i_++) {					\
		const struct xlb_metrics_backend *b = &(m)->be[i_];			\
		fprintf(f, name BE_LABELS " " fmt "\n", b->service, b->address, value);	\
	}										\
} while (0)

/* Failed checks of the checked backends by class (issue 25): the sum over reason
 * is xlb_backend_health_failures_total's. */
const char *const xlb_health_reason_names[XLB_HEALTH_REASONS] = {
	"none", "refused", "timeout", "tls", "status", "body", "dns", "answer", "error" };

static void failure_reasons(const struct xlb_metrics *m, FILE *f)
{
	family(f, "xlb_backend_health_failure_reasons_total", "counter",
	       "Failed health checks by why: refused, timeout, tls, status, body, dns, answer, "
	       "error.");
	for (__u32 i = 0; i < m->nr_be; i++)
		for (int k = 1; k < XLB_HEALTH_REASONS && m->be[i].has_verdict; k++)
			fprintf(f, "xlb_backend_health_failure_reasons_total{service=\"%s\","
				"backend=\"%s\",reason=\"%s\"} %llu\n", m->be[i].service, m->be[i].address,
				xlb_health_reason_names[k], (unsigned long long)m->be[i].fail_by[k]);
}

static void backend_gauges(const struct xlb_metrics *m, FILE *f)
{
	BACKEND_FAMILY(f, m, "xlb_backend_up", "gauge",
		       "1 when the backend's health check passes (or it has none).", "%d", b->up);
	BACKEND_FAMILY(f, m, "xlb_backend_weight", "gauge",
		       "Configured weight (0 when not active).", "%u", b->weight);
	BACKEND_FAMILY(f, m, "xlb_backend_table_share", "gauge",
		       "Share of the live table's slots.", "%.6f", b->table_share);
	BACKEND_FAMILY(f, m, "xlb_backend_share_deviation", "gauge",
		       "Observed share of new flows minus table share, absolute, over the window.",
		       "%.6f", b->deviation);
	BACKEND_FAMILY(f, m, "xlb_backend_share_alert", "gauge",
		       "1 while the deviation alert holds.", "%d", b->alert);
	BACKEND_FAMILY(f, m, "xlb_backend_health_checks_total", "counter", "Health checks done.",
		       "%llu", (unsigned long long)b->checks);
	BACKEND_FAMILY(f, m, "xlb_backend_health_failures_total", "counter",
		       "Failed health checks.", "%llu", (unsigned long long)b->failures);
	failure_reasons(m, f);
}

static void services(const struct xlb_metrics *m, FILE *f)
{
	family(f, "xlb_service_packets_total", "counter", "Packets forwarded for the service.");
	for (__u32 s = 0; s < m->nr_svc; s++)
		if (m->svc[s].has_counters)
			fprintf(f, "xlb_service_packets_total{service=\"%s\"} %llu\n",
				m->svc[s].name, (unsigned long long)m->svc[s].c.packets);
	family(f, "xlb_service_new_flows_total", "counter", "New connections of the service.");
	for (__u32 s = 0; s < m->nr_svc; s++)
		if (m->svc[s].has_counters)
			fprintf(f, "xlb_service_new_flows_total{service=\"%s\"} %llu\n",
				m->svc[s].name, (unsigned long long)m->svc[s].c.new_flows);
	family(f, "xlb_service_backends_active", "gauge", "Backends taking new flows.");
	for (__u32 s = 0; s < m->nr_svc; s++)
		fprintf(f, "xlb_service_backends_active{service=\"%s\"} %u\n", m->svc[s].name,
			m->svc[s].active);
	family(f, "xlb_table_info", "gauge",
	       "Fingerprint of the service's live table: of each slot's backend address, so "
	       "equal on nodes that send every flow to the same backend (xlb fleet check).");
	for (__u32 s = 0; s < m->nr_svc; s++)
		if (m->svc[s].table_fingerprint[0])
			fprintf(f, "xlb_table_info{service=\"%s\",fingerprint=\"%s\"} 1\n",
				m->svc[s].name, m->svc[s].table_fingerprint);
	family(f, "xlb_service_moved_slots", "gauge",
	       "Table slots a change moved and not yet released: flows there consult the "
	       "connection table.");
	for (__u32 s = 0; s < m->nr_svc; s++)
		if (m->svc[s].has_moved)
			fprintf(f, "xlb_service_moved_slots{service=\"%s\"} %u\n", m->svc[s].name,
				m->svc[s].moved);
	family(f, "xlb_service_floor_alert", "gauge",
	       "1 while more backends fail than min_active allows (kept in: fail open).");
	for (__u32 s = 0; s < m->nr_svc; s++)
		if (m->svc[s].has_floor)
			fprintf(f, "xlb_service_floor_alert{service=\"%s\"} %d\n", m->svc[s].name,
				m->svc[s].floor_alert);
}

/* One counter family over the verdict reasons of a kind (drop, pass, forward). */
static void verdicts(const struct xlb_metrics *m, FILE *f, const char *name, const char *kind,
		     const char *label, const char *help)
{
	family(f, name, "counter", help);
	for (__u32 r = 0; r < XLB_STAT_MAX; r++)
		if (m->has_stat[r] && !strcmp(xlb_stat_kind(r), kind))
			fprintf(f, "%s{%s=\"%s\"} %llu\n", name, label, xlb_stat_names[r],
				(unsigned long long)m->stat_packets[r]);
}

static void data_plane(const struct xlb_metrics *m, FILE *f)
{
	verdicts(m, f, "xlb_drops_total", "drop", "reason", "Packets dropped, by reason.");
	verdicts(m, f, "xlb_passes_total", "pass", "reason",
		 "Packets passed to the kernel, by reason.");
	verdicts(m, f, "xlb_forwarded_total", "forward", "action",
		 "Packets encapsulated to a backend.");
	verdicts(m, f, "xlb_replies_total", "reply", "reason",
		 "Packets answered to their sender instead (too_big: ICMP fragmentation "
		 "needed / packet too big with the MTU the tunnel leaves).");
	family(f, "xlb_events_total", "counter",
	       "Data-plane events: connection-table entries made, hits, re-hashes, RSTs without "
	       "a flow, ICMP too-big routed to a flow's backend.");
	for (__u32 e = 0; e < XLB_EV_MAX; e++)
		if (m->has_event[e])
			fprintf(f, "xlb_events_total{event=\"%s\"} %llu\n", xlb_event_names[e],
				(unsigned long long)m->events[e]);
	family(f, "xlb_flows_not_remembered_total", "counter",
	       "New flows forwarded by the table but not remembered: the flood guard's "
	       "limit of new connection-table entries per second per CPU was reached.");
	fprintf(f, "xlb_flows_not_remembered_total %llu\n",
		(unsigned long long)m->flows_not_remembered);
	if (!m->has_moved)
		return;
	family(f, "xlb_flows_remembered", "gauge",
	       "Connection-table entries: flows of moved slots (unmoved slots keep none).");
	fprintf(f, "xlb_flows_remembered %u\n", m->flows_remembered);
	family(f, "xlb_flows_max", "gauge", "Connection-table size (xlb attach --flows).");
	fprintf(f, "xlb_flows_max %u\n", m->flows_max);
	family(f, "xlb_moved_packets_total", "counter",
	       "Packets in moved table slots (the connection table was consulted).");
	fprintf(f, "xlb_moved_packets_total %llu\n", (unsigned long long)m->moved.packets);
	family(f, "xlb_flows_kept_previous_total", "counter",
	       "Flows without state in a moved slot sent to the slot's previous backend.");
	fprintf(f, "xlb_flows_kept_previous_total %llu\n", (unsigned long long)m->moved.kept);
	family(f, "xlb_moved_released_total", "counter",
	       "Moved slots released once no flow needed their previous backend.");
	fprintf(f, "xlb_moved_released_total %llu\n", (unsigned long long)m->moved_released);
}

static void rollouts(const struct xlb_metrics *m, FILE *f)
{
	if (m->has_announce) {
		family(f, "xlb_announced_vips", "gauge",
		       "VIPs this node announces through its BGP speaker now.");
		fprintf(f, "xlb_announced_vips %u\n", m->announced);
		family(f, "xlb_announce_changes_total", "counter",
		       "Announcements and withdrawals made.");
		fprintf(f, "xlb_announce_changes_total %llu\n",
			(unsigned long long)m->announce_changes);
	}
	family(f, "xlb_rollout_active", "gauge", "1 while a stepped change runs or is paused.");
	fprintf(f, "xlb_rollout_active %d\n", m->rollout_active);
	family(f, "xlb_rollout_step", "gauge", "The last step the rollout applied (0: none).");
	fprintf(f, "xlb_rollout_step %u\n", m->rollout_active ? m->rollout_step : 0);
	family(f, "xlb_rollout_steps", "gauge", "Steps of the rollout.");
	fprintf(f, "xlb_rollout_steps %u\n", m->rollout_active ? m->rollout_steps : 0);
	family(f, "xlb_rollout_completed_total", "counter", "Rollouts that reached their last step.");
	fprintf(f, "xlb_rollout_completed_total %llu\n", (unsigned long long)m->rollouts_done);
	family(f, "xlb_rollout_rolled_back_total", "counter",
	       "Rollouts rolled back (a signal past its threshold, or by hand) or stopped.");
	fprintf(f, "xlb_rollout_rolled_back_total %llu\n", (unsigned long long)m->rollouts_back);
}

static void daemon_counters(const struct xlb_metrics *m, FILE *f)
{
	family(f, "xlb_daemon_reloads_total", "counter", "SIGHUP reloads by result.");
	for (int k = 0; k < XLB_RELOAD_MAX; k++)
		fprintf(f, "xlb_daemon_reloads_total{result=\"%s\"} %llu\n", xlb_reload_names[k],
			(unsigned long long)m->reloads[k]);
	family(f, "xlb_daemon_health_commits_total", "counter", "Health changes applied.");
	fprintf(f, "xlb_daemon_health_commits_total %llu\n", (unsigned long long)m->health_commits);
	family(f, "xlb_daemon_health_refused_total", "counter",
	       "Attempts to apply a health change that were refused (retried).");
	fprintf(f, "xlb_daemon_health_refused_total %llu\n",
		(unsigned long long)m->health_retries[XLB_HEALTH_RETRY_REFUSED]);
	family(f, "xlb_daemon_health_pending", "gauge",
	       "1 while a health verdict waits to be applied (retried with backoff).");
	fprintf(f, "xlb_daemon_health_pending %d\n", m->health_pending);
	family(f, "xlb_daemon_health_retries_total", "counter",
	       "Attempts to apply a health change that did not land, by why: the interface "
	       "locked by another xlb, the commit failed, or refused.");
	for (int k = 0; k < XLB_HEALTH_RETRY_MAX; k++)
		fprintf(f, "xlb_daemon_health_retries_total{reason=\"%s\"} %llu\n",
			xlb_health_retry_names[k], (unsigned long long)m->health_retries[k]);
	family(f, "xlb_daemon_checks_unchecked_total", "counter",
	       "Health checks this host could not make (no descriptor, port or memory): "
	       "neither a success nor a failure of the backend.");
	fprintf(f, "xlb_daemon_checks_unchecked_total %llu\n", (unsigned long long)m->unchecked);
	family(f, "xlb_health_tunnel_up", "gauge", "1 when the checks' path through the tunnel "
	       "(veth, tc program, rules and routes) is made.");
	fprintf(f, "xlb_health_tunnel_up %d\n", m->hc_up);
	family(f, "xlb_health_tunnel_packets_total", "counter", "Packets of checks via tunnel "
	       "the tc program sent wrapped to their backend, or dropped (unknown mark, no room, "
	       "no route, not a check's).");
	fprintf(f, "xlb_health_tunnel_packets_total{result=\"sent\"} %llu\n",
		(unsigned long long)m->hc_sent);
	fprintf(f, "xlb_health_tunnel_packets_total{result=\"dropped\"} %llu\n",
		(unsigned long long)m->hc_dropped);
	family(f, "xlb_daemon_open_fds", "gauge", "File descriptors the daemon holds.");
	fprintf(f, "xlb_daemon_open_fds %u\n", m->open_fds);
	family(f, "xlb_daemon_max_fds", "gauge", "Its limit (RLIMIT_NOFILE).");
	fprintf(f, "xlb_daemon_max_fds %u\n", m->max_fds);
}

/* One unlabelled gauge: its family and its value. */
static void gauge(FILE *f, const char *name, const char *help, unsigned long long v)
{
	family(f, name, "gauge", help);
	fprintf(f, "%s %llu\n", name, v);
}

static void fleet(const struct xlb_metrics *m, FILE *f)
{
	if (!m->has_fleet)
		return;
	gauge(f, "xlb_fleet_store_reachable", "1 while the fleet's store answers (0: fail "
	      "static on the generation applied).", m->fleet_reachable);
	gauge(f, "xlb_fleet_watch_revision", "The store's revision the watch of the desired "
	      "record has seen.", m->fleet_watch_rev);
	gauge(f, "xlb_fleet_desired_generation", "The fleet's desired generation as last "
	      "read (0: none read).", m->fleet_desired);
	gauge(f, "xlb_fleet_applied_generation", "The fleet generation this node runs "
	      "(0: none).", m->fleet_applied);
	gauge(f, "xlb_fleet_lease_age_seconds", "Seconds since the status record's lease "
	      "was last granted or kept alive.", m->fleet_lease_age_s);
	gauge(f, "xlb_fleet_local_change", "1 while a local change forced beside the fleet "
	      "(--force --reason) runs on this node.", m->fleet_local_change);
	family(f, "xlb_fleet_desired_rereads_total", "counter", "The desired record read "
	       "again instead of watched on: the watch's revision was compacted, the store "
	       "canceled the watch, or the store's revision went back (a restored store).");
	for (int r = 0; r < XLB_FLEET_REREAD_MAX; r++)
		fprintf(f, "xlb_fleet_desired_rereads_total{reason=\"%s\"} %llu\n",
			r == XLB_FLEET_REREAD_COMPACTED ? "compacted" : r == XLB_FLEET_REREAD_CANCELED ?
			"canceled" : "restored", (unsigned long long)m->fleet_rereads[r]);
	gauge(f, "xlb_fleet_generation_refused", "1 while this node refuses the fleet's "
	      "desired generation (its status record says why).", m->fleet_refused);
	gauge(f, "xlb_fleet_desired_absent", "1 while the store has no desired record after "
	      "this node applied a generation (deleted, or the store restored empty): the node "
	      "stays on it.", m->fleet_desired_absent);
	gauge(f, "xlb_fleet_leader", "1 while this node leads the fleet (holds decide/leader).",
	      m->fleet_leader);
	gauge(f, "xlb_fleet_leader_term", "The fleet leader's term as this node sees it: "
	      "decide/leader's create revision (0: no leader).",
	      m->fleet_leader_term > 0 ? (unsigned long long)m->fleet_leader_term : 0);
	family(f, "xlb_fleet_elections_total", "counter", "Elections this node won since its "
	       "daemon started.");
	fprintf(f, "xlb_fleet_elections_total %llu\n", (unsigned long long)m->fleet_elections);
	family(f, "xlb_fleet_leader_changes_total", "counter", "Changes of the fleet's leader "
	       "this node saw (a new term) since its daemon started.");
	fprintf(f, "xlb_fleet_leader_changes_total %llu\n",
		(unsigned long long)m->fleet_leader_changes);
}

/* The fleet's health verdicts (issue 24). */
static void fleet_health(const struct xlb_metrics *m, FILE *f)
{
	if (!m->has_fleet)
		return;
	family(f, "xlb_fleet_health_mode", "gauge", "1 for the health verdicts laid over the "
	       "tables now: the fleet's (decide/health) or this node's own (no record, or the "
	       "store lost past --health-grace).");
	fprintf(f, "xlb_fleet_health_mode{mode=\"fleet\"} %d\n", m->fleet_health_fleet);
	fprintf(f, "xlb_fleet_health_mode{mode=\"own\"} %d\n", !m->fleet_health_fleet);
	gauge(f, "xlb_fleet_health_seq", "The seq of the fleet's decide/health record laid "
	      "over the tables (0: none, own verdicts).", m->fleet_health_seq);
	gauge(f, "xlb_fleet_disagree_backends", "Backends this node alone sees down while the "
	      "fleet holds them up (3 checks in a row: it withdraws its VIPs).",
	      m->fleet_disagree);
	family(f, "xlb_fleet_verdicts_total", "counter", "decide/health records this node wrote "
	       "as the fleet's leader.");
	fprintf(f, "xlb_fleet_verdicts_total %llu\n", (unsigned long long)m->fleet_verdicts);
}

/* The fleet's rollout (decide/rollout as this node watches it; issue 24). */
static void fleet_rollout(const struct xlb_metrics *m, FILE *f)
{
	if (!m->has_fleet)
		return;
	family(f, "xlb_fleet_rollout_step", "gauge", "The last step the fleet's rollout wrote "
	       "(decide/rollout; 0: none yet; absent without a record).");
	if (m->fleet_rollout)
		fprintf(f, "xlb_fleet_rollout_step %u\n", m->fleet_rollout_step);
	family(f, "xlb_fleet_rollout_steps", "gauge", "Steps of the fleet's rollout (absent "
	       "without a record).");
	if (m->fleet_rollout)
		fprintf(f, "xlb_fleet_rollout_steps %u\n", m->fleet_rollout_steps);
	family(f, "xlb_fleet_rollout_state", "gauge", "1 for the fleet rollout's state (running, "
	       "paused, done, rolled_back, aborted, failed); absent without a record.");
	for (int k = XLB_ROLLOUT_RUNNING; m->fleet_rollout && k <= XLB_ROLLOUT_FAILED; k++)
		fprintf(f, "xlb_fleet_rollout_state{state=\"%s\"} %d\n",
			xlb_rollout_state_names[k], k == m->fleet_rollout_state);
	family(f, "xlb_fleet_rollout_rollbacks_total", "counter", "Fleet rollouts this node "
	       "rolled back as the fleet's leader (a signal past its threshold, an abort, a "
	       "failed step) since its daemon started.");
	fprintf(f, "xlb_fleet_rollout_rollbacks_total %llu\n",
		(unsigned long long)m->fleet_rollbacks);
}

static void state(const struct xlb_metrics *m, FILE *f)
{
	if (!m->has_usage)
		return;
	family(f, "xlb_history_records", "gauge",
	       "Configuration history records kept (history.keep bounds them).");
	fprintf(f, "xlb_history_records %u\n", m->history_records);
	family(f, "xlb_history_bytes", "gauge", "Bytes of the history: records and bodies.");
	fprintf(f, "xlb_history_bytes %llu\n", (unsigned long long)m->history_bytes);
	family(f, "xlb_state_free_bytes", "gauge",
	       "Bytes free for the state directory: when none are left every change is "
	       "refused, health changes included.");
	fprintf(f, "xlb_state_free_bytes %llu\n", (unsigned long long)m->state_free_bytes);
}

void xlb_metrics_render(const struct xlb_metrics *m, FILE *f)
{
	family(f, "xlb_build_info", "gauge", "Build of the xlb daemon.");
	fprintf(f, "xlb_build_info{version=\"%s\"} 1\n", XLB_VERSION);
	family(f, "xlb_config_generation", "gauge", "Live configuration generation.");
	fprintf(f, "xlb_config_generation %llu\n", (unsigned long long)m->generation);
	family(f, "xlb_config_info", "gauge", "Fingerprint of the live configuration.");
	fprintf(f, "xlb_config_info{fingerprint=\"%s\"} 1\n", m->fingerprint);
	backend_counters(m, f);
	backend_gauges(m, f);
	services(m, f);
	data_plane(m, f);
	daemon_counters(m, f);
	rollouts(m, f);
	fleet(m, f);
	fleet_health(m, f);
	fleet_rollout(m, f);
	state(m, f);
}

void xlb_metrics_free(struct xlb_metrics *m)
{
	free(m->be);
	free(m->svc);
	memset(m, 0, sizeof(*m));
}
