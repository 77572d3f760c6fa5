/* pktgen's template frame, its engines' interface, shared with its test. */
#ifndef XLB_PKTGEN_TOOL_H
#define XLB_PKTGEN_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include "pktbuild.h"
#include "xlb_pktgen.h"

struct pktgen_spec {
	const char *src, *dst;	/* addresses, both IPv4 or both IPv6 */
	const char *proto;	/* "udp", "syn" or "ack" */
	__u8 smac[6], dmac[6];
	unsigned long sport, dport;
	unsigned long flows;	/* distinct flows */
	unsigned long ports;	/* source ports per address; 0: as many as fit */
	unsigned long size;	/* frame bytes with the 4-byte FCS */
};

/*
 * Build the template frame and the program's configuration.  0, or -EINVAL
 * with the reason in err ("--size 64: ...").
 */
int pktgen_template(const struct pktgen_spec *spec, struct pb *pkt, struct pktgen_cfg *cfg,
		    char *err, size_t errlen);

/* Bytes of the template's headers (Ethernet, IP, L4): what pktgen_frame() writes. */
unsigned int pktgen_hdr_len(const struct pktgen_cfg *cfg);

/*
 * Write frame k's headers into frame (whose payload is the template's): the
 * template's headers with flow k % flows's source port and address and
 * their checksums, byte for byte what tools/bpf/pktgen.bpf.c writes.
 */
void pktgen_frame(const struct pktgen_cfg *cfg, __u8 *frame, __u64 k);

/*
 * An engine: a way of putting frames on the veth.  Each is tried at start
 * (open) and says why it cannot run; then send() is called with the frames
 * due until a bound, then finish().
 */
struct pktgen_ctx {
	const char *dev;
	int ifindex;
	const struct pb *pkt;		/* the template frame (without FCS) */
	const struct pktgen_cfg *cfg;
	unsigned long batch;		/* --batch; 0: the engine's default */
};

/* What left, since open: the numbers pktgen reports. */
struct pktgen_counts {
	__u64 sent;		/* frames the kernel took from the generator */
	__u64 xmit;		/* of those, frames the veth took (passed to its peer) */
	__u64 xmit_errors;	/* of those, frames the veth refused (counted as dropped) */
};

struct pktgen_engine {
	const char *name;
	double chunk_s;		/* seconds of work a send() call should hold */
	unsigned long batch;	/* frames per kernel call, unless --batch says */
	/* NULL, or how it sends --rate in bursts (then auto tries it last under --rate) */
	const char *bursts;
	/* Set up on ctx: 0, or -errno with the reason in why. */
	int (*open)(void **state, const struct pktgen_ctx *ctx, char *why, size_t whylen);
	/* Hand over n frames: how many were taken (0..n), or -errno (logged). */
	long (*send)(void *state, __u32 n);
	/* Wait (bounded) for frames handed over to leave, then fill counts. */
	void (*finish)(void *state, struct pktgen_counts *c);
	/* Counts so far (for per-second reports). */
	void (*counts)(void *state, struct pktgen_counts *c);
	void (*close)(void *state);
};

/*
 * Counts of an engine that hands frames to the veth's stack: sent as it
 * counted them, errors the veth's tx_dropped since dropped0 (labnet).
 */
void pktgen_counts_fill(const struct pktgen_ctx *ctx, __u64 dropped0, __u64 sent,
			struct pktgen_counts *c);

extern const struct pktgen_engine pktgen_live, pktgen_xsk, pktgen_packet, pktgen_tc;

#endif
