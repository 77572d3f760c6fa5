/* Receive offloads that coalesce segments before XDP in generic mode. */
#ifndef XLB_OFFLOAD_H
#define XLB_OFFLOAD_H

#include <stddef.h>

/*
 * How many coalescing receive offloads (GRO, LRO, hardware GRO, GRO lists)
 * are on for ifname; keywords gets what turns them off, as `ethtool -K
 * ifname` takes it ("gro off lro off").  -errno when they cannot be read.
 */
int xlb_if_coalescing(const char *ifname, char *keywords, size_t len);

#endif
