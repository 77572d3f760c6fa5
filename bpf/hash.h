/* Flow hash (Jenkins lookup3 mix) shared by the packet path and the controller. */
#ifndef XLB_HASH_H
#define XLB_HASH_H

#include "compat.h"
#include "../include/xlb_abi.h"

static __always_inline __u32 xlb_rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

#define XLB_JHASH_MIX(a, b, c) do {					\
	a -= c; a ^= xlb_rol32(c, 4);  c += b;				\
	b -= a; b ^= xlb_rol32(a, 6);  a += c;				\
	c -= b; c ^= xlb_rol32(b, 8);  b += a;				\
	a -= c; a ^= xlb_rol32(c, 16); c += b;				\
	b -= a; b ^= xlb_rol32(a, 19); a += c;				\
	c -= b; c ^= xlb_rol32(b, 4);  b += a;				\
} while (0)

#define XLB_JHASH_FINAL(a, b, c) do {					\
	c ^= b; c -= xlb_rol32(b, 14);					\
	a ^= c; a -= xlb_rol32(c, 11);					\
	b ^= a; b -= xlb_rol32(a, 25);					\
	c ^= b; c -= xlb_rol32(b, 16);					\
	a ^= c; a -= xlb_rol32(c, 4);					\
	b ^= a; b -= xlb_rol32(a, 14);					\
	c ^= b; c -= xlb_rol32(b, 24);					\
} while (0)

#define XLB_JHASH_INIT	0xdeadbeefu

/* Jenkins hash of three words (lookup3 "final" only); *bout: its second word. */
static __always_inline __u32 xlb_hash3_2(__u32 a, __u32 b, __u32 c, __u32 seed, __u32 *bout)
{
	a += XLB_JHASH_INIT + (3 << 2) + seed;
	b += XLB_JHASH_INIT + (3 << 2) + seed;
	c += XLB_JHASH_INIT + (3 << 2) + seed;
	XLB_JHASH_FINAL(a, b, c);
	*bout = b;
	return c;
}

static __always_inline __u32 xlb_hash3(__u32 a, __u32 b, __u32 c, __u32 seed)
{
	__u32 b2;

	return xlb_hash3_2(a, b, c, seed, &b2);
}

/*
 * Hash of a flow's 5-tuple.  Addresses are hashed as their network-order
 * bytes read as host words; ports are converted to host order first, so the
 * result depends only on the tuple, the seed and the host's byte order (all
 * xlb targets are little-endian).  Every node with the same seed computes the
 * same value.
 */
static __always_inline __u32 xlb_flow_hash_2(const struct xlb_flow_key *k, __u32 seed,
					     __u32 *bout)
{
	__u32 ports = ((__u32)bpf_ntohs(k->sport) << 16) | bpf_ntohs(k->dport);
	__u32 a, b, c;

	if (k->family == XLB_FAMILY_V4)
		return xlb_hash3_2(k->src.v4, k->dst.v4, ports ^ k->proto, seed, bout);

	a = b = c = XLB_JHASH_INIT + (9 << 2) + seed;
	a += k->src.v6[0]; b += k->src.v6[1]; c += k->src.v6[2];
	XLB_JHASH_MIX(a, b, c);
	a += k->src.v6[3]; b += k->dst.v6[0]; c += k->dst.v6[1];
	XLB_JHASH_MIX(a, b, c);
	a += k->dst.v6[2]; b += k->dst.v6[3]; c += ports ^ k->proto;
	XLB_JHASH_FINAL(a, b, c);
	*bout = b;
	return c;
}

static __always_inline __u32 xlb_flow_hash(const struct xlb_flow_key *k, __u32 seed)
{
	__u32 b;

	return xlb_flow_hash_2(k, seed, &b);
}

/*
 * A SYN's set in xlb_syn_cells and the tag that tells its 5-tuple from the
 * others mapped there: two words of one hash of the whole 5-tuple (whatever
 * fields the service places by), with a seed of their own.
 */
#define XLB_SYN_SEED	0x5f3759dfu
static __always_inline __u32 xlb_syn_cell(const struct xlb_flow_key *k, __u32 *tag)
{
	__u32 t, c = xlb_flow_hash_2(k, XLB_SYN_SEED, &t);

	*tag = t ?: 1;
	return c & (XLB_SYN_SETS - 1);
}

/*
 * The flow hash of a service that hashes some fields only (enum
 * xlb_hash_fields): the fields it leaves out count as zero, so
 * XLB_HASH_5TUPLE gives xlb_flow_hash() itself.  The packet path, the
 * controller (placement, `xlb flow`) and the tests all place flows with it.
 */
static __always_inline __u32 xlb_flow_hash_fields(const struct xlb_flow_key *k, __u32 seed,
						  __u8 fields)
{
	struct xlb_flow_key m;

	if (fields == XLB_HASH_5TUPLE)
		return xlb_flow_hash(k, seed);
	__builtin_memset(&m, 0, sizeof(m));
	m.src = k->src;
	m.proto = k->proto;
	m.family = k->family;
	if (fields == XLB_HASH_SRC_DPORT)
		m.dport = k->dport;
	return xlb_flow_hash(&m, seed);
}

/*
 * The table slot of a flow hash in a table of m slots: (hash * m) >> 32, a
 * multiply and a shift where % would divide (tens of cycles on the packet
 * path).  The hash is uniform over 32 bits, so slots are equally likely.  The
 * controller and the tests place flows with this same function.
 */
static __always_inline __u32 xlb_table_index(__u32 hash, __u32 m)
{
	return (__u32)(((__u64)hash * m) >> 32);
}

/* Cell of xlb_moved_seen for slot `bucket` of a service's table (bijective per service). */
static __always_inline __u32 xlb_seen_cell(__u32 service, __u32 bucket)
{
	return (bucket ^ (service * 0x9e3779b1u)) & (XLB_SEEN_CELLS - 1);
}

/* Bit of a VIP in the slot's filter: 0 .. XLB_VIP_FILTER_WORDS * 64 - 1. */
static __always_inline __u32 xlb_vip_filter_bit(const union xlb_addr *a, __u8 family)
{
	__u32 x = family == XLB_FAMILY_V4 ? a->v4 : a->v6[0] ^ a->v6[1] ^ a->v6[2] ^ a->v6[3];

	return (x * 0x9e3779b1u) >> 16;	/* Fibonacci hashing: 16 bits */
}

/* A service key's cell in xlb_service_cells (the key's slot's range). */
static __always_inline __u32 xlb_service_cell(const struct xlb_service_key *k)
{
	__u32 x = k->vip.v6[0] ^ k->vip.v6[1] ^ k->vip.v6[2] ^ k->vip.v6[3];

	x ^= ((__u32)k->port << 16) ^ ((__u32)k->proto << 8) ^ k->family;
	return (k->slot & 1) * XLB_SVC_CELLS + ((x * 0x9e3779b1u) >> (32 - XLB_SVC_CELL_BITS));
}

#endif /* XLB_HASH_H */
