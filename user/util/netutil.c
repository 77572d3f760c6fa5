/* Address helpers shared by the loader, the controller and the tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "netutil.h"

int xlb_addr_parse(const char *s, union xlb_addr *addr, __u8 *family)
{
	memset(addr, 0, sizeof(*addr));
	if (inet_pton(AF_INET, s, &addr->v4) == 1) {
		*family = XLB_FAMILY_V4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr->v6) == 1) {
		*family = XLB_FAMILY_V6;
		return 0;
	}
	return -EINVAL;
}

int xlb_prefix_parse(const char *s, union xlb_addr *addr, __u8 *family, __u32 *len)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long n;
	__u32 max;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (xlb_addr_parse(buf, addr, family))
		return -EINVAL;
	max = *family == XLB_FAMILY_V4 ? 32 : 128;
	*len = max;
	if (!slash)
		return 0;
	errno = 0;
	n = strtoul(slash + 1, &end, 10);
	if (!slash[1] || *end || errno || n > max)
		return -EINVAL;
	*len = n;
	/* host bits off: 198.51.100.7/24 means 198.51.100.0/24 */
	for (__u32 bit = n; bit < max; bit++)
		((__u8 *)addr)[bit / 8] &= ~(0x80 >> (bit % 8));
	return 0;
}

const char *xlb_addr_str(const union xlb_addr *addr, __u8 family, char *buf, size_t len)
{
	if (!inet_ntop(family == XLB_FAMILY_V4 ? AF_INET : AF_INET6, addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

bool xlb_addr_is_zero(const union xlb_addr *addr)
{
	return !(addr->v6[0] | addr->v6[1] | addr->v6[2] | addr->v6[3]);
}

int xlb_if_first_addr(const char *ifname, __u8 family, union xlb_addr *addr)
{
	struct ifaddrs *ifa, *i;
	int err = -ENOENT;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, ifname))
			continue;
		if (family == XLB_FAMILY_V4 && i->ifa_addr->sa_family == AF_INET) {
			memset(addr, 0, sizeof(*addr));
			addr->v4 = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
			err = 0;
			break;
		}
		if (family == XLB_FAMILY_V6 && i->ifa_addr->sa_family == AF_INET6) {
			struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(a))
				continue;
			memcpy(addr->v6, a, 16);
			err = 0;
			break;
		}
	}
	freeifaddrs(ifa);
	return err;
}

int xlb_if_forwarding(const char *ifname, __u8 family)
{
	char path[256];
	FILE *f;
	int v = -1;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv%d/conf/%s/forwarding",
		 family == XLB_FAMILY_V4 ? 4 : 6, ifname);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (fscanf(f, "%d", &v) != 1)
		v = -EIO;
	fclose(f);
	return v;
}

int xlb_sysctl_write(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(value, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

int xlb_if_set_forwarding(const char *ifname, __u8 family, int on)
{
	char path[256];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv%d/conf/%s/forwarding",
		 family == XLB_FAMILY_V4 ? 4 : 6, ifname);
	return xlb_sysctl_write(path, on ? "1\n" : "0\n");
}
