/*
 * xlb flow SERVICE CLIENT-ADDR CLIENT-PORT [VIP-PORT]: which backend a flow
 * gets on this node, and why: its table slot (current and, in a slot a change
 * moved, previous backend), what this node remembers of it (connection table,
 * SYNs of moved slots), and where a new connection and an established one
 * this node has not seen (one moved here from another node) would go.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "cmd.h"
#include "ctl.h"
#include "flow.h"
#include "log.h"
#include "netutil.h"

static json_t *str_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

/* The flow's 5-tuple from the command's words: 0, or an exit status (said why). */
static int flow_key(const struct xlb_service_conf *s, int argc, char **argv, unsigned int cport,
		    struct xlb_flow_key *k)
{
	unsigned int vport = s->port;

	if (s->family != k->family) {
		p_err("service %s is IPv%d: %s is not", s->name, s->family, argv[1]);
		return XLB_EXIT_REFUSED;
	}
	if (argc == 4 && (!parse_u32(argv[3], 1, 65535, &vport) || (s->port && vport != s->port))) {
		p_err("VIP-PORT: service %s takes port %u, not '%s'", s->name, s->port, argv[3]);
		return XLB_EXIT_REFUSED;
	}
	if (!vport) {
		p_err("service %s takes every port: give VIP-PORT", s->name);
		return XLB_EXIT_REFUSED;
	}
	k->dst = s->vip;
	k->sport = htons(cport);
	k->dport = htons(vport);
	k->proto = s->proto;
	return 0;
}

static void print_json(const struct xlb_service_conf *s, const char *client,
		       const struct xlb_flow_key *k, const struct xlb_flow_explain *e)
{
	char vip[64];
	const char *rem = e->remembered[0] ? e->remembered : e->syn;

	xlb_addr_str(&s->vip, s->family, vip, sizeof(vip));
	json_emit(json_pack("{s:s,s:s,s:i,s:s,s:i,s:s,s:i,s:i,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:o}",
			    "service", s->name, "client", client, "client_port", ntohs(k->sport),
			    "vip", vip, "vip_port", ntohs(k->dport),
			    "protocol", s->proto == IPPROTO_TCP ? "tcp" : "udp",
			    "table_slot", e->slot, "table_size", e->table_size,
			    "current", str_or_null(e->current), "moved", e->moved,
			    "previous", str_or_null(e->moved ? e->previous : ""),
			    "remembered", str_or_null(rem),
			    "remembered_second_chance", str_or_null(e->remembered_alt),
			    "new_connection", str_or_null(e->current),
			    "established_not_seen_here", str_or_null(e->unseen),
			    "second_chance", str_or_null(e->second_chance)));
}

static void print_text(const struct xlb_service_conf *s, const char *client,
		       const struct xlb_flow_key *k, const struct xlb_flow_explain *e)
{
	char vip[64];

	xlb_addr_str(&s->vip, s->family, vip, sizeof(vip));
	printf("flow %s:%u -> %s:%u %s (service %s)\n", client, ntohs(k->sport), vip,
	       ntohs(k->dport), s->proto == IPPROTO_TCP ? "tcp" : "udp", s->name);
	printf("  table slot %u of %u: %s", e->slot, e->table_size,
	       e->current[0] ? e->current : "no backend");
	if (e->moved && strcmp(e->previous, e->current))
		printf(", moved by a change from %s%s",
		       e->previous[0] ? e->previous : "a backend now gone",
		       e->previous_usable ? "" : " (not usable)");
	printf("\n");
	if (e->remembered[0])
		printf("  remembered here: %s%s%s (connection table)\n", e->remembered,
		       e->remembered_alt[0] ? ", second chance " : "", e->remembered_alt);
	else if (e->stale)
		printf("  remembered here for a backend gone or down: re-hashed (current backend)\n");
	else if (e->syn[0])
		printf("  remembered here: %s (its SYN, not answered yet)\n", e->syn);
	else
		printf("  not remembered here%s\n", e->moved ? "" : " (an unmoved slot needs no state)");
	printf("  a new connection goes to %s\n", e->current[0] ? e->current :
	       "no backend (dropped)");
	if (e->remembered[0] || e->syn[0])
		return;
	printf("  an established connection not seen here goes to %s%s%s\n",
	       e->unseen[0] ? e->unseen : "no backend (dropped)",
	       e->second_chance[0] ? ", second chance " : "", e->second_chance);
}

int do_flow(int argc, char **argv)
{
	const struct xlb_service_conf *s;
	struct xlb_flow_key k = { 0 };
	struct xlb_flow_explain e;
	unsigned int cport;
	struct xlb_ctl c;
	int rc;

	if (argc < 3 || argc > 4)
		return usage_error("flow: takes SERVICE CLIENT-ADDRESS CLIENT-PORT [VIP-PORT]");
	if (xlb_addr_parse(argv[1], &k.src, &k.family))
		return usage_error("flow: '%s' is not an IPv4 or IPv6 address", argv[1]);
	if (!parse_u32(argv[2], 1, 65535, &cport))
		return usage_error("flow: CLIENT-PORT is 1..65535, not '%s'", argv[2]);
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	s = running_service(&c, argv[0]);
	rc = !s ? XLB_EXIT_REFUSED : flow_key(s, argc, argv, cport, &k);
	if (!rc && xlb_flow_explain(&c, s, &k, &e)) {
		p_err("%s", xlb_errmsg());
		rc = XLB_EXIT_SYSTEM;
	}
	if (!rc && xlb_json)
		print_json(s, argv[1], &k, &e);
	else if (!rc)
		print_text(s, argv[1], &k, &e);
	xlb_ctl_close(&c);
	return rc;
}
