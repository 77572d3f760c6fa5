// SPDX-License-Identifier: GPL-2.0
/* xlb balancer: parse -> service -> flow -> encapsulate -> verdict, every one counted. */
#include "compat.h"
#include "parse.h"
#include "hash.h"
#include "maps.h"
#include "encap.h"
#include "icmp.h"
#include "moved.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline int count(int action, __u32 reason, __u64 bytes)
{
	struct xlb_stat *st = bpf_map_lookup_elem(&xlb_stats, &reason);

	if (st) {
		st->packets++;
		st->bytes += bytes;
	}
	return action;
}

static __always_inline void count_forward(void *map, __u32 key, const struct xlb_pick *p,
					  __u64 bytes)
{
	struct xlb_counters *c = bpf_map_lookup_elem(map, &key);

	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
	c->new_flows += p->new_flow;
	c->rehashed += p->rehashed;
}

/* One array read: a clear bit proves the address is not a VIP of the slot. */
static __always_inline int maybe_vip(const union xlb_addr *addr, __u8 family, __u32 slot)
{
	__u32 bit = xlb_vip_filter_bit(addr, family);
	__u32 key = slot * XLB_VIP_FILTER_WORDS + (bit >> 6);
	__u64 *word = bpf_map_lookup_elem(&xlb_vip_filter, &key);

	return word && ((*word >> (bit & 63)) & 1);
}

static __always_inline int is_vip(const union xlb_addr *addr, __u8 family, __u32 slot)
{
	struct xlb_vip_key k = {};

	if (!maybe_vip(addr, family, slot))
		return 0;
	__builtin_memcpy(&k.vip, addr, sizeof(k.vip));
	k.family = family;
	k.slot = slot;
	return bpf_map_lookup_elem(&xlb_vips, &k) != NULL;
}

/*
 * The service of key k from its cell of xlb_service_cells: 1 with *svc (NULL:
 * the slot has none with that key), or 0 when the cell cannot tell (shared by
 * two services, or never written) and xlb_services must.
 */
static __always_inline int service_cell(const struct xlb_service_key *k,
					struct xlb_service **svc)
{
	__u32 idx = xlb_service_cell(k);
	struct xlb_service_cell *cell = bpf_map_lookup_elem(&xlb_service_cells, &idx);
	const __u64 *a, *b = (const __u64 *)k;

	if (!cell)
		return 0;
	a = (const __u64 *)&cell->key;
	*svc = NULL;
	if (!((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]))) {
		*svc = &cell->svc;
		return 1;
	}
	if (cell->key.pad[0] == XLB_SVC_CELL_SHARED)
		return 0;
	return cell->key.family || cell->key.pad[1] == XLB_SVC_CELL_NONE;
}

/*
 * Exact (VIP, port, proto) first, then the VIP's all-ports service: each
 * from its cell of xlb_service_cells (one array read) when the cell can
 * tell, else from xlb_services.
 */
static __always_inline struct xlb_service *lookup_service(const struct xlb_flow_key *f,
							  __u32 slot)
{
	struct xlb_service_key k __attribute__((aligned(8))) = {};
	struct xlb_service *svc;

	__builtin_memcpy(&k.vip, &f->dst, sizeof(k.vip));
	k.port = f->dport;
	k.proto = f->proto;
	k.family = f->family;
	k.slot = slot;
	if (!service_cell(&k, &svc))
		svc = bpf_map_lookup_elem(&xlb_services, &k);
	if (svc)
		return svc;
	k.port = 0;
	if (service_cell(&k, &svc))
		return svc;
	return bpf_map_lookup_elem(&xlb_services, &k);
}

/*
 * A service whose every flow a change placed anew: the backend the previous
 * placement gave this flow when it differs from cur (it is then a moved
 * flow), else 0.  One array read for services without such a change.
 */
static __always_inline __u32 replaced_prev(const struct xlb_pkt *pkt, __u32 tkey, __u32 cur)
{
	struct xlb_replaced *r = bpf_map_lookup_elem(&xlb_replaced, &tkey);
	__u32 idx, *v;
	void *table;

	if (!r || !r->table_size)
		return 0;
	table = bpf_map_lookup_elem(&xlb_prev_tables, &tkey);
	if (!table)
		return 0;
	idx = xlb_table_index(xlb_flow_hash_fields(&pkt->flow, r->hash_seed ?: XLB_HASH_SEED,
						   r->hash_fields), r->table_size);
	v = bpf_map_lookup_elem(table, &idx);
	if (!v || XLB_TABLE_CUR(*v) == cur)
		return 0;
	return XLB_TABLE_CUR(*v);
}

