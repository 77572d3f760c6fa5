/* The daemon's status page: one HTML document, no script, no external asset. */
#include <stdarg.h>
#include <string.h>
#include "statuspage.h"

/* Text into HTML: every character that could open markup or close an attribute. */
static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
				fputc(*s, f);
		}
	}
}

/* fmt with each %s replaced by the next argument, escaped (%% is %); nothing else. */
static void html(FILE *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (const char *c = fmt; *c; c++) {
		if (c[0] == '%' && c[1] == 's') {
			esc(f, va_arg(ap, const char *));
			c++;
		} else if (c[0] == '%' && c[1] == '%') {
			fputc('%', f);
			c++;
		} else {
			fputc(*c, f);
		}
	}
	va_end(ap);
}

static double clamp01(double x)
{
	return x < 0 ? 0 : x > 1 ? 1 : x;
}

static const char *state_name(__u8 state)
{
	return state == XLB_BACKEND_ACTIVE ? "active" : state == XLB_BACKEND_DRAIN ? "drain" :
	       "down";
}

/* A labelled bar of share (0..1), class cls. */
static void bar(FILE *f, double share, const char *cls)
{
	fprintf(f, "<div class=\"bar %s\"><span style=\"width:%.1f%%\"></span><em>%.1f%%</em></div>",
		cls, 100 * clamp01(share), 100 * share);
}

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
	"h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}"
	".meta{color:#555}table{border-collapse:collapse;background:#fff;margin:.3em 0}"
	"th,td{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}"
	"th{background:#eee;font-weight:600}.bar{position:relative;width:180px;height:1.1em;"
	"background:#e8e8e8}.bar span{display:block;height:100%}.bar em{position:absolute;"
	"left:.4em;top:0;font-style:normal;font-size:.85em}.table span{background:#8ab4f8}"
	".seen span{background:#81c995}.seen.off span{background:#f28b82}"
	".alerts{background:#fde8e6;border-left:4px solid #d93025;padding:.5em 1em}"
	".ok{background:#e6f4ea;border-left:4px solid #1e8e3e;padding:.5em 1em}"
	".state-down{color:#d93025;font-weight:600}.state-drain{color:#b06000}"
	"code{background:#eee;padding:0 .2em}";

/* Open an alert's line (and the list, before the first one). */
static void alert(FILE *f, int *n)
{
	if ((*n)++)
		fputs("</li>\n<li>", f);
	else
		fputs("<div class=\"alerts\" id=\"alerts\"><ul><li>", f);
}

/* The fleet's conditions: the store lost, a generation refused, a local change forced. */
static void fleet_alerts(const struct xlb_page_fleet *fl, FILE *f, int *n)
{
	char gen[24];

	if (!fl)
		return;
	if (!fl->reachable) {
		alert(f, n);
		html(f, "the fleet store cannot be reached%s%s: the node stays on what it runs",
		     fl->lost_since[0] ? " since " : "", fl->lost_since);
	}
	if (fl->refused && fl->refused == fl->desired) {
		alert(f, n);
		snprintf(gen, sizeof(gen), "%llu", (unsigned long long)fl->refused);
		html(f, "fleet generation %s was refused here: %s", gen, fl->refused_why);
	}
	if (fl->local_change) {
		alert(f, n);
		html(f, "a local change was forced beside the fleet by %s: %s", fl->local_who,
		     fl->local_reason);
	}
}

