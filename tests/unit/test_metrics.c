/* Prometheus text of a metrics snapshot: every family, labels, values (no privileges). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"
#include "probe.h"
#include "names.h"
#include "rollout.h"

static char *render_of(const struct xlb_metrics *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	xlb_metrics_render(m, f);
	fclose(f);
	return buf;
}

static void has_line(const char *text, const char *line)
{
	const char *p = text;
	size_t n = strlen(line);

	for (; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return;
	fail_msg("no line '%s' in:\n%s", line, text);
}

static void a_snapshot_renders_every_family(void **state)
{
	struct xlb_metrics_backend be[2] = {
		{ .service = "web", .address = "198.51.100.1", .has_counters = true,
		  .c = { .packets = 10, .bytes = 1500, .new_flows = 3 }, .up = true, .weight = 100,
		  .table_share = 0.5, .deviation = 0.125, .checks = 7, .failures = 1,
		  .has_verdict = true, .fail_by = { [XLB_PC_TLS] = 1 } },
		{ .service = "web", .address = "2001:db8::2", .up = false, .alert = true },
	};
	struct xlb_metrics_service svc[1] = { { .name = "web", .has_counters = true,
		.c = { .packets = 10, .new_flows = 3 }, .active = 1, .has_floor = true,
		.floor_alert = true } };
	struct xlb_metrics m = { .generation = 42, .fingerprint = "00112233aabbccdd", .be = be,
				 .nr_be = 2, .svc = svc, .nr_svc = 1, .health_commits = 5,
				 .reloads = { [XLB_RELOAD_INVALID] = 2 }, .unchecked = 6,
				 .hc_up = true, .hc_sent = 41, .hc_dropped = 2, .flows_not_remembered = 11,
				 .open_fds = 30, .max_fds = 65536, .has_usage = true,
				 .history_records = 12, .history_bytes = 4096,
				 .state_free_bytes = 1000000 };
	char *t;

	(void)state;
	m.has_stat[XLB_DROP_NO_BACKEND] = true;
	m.stat_packets[XLB_DROP_NO_BACKEND] = 9;
	m.has_stat[XLB_PASS_NOT_VIP] = true;
	m.stat_packets[XLB_PASS_NOT_VIP] = 4;
	m.has_stat[XLB_REPLY_TOO_BIG] = true;
	m.stat_packets[XLB_REPLY_TOO_BIG] = 7;
	m.has_stat[XLB_DROP_TOO_BIG] = true;
	m.stat_packets[XLB_DROP_TOO_BIG] = 2;
	m.has_event[XLB_EV_FLOW_NEW] = true;
	m.events[XLB_EV_FLOW_NEW] = 3;
	t = render_of(&m);
	has_line(t, "xlb_config_generation 42");
	has_line(t, "xlb_config_info{fingerprint=\"00112233aabbccdd\"} 1");
	has_line(t, "# TYPE xlb_backend_packets_total counter");
	has_line(t, "xlb_backend_packets_total{service=\"web\",backend=\"198.51.100.1\"} 10");
	has_line(t, "xlb_backend_bytes_total{service=\"web\",backend=\"198.51.100.1\"} 1500");
	has_line(t, "xlb_backend_new_flows_total{service=\"web\",backend=\"198.51.100.1\"} 3");
	assert_null(strstr(t, "xlb_backend_packets_total{service=\"web\",backend=\"2001:db8::2\"}"));
	has_line(t, "xlb_backend_up{service=\"web\",backend=\"2001:db8::2\"} 0");
	has_line(t, "xlb_backend_weight{service=\"web\",backend=\"198.51.100.1\"} 100");
	has_line(t, "xlb_backend_table_share{service=\"web\",backend=\"198.51.100.1\"} 0.500000");
	has_line(t, "xlb_backend_share_deviation{service=\"web\",backend=\"198.51.100.1\"} 0.125000");
	has_line(t, "xlb_backend_share_alert{service=\"web\",backend=\"2001:db8::2\"} 1");
	has_line(t, "xlb_backend_health_failures_total{service=\"web\",backend=\"198.51.100.1\"} 1");
	has_line(t, "xlb_backend_health_failure_reasons_total{service=\"web\","
		 "backend=\"198.51.100.1\",reason=\"tls\"} 1");
	has_line(t, "xlb_backend_health_failure_reasons_total{service=\"web\","
		 "backend=\"198.51.100.1\",reason=\"timeout\"} 0");
	/* a backend never checked has no reasons */
	assert_null(strstr(t, "reasons_total{service=\"web\",backend=\"2001:db8::2\""));
	has_line(t, "xlb_service_floor_alert{service=\"web\"} 1");
	has_line(t, "xlb_service_backends_active{service=\"web\"} 1");
	has_line(t, "xlb_drops_total{reason=\"no_backend\"} 9");
	has_line(t, "xlb_passes_total{reason=\"not_vip\"} 4");
	assert_null(strstr(t, "xlb_drops_total{reason=\"not_vip\"}"));
	/* an answer is a reply, not a drop: same reason name, its own family */
	has_line(t, "xlb_replies_total{reason=\"too_big\"} 7");
	has_line(t, "xlb_drops_total{reason=\"too_big\"} 2");
	has_line(t, "xlb_events_total{event=\"flow_new\"} 3");
	has_line(t, "xlb_daemon_reloads_total{result=\"invalid\"} 2");
	has_line(t, "xlb_daemon_health_commits_total 5");
	has_line(t, "# TYPE xlb_build_info gauge");
	has_line(t, "xlb_daemon_checks_unchecked_total 6");
	has_line(t, "xlb_health_tunnel_up 1");
	has_line(t, "xlb_health_tunnel_packets_total{result=\"sent\"} 41");
	has_line(t, "xlb_health_tunnel_packets_total{result=\"dropped\"} 2");
	has_line(t, "xlb_flows_not_remembered_total 11");
	has_line(t, "xlb_daemon_open_fds 30");
	has_line(t, "xlb_daemon_max_fds 65536");
	has_line(t, "xlb_history_records 12");
	has_line(t, "xlb_history_bytes 4096");
	has_line(t, "xlb_state_free_bytes 1000000");
	free(t);
	/* unread usage: no figures rather than zeros that would read as "disk full" */
	m.has_usage = false;
	t = render_of(&m);
	assert_null(strstr(t, "xlb_state_free_bytes"));
	free(t);
}

