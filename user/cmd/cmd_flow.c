/*
 * xlb flow SERVICE CLIENT-ADDR CLIENT-PORT [VIP-PORT]: which backend a flow
 * gets on this node, and why: its table slot (current and, in a slot a change
 * moved, previous backend), what this node remembers of it (connection table,
 * SYNs of moved slots), and where a new connection and an established one
 * this node has not seen (one moved here from another node) would go.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "cmd.h"
#include "ctl.h"
#include "log.h"
#include "netutil.h"
#include "../bpf/hash.h"

/* A backend id's address (or "" for none/unknown) and whether it can take flows. */
static bool backend_of(const struct xlb_ctl *c, __u32 id, char *out, size_t len)
{
	struct xlb_backend be;

	out[0] = '\0';
	if (!id || xlb_dp_get_backend(&c->dp, c->live_slot, id, &be) || be.family == XLB_FAMILY_NONE)
		return false;
	xlb_addr_str(&be.addr, be.family, out, len);
	return be.state != XLB_BACKEND_DOWN;
}

/* The backend a remembered entry of map gives the flow ("" when none holds). */
static void remembered(const struct xlb_ctl *c, int map, const struct xlb_flow_key *k,
		       char *out, size_t len, char *alt, size_t alen)
{
	struct xlb_backend be;
	struct xlb_flow f;

	out[0] = alt[0] = '\0';
	if (map < 0 || bpf_map_lookup_elem(map, k, &f))
		return;
	if (xlb_dp_get_backend(&c->dp, c->live_slot, XLB_FLOW_ID(f.backend), &be) ||
	    be.family == XLB_FAMILY_NONE || be.gen != f.gen || be.state == XLB_BACKEND_DOWN)
		return;		/* the data plane re-hashes such an entry */
	xlb_addr_str(&be.addr, be.family, out, len);
	backend_of(c, XLB_FLOW_ALT(f.backend), alt, alen);
}

static json_t *str_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