/* Every condition an operator acts on now, one line each; the count. */
static int alerts(const struct xlb_page *p, FILE *f)
{
	const struct xlb_metrics *m = p->m;
	int n = 0;

	for (__u32 s = 0; s < m->nr_svc; s++)
		if (m->svc[s].floor_alert) {
			alert(f, &n);
			html(f, "service <b>%s</b>", m->svc[s].name);
			fputs(" is held at its floor (min_active): more backends fail than it allows "
			      "(<code>xlb backend list</code>)", f);
		}
	for (__u32 i = 0; i < m->nr_be; i++) {
		const struct xlb_metrics_backend *b = &m->be[i];

		if (b->in_config && !b->up) {
			alert(f, &n);
			html(f, "backend <b>%s</b> of %s fails its health checks", b->address,
			     b->service);
		}
		if (b->alert) {
			alert(f, &n);
			html(f, "backend <b>%s</b> of %s", b->address, b->service);
			fprintf(f, " takes %.1f%% of new connections against a table share of %.1f%%",
				100 * clamp01(b->table_share + b->deviation), 100 * b->table_share);
		}
	}
	if (m->health_pending) {
		alert(f, &n);
		fputs("a health change waits to be applied (see the daemon's log)", f);
	}
	if (m->rollout_active) {
		alert(f, &n);
		fprintf(f, "a rollout is running: step %u of %u (<code>xlb rollout status</code>)",
			m->rollout_step, m->rollout_steps);
	}
	if (m->has_moved && m->flows_max && m->flows_remembered > m->flows_max / 10 * 8) {
		alert(f, &n);
		fprintf(f, "the connection table is %.0f%% full",
			100.0 * m->flows_remembered / m->flows_max);
	}
	fleet_alerts(p->fleet, f, &n);
	if (p->fleet_why && p->fleet_why[0]) {
		alert(f, &n);
		esc(f, p->fleet_why);
	}
	if (p->drained) {
		alert(f, &n);
		fputs("this node is drained (<code>xlb node undrain</code>)", f);
	}
	for (__u32 v = 0; v < p->nr_vips; v++)
		if (!p->vips[v].announced && !p->drained) {
			alert(f, &n);
			html(f, "VIP %s is withdrawn: %s", p->vips[v].proto, p->vips[v].why);
		}
	if (n)
		fputs("</li></ul></div>\n", f);
	else
		fputs("<div class=\"ok\" id=\"alerts\">No alert.</div>\n", f);
	return n;
}

/* The last check's verdict: why it failed and by which path (issue 25). */
static void check_why(FILE *f, const struct xlb_metrics_backend *b)
{
	if (!b->has_verdict)
		return;
	if (!b->last_ok)
		html(f, "<br><span class=\"why\">%s</span>", b->why);
	fprintf(f, " <span class=\"meta\">(%s)</span>", b->tunnel ? "tunnel" : "direct");
}

static void service(const struct xlb_page *p, const struct xlb_metrics_service *s, FILE *f)
{
	const struct xlb_metrics *m = p->m;

	html(f, "<h2>service %s</h2>", s->name);
	fprintf(f, "<p class=\"meta\">%u backends hold table slots; table fingerprint %s",
		s->active, s->table_fingerprint[0] ? s->table_fingerprint : "none");
	if (s->has_moved)
		fprintf(f, "; %u slots moved by a change", s->moved);
	if (s->has_counters)
		fprintf(f, "; %llu packets, %llu new connections",
			(unsigned long long)s->c.packets, (unsigned long long)s->c.new_flows);
	fprintf(f, "</p>\n<table class=\"service\"><tr><th>backend</th><th>state</th><th>health</th>"
		"<th>weight</th><th>table share</th><th>observed share (%s since attach)</th>"
		"<th>packets</th></tr>\n", s->udp ? "packets" : "new connections");
	for (__u32 i = 0; i < m->nr_be; i++) {
		const struct xlb_metrics_backend *b = &m->be[i];
		__u64 all, mine;

		if (strcmp(b->service, s->name) || !b->in_config)
			continue;
		html(f, "<tr><td>%s", b->address);
		fprintf(f, "</td><td class=\"state-%s\">%s</td><td>%s", state_name(b->state),
			state_name(b->state), b->up ? "passing" : "<b class=\"state-down\">failing</b>");
		check_why(f, b);
		fprintf(f, "</td><td>%u</td><td>", b->weight);
		bar(f, b->table_share, "table");
		fputs("</td><td>", f);
		all = s->udp ? s->c.packets : s->c.new_flows;
		mine = s->udp ? b->c.packets : b->c.new_flows;
		if (s->has_counters && b->has_counters && all)
			bar(f, (double)mine / all, b->alert ? "seen off" : "seen");
		else
			fputs("<span class=\"meta\">none yet</span>", f);
		fprintf(f, "</td><td>%llu</td></tr>\n",
			(unsigned long long)(b->has_counters ? b->c.packets : 0));
	}
	fputs("</table>\n", f);
}

/* One row of the fleet table: a header and the row's id, the cell opened. */
static void fleet_row(FILE *f, const char *id, const char *name)
{
	fprintf(f, "<tr id=\"fleet-%s\"><th>%s</th><td>", id, name);
}

