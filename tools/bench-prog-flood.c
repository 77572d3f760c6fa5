/*
 * bench-prog -F: flood survival.  ESTABLISHED flows are made, a change moves
 * about half of them to another table slot owner (only their entries keep
 * them), a flood of spoofed SYNs at FACTOR times the connection table's
 * capacity follows, and the report says how many established flows still
 * reach their backend: with the flood guard off and on.
 */
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include "bpf/xlbtest.h"
#include "moved.h"
#include "bench-prog.h"

static void tcp4(struct pb *b, __u16 sport, __u8 flags)
{
	pb_init(b);
	pb_eth(b, PB_MAC_NODE, PB_MAC_CLIENT, ETH_P_IP);
	pb_ipv4(b, CLIENT4, VIP4, IPPROTO_TCP);
	pb_tcp(b, sport, 80, flags);
	pb_payload(b, 10);
	pb_finish(b);
}

static int set_guard(bool guard)
{
	struct xlb_slot_conf conf;

	for (__u32 slot = 0; slot < XLB_SLOTS; slot++) {
		if (xlb_dp_get_slot_conf(&xt_dp, slot, &conf))
			return -1;
		conf.flags &= ~XLB_SLOT_F_FIB_EVERY_PACKET;
		conf.flow_rate = guard ? 0 : XLB_FLOW_RATE_UNLIMITED;
		if (xlb_dp_set_slot_conf(&xt_dp, slot, &conf))
			return -1;
	}
	return 0;
}

/* The backend a TCP packet from CLIENT4:sport goes to (last octet of the tunnel's
 * destination), 0 when not forwarded. */
static int backend_of(__u16 sport, __u8 flags)
{
	__u8 out[PB_MAX + 256];
	__u32 len = sizeof(out);
	struct pb p;
	int v;

	tcp4(&p, sport, flags);
	v = xt_run(&p, "xlb0", out, &len);
	if (v != XDP_TX && v != XDP_REDIRECT)
		return 0;
	return out[14 + 19];
}

/* As a commit does: web4's slots in `slot` keep the live slot's backend where it changed. */
static int keep_moved(__u32 live, __u32 slot)
{
	static __u8 bits[XLB_MAX_BACKENDS];
	__u32 *old, *t, lm, m, fresh;
	int err;

	memset(bits, XLB_ID_SAME | XLB_ID_UP, sizeof(bits));
	err = xlb_dp_get_table_raw(&xt_dp, live, SVC_WEB4, &old, &lm);
	if (err)
		return err;
	err = xlb_dp_get_table_raw(&xt_dp, slot, SVC_WEB4, &t, &m);
	if (!err) {
		xlb_moved_merge(t, m, old, lm, bits, &fresh);
		err = xlb_dp_set_table(&xt_dp, slot, SVC_WEB4, t, m);
		free(t);
	}
	free(old);
	return err;
}

static int set_active(__u32 slot)
{
	__u32 zero = 0;

	return bpf_map_update_elem(xt_dp.active, &zero, &slot, BPF_ANY);
}

static void report(bool json, bool guard, __u32 established, int moved, __u32 flood, int kept,
		   __u32 entries, __u64 limited)
{
	if (json)
		printf("{\"guard\":%s,\"established\":%u,\"moved\":%d,\"flood\":%u,"
		       "\"kept\":%d,\"entries\":%u,\"not_remembered\":%llu}\n",
		       guard ? "true" : "false", established, moved, flood, kept, entries,
		       (unsigned long long)limited);
	else
		printf("flood guard %-3s  %u established (%d in moved slots), %u spoofed SYNs: "
		       "%d kept their backend (%u entries, %llu new flows not remembered)\n",
		       guard ? "on" : "off", established, moved, flood, kept, entries,
		       (unsigned long long)limited);
}

/* One run of the flood survival scenario; prints its line. */
int bp_flood_survival(int xlb, bool guard, __u32 established, __u32 factor,
		      bool json)
{
	int *first = calloc(established, sizeof(*first)), kept = 0, moved = 0, only;
	__u64 limited0 = 0, limited = 0, ns;
	struct pb syn;
	struct bp_load l = { .pkt = &syn, .target_fd = xlb, .head_delta = 20,
			     .vary_mod = BP_VARY_NEW, .repeat = factor * xt_flows };
	int saved = bp_rounds, err;
	__u32 v;

	if (!first || bp_clear(xt_dp.flows) || xlb_dp_clear_syns(&xt_dp) || xt_write_config(0, 0) ||
	    set_active(0) || set_guard(guard))
		return 2;
	for (__u32 i = 0; i < established; i++) {
		first[i] = backend_of(10000 + i, 0x02);
		if (!first[i] || backend_of(10000 + i, 0x10) != first[i])
			return 2;
	}
	/* the change: web4's table holds one backend; the other's slots keep it as previous */
	if (xt_write_config(1, 1) || keep_moved(0, 1) || set_guard(guard) || set_active(1))
		return 2;
	only = backend_of(60000, 0x02);	/* where every new flow goes now */
	for (__u32 i = 0; i < established; i++)
		moved += first[i] != only;
	tcp4(&syn, 41010, 0x02);
	xlb_dp_flood_limited(&xt_dp, &limited0);
	bp_rounds = 3;		/* one flood: the middle of three runs is kept, all count */
	l.repeat = (factor * xt_flows + 2) / 3;
	err = bp_time(&l, 1, &ns, &v);
	bp_rounds = saved;
	if (err)
		return 2;
	for (__u32 i = 0; i < established; i++)
		kept += backend_of(10000 + i, 0x10) == first[i] || first[i] == only;
	xlb_dp_flood_limited(&xt_dp, &limited);
	report(json, guard, established, moved, l.repeat * 3, kept,
	       bp_entries(xt_dp.flows) + bp_syn_entries(), limited - limited0);
	free(first);
	return 0;
}
