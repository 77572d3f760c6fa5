/* libFuzzer target: the packet parser and flow hash on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../bpf/parse.h"
#include "../../bpf/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/*
	 * An exact-end heap copy so ASan catches any read past data_end, placed
	 * 2 bytes in (NET_IP_ALIGN) as the kernel places XDP frames, so the IP
	 * header is 4-byte aligned as it is in the data path.
	 */
	uint8_t *buf = malloc(size + 2), *copy = buf + 2;
	struct xlb_pkt pkt;
	int res;

	memcpy(copy, data, size);
	memset(&pkt, 0, sizeof(pkt));
	res = xlb_parse_packet(copy, copy + size, &pkt);
	if (res == XLB_PARSE_FLOW) {
		volatile __u32 h = xlb_flow_hash(&pkt.flow, XLB_HASH_SEED);

		(void)h;
		/* invariants the balancer relies on */
		if (pkt.flow.proto != IPPROTO_TCP && pkt.flow.proto != IPPROTO_UDP)
			abort();
		if (pkt.l3_off != 14 && pkt.l3_off != 18)
			abort();
		if ((size_t)pkt.l3_off + pkt.ip_len > size)
			abort();
	} else if (res < XLB_PARSE_FLOW || res > XLB_PARSE_IF_VIP ||
		   pkt.reason >= XLB_STAT_MAX) {
		abort();
	}
	free(buf);
	return 0;
}
