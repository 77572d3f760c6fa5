/* The command's printers of library results: a plan, a configuration's errors. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "cmd.h"
#include "config.h"
#include "log.h"
#include "netutil.h"
#include "plan.h"

/* "weight/state" of a backend in a plan: "100/active", or "100/active->50/drain". */
static void weight_state(const struct xlb_plan_backend *b, char *ws, size_t len)
{
	if (b->in_old && b->in_new && (b->weight_old != b->weight_new ||
				       b->state_old != b->state_new))
		snprintf(ws, len, "%u/%s->%u/%s", b->weight_old, xlb_state_name(b->state_old),
			 b->weight_new, xlb_state_name(b->state_new));
	else
		snprintf(ws, len, "%u/%s", b->in_new ? b->weight_new : b->weight_old,
			 xlb_state_name(b->in_new ? b->state_new : b->state_old));
}

/* One service's backends as a table whose columns fit their widest cell. */
static void print_plan_backends(const struct xlb_plan_service *ps, FILE *out)
{
	char a[INET6_ADDRSTRLEN], ws[64];
	int aw = (int)strlen("backend"), ww = (int)strlen("weight/state");

	for (__u32 j = 0; j < ps->nr_bes; j++) {
		const struct xlb_plan_backend *b = &ps->bes[j];
		int n;

		n = (int)strlen(xlb_addr_str(&b->addr, b->family, a, sizeof(a)));
		aw = n > aw ? n : aw;
		weight_state(b, ws, sizeof(ws));
		n = (int)strlen(ws);
		ww = n > ww ? n : ww;
	}
	fprintf(out, "  %-*s %-8s %-*s %7s -> %-7s\n", aw, "backend", "change", ww,
		"weight/state", "share", "share");
	for (__u32 j = 0; j < ps->nr_bes; j++) {
		const struct xlb_plan_backend *b = &ps->bes[j];

		weight_state(b, ws, sizeof(ws));
		fprintf(out, "  %-*s %-8s %-*s %6.1f%% -> %5.1f%%%s\n", aw,
			xlb_addr_str(&b->addr, b->family, a, sizeof(a)), xlb_plan_change_name(b),
			ww, ws, 100 * b->share_old, 100 * b->share_new,
			ps->nr_bes > 1 && b->share_new > 0.5 ? "  <-- skew" : "");
	}
}

/* A change of "forward", "gue_port" or "hash", one line each. */
static void print_plan_forwarding(const struct xlb_plan_service *ps, FILE *out)
{
	if (ps->forward_old != ps->forward_new)
		fprintf(out, "  forward: %s -> %s\n", xlb_fwd_name(ps->forward_old),
			xlb_fwd_name(ps->forward_new));
	if (ps->gue_port_old && ps->gue_port_new && ps->gue_port_old != ps->gue_port_new)
		fprintf(out, "  gue_port: %u -> %u\n", ps->gue_port_old, ps->gue_port_new);
	else if (ps->gue_port_new && ps->forward_old != ps->forward_new)
		fprintf(out, "  gue_port: %u\n", ps->gue_port_new);
	if (ps->hash_old != ps->hash_new)
		fprintf(out, "  hash: %s -> %s\n", xlb_hash_fields_name(ps->hash_old),
			xlb_hash_fields_name(ps->hash_new));
}

void print_plan(const struct xlb_plan *plan, FILE *out)
{
	for (__u32 i = 0; i < plan->nr; i++) {
		const struct xlb_plan_service *ps = &plan->svcs[i];

		fprintf(out, "service %s: %s", ps->name, !ps->in_old ? "added" :
			!ps->in_new ? "removed" : ps->changed ? "changed" : "unchanged");
		if (ps->churn >= 0 && ps->in_old && ps->changed)
			fprintf(out, ", %.1f%% of new flows move", 100 * ps->churn);
		fputc('\n', out);
		print_plan_forwarding(ps, out);
		if (ps->replaced)
			fprintf(out, "  note: table_size, hash or the hash key changes: every flow is "
				"placed anew; established flows keep their backends by the previous "
				"placement, held until flow_idle_timeout (they keep state until "
				"then)\n");
		if (!ps->changed)
			continue;
		print_plan_backends(ps, out);
		for (__u32 j = 0; j < ps->nr_why; j++)
			fprintf(out, "  REFUSED: %s\n", ps->why[j]);
	}
	if (!plan->changed)
		fprintf(out, "no change\n");
	else if (plan->refused)
		fprintf(out, "the guards refuse this change (--force applies it anyway)\n");
}

void print_diags(const struct xlb_diags *d)
{
	const char *file = d->file ? d->file : "<config>";

	if (xlb_json) {
		json_t *arr = json_array();

		for (__u32 i = 0; i < d->count; i++)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "file", file,
							     "path", d->items[i].path,
							     "message", d->items[i].msg));
		json_t *o = json_pack("{s:s,s:o,s:i}", "error",
				      "configuration is invalid", "errors", arr, "more_errors",
				      d->dropped);
		json_dumpf(o, stderr, JSON_COMPACT);
		fputc('\n', stderr);
		json_decref(o);
		return;
	}
	for (__u32 i = 0; i < d->count; i++)
		fprintf(stderr, "%s: %s%s%s\n", file, d->items[i].path,
			d->items[i].path[0] ? ": " : "", d->items[i].msg);
	if (d->dropped)
		fprintf(stderr, "%s: ... and %u more (only the first %u are shown)\n", file,
			d->dropped, XLB_DIAGS_MAX);
	fprintf(stderr, "xlb: error: %s: %u error%s, nothing applied\n", file,
		d->count + d->dropped, d->count + d->dropped == 1 ? "" : "s");
}
