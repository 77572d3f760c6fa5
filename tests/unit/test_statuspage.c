/* The status page's fleet section (xlb daemon --store): its rows, its alerts, none without a store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "statuspage.h"

/* The page for fleet (NULL: no store), malloc'd. */
static char *page(const struct xlb_page_fleet *fleet)
{
	struct xlb_metrics m = { .generation = 4 };
	struct xlb_page p = { .m = &m, .node = "host1", .ifname = "eth0", .refresh_s = 5,
			      .now = "2026-01-01T00:00:00Z", .fleet_why = "", .fleet = fleet };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	snprintf(m.fingerprint, sizeof(m.fingerprint), "00000000000000aa");
	xlb_status_page(&p, f);
	fclose(f);
	return buf;
}

static void has(const char *page, const char *text)
{
	if (!strstr(page, text))
		fail_msg("the page lacks \"%s\":\n%s", text, page);
}

static void lacks(const char *page, const char *text)
{
	if (strstr(page, text))
		fail_msg("the page has \"%s\":\n%s", text, page);
}

static struct xlb_page_fleet following(void)
{
	struct xlb_page_fleet fl = { .fleet = "f1", .node = "n1", .reachable = true,
				     .endpoint = "https://203.0.113.1:2379", .have_desired = true,
				     .desired = 7, .who = "alice", .when = "2026-01-01T00:00:00Z",
				     .reason = "add <b3> & more", .source = "apply", .applied = 7,
				     .applied_fp = "00000000000000aa", .has_lease = true,
				     .lease_age_s = 2, .leader = "n2", .leader_term = 812,
				     .leader_since = "2026-01-01T00:00:01Z", .elections = 1 };
	return fl;
}

static void no_store_no_section(void **state)
{
	char *p = page(NULL);

	(void)state;
	lacks(p, "id=\"fleet\"");
	lacks(p, "fleet-");
	has(p, "No alert.");
	free(p);
}

static void in_step(void **state)
{
	struct xlb_page_fleet fl = following();
	char *p = page(&fl);

	(void)state;
	has(p, "<h2 id=\"fleet\">fleet f1</h2>");
	has(p, "<tr id=\"fleet-node\"><th>node</th><td>n1</td></tr>");
	has(p, "<tr id=\"fleet-store\"><th>store</th><td>https://203.0.113.1:2379 answering</td>");
	has(p, "<td>7, apply by alice at 2026-01-01T00:00:00Z: add &lt;b3&gt; &amp; more</td>");
	has(p, "<tr id=\"fleet-applied\"><th>applied generation</th><td>7 (configuration "
	       "00000000000000aa)</td>");
	has(p, "<tr id=\"fleet-refused\"><th>refused generation</th><td>none</td>");
	has(p, "<tr id=\"fleet-local\"><th>local change</th><td>none</td>");
	has(p, "<tr id=\"fleet-lease\"><th>lease</th><td>kept alive 2 s ago</td>");
	has(p, "<tr id=\"fleet-gate\"><th>announce gate</th><td>open");
	has(p, "<tr id=\"fleet-leader\"><th>leader</th><td>n2, term 812, since "
	       "2026-01-01T00:00:01Z; elections won by this node: 1</td>");
	has(p, "No alert.");
	lacks(p, "<b3>");
	free(p);
}

