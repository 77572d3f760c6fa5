/* The BPF tests' fixture: real object, real maps, a netns of its own. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "xlbtest.h"
#include "testnet.h"
#include "netutil.h"
#include "../../bpf/parse.h"
#include "../../bpf/hash.h"

struct xlb_bpf *xt_skel;
struct xlb_dp xt_dp;
__u32 xt_flows = 4096;

const struct tbackend xt_backends[] = {
	{ 1, "198.51.100.1", 4, 1, XLB_BACKEND_ACTIVE },
	{ 2, "198.51.100.2", 4, 2, XLB_BACKEND_ACTIVE },
	{ 3, "198.51.100.3", 4, 3, XLB_BACKEND_ACTIVE },
	{ 4, "2001:db8:b::1", 6, 1, XLB_BACKEND_ACTIVE },
	{ 5, "2001:db8:b::2", 6, 2, XLB_BACKEND_ACTIVE },
	{ 6, "198.51.100.50", 4, 0, XLB_BACKEND_ACTIVE },
	{ 7, "203.0.113.99", 4, 0, XLB_BACKEND_ACTIVE },
	{ 8, "198.51.100.4", 4, 4, XLB_BACKEND_DRAIN },
	{ 9, "198.51.100.3", 4, 3, XLB_BACKEND_DOWN },
	{ 0, NULL, 0, 0, 0 },
};

const struct tbackend *xt_backend(__u32 id)
{
	for (const struct tbackend *b = xt_backends; b->id; b++)
		if (b->id == id)
			return b;
	return NULL;
}

struct tservice {
	const char *vip;
	__u16 port;
	__u8 proto;
	__u32 ids[2];		/* table alternates between these; 0 = empty slot */
};

static const struct tservice services[] = {
	[SVC_WEB4]	= { VIP4, 80, IPPROTO_TCP, { 1, 2 } },
	[SVC_DNS4]	= { VIP4, 53, IPPROTO_UDP, { 3, 3 } },
	[SVC_ANY6]	= { VIP6, 0, IPPROTO_TCP, { 4, 5 } },
	[SVC_DNS6]	= { VIP6, 53, IPPROTO_UDP, { 4, 4 } },
	[SVC_NONEIGH]	= { VIP_NONEIGH, 80, IPPROTO_TCP, { 6, 6 } },
	[SVC_NOROUTE]	= { VIP_NOROUTE, 80, IPPROTO_TCP, { 7, 7 } },
	[SVC_EMPTY]	= { VIP_EMPTY, 80, IPPROTO_TCP, { 0, 0 } },
};
#define NR_SERVICES (sizeof(services) / sizeof(services[0]))

static __u32 table_entry(const struct tservice *s, __u32 i, __u32 web4_only)
{
	if (web4_only && s == &services[SVC_WEB4])
		return web4_only;
	return s->ids[i % 2];
}

int xt_write_config(__u32 slot, __u32 web4_only)
{
	struct xlb_slot_conf conf = { .generation = slot + 1, .flags = XLB_SLOT_F_CONFIGURED };
	__u8 fam;
	int err;

	err = xlb_dp_clear_slot(&xt_dp, slot);
	for (const struct tbackend *b = xt_backends; b->id && !err; b++) {
		struct xlb_backend be = { .state = b->state, .gen = 1 };

		xlb_addr_parse(b->addr, &be.addr, &be.family);
		err = xlb_dp_set_backend(&xt_dp, slot, b->id, &be);
	}
	for (__u32 i = 0; i < NR_SERVICES && !err; i++) {
		const struct tservice *s = &services[i];
		struct xlb_service_key key = { .port = htons(s->port), .proto = s->proto };
		struct xlb_service svc = { .index = i, .table_size = TABLE_M };
		__u32 ids[TABLE_M];

		xlb_addr_parse(s->vip, &key.vip, &key.family);
		for (__u32 j = 0; j < TABLE_M; j++)
			ids[j] = table_entry(s, j, web4_only);
		err = xlb_dp_set_service(&xt_dp, slot, key, &svc) ?:
		      xlb_dp_set_vip(&xt_dp, slot, &key.vip, key.family) ?:
		      xlb_dp_set_table(&xt_dp, slot, i, ids, TABLE_M);
	}
	xlb_addr_parse(TN_NODE4, &conf.src4, &fam);
	xlb_addr_parse(TN_NODE6, &conf.src6, &fam);
	return err ?: xlb_dp_set_slot_conf(&xt_dp, slot, &conf);
}

