/* Attach, adopt, detach and inspect the balancer on an interface. */
#ifndef XLB_LOADER_H
#define XLB_LOADER_H

#include <stdbool.h>
#include <net/if.h>
#include "xlb_abi.h"

#define XLB_BPFFS	"/sys/fs/bpf"
#define XLB_PIN_ROOT	XLB_BPFFS "/xlb"

enum xlb_mode {
	XLB_MODE_DEFAULT = 0,	/* native on attach; whatever is there on adopt */
	XLB_MODE_NATIVE,
	XLB_MODE_GENERIC,
};

struct xlb_attach_opts {
	const char *ifname;
	enum xlb_mode mode;
	__u32 flows;		/* connection-table size; 0 = default/keep */
	const char *src4;	/* tunnel source; NULL = keep or take DEV's */
	const char *src6;
	__u32 flow_rate;	/* flood guard, entries/s per CPU; 0 = keep or default */
	__u32 icmp_rate;	/* too-big answers/s per CPU, XLB_ICMP_RATE_OFF; 0 = keep or default */
};

struct xlb_attach_info {
	bool adopted;		/* pinned state was found and kept */
	__u32 prog_id;
	__u32 ifindex;
	enum xlb_mode mode;
	union xlb_addr src4, src6;
	__u32 flow_rate;
	__u32 icmp_rate;
	__u32 marked;		/* slots marked moved for flows of an older version's state */
};

struct xlb_status {
	char ifname[IF_NAMESIZE];
	__u32 ifindex;		/* 0: interface is gone */
	bool linked;		/* pinned link present and alive */
	enum xlb_mode mode;
	__u32 prog_id;
	__u32 active_slot;
	__u64 generation;
	__u32 flows, flows_max;
	__u32 services, services_max;	/* of the active slot */
	__u32 backends, backends_max;	/* of the active slot */
	union xlb_addr src4, src6;
	__u32 flow_rate;	/* flood guard: entries/s per CPU (UNLIMITED: none) */
	__u32 state_version;	/* XLB_STATE_VERSION of the pins; 1: before it existed */
	__u64 flows_limited;	/* new flows it forwarded without remembering */
	__u32 moved;		/* table slots of the active slot a change moved */
	__u32 icmp_rate;	/* too-big answers/s per CPU (XLB_ICMP_RATE_OFF: none) */
	__u64 icmp_limited;	/* too-big answers the rate held back (dropped, too_big) */
};

const char *xlb_mode_name(enum xlb_mode mode);
/* "native" or "generic" (the --mode argument); 0 or -EINVAL. */
int xlb_mode_parse(const char *s, enum xlb_mode *mode);
int xlb_pin_dir(const char *ifname, char *buf, size_t len);
/* Exclusive per-interface lock (/run/xlb/IF.lock): returns the fd to close. */
int xlb_lock_dev(const char *ifname);
/* The same without waiting: -EWOULDBLOCK when another process holds it. */
int xlb_trylock_dev(const char *ifname);
int xlb_attach(const struct xlb_attach_opts *opts, struct xlb_attach_info *info);
int xlb_detach(const char *ifname);
/* Names of interfaces with pinned state, up to max; returns the count. */
int xlb_attached(char (*names)[IF_NAMESIZE], int max);
int xlb_status_get(const char *ifname, struct xlb_status *st);
/* The one attached interface when ifname is NULL (DESIGN: DEV may be omitted). */
int xlb_resolve_dev(const char *ifname, char *out, size_t len);

/* ---- shared by the loaders (this one, decap.c) ---- */
enum xlb_link_state {
	XLB_LINK_NONE,		/* nothing pinned */
	XLB_LINK_LIVE,		/* a pinned XDP link on this interface */
	XLB_LINK_DEFUNCT,	/* pinned, but its device is gone (or another one now) */
};

/*
 * bpffs at XLB_BPFFS that outlives this command (user/dataplane/bpffs.c): in the host's
 * mount namespace (mounted if need be) or propagated from it; -EINVAL with
 * the fix otherwise (ip netns exec), before anything is touched.
 */
int xlb_ensure_bpffs(void);
/*
 * After an attach: the link pinned at pin_path is on ifindex with prog_fd's
 * program, and the interface runs it.  0, or -EIO saying what does not hold.
 */
int xlb_verify_link(const char *ifname, const char *pin_path, __u32 ifindex, int prog_fd);
/* In the host's mount namespace: 1 yes, 0 no, -1 cannot tell. */
int xlb_in_host_mount_ns(void);
int xlb_make_dir(const char *path);
void xlb_chmod_pins(const char *dir);
/* Unlink every pin in dir, then dir. */
void xlb_remove_pins(const char *dir);
int xlb_link_ifindex(int link_fd, __u32 *ifindex, __u32 *prog_id);
/* The XDP mode and program id an interface runs (user/dataplane/xdplink.c); DEFAULT / 0: none. */
enum xlb_mode xlb_xdp_mode(__u32 ifindex);
__u32 xlb_xdp_prog_id(__u32 ifindex);
/* The version of the state pinned in dir: 0 when none, 1 when pinned before xlb_version. */
int xlb_pinned_version(const char *dir, __u32 *version);
/* What the link pinned at pin_path is to the interface ifindex. */
enum xlb_link_state xlb_pinned_link(const char *pin_path, __u32 ifindex);
/* Attach prog_fd to ifindex by an XDP link pinned at pin_path; the link fd. */
int xlb_link_xdp(const char *ifname, __u32 ifindex, int prog_fd, enum xlb_mode mode,
		 const char *pin_path);

#endif
