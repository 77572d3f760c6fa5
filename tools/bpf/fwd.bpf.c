// SPDX-License-Identifier: GPL-2.0
/*
 * Trivial forwarder, a benchmark bound: match the VIP, hash the flow, rewrite
 * the destination (address, checksums, MACs) and redirect.  No flow table,
 * no encapsulation, no counters: what any forwarding XDP program must do.
 *
 * l2 (set before load): L2 direct return, the bound for TCP through the VIP:
 * the frame keeps its addresses (the backend holds the VIP on loopback and
 * answers the client from it), only its MACs are rewritten towards the
 * backend; sent back out of the interface it came in (XDP_TX) when that is
 * the backend's, redirected otherwise.
 */
#include "../../bpf/compat.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include "../../bpf/hash.h"
#include "../../include/xlb_pktgen.h"

char LICENSE[] SEC("license") = "GPL";

const volatile struct fwd_cfg cfg = { .nr_backends = 1 };
const volatile __u8 l2;

static __always_inline __u16 csum_replace4(__u16 check, __be32 from, __be32 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~(from & 0xffff) + (__u16)~(from >> 16);
	sum += (to & 0xffff) + (to >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("xdp")
int fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = data + ETH_HLEN;
	struct udphdr *l4 = data + ETH_HLEN + sizeof(*iph);
	const volatile struct fwd_backend *be;
	__u32 idx;

	if ((void *)(l4 + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    iph->ihl != 5 || iph->daddr != cfg.vip || l4->dest != cfg.port ||
	    (iph->protocol != IPPROTO_UDP && iph->protocol != IPPROTO_TCP))
		return XDP_PASS;
	idx = xlb_hash3(iph->saddr, iph->daddr, ((__u32)l4->source << 16) | l4->dest, 0) %
	      cfg.nr_backends;
	if (idx >= FWD_MAX_BACKENDS)
		return XDP_ABORTED;
	be = &cfg.backends[idx];
	if (l2)
		goto macs;
	if (iph->protocol == IPPROTO_UDP && l4->check)
		l4->check = csum_replace4(l4->check, iph->daddr, be->addr) ?: 0xffff;
	else if (iph->protocol == IPPROTO_TCP) {
		__u16 *tcheck = (void *)l4 + 16;

		if ((void *)(tcheck + 1) > data_end)
			return XDP_PASS;
		*tcheck = csum_replace4(*tcheck, iph->daddr, be->addr);
	}
	iph->check = csum_replace4(iph->check, iph->daddr, be->addr);
	iph->daddr = be->addr;
macs:
	/* volatile reads: cast away, the compiler would fold in the initialiser */
XLB_UNROLL
	for (int i = 0; i < ETH_ALEN; i++) {
		eth->h_dest[i] = be->dmac[i];
		eth->h_source[i] = be->smac[i];
	}
	if (l2 && be->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(be->ifindex, 0);
}