int xt_setup(const char **why)
{
	if (testnet_setup(why))
		return -1;
	xt_skel = xlb_bpf__open();
	if (!xt_skel) {
		*why = "cannot open the balancer object";
		return -1;
	}
	bpf_map__set_max_entries(xt_skel->maps.xlb_flows, xt_flows);
	if (xlb_bpf__load(xt_skel)) {
		*why = "cannot load the balancer (BPF not permitted?)";
		return -1;
	}
	if (xlb_dp_from_object(&xt_dp, xt_skel->obj) || xt_write_config(0, 0) ||
	    xlb_dp_switch(&xt_dp, 0)) {
		*why = "cannot write the test configuration";
		return -1;
	}
	return 0;
}

void xt_teardown(void)
{
	xlb_bpf__destroy(xt_skel);
	xt_skel = NULL;
}

int xt_run(const struct pb *in, const char *ifname, __u8 *out, __u32 *out_len)
{
	struct xdp_md ctx = { .data_end = in->len, .ingress_ifindex = testnet_ifindex(ifname) };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->d, .data_size_in = in->len,
		    .data_out = out, .data_size_out = PB_MAX + 256, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	int err;

	err = bpf_prog_test_run_opts(bpf_program__fd(xt_skel->progs.xlb_balance), &o);
	if (err)
		return -errno;
	*out_len = o.data_size_out;
	return o.retval;
}

void xt_flow_key(const struct pb *in, struct xlb_flow_key *key)
{
	struct xlb_pkt pkt;

	memset(&pkt, 0, sizeof(pkt));
	xlb_parse_packet((void *)in->d, (void *)in->d + in->len, &pkt);
	*key = pkt.flow;
}

static struct xlb_service_key service_key(int svc)
{
	const struct tservice *s = &services[svc];
	struct xlb_service_key key = { .port = htons(s->port), .proto = s->proto };

	xlb_addr_parse(s->vip, &key.vip, &key.family);
	return key;
}

__u32 xt_hash(const struct pb *in, int svc)
{
	struct xlb_service sv = { 0 };
	struct xlb_flow_key key;

	xt_flow_key(in, &key);
	xlb_dp_get_service(&xt_dp, 0, service_key(svc), &sv);
	return xlb_flow_hash_fields(&key, sv.hash_seed ?: XLB_HASH_SEED, sv.hash_fields);
}

__u32 xt_table_pick(const struct pb *in, int svc)
{
	return services[svc].ids[xlb_table_index(xt_hash(in, svc), TABLE_M) % 2];
}

__u32 xt_bucket(const struct pb *in)
{
	return xlb_table_index(xt_hash(in, SVC_WEB4), TABLE_M);
}

void xt_set_hash_fields(int svc, __u8 fields)
{
	struct xlb_service sv = { 0 };

	xlb_dp_get_service(&xt_dp, 0, service_key(svc), &sv);
	sv.hash_fields = fields;
	xlb_dp_set_service(&xt_dp, 0, service_key(svc), &sv);
}

bool xt_moved_dirty;

void xt_mark_moved(__u32 slot, const struct pb *in, int svc, __u32 prev, __u32 hold_until)
{
	struct xlb_service sv = { .index = svc, .table_size = TABLE_M };
	__u32 *ids, m, bucket;

	xlb_dp_get_service(&xt_dp, slot, service_key(svc), &sv);	/* its hash fields kept */
	sv.hold_until = hold_until;
	bucket = xlb_table_index(xt_hash(in, svc), TABLE_M);
	if (xlb_dp_get_table_raw(&xt_dp, slot, svc, &ids, &m))
		return;
	ids[bucket] = XLB_TABLE_ENTRY(XLB_TABLE_CUR(ids[bucket]), prev);
	xlb_dp_set_table(&xt_dp, slot, svc, ids, m);
	free(ids);
	xlb_dp_set_service(&xt_dp, slot, service_key(svc), &sv);
	xt_moved_dirty = true;
}

__u32 xt_now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void xt_expect(struct pb *out, const struct pb *in, __u32 id)
{
	const struct tbackend *b = xt_backend(id);
	__u8 mac[6];

	testnet_backend_mac(b->family, b->mac, mac);
	if (b->family == 4)
		pb_expect_encap(out, in, mac, PB_MAC_NODE, TN_NODE4, b->addr);
	else
		pb_expect_encap(out, in, mac, PB_MAC_NODE2, TN_NODE6, b->addr);
}