int do_flow(int argc, char **argv)
{
	char cur_s[64] = "", prev_s[64] = "", est[64] = "", est_alt[64] = "", syn[64] = "",
	     syn_alt[64], unseen[64] = "", chance[64] = "", vip_s[64];
	const struct xlb_service_conf *s;
	struct xlb_flow_key k = { 0 };
	struct xlb_replaced r = { 0 };
	unsigned int cport, vport;
	__u32 *ids = NULL, m = 0, idx, svc, cur, prev, slot_conf_flags = 0;
	struct xlb_slot_conf conf;
	struct xlb_ctl c;
	bool moved, prev_ok;
	int rc = 0;

	if (argc < 3 || argc > 4)
		return usage_error("flow: takes SERVICE CLIENT-ADDRESS CLIENT-PORT [VIP-PORT]");
	if (xlb_addr_parse(argv[1], &k.src, &k.family))
		return usage_error("flow: '%s' is not an IPv4 or IPv6 address", argv[1]);
	if (!parse_u32(argv[2], 1, 65535, &cport))
		return usage_error("flow: CLIENT-PORT is 1..65535, not '%s'", argv[2]);
	if ((rc = ctl_open(&c, true)))
		return xlb_exit_for(rc);
	s = running_service(&c, argv[0]);
	if (!s) {
		rc = XLB_EXIT_REFUSED;
		goto out;
	}
	if (s->family != k.family) {
		p_err("service %s is IPv%d: %s is not", s->name, s->family, argv[1]);
		rc = XLB_EXIT_REFUSED;
		goto out;
	}
	vport = s->port;
	if (argc == 4 && (!parse_u32(argv[3], 1, 65535, &vport) || (s->port && vport != s->port))) {
		p_err("VIP-PORT: service %s takes port %u, not '%s'", s->name, s->port, argv[3]);
		rc = XLB_EXIT_REFUSED;
		goto out;
	}
	if (!vport) {
		p_err("service %s takes every port: give VIP-PORT", s->name);
		rc = XLB_EXIT_REFUSED;
		goto out;
	}
	k.dst = s->vip;
	k.sport = htons(cport);
	k.dport = htons(vport);
	k.proto = s->proto;
	svc = xlb_assign_service(&c.assign, s->name);
	if ((int)svc < 0 || xlb_dp_get_table_raw(&c.dp, c.live_slot, svc, &ids, &m) || !m) {
		p_err("service %s has no live table (%s)", s->name, xlb_errmsg());
		rc = XLB_EXIT_SYSTEM;
		goto out;
	}
	if (!xlb_dp_get_slot_conf(&c.dp, c.live_slot, &conf))
		slot_conf_flags = conf.flags;
	idx = xlb_table_index(xlb_flow_hash(&k, s->seeds.flow ?: XLB_HASH_SEED), m);
	cur = XLB_TABLE_CUR(ids[idx]);
	prev = XLB_TABLE_PREV(ids[idx]);
	/* a service placed anew (table size, hash key): its previous placement */
	if (!prev && !xlb_dp_get_replaced(&c.dp, c.live_slot, svc, &r) && r.table_size) {
		__u32 *pids, pm, pidx;

		if (!xlb_dp_get_prev_table(&c.dp, c.live_slot, svc, &pids, &pm) && pm) {
			pidx = xlb_table_index(xlb_flow_hash(&k, r.hash_seed ?: XLB_HASH_SEED), pm);
			if (pidx < pm && XLB_TABLE_CUR(pids[pidx]) != cur)
				prev = XLB_TABLE_CUR(pids[pidx]);
			free(pids);
		}
	}
	backend_of(&c, cur, cur_s, sizeof(cur_s));
	prev_ok = backend_of(&c, prev, prev_s, sizeof(prev_s));
	moved = prev != 0;
	remembered(&c, c.dp.flows, &k, est, sizeof(est), est_alt, sizeof(est_alt));
	remembered(&c, c.dp.syns, &k, syn, sizeof(syn), syn_alt, sizeof(syn_alt));
	/* an established connection this node has not seen: what the data plane does */
	snprintf(unseen, sizeof(unseen), "%s", cur_s);
	if (moved && prev != cur && prev_ok && s->proto == IPPROTO_TCP) {
		snprintf(unseen, sizeof(unseen), "%s", prev_s);
		if (slot_conf_flags & XLB_SLOT_F_SECOND_CHANCE)
			snprintf(chance, sizeof(chance), "%s", cur_s);
	}
	xlb_addr_str(&s->vip, s->family, vip_s, sizeof(vip_s));
	if (xlb_json) {
		json_emit(json_pack("{s:s,s:s,s:i,s:s,s:i,s:s,s:i,s:i,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:o}",
				    "service", s->name, "client", argv[1], "client_port", cport,
				    "vip", vip_s, "vip_port", vport,
				    "protocol", s->proto == IPPROTO_TCP ? "tcp" : "udp",
				    "table_slot", idx, "table_size", m,
				    "current", str_or_null(cur_s), "moved", moved,
				    "previous", str_or_null(moved ? prev_s : ""),
				    "remembered", str_or_null(est[0] ? est : syn),
				    "remembered_second_chance", str_or_null(est[0] ? est_alt : ""),
				    "new_connection", str_or_null(cur_s),
				    "established_not_seen_here", str_or_null(unseen),
				    "second_chance", str_or_null(chance)));
		goto out;
	}
	printf("flow %s:%u -> %s:%u %s (service %s)\n", argv[1], cport, vip_s, vport,
	       s->proto == IPPROTO_TCP ? "tcp" : "udp", s->name);
	printf("  table slot %u of %u: %s", idx, m, cur_s[0] ? cur_s : "no backend");
	if (moved && prev != cur)
		printf(", moved by a change from %s%s", prev_s[0] ? prev_s : "a backend now gone",
		       prev_ok ? "" : " (not usable)");
	printf("\n");
	if (est[0])
		printf("  remembered here: %s%s%s (connection table)\n", est,
		       est_alt[0] ? ", second chance " : "", est_alt);
	else if (syn[0])
		printf("  remembered here: %s (its SYN, not answered yet)\n", syn);
	else
		printf("  not remembered here%s\n", moved ? "" : " (an unmoved slot needs no state)");
	if (!est[0] && !syn[0]) {
		printf("  a new connection goes to %s\n", cur_s[0] ? cur_s : "no backend (dropped)");
		printf("  an established connection not seen here goes to %s%s%s\n",
		       unseen[0] ? unseen : "no backend (dropped)",
		       chance[0] ? ", second chance " : "", chance);
	}
out:
	free(ids);
	xlb_ctl_close(&c);
	return rc;
}