/* The desired record and what this node made of it. */
static void fleet_generations(const struct xlb_page_fleet *fl, FILE *f)
{
	fleet_row(f, "desired", "desired generation");
	if (!fl->have_desired)
		fputs("not read yet", f);
	else if (!fl->desired)
		fputs("none yet (<code>xlb fleet apply</code>)", f);
	else
		fprintf(f, "%llu", (unsigned long long)fl->desired);
	if (fl->have_desired && fl->desired)
		html(f, ", %s by %s at %s: %s", fl->source, fl->who, fl->when,
		     fl->reason[0] ? fl->reason : "no reason given");
	if (fl->have_desired && fl->forced)
		fputs(" <b>(forced)</b>", f);
	fputs("</td></tr>\n", f);
	fleet_row(f, "applied", "applied generation");
	if (fl->applied)
		fprintf(f, "%llu (configuration %s)%s", (unsigned long long)fl->applied,
			fl->applied_fp, fl->applied == fl->desired ? "" :
			" <b class=\"state-down\">behind</b>");
	else
		fputs("none", f);
	fputs("</td></tr>\n", f);
	fleet_row(f, "refused", "refused generation");
	if (fl->refused) {
		fprintf(f, "<b class=\"state-down\">%llu</b>: ", (unsigned long long)fl->refused);
		esc(f, fl->refused_why);
	} else {
		fputs("none", f);
	}
	fputs("</td></tr>\n", f);
}

/* decide/rollout as this node watches it: the fleet's stepped change. */
static void fleet_rollout(const struct xlb_page_fleet *fl, FILE *f)
{
	const struct xlb_page_rollout *r = &fl->rollout;
	bool bad = !strcmp(r->state, "rolled_back") || !strcmp(r->state, "aborted") ||
		   !strcmp(r->state, "failed");
	char step[48];

	fleet_row(f, "rollout", "fleet rollout");
	if (!r->have) {
		fputs("none (<code>xlb fleet apply --steps N</code> starts one)</td></tr>\n", f);
		return;
	}
	snprintf(step, sizeof(step), "step %u of %u", r->step, r->steps);
	html(f, bad ? "%s <b class=\"state-down\">%s</b>, %s" : "%s <b>%s</b>, %s", r->id,
	     r->state, step);
	if (r->request[0])
		html(f, "; request: %s (for the leader)", r->request);
	if (r->why[0])
		html(f, "; why: %s", r->why);
	fputs("</td></tr>\n", f);
}

/* The fleet's decisions (decide/events), newest first: who decided what and why. */
static void decisions(const struct xlb_page_fleet *fl, FILE *f)
{
	fputs("<h2 id=\"decisions\">fleet decisions</h2>\n<p class=\"meta\">", f);
	fprintf(f, fl->events_read ? "The newest %d of decide/events (read from the store when "
		"this daemon started, then watched); every one: <code>xlb fleet history</code>" :
		"The newest %d decisions seen since this daemon started (decide/events not read "
		"yet); every one: <code>xlb fleet history</code>", XLB_PAGE_EVENTS);
	fputs("</p>\n<table class=\"decisions\"><tr><th>time (UTC)</th><th>kind</th>"
	      "<th>node</th><th>what</th><th>why</th></tr>\n", f);
	for (__u32 i = 0; i < fl->nr_events && i < XLB_PAGE_EVENTS; i++) {
		const struct xlb_page_event *e = &fl->events[i];

		html(f, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
		     e->when, e->kind, e->node, e->what, e->why);
	}
	if (!fl->nr_events)
		fputs("<tr><td colspan=\"5\">none recorded</td></tr>\n", f);
	fputs("</table>\n", f);
}

