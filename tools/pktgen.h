/* pktgen's template frame and program configuration, shared with its test. */
#ifndef XLB_PKTGEN_TOOL_H
#define XLB_PKTGEN_TOOL_H

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

#endif