/*
 * The backend of a flow: table[(hash * M) >> 32], the hash of the fields the
 * service takes (the 5-tuple unless it says otherwise).  An unmoved slot
 * answers alone (no connection-table work); a moved one asks pick_moved().
 */
static __always_inline int pick_backend(struct xlb_pkt *pkt, const struct xlb_service *svc, __u32 slot,
				const struct xlb_slot_conf *conf, struct xlb_pick *p)
{
	__u32 tkey = slot * XLB_MAX_SERVICES + (svc->index & (XLB_MAX_SERVICES - 1));
	__u32 idx, *v, cur, prev;
	void *table;

	table = bpf_map_lookup_elem(&xlb_tables, &tkey);
	if (!table || !svc->table_size)
		return XDP_DROP;
	p->hash = xlb_flow_hash_fields(&pkt->flow, svc->hash_seed ?: XLB_HASH_SEED,
				       svc->hash_fields);
	idx = xlb_table_index(p->hash, svc->table_size);
	v = bpf_map_lookup_elem(table, &idx);
	if (!v)
		return XDP_DROP;
	cur = XLB_TABLE_CUR(*v);
	prev = XLB_TABLE_PREV(*v);
	if (cur == XLB_BACKEND_NONE)
		return XDP_DROP;
	if (!prev)
		prev = replaced_prev(pkt, tkey, cur);
	if (prev)
		return pick_moved(pkt, svc, slot, conf, p, cur, prev, idx);
	p->id = cur;
	p->be = lookup_backend(slot, cur);
	if (!usable(p->be))
		return XDP_DROP;
	p->new_flow = is_syn(pkt);
	return XLB_CONTINUE;
}

/* Trim Ethernet padding so the tunnel carries exactly the IP packet. */
static __always_inline int trim_padding(struct xdp_md *ctx, const struct xlb_pkt *pkt)
{
	__u32 frame = ctx->data_end - ctx->data;
	__u32 want = pkt->l3_off + pkt->ip_len;

	if (frame <= want)
		return 0;
	return bpf_xdp_adjust_tail(ctx, -(int)(frame - want));
}

/*
 * Longer than the interface it came in by can carry: no wire delivered it,
 * GRO or LRO coalesced segments before XDP (generic mode, or a veth whose
 * peer coalesced).  Its TCP checksum is partial (the pseudo-header's alone)
 * and the tunnel cannot carry it: dropped, counted apart, never answered
 * with an MTU the sender already keeps to.
 */
static __noinline int coalesced(struct xdp_md *ctx, const struct xlb_pkt *pkt)
{
	__u32 mtu = pkt->ip_len;	/* in: the L3 length to check; out: the MTU */

	return bpf_check_mtu(ctx, 0, &mtu, 0, 0) == BPF_MTU_CHK_RET_FRAG_NEEDED;
}

#define XLB_FIB_VIA_GATEWAY	64	/* next_hop(): not a BPF_FIB_LKUP_RET_* code */

/* bpf_fib_lookup put a gateway in place of the backend's address. */
static __always_inline int via_gateway(const struct bpf_fib_lookup *fib,
				       const struct xlb_backend *be)
{
	if (fib->family == XLB_AF_INET)
		return fib->ipv4_dst != be->addr.v4;
	return fib->ipv6_dst[0] != be->addr.v6[0] || fib->ipv6_dst[1] != be->addr.v6[1] ||
	       fib->ipv6_dst[2] != be->addr.v6[2] || fib->ipv6_dst[3] != be->addr.v6[3];
}

