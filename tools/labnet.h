/* Interface queries and the lab guard shared by the traffic tools. */
#ifndef XLB_LABNET_H
#define XLB_LABNET_H

#include <linux/types.h>
#include <stdbool.h>

/* 0 when IFNAME is a veth and this process is in a named (ip netns) namespace,
 * else a message on stderr and -EPERM (or -errno). */
int labnet_guard(const char *prog, const char *ifname);
/* MAC of ifname: 0 or -errno. */
int labnet_mac(const char *ifname, __u8 mac[6]);
/* "aa:bb:cc:dd:ee:ff": 0 or -EINVAL. */
int labnet_mac_parse(const char *s, __u8 mac[6]);
/* Sum of the ethtool statistics whose names end in suffix (e.g. "_xdp_xmit"). */
int labnet_ethtool_sum(const char *ifname, const char *suffix, __u64 *sum);
/* Frames ifname dropped on transmit (its tx_dropped, from this namespace's
 * /proc/net/dev): 0 or -errno. */
int labnet_tx_dropped(const char *ifname, __u64 *dropped);
/* Seconds on CLOCK_MONOTONIC. */
double labnet_now(void);

#endif
