/* pktgen's template frame, the checksum bases its programs patch from, frame k. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include "pktgen.h"

static __u32 neg_words(const __u8 *p, int n)
{
	__u32 sum = 0;

	for (int i = 0; i < n; i += 2) {
		__u16 w;

		memcpy(&w, p + i, 2);
		sum += (__u16)~w;
	}
	return sum;
}

int pktgen_template(const struct pktgen_spec *spec, struct pb *pkt, struct pktgen_cfg *cfg,
		    char *err, size_t errlen)
{
	bool udp = !strcmp(spec->proto, "udp"), v6 = strchr(spec->src, ':') != NULL;
	unsigned long hdr = ETH_HLEN + (v6 ? 40 : 20) + (udp ? 8 : 20), ports, naddr;
	__u8 l4 = udp ? IPPROTO_UDP : IPPROTO_TCP, a[16], b[16];
	int saddr_off = ETH_HLEN + (v6 ? 8 : 12);	/* source address */
	__u32 first;

	if (inet_pton(v6 ? AF_INET6 : AF_INET, spec->src, a) != 1 ||
	    inet_pton(v6 ? AF_INET6 : AF_INET, spec->dst, b) != 1) {
		snprintf(err, errlen, "--src %s, --dst %s: not two IPv4 or two IPv6 addresses",
			 spec->src, spec->dst);
		return -EINVAL;
	}
	if (spec->size < hdr + 4) {
		snprintf(err, errlen, "--size %lu: an %s %s frame needs at least %lu bytes",
			 spec->size, v6 ? "IPv6" : "IPv4", udp ? "UDP" : "TCP", hdr + 4);
		return -EINVAL;
	}
	ports = spec->ports ? spec->ports : 65536 - spec->sport;
	if (ports > spec->flows)
		ports = spec->flows;
	if (spec->sport + ports - 1 > 65535) {
		snprintf(err, errlen, "--sport %lu with --ports %lu: ports beyond 65535",
			 spec->sport, ports);
		return -EINVAL;
	}
	naddr = (spec->flows + ports - 1) / ports;
	memcpy(&first, a + (v6 ? 12 : 0), 4);
	first = ntohl(first);
	if ((unsigned long long)first + naddr - 1 > 0xffffffffULL) {
		snprintf(err, errlen, "--flows %lu: %lu source addresses from %s run past the "
			 "address space", spec->flows, naddr, spec->src);
		return -EINVAL;
	}
	pb_init(pkt);
	pb_eth(pkt, spec->dmac, spec->smac, v6 ? ETH_P_IPV6 : ETH_P_IP);
	if (v6)
		pb_ipv6(pkt, spec->src, spec->dst, l4);
	else
		pb_ipv4(pkt, spec->src, spec->dst, l4);
	if (udp)
		pb_udp(pkt, spec->sport, spec->dport);
	else	/* SYN, or ACK */
		pb_tcp(pkt, spec->sport, spec->dport, !strcmp(spec->proto, "syn") ? 0x02 : 0x10);
	pb_payload(pkt, spec->size - 4 - hdr);
	pb_finish(pkt);

	*cfg = (struct pktgen_cfg){ .flows = spec->flows, .ports = ports, .saddr = first,
				    .sport = spec->sport, .ipv6 = v6, .l4_proto = l4 };
	_Static_assert(ETH_HLEN + 40 + 20 <= PKTGEN_HDR_MAX, "headers fit");
	memcpy(cfg->hdr, pkt->d, hdr);
	/* the template's checksums with its own source fields taken out */
	cfg->l4_base = neg_words(pkt->d + pkt->l4_off + (udp ? 6 : 16), 2) +
		       neg_words(pkt->d + saddr_off + (v6 ? 12 : 0), 4) +
		       neg_words(pkt->d + pkt->l4_off, 2);
	if (!v6)
		cfg->ip_base = neg_words(pkt->d + ETH_HLEN + 10, 2) +
			       neg_words(pkt->d + saddr_off, 4);
	return 0;
}

unsigned int pktgen_hdr_len(const struct pktgen_cfg *cfg)
{
	return ETH_HLEN + (cfg->ipv6 ? 40 : 20) + (cfg->l4_proto == IPPROTO_TCP ? 20 : 8);
}

static __u16 fold_neg(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The same arithmetic as tools/bpf/pktgen.bpf.c, on the same native words. */
void pktgen_frame(const struct pktgen_cfg *cfg, __u8 *frame, __u64 k)
{
	int l4 = ETH_HLEN + (cfg->ipv6 ? 40 : 20);
	int saddr_off = cfg->ipv6 ? ETH_HLEN + 8 + 12 : ETH_HLEN + 12;
	int check_off = l4 + (cfg->l4_proto == IPPROTO_TCP ? 16 : 6);
	__u32 flow = k % cfg->flows;
	__u32 saddr = htonl(cfg->saddr + flow / cfg->ports);
	__u16 sport = htons(cfg->sport + flow % cfg->ports), l4sum, ipsum;

	memcpy(frame, cfg->hdr, pktgen_hdr_len(cfg));
	memcpy(frame + saddr_off, &saddr, 4);
	memcpy(frame + l4, &sport, 2);
	l4sum = fold_neg(cfg->l4_base + (saddr & 0xffff) + (saddr >> 16) + sport);
	if (l4sum == 0 && cfg->l4_proto == IPPROTO_UDP)
		l4sum = 0xffff;
	memcpy(frame + check_off, &l4sum, 2);
	if (!cfg->ipv6) {
		ipsum = fold_neg(cfg->ip_base + (saddr & 0xffff) + (saddr >> 16));
		memcpy(frame + ETH_HLEN + 10, &ipsum, 2);
	}
}