/* Fill a next-hop entry from bpf_fib_lookup (MACs, device, route MTU). */
static __always_inline void cache_next_hop(struct xdp_md *ctx, const struct xlb_pkt *pkt,
					   const union xlb_addr *src, const struct xlb_backend *be,
					   const struct bpf_fib_lookup *fib, struct xlb_nexthop *nh)
{
	struct bpf_fib_lookup probe;

	/* a lookup for the largest packet answers with the route's MTU */
	lookup_next_hop(ctx, pkt, src, &be->addr, &probe, 0xffff);
	nh->mtu = probe.mtu_result ? probe.mtu_result : 0xffff;
	nh->ifindex = fib->ifindex;
	__builtin_memcpy(nh->dmac, fib->dmac, ETH_ALEN);
	__builtin_memcpy(nh->smac, fib->smac, ETH_ALEN);
	nh->gen = be->gen;
	nh->flags = via_gateway(fib, be) ? 0 : XLB_NEXTHOP_F_DIRECT;
	nh->uses = 0;
	nh->expires_ns = bpf_ktime_get_coarse_ns() + XLB_NEXTHOP_TTL_NS;
}

/*
 * The backend's next hop: from this CPU's cache while it is fresh, else from
 * bpf_fib_lookup (and cached).  Returns a BPF_FIB_LKUP_RET_* code; *hop is
 * filled on success.  overhead: bytes the forwarding adds (fwd_overhead).
 */
static __always_inline int next_hop(struct xdp_md *ctx, const struct xlb_pkt *pkt,
				    const union xlb_addr *src, const struct xlb_backend *be,
				    __u32 id, const struct xlb_slot_conf *conf,
				    struct xlb_nexthop *hop, __u32 overhead)
{
	__u32 outer_len = pkt->ip_len + overhead;
	struct xlb_nexthop *nh = NULL;
	struct bpf_fib_lookup fib;
	int rc;

