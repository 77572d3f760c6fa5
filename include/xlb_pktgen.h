/* Traffic generator ABI (tools/bpf/pktgen.bpf.c <-> tools/pktgen*.c); not product ABI. */
#ifndef XLB_PKTGEN_H
#define XLB_PKTGEN_H

#include <linux/types.h>

/*
 * How the generator varies each frame.  Flow k of `flows` (k = packet
 * number mod flows) gets source port sport + k % ports and source address
 * saddr + k / ports (IPv6: added to the last 32 bits).  The template frame
 * carries sport and saddr; its checksums are patched from ip_base/l4_base,
 * the one's-complement sums of the template's checksum and source fields
 * with those fields negated, so every frame's fields are written whole from
 * these constants (by the BPF programs and by pktgen_frame() alike).  Live
 * frames are recycled from a page pool with whatever the receiver left in
 * them (an encapsulating balancer writes its outer headers over the old
 * Ethernet header): the program copies the template's headers (hdr) back
 * into every frame before it patches it.
 */
#define PKTGEN_HDR_MAX	80
struct pktgen_cfg {
	__u32 flows;		/* distinct flows, >= 1 */
	__u32 ports;		/* source ports per source address, 1..65536 */
	__u32 saddr;		/* host order: first source address (v6: last word) */
	__u32 ip_base;		/* IPv4 header: ~check + ~saddr words; 0 for IPv6 */
	__u32 l4_base;		/* ~check + ~saddr words + ~sport */
	__u16 sport;		/* host order: first source port */
	__u8 ipv6;		/* 1: IPv6 template */
	__u8 l4_proto;		/* IPPROTO_UDP or IPPROTO_TCP */
	__u8 hdr[PKTGEN_HDR_MAX];	/* the template's Ethernet, IP and L4 headers */
};
_Static_assert(sizeof(struct pktgen_cfg) == 24 + PKTGEN_HDR_MAX, "pktgen_cfg ABI");

/*
 * The tc engine (pktgen_clone): pktgen sends trigger frames with a mark of
 * its own, tc_trigger_mark = PKTGEN_MARK_BASE + 2 * (pid % 65536), so two
 * generators on one device leave each other's triggers alone.  Each trigger
 * leaves as up to PKTGEN_TC_BURST frames while the budget lasts: clones
 * marked tc_trigger_mark + 1 (odd: nobody's trigger), then itself.  The
 * pktgen_tc array holds, by index:
 */
#define PKTGEN_TC_SEQ		0	/* frames numbered so far (frame k's flow: k % flows) */
#define PKTGEN_TC_BUDGET	1	/* frames still to make: pktgen sets it, triggers spend it */
#define PKTGEN_TC_MADE		2	/* frames handed to the device: clones and triggers */
#define PKTGEN_TC_FAILED	3	/* clones the kernel could not make (not frames) */
#define PKTGEN_TC_NR		4
#define PKTGEN_TC_BURST		64
#define PKTGEN_MARK_BASE	0x70670000	/* "pg" */

/* Sink counters (bpf/sink.bpf.c), per CPU. */
struct sink_stats {
	__u64 packets;		/* IPv4/IPv6 UDP, TCP or IP-in-IP frames counted and dropped */
	__u64 bytes;		/* their frame bytes */
	__u64 passed;		/* everything else, left to the kernel (ARP, ND...) */
};
_Static_assert(sizeof(struct sink_stats) == 24, "sink_stats ABI");

/* Trivial forwarder (bpf/fwd.bpf.c): the upper bound on a forwarding XDP program. */
#define FWD_MAX_BACKENDS	16

struct fwd_backend {
	__be32 addr;		/* rewritten into the destination address */
	__u32 ifindex;		/* redirected out of */
	__u8 dmac[6];		/* the backend's MAC */
	__u8 smac[6];		/* ifindex's MAC */
};
_Static_assert(sizeof(struct fwd_backend) == 20, "fwd_backend ABI");

struct fwd_cfg {
	__be32 vip;		/* IPv4 UDP/TCP to vip:port is forwarded, the rest passed */
	__be16 port;
	__u16 nr_backends;	/* 1..FWD_MAX_BACKENDS */
	struct fwd_backend backends[FWD_MAX_BACKENDS];
};
_Static_assert(sizeof(struct fwd_cfg) == 8 + 20 * FWD_MAX_BACKENDS, "fwd_cfg ABI");

#endif
