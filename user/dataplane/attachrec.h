/*
 * The options an interface was attached with, kept in its state directory
 * (STATE/DEV/attach.json, versioned): a reboot loses the pinned maps and the
 * XDP link but not the state, and `xlb attach --recorded` (the unit's
 * ExecStartPre) attaches it again the same way.  `xlb detach` forgets them.
 */
#ifndef XLB_ATTACHREC_H
#define XLB_ATTACHREC_H

#include <arpa/inet.h>
#include <net/if.h>
#include "loader.h"

#define XLB_ATTACH_REC_VERSION	1

struct xlb_attach_rec {
	char ifname[IF_NAMESIZE];
	enum xlb_mode mode;
	__u32 flows, flow_rate, icmp_rate;
	char src4[INET6_ADDRSTRLEN], src6[INET6_ADDRSTRLEN];	/* "" when none */
};

/* Record what DEV runs now (after an attach).  0, or -errno with the message set. */
int xlb_attach_rec_save(const char *state_root, const char *ifname);
/* 0, -ENOENT (nothing recorded) or -EINVAL (damaged, naming the file and field). */
int xlb_attach_rec_load(const char *state_root, const char *ifname, struct xlb_attach_rec *r);
/* After a detach: 0 (also when nothing was recorded) or -errno. */
int xlb_attach_rec_forget(const char *state_root, const char *ifname);
/* Interfaces with recorded options, up to max; the count. */
int xlb_attach_rec_list(const char *state_root, char (*names)[IF_NAMESIZE], int max);
/* The attach options of a record (pointing into r). */
void xlb_attach_rec_opts(const struct xlb_attach_rec *r, struct xlb_attach_opts *o);

#endif