	if (!(conf->flags & XLB_SLOT_F_FIB_EVERY_PACKET)) {
		nh = bpf_map_lookup_elem(&xlb_nexthops, &id);
		if (nh && nh->gen == be->gen && nh->expires_ns &&
		    (be->fwd != XLB_FWD_L2 || (nh->flags & XLB_NEXTHOP_F_DIRECT)) &&
		    ((++nh->uses & (XLB_NEXTHOP_CLOCK_EVERY - 1)) ||
		     nh->expires_ns > bpf_ktime_get_coarse_ns())) {
			if (outer_len > nh->mtu) {
				hop->mtu = nh->mtu;
				hop->ifindex = nh->ifindex;
				return BPF_FIB_LKUP_RET_FRAG_NEEDED;
			}
			*hop = *nh;
			return BPF_FIB_LKUP_RET_SUCCESS;
		}
	}
	rc = lookup_next_hop(ctx, pkt, src, &be->addr, &fib, outer_len);
	/* the route's MTU when FRAG_NEEDED (a union with tot_len); written on every
	   path, so the compiler keeps no copy the verifier cannot follow */
	hop->mtu = fib.mtu_result;
	hop->ifindex = fib.ifindex;
	/* L2: the backend must be the next hop itself (never cached otherwise) */
	if (be->fwd == XLB_FWD_L2 && (rc == BPF_FIB_LKUP_RET_SUCCESS ||
				      rc == BPF_FIB_LKUP_RET_NO_NEIGH) && via_gateway(&fib, be))
		return XLB_FIB_VIA_GATEWAY;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return rc;
	__builtin_memcpy(hop->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(hop->smac, fib.smac, ETH_ALEN);
	if (nh)
		cache_next_hop(ctx, pkt, src, be, &fib, nh);
	return rc;
}

static __always_inline int verdict(__u32 *reason, __u32 why, int action)
{
	*reason = why;
	return action;
}

/*
 * Bytes a backend's forwarding puts in front of the IP packet: an outer IP
 * header per tunnel (alt: second chance, two), GUE's UDP header once; L2
 * direct return none.
 */
static __always_inline __u32 fwd_overhead(const struct xlb_pkt *pkt,
					  const struct xlb_backend *be, int alt)
{
	__u32 ip = pkt->flow.family == XLB_FAMILY_V4 ? sizeof(struct iphdr) :
						      sizeof(struct ipv6hdr);

	if (be->fwd == XLB_FWD_L2)
		return 0;
	return ip * (alt ? 2 : 1) + (be->fwd == XLB_FWD_GUE ? sizeof(struct udphdr) : 0);
}

/*
 * The tunnel to be (IP-in-IP or GUE), with the IP-in-IP tunnel to alt inside
 * it when the packet has a second chance.  GUE's source port comes from the
 * flow hash, so one flow keeps one port (and one ECMP path, one RSS queue).
 */
static __always_inline int encap(struct xdp_md *ctx, const struct xlb_pkt *pkt,
				 const union xlb_addr *src, const struct xlb_backend *be,
				 const struct xlb_backend *alt, __u32 hash)
{
	struct xlb_gue gue = {
		.sport = bpf_htons(XLB_GUE_SPORT_MIN + (hash & 0x3fff)),
		.dport = be->gue_port ?: bpf_htons(XLB_GUE_PORT_DEFAULT),
	};
	__u32 extra = 0;

	if (pkt->flow.family == XLB_FAMILY_V4) {
		if (alt) {
			if (encap_ipv4(ctx, pkt, src->v4, alt->addr.v4, 0, NULL, 0))
				return -1;
			extra = sizeof(struct iphdr);
		}
		if (be->fwd == XLB_FWD_GUE)
			return encap_ipv4(ctx, pkt, src->v4, be->addr.v4, extra, &gue,
					  sizeof(struct udphdr));
		return encap_ipv4(ctx, pkt, src->v4, be->addr.v4, extra, NULL, 0);
	}
	if (alt) {
		if (encap_ipv6(ctx, pkt, src, &alt->addr, 0, NULL, 0))
			return -1;
		extra = sizeof(struct ipv6hdr);
	}
	if (be->fwd == XLB_FWD_GUE)
		return encap_ipv6(ctx, pkt, src, &be->addr, extra, &gue, sizeof(struct udphdr));
	return encap_ipv6(ctx, pkt, src, &be->addr, extra, NULL, 0);
}

/* The next hop's MACs on the frame; XDP_TX or a redirect to its device. */
static __always_inline int send_to(struct xdp_md *ctx, const struct xlb_nexthop *hop,
				   __u32 *reason)
{
	struct ethhdr *eth = (void *)(long)ctx->data;

	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return verdict(reason, XLB_DROP_ENCAP, XDP_DROP);
	__builtin_memcpy(eth->h_dest, hop->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, hop->smac, ETH_ALEN);
	if (hop->ifindex == ctx->ingress_ifindex)
		return verdict(reason, XLB_STAT_TX, XDP_TX);
	return verdict(reason, XLB_STAT_REDIRECT, bpf_redirect(hop->ifindex, 0));
}

/*
 * Send towards the backend by its forwarding mode; *reason gets the
 * verdict's.  L2 direct return rewrites the MACs alone: the frame (VLAN tag
 * included) reaches the backend's MAC, so no second chance, and nothing to
 * hand the kernel when the neighbour is unresolved (dropped, counted).
 */
static __always_inline int tunnel(struct xdp_md *ctx, const struct xlb_pkt *pkt,
				  const struct xlb_pick *pick, const struct xlb_slot_conf *conf,
				  __u32 *reason)
{
	const union xlb_addr *src = pkt->flow.family == XLB_FAMILY_V4 ? &conf->src4 : &conf->src6;
	const struct xlb_backend *be = pick->be;
	const struct xlb_backend *alt = be->fwd == XLB_FWD_L2 ? NULL : pick->alt_be;
	struct xlb_nexthop hop;
	__u32 overhead = fwd_overhead(pkt, be, alt != NULL);
	int rc;

	hop.mtu = 0;	/* set on every path the verifier walks, feasible or not */
	if (be->fwd != XLB_FWD_L2 && !src->v6[0] && !src->v6[1] && !src->v6[2] && !src->v6[3])
		return verdict(reason, XLB_DROP_NO_SOURCE, XDP_DROP);
	if (pkt->ip_len > XLB_COMMON_MTU && coalesced(ctx, pkt))
		return verdict(reason, XLB_DROP_COALESCED, XDP_DROP);
	rc = next_hop(ctx, pkt, src, be, pick->id, conf, &hop, overhead);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED && alt) {
		/* no room for the second tunnel: the previous backend alone */
		alt = NULL;
		overhead = fwd_overhead(pkt, be, 0);
		rc = next_hop(ctx, pkt, src, be, pick->id, conf, &hop, overhead);
	}
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		/* the sender learns the MTU the forwarding leaves, or the packet is dropped */
		rc = answer_too_big(ctx, pkt, hop.mtu, overhead);
		return verdict(reason, rc == XDP_TX ? XLB_REPLY_TOO_BIG : XLB_DROP_TOO_BIG, rc);
	}
	if (rc == XLB_FIB_VIA_GATEWAY)
		return verdict(reason, XLB_DROP_L2_GATEWAY, XDP_DROP);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH && be->fwd == XLB_FWD_L2)
		return verdict(reason, XLB_DROP_NO_NEIGH_L2, XDP_DROP);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return verdict(reason, XLB_DROP_FIB, XDP_DROP);
	if (be->fwd == XLB_FWD_L2)
		return send_to(ctx, &hop, reason);
	if (trim_padding(ctx, pkt) || encap(ctx, pkt, src, be, alt, pick->hash))
		return verdict(reason, XLB_DROP_ENCAP, XDP_DROP);
	/* unresolved neighbour: the kernel forwards this one and resolves it */
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return verdict(reason, XLB_PASS_NO_NEIGH, XDP_PASS);
	return send_to(ctx, &hop, reason);
}