static void troubles(void **state)
{
	struct xlb_page_fleet fl = following();
	char *p;

	(void)state;
	fl.reachable = false;
	snprintf(fl.lost_since, sizeof(fl.lost_since), "2026-01-01T00:01:00Z");
	snprintf(fl.lost_why, sizeof(fl.lost_why), "no store endpoint answered: refused");
	fl.desired = 9;
	fl.refused = 9;
	snprintf(fl.refused_why, sizeof(fl.refused_why), "its configuration is not valid");
	fl.local_change = true;
	snprintf(fl.local_who, sizeof(fl.local_who), "bob");
	snprintf(fl.local_when, sizeof(fl.local_when), "2026-01-01T00:02:00Z");
	snprintf(fl.local_reason, sizeof(fl.local_reason), "emergency");
	fl.has_lease = false;
	snprintf(fl.gate_why, sizeof(fl.gate_why), "fleet generation 9 was refused here");
	p = page(&fl);
	has(p, "<b class=\"state-down\">unreachable since 2026-01-01T00:01:00Z</b>: no store "
	       "endpoint answered: refused");
	has(p, "<td>7 (configuration 00000000000000aa) <b class=\"state-down\">behind</b>");
	has(p, "<b class=\"state-down\">9</b>: its configuration is not valid");
	has(p, "<b class=\"state-down\">forced</b> by bob at 2026-01-01T00:02:00Z: emergency");
	has(p, "<td>none (not granted yet, or expired)</td>");
	has(p, "<b class=\"state-down\">closed</b>: fleet generation 9 was refused here");
	/* and the alerts list says each */
	has(p, "<li>the fleet store cannot be reached since 2026-01-01T00:01:00Z");
	has(p, "<li>fleet generation 9 was refused here: its configuration is not valid");
	has(p, "<li>a local change was forced beside the fleet by bob: emergency");
	free(p);
}

/* The health verdicts' row: whose, and what this node alone sees. */
static void health_verdicts(void **state)
{
	struct xlb_page_fleet fl = following();
	char *p;

	(void)state;
	fl.health_fleet = true;
	fl.health_seq = 12;
	fl.health_disagree = 1;
	snprintf(fl.health_sick, sizeof(fl.health_sick), "this node alone sees service web "
		 "backend 198.51.100.2 down (the fleet holds it up: 2 of 3 nodes see it up) for 3 checks");
	p = page(&fl);
	has(p, "<tr id=\"fleet-health\"><th>health verdicts</th><td>the fleet's (decide/health "
	       "seq 12); <b class=\"state-down\">withdrawn</b>: this node alone sees service web "
	       "backend 198.51.100.2 down");
	free(p);
	fl.health_fleet = false;
	fl.health_sick[0] = '\0';
	p = page(&fl);
	has(p, "<td>this node's own (no fleet record, or the store lost past the grace); "
	       "<b>1 backend this node alone sees down</b></td>");
	free(p);
}

static void not_read_yet(void **state)
{
	struct xlb_page_fleet fl = { .fleet = "f1", .node = "n1" };
	char *p;

	(void)state;
	snprintf(fl.gate_why, sizeof(fl.gate_why), "the fleet's desired generation is not read "
		 "yet (the store cannot be reached)");
	p = page(&fl);
	has(p, "<b class=\"state-down\">unreachable</b>: not reached yet");
	has(p, "<tr id=\"fleet-desired\"><th>desired generation</th><td>not read yet</td>");
	has(p, "<tr id=\"fleet-applied\"><th>applied generation</th><td>none</td>");
	has(p, "<tr id=\"fleet-leader\"><th>leader</th><td><b class=\"state-down\">none</b>");
	free(p);
	fl.leader_term = 9;	/* this node leads */
	fl.leading = true;
	snprintf(fl.leader, sizeof(fl.leader), "n1");
	p = page(&fl);
	has(p, "<td>n1 (this node), term 9, since ;");
	free(p);
}

/* The fleet rollout's row: none, then a record as watched (its why escaped). */
static void rollout_row(void **state)
{
	struct xlb_page_fleet fl = following();
	char *p;

	(void)state;
	p = page(&fl);
	has(p, "<tr id=\"fleet-rollout\"><th>fleet rollout</th><td>none (<code>xlb fleet apply "
	       "--steps N</code> starts one)</td></tr>");
	free(p);
	fl.rollout = (struct xlb_page_rollout){ .have = true, .id = "r0000abcd", .state = "running",
						.request = "pause", .step = 2, .steps = 4 };
	p = page(&fl);
	has(p, "<tr id=\"fleet-rollout\"><th>fleet rollout</th><td>r0000abcd <b>running</b>, "
	       "step 2 of 4; request: pause (for the leader)</td></tr>");
	free(p);
	fl.rollout = (struct xlb_page_rollout){ .have = true, .id = "r0000abcd",
						.state = "rolled_back", .step = 3, .steps = 4,
						.why = "drops rose <script>alert(1)</script> & \"more\"" };
	p = page(&fl);
	has(p, "<td>r0000abcd <b class=\"state-down\">rolled_back</b>, step 3 of 4; why: drops "
	       "rose &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;more&quot;</td></tr>");
	lacks(p, "<script>");
	free(p);
}