/* The fleet this node follows: the store, the generations, the lease, the gate. */
static void fleet(const struct xlb_page_fleet *fl, FILE *f)
{
	char term[24];

	html(f, "<h2 id=\"fleet\">fleet %s</h2>\n<table class=\"fleet\">\n", fl->fleet);
	fleet_row(f, "node", "node");
	html(f, "%s</td></tr>\n", fl->node);
	fleet_row(f, "store", "store");
	if (fl->reachable)
		html(f, "%s answering", fl->endpoint);
	else
		html(f, "<b class=\"state-down\">unreachable%s%s</b>: %s", fl->lost_since[0] ?
		     " since " : "", fl->lost_since, fl->lost_why[0] ? fl->lost_why : "not reached yet");
	fputs("</td></tr>\n", f);
	snprintf(term, sizeof(term), "%lld", (long long)fl->leader_term);
	fleet_row(f, "leader", "leader");
	if (fl->leader_term)
		html(f, "%s%s, term %s, since %s", fl->leader, fl->leading ? " (this node)" : "",
		     term, fl->leader_since);
	else
		fputs("<b class=\"state-down\">none</b> (an election is due)", f);
	fprintf(f, "; elections won by this node: %llu</td></tr>\n",
		(unsigned long long)fl->elections);
	fleet_generations(fl, f);
	fleet_rollout(fl, f);
	fleet_row(f, "local", "local change");
	if (fl->local_change)
		html(f, "<b class=\"state-down\">forced</b> by %s at %s: %s", fl->local_who,
		     fl->local_when, fl->local_reason);
	else
		fputs("none", f);
	fputs("</td></tr>\n", f);
	fleet_row(f, "lease", "lease");
	if (fl->has_lease)
		fprintf(f, "kept alive %llu s ago", (unsigned long long)fl->lease_age_s);
	else
		fputs("none (not granted yet, or expired)", f);
	fputs("</td></tr>\n", f);
	fleet_row(f, "health", "health verdicts");
	if (fl->health_fleet)
		fprintf(f, "the fleet's (decide/health seq %llu)", (unsigned long long)fl->health_seq);
	else
		fputs("this node's own (no fleet record, or the store lost past the grace)", f);
	if (fl->health_sick[0])
		html(f, "; <b class=\"state-down\">withdrawn</b>: %s", fl->health_sick);
	else if (fl->health_disagree)
		fprintf(f, "; <b>%u backend%s this node alone sees down</b>", fl->health_disagree,
			fl->health_disagree == 1 ? "" : "s");
	fputs("</td></tr>\n", f);
	fleet_row(f, "gate", "announce gate");
	if (fl->gate_why[0])
		html(f, "<b class=\"state-down\">closed</b>: %s", fl->gate_why);
	else
		fputs("open (the node runs the fleet's desired generation)", f);
	fputs("</td></tr>\n</table>\n", f);
	decisions(fl, f);
}

static void history(const struct xlb_page *p, FILE *f)
{
	fputs("<h2>recent changes</h2>\n<table class=\"history\"><tr><th>generation</th>"
	      "<th>time (UTC)</th><th>source</th><th>who</th><th>why</th></tr>\n", f);
	for (__u32 i = 0; i < p->nr_recent; i++) {
		const struct xlb_record *r = &p->recent[i];

		fprintf(f, "<tr><td>%llu%s</td>", (unsigned long long)r->generation,
			i == 0 ? " (running)" : "");
		html(f, "<td>%s</td><td>%s</td><td>%s</td><td>%s", r->time, r->source, r->user,
		     r->reason);
		fputs(r->forced ? " <b>(forced)</b></td></tr>\n" : "</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

void xlb_status_page(const struct xlb_page *p, FILE *f)
{
	const struct xlb_metrics *m = p->m;
	const struct xlb_record *run = p->nr_recent ? &p->recent[0] : NULL;

	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<meta http-equiv=\"refresh\" content=\"%u\">", p->refresh_s);
	html(f, "<title>xlb on %s</title>", p->node);
	fprintf(f, "<style>%s</style></head>\n<body>\n", style);
	html(f, "<h1>xlb on %s (%s)</h1>\n", p->node, p->ifname);
	fprintf(f, "<p class=\"meta\" id=\"generation\">generation %llu, configuration %s",
		(unsigned long long)m->generation, m->fingerprint);
	if (run && run->generation == m->generation)
		html(f, ", applied %s by %s (%s): %s", run->time, run->user, run->source,
		     run->reason[0] ? run->reason : "no reason given");
	fputs("<br>", f);
	if (p->has_announce) {
		fprintf(f, "%u of %u VIPs announced%s; ", m->announced, p->nr_vips,
			p->drained ? ", node drained" : "");
	}
	if (m->has_moved)
		fprintf(f, "connection table %u of %u; ", m->flows_remembered, m->flows_max);
	html(f, "page made %s", p->now);
	fprintf(f, " UTC, refreshed every %u s; read-only (changes: the xlb command)</p>\n",
		p->refresh_s);
	alerts(p, f);
	if (p->fleet)
		fleet(p->fleet, f);
	for (__u32 s = 0; s < m->nr_svc; s++)
		service(p, &m->svc[s], f);
	if (!m->nr_svc)
		fputs("<p>No service is configured.</p>\n", f);
	history(p, f);
	fputs("</body></html>\n", f);
}