/* The fleet's leader (issue 24): only with a store, its four families. */
static void the_fleets_leader(void **state)
{
	struct xlb_metrics m = { .has_fleet = true, .fleet_leader = true, .fleet_leader_term = 812,
				 .fleet_elections = 3, .fleet_leader_changes = 5 };
	char *t;

	(void)state;
	t = render_of(&m);
	has_line(t, "# TYPE xlb_fleet_leader gauge");
	has_line(t, "xlb_fleet_leader 1");
	has_line(t, "xlb_fleet_leader_term 812");
	has_line(t, "# TYPE xlb_fleet_elections_total counter");
	has_line(t, "xlb_fleet_elections_total 3");
	has_line(t, "# TYPE xlb_fleet_leader_changes_total counter");
	has_line(t, "xlb_fleet_leader_changes_total 5");
	free(t);
	m.fleet_leader = false;
	m.fleet_leader_term = 0;
	t = render_of(&m);
	has_line(t, "xlb_fleet_leader 0");
	has_line(t, "xlb_fleet_leader_term 0");
	free(t);
	m.has_fleet = false;	/* no store: none of them */
	t = render_of(&m);
	assert_null(strstr(t, "xlb_fleet_"));
	free(t);
}

/* The fleet's health verdicts (issue 24): with --store only, the mode one-hot. */
static void fleet_health_families(void **state)
{
	struct xlb_metrics m = { .has_fleet = true, .fleet_health_fleet = true,
				 .fleet_health_seq = 17, .fleet_disagree = 2, .fleet_verdicts = 9 };
	char *t;

	(void)state;
	t = render_of(&m);
	has_line(t, "# TYPE xlb_fleet_health_mode gauge");
	has_line(t, "xlb_fleet_health_mode{mode=\"fleet\"} 1");
	has_line(t, "xlb_fleet_health_mode{mode=\"own\"} 0");
	has_line(t, "xlb_fleet_health_seq 17");
	has_line(t, "xlb_fleet_disagree_backends 2");
	has_line(t, "# TYPE xlb_fleet_verdicts_total counter");
	has_line(t, "xlb_fleet_verdicts_total 9");
	free(t);
	m.fleet_health_fleet = false;
	m.fleet_health_seq = 0;
	t = render_of(&m);
	has_line(t, "xlb_fleet_health_mode{mode=\"fleet\"} 0");
	has_line(t, "xlb_fleet_health_mode{mode=\"own\"} 1");
	has_line(t, "xlb_fleet_health_seq 0");
	free(t);
	m.has_fleet = false;	/* no store: no fleet families */
	t = render_of(&m);
	assert_null(strstr(t, "xlb_fleet_health_mode"));
	assert_null(strstr(t, "xlb_fleet_verdicts_total"));
	free(t);
}

