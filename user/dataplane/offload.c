/*
 * Receive offloads that coalesce segments (GRO, LRO, hardware GRO, GRO
 * lists), read through the ethtool ioctl: XDP in generic mode runs after
 * them and would see frames no wire carried.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include "offload.h"

/* The kernel's feature names and the words `ethtool -K` takes for them. */
static const struct {
	const char *feature, *keyword;
} coalescing[] = {
	{ "rx-gro", "gro" }, { "rx-lro", "lro" }, { "rx-gro-hw", "rx-gro-hw" },
	{ "rx-gro-list", "rx-gro-list" },
};

static int ethtool_ioctl(int fd, const char *ifname, void *cmd)
{
	struct ifreq ifr = { .ifr_data = cmd };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	return ioctl(fd, SIOCETHTOOL, &ifr) ? -errno : 0;
}

/* The names of the device's features (ETH_SS_FEATURES): *n of them, or NULL. */
static struct ethtool_gstrings *feature_names(int fd, const char *ifname, __u32 *n)
{
	struct {
		struct ethtool_sset_info hdr;
		__u32 count;
	} info = { .hdr = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ULL << ETH_SS_FEATURES } };
	struct ethtool_gstrings *names;

	if (ethtool_ioctl(fd, ifname, &info) || !info.hdr.sset_mask || !info.count ||
	    info.count > 1024)
		return NULL;
	names = calloc(1, sizeof(*names) + (size_t)info.count * ETH_GSTRING_LEN);
	if (!names)
		return NULL;
	names->cmd = ETHTOOL_GSTRINGS;
	names->string_set = ETH_SS_FEATURES;
	names->len = info.count;
	if (ethtool_ioctl(fd, ifname, names)) {
		free(names);
		return NULL;
	}
	*n = info.count;
	return names;
}

int xlb_if_coalescing(const char *ifname, char *keywords, size_t len)
{
	struct ethtool_gfeatures *feat = NULL;
	struct ethtool_gstrings *names;
	__u32 n = 0, blocks;
	int fd, found = 0;

	keywords[0] = '\0';
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	names = feature_names(fd, ifname, &n);
	blocks = (n + 31) / 32;
	if (names)
		feat = calloc(1, sizeof(*feat) + blocks * sizeof(feat->features[0]));
	if (!names || !feat) {
		found = -EOPNOTSUPP;
		goto out;
	}
	feat->cmd = ETHTOOL_GFEATURES;
	feat->size = blocks;
	if (ethtool_ioctl(fd, ifname, feat)) {
		found = -EOPNOTSUPP;
		goto out;
	}
	for (__u32 i = 0; i < n; i++) {
		const char *name = (const char *)names->data + (size_t)i * ETH_GSTRING_LEN;

		if (!(feat->features[i / 32].active & (1u << (i % 32))))
			continue;
		for (size_t k = 0; k < sizeof(coalescing) / sizeof(coalescing[0]); k++) {
			if (strncmp(name, coalescing[k].feature, ETH_GSTRING_LEN))
				continue;
			snprintf(keywords + strlen(keywords), len - strlen(keywords), "%s%s off",
				 found ? " " : "", coalescing[k].keyword);
			found++;
		}
	}
out:
	free(feat);
	free(names);
	close(fd);
	return found;
}