/* Not a service: a VIP without this port/protocol, or not a VIP at all. */
static __always_inline int pass_unserved(const struct xlb_pkt *pkt, __u32 slot, __u64 bytes)
{
	if (!is_vip(&pkt->daddr, pkt->flow.family, slot))
		return count(XDP_PASS, XLB_PASS_NOT_VIP, bytes);
	return count(XDP_PASS, pkt->icmp_err ? XLB_PASS_ICMP_TO_VIP : XLB_PASS_NO_SERVICE, bytes);
}

/* A TCP/UDP flow (or an ICMP error quoting one): its service, then its backend. */
static __always_inline int balance(struct xdp_md *ctx, struct xlb_pkt *pkt, __u32 slot,
				   __u64 bytes)
{
	struct xlb_pick pick = {};
	struct xlb_slot_conf *conf;
	struct xlb_service *svc;
	__u32 reason, svc_index;
	int act;

	if (!maybe_vip(&pkt->flow.dst, pkt->flow.family, slot))
		return pass_unserved(pkt, slot, bytes);
	conf = bpf_map_lookup_elem(&xlb_slot_conf, &slot);
	if (!conf)
		return count(XDP_DROP, XLB_DROP_INTERNAL, bytes);
	svc = lookup_service(&pkt->flow, slot);
	if (!svc)
		return pass_unserved(pkt, slot, bytes);
	svc_index = svc->index;
	if (pick_backend(pkt, svc, slot, conf, &pick) != XLB_CONTINUE || !pick.be)
		return count(XDP_DROP, XLB_DROP_NO_BACKEND, bytes);
	if (pick.be->family != pkt->flow.family)
		return count(XDP_DROP, XLB_DROP_FAMILY, bytes);
	if (pkt->icmp_err)
		count_event(XLB_EV_ICMP_PTB);
	act = tunnel(ctx, pkt, &pick, conf, &reason);
	if (act != XDP_DROP && reason != XLB_REPLY_TOO_BIG) {
		count_forward(&xlb_service_stats, svc_index, &pick, bytes);
		count_forward(&xlb_backend_stats, pick.id, &pick, bytes);
	}
	return count(act, reason, bytes);
}
SEC("xdp")
int xlb_balance(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	__u32 zero = 0, *active, slot;
	struct xlb_pkt pkt;
	int res;

	if (xlb_parse_fast(data, data_end, &pkt) == 0) {
		res = XLB_PARSE_FLOW;
	} else {
		__builtin_memset(&pkt, 0, sizeof(pkt));
		res = xlb_parse_packet(data, data_end, &pkt);
	}
	if (res == XLB_PARSE_PASS)
		return count(XDP_PASS, pkt.reason, bytes);
	if (res == XLB_PARSE_DROP)
		return count(XDP_DROP, pkt.reason, bytes);
	active = bpf_map_lookup_elem(&xlb_active, &zero);
	if (!active)	/* key 0 of a one-entry array: cannot miss; verdict as counted */
		return count(XDP_DROP, XLB_DROP_INTERNAL, bytes);
	slot = *active & 1;
	if (res == XLB_PARSE_IF_VIP) {
		if (is_vip(&pkt.daddr, pkt.flow.family, slot))
			return count(pkt.vip_action, pkt.reason, bytes);
		return count(XDP_PASS, pkt.reason_not_vip, bytes);
	}
	return balance(ctx, &pkt, slot, bytes);
}
