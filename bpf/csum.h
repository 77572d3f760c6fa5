/* Checksums for headers the balancer writes. */
#ifndef XLB_CSUM_H
#define XLB_CSUM_H

#include "compat.h"

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The checksum of a 64-bit sum of 32-bit words (bpf_csum_diff results added). */
static __always_inline __u16 csum_fold64(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return csum_fold32((__u32)sum);
}

/* Checksum of a 20-byte IPv4 header whose check field is zero. */
static __always_inline __u16 csum_ipv4_hdr(const void *hdr)
{
	const __u16 *w = hdr;
	__u32 sum = 0;
	int i;

XLB_UNROLL
	for (i = 0; i < 10; i++)
		sum += w[i];
	return csum_fold32(sum);
}

#endif /* XLB_CSUM_H */
