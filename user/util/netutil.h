/* Address parsing and printing for xlb_addr, and interface queries. */
#ifndef XLB_NETUTIL_H
#define XLB_NETUTIL_H

#include <stdbool.h>
#include "xlb_abi.h"

/* Parse an IPv4 or IPv6 literal; sets *family.  0 or -EINVAL. */
int xlb_addr_parse(const char *s, union xlb_addr *addr, __u8 *family);
/* "ADDR" or "ADDR/LEN" (host bits cleared); a bare ADDR is a host prefix.  0 or -EINVAL. */
int xlb_prefix_parse(const char *s, union xlb_addr *addr, __u8 *family, __u32 *len);
/* Print; buf must hold INET6_ADDRSTRLEN bytes. */
const char *xlb_addr_str(const union xlb_addr *addr, __u8 family, char *buf, size_t len);
bool xlb_addr_is_zero(const union xlb_addr *addr);
/* First global address of a family on an interface: 0 or -ENOENT. */
int xlb_if_first_addr(const char *ifname, __u8 family, union xlb_addr *addr);
/* Reads /proc/sys/net/ipv{4,6}/conf/IF/forwarding: 1, 0, or -errno. */
int xlb_if_forwarding(const char *ifname, __u8 family);
/* Write /proc/sys/net/ipvN/conf/IF/forwarding: 0 or -errno. */
int xlb_if_set_forwarding(const char *ifname, __u8 family, int on);
/* Write a sysctl (a /proc/sys path; not a state file): 0 or -errno. */
int xlb_sysctl_write(const char *path, const char *value);

#endif