/* The fleet's rollout (issue 24): step, steps, the state one-hot, none without a record. */
static void fleet_rollout_families(void **state)
{
	struct xlb_metrics m = { .has_fleet = true, .fleet_rollout = true, .fleet_rollout_step = 2,
				 .fleet_rollout_steps = 4,
				 .fleet_rollout_state = XLB_ROLLOUT_ROLLED_BACK, .fleet_rollbacks = 1 };
	const char *const others[] = { "running", "paused", "done", "aborted", "failed" };
	char *t, line[96];

	(void)state;
	t = render_of(&m);
	has_line(t, "# TYPE xlb_fleet_rollout_step gauge");
	has_line(t, "xlb_fleet_rollout_step 2");
	has_line(t, "# TYPE xlb_fleet_rollout_steps gauge");
	has_line(t, "xlb_fleet_rollout_steps 4");
	has_line(t, "# TYPE xlb_fleet_rollout_state gauge");
	has_line(t, "xlb_fleet_rollout_state{state=\"rolled_back\"} 1");
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		snprintf(line, sizeof(line), "xlb_fleet_rollout_state{state=\"%s\"} 0", others[i]);
		has_line(t, line);
	}
	has_line(t, "# TYPE xlb_fleet_rollout_rollbacks_total counter");
	has_line(t, "xlb_fleet_rollout_rollbacks_total 1");
	free(t);
	m.fleet_rollout_state = XLB_ROLLOUT_RUNNING;
	t = render_of(&m);
	has_line(t, "xlb_fleet_rollout_state{state=\"running\"} 1");
	has_line(t, "xlb_fleet_rollout_state{state=\"rolled_back\"} 0");
	free(t);
	/* no record: the families say so, with no sample; the counter stays */
	m.fleet_rollout = false;
	t = render_of(&m);
	has_line(t, "# TYPE xlb_fleet_rollout_state gauge");
	assert_null(strstr(t, "\nxlb_fleet_rollout_step "));	/* a sample, not its HELP */
	assert_null(strstr(t, "\nxlb_fleet_rollout_steps "));
	assert_null(strstr(t, "xlb_fleet_rollout_state{"));
	has_line(t, "xlb_fleet_rollout_rollbacks_total 1");
	free(t);
	m.has_fleet = false;	/* no store: none of them */
	t = render_of(&m);
	assert_null(strstr(t, "xlb_fleet_rollout"));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_snapshot_renders_every_family),
		cmocka_unit_test(the_fleets_leader),
		cmocka_unit_test(fleet_health_families),
		cmocka_unit_test(fleet_rollout_families),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
