/* The backend-side decap program (bpf/decap.bpf.c), pinned in XLB_DECAP_ROOT/DEV. */
#ifndef XLB_DECAP_H
#define XLB_DECAP_H

#include "loader.h"

#define XLB_DECAP_ROOT	XLB_BPFFS "/xlb-decap"

struct xlb_decap_opts {
	const char *ifname;
	enum xlb_mode mode;
	const char **addrs;	/* outer destinations accepted; NULL: DEV's addresses */
	int nr_addrs;
	const char **from;	/* outer source prefixes allowed: the balancers */
	int nr_from;
	bool any_source;	/* no allow-list: IP-in-IP from anywhere (0.0.0.0/0, ::/0) */
	bool second_chance;	/* send second chances on, to the peers only */
	const char **peers;	/* where they may go: the other backends' prefixes */
	int nr_peers;
	const char **gue_ports;	/* UDP ports GUE is taken on, "1".."65535", or one
				   "off": none; NULL (nr 0): XLB_GUE_PORT_DEFAULT */
	int nr_gue_ports;
};

struct xlb_decap_info {
	__u32 nr_addrs;		/* outer destinations accepted */
	__u32 nr_from;		/* source prefixes allowed */
	__u32 nr_peers;		/* second-chance peer prefixes */
	__u16 gue_ports[XLB_DECAP_GUE_PORTS_MAX];	/* GUE taken on (host order) */
	__u32 nr_gue_ports;	/* 0: GUE refused (--gue-port off) */
	bool replaced_defunct;	/* pins of a link whose device had gone were replaced */
	bool lo_forwarding_failed; /* forwarding could not be turned on for lo: the
				      second chance cannot send on (counted no_route) */
};

/*
 * -EINVAL unless o names allowed sources (from) or any_source, not both, and
 * peers exactly when second_chance, GUE ports 1..65535 (at most
 * XLB_DECAP_GUE_PORTS_MAX) or "off" alone: nothing is touched before these checks.
 */
int xlb_decap_attach(const struct xlb_decap_opts *opts, struct xlb_decap_info *info);
int xlb_decap_detach(const char *ifname);
/* Packets per enum xlb_decap_reason, summed over CPUs. */
int xlb_decap_stats(const char *ifname, __u64 counts[XLB_DECAP_MAX]);
/* The GUE ports DEV's decap takes (host order); -ENOENT: attached by an older version. */
int xlb_decap_gue_ports(const char *ifname, __u16 ports[XLB_DECAP_GUE_PORTS_MAX], __u32 *n);

#endif