/* The decisions: newest first as given, every field escaped, the source said. */
static void decisions_table(void **state)
{
	struct xlb_page_fleet fl = following();
	char *p, *a, *b;

	(void)state;
	p = page(&fl);
	has(p, "<h2 id=\"decisions\">fleet decisions</h2>");
	has(p, "The newest 8 decisions seen since this daemon started (decide/events not read yet)");
	has(p, "<tr><td colspan=\"5\">none recorded</td></tr>");
	free(p);
	fl.events_read = true;
	fl.nr_events = 2;
	fl.events[0] = (struct xlb_page_event){ .id = "0001767225602000000-n2", .kind = "rollback",
		.node = "n2", .when = "2026-01-01T00:00:02.000Z",
		.what = "rollout r1 rolled back at step 1 of 4",
		.why = "<script>alert('x')</script> syn retries 40% > 10%" };
	fl.events[1] = (struct xlb_page_event){ .id = "0001767225601000000-n2", .kind = "election",
		.node = "n2<i>", .when = "2026-01-01T00:00:01.000Z", .what = "n2 leads fleet f1",
		.why = "the fleet had no leader yet" };
	p = page(&fl);
	has(p, "The newest 8 of decide/events (read from the store when this daemon started, "
	       "then watched)");
	has(p, "<tr><td>2026-01-01T00:00:02.000Z</td><td>rollback</td><td>n2</td><td>rollout r1 "
	       "rolled back at step 1 of 4</td><td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; "
	       "syn retries 40% &gt; 10%</td></tr>");
	has(p, "<tr><td>2026-01-01T00:00:01.000Z</td><td>election</td><td>n2&lt;i&gt;</td><td>n2 "
	       "leads fleet f1</td><td>the fleet had no leader yet</td></tr>");
	lacks(p, "<script>");
	lacks(p, "<i>");
	lacks(p, "none recorded");
	a = strstr(p, "<td>rollback</td>");
	b = strstr(p, "<td>election</td>");
	assert_true(a && b && a < b);	/* in the order given: newest first */
	free(p);
}

/* Each backend's last verdict says why it failed and by which path (issue 25). */
static void verdicts_say_why(void **state)
{
	struct xlb_metrics_backend be[2] = {
		{ .service = "web", .address = "198.51.100.1", .up = false, .in_config = true,
		  .has_verdict = true, .why = "TLS: certificate <expired>", .tunnel = true },
		{ .service = "web", .address = "198.51.100.2", .up = true, .in_config = true,
		  .has_verdict = true, .last_ok = true },
	};
	struct xlb_metrics_service svc = { .name = "web" };
	struct xlb_metrics m = { .generation = 4, .be = be, .nr_be = 2, .svc = &svc, .nr_svc = 1 };
	struct xlb_page p = { .m = &m, .node = "host1", .ifname = "eth0", .refresh_s = 5,
			      .now = "2026-01-01T00:00:00Z", .fleet_why = "" };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	xlb_status_page(&p, f);
	fclose(f);
	has(buf, "failing</b><br><span class=\"why\">TLS: certificate &lt;expired&gt;</span> "
		 "<span class=\"meta\">(tunnel)</span>");
	has(buf, "passing <span class=\"meta\">(direct)</span>");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_store_no_section),
		cmocka_unit_test(in_step),
		cmocka_unit_test(troubles),
		cmocka_unit_test(not_read_yet),
		cmocka_unit_test(health_verdicts),
		cmocka_unit_test(rollout_row),
		cmocka_unit_test(decisions_table),
		cmocka_unit_test(verdicts_say_why),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
