/* Interface queries and the lab guard shared by the traffic tools. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include "labnet.h"

/* An interface ioctl on ifr (its name set here): 0 or -errno. */
static int if_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr)
{
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	if (ioctl(fd, req, ifr))
		err = -errno;
	close(fd);
	return err;
}

static int ethtool(const char *ifname, void *cmd)
{
	struct ifreq ifr = { .ifr_data = cmd };

	return if_ioctl(ifname, SIOCETHTOOL, &ifr);
}

/* True when this process is in a namespace made by `ip netns add` (the lab's). */
static bool in_named_netns(void)
{
	struct stat self, st;
	struct dirent *de;
	bool found = false;
	DIR *d;

	if (stat("/proc/self/ns/net", &self))
		return false;
	/* PID 1's namespace is the host's, whatever else says otherwise */
	if (!stat("/proc/1/ns/net", &st) && st.st_ino == self.st_ino && st.st_dev == self.st_dev)
		return false;
	d = opendir("/run/netns");
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char path[512];

		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		found = de->d_name[0] != '.' && !stat(path, &st) && st.st_ino == self.st_ino &&
			st.st_dev == self.st_dev;
	}
	closedir(d);
	return found;
}

int labnet_guard(const char *prog, const char *ifname)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	int err;

	if (!if_nametoindex(ifname)) {
		fprintf(stderr, "%s: no interface %s in this network namespace\n", prog, ifname);
		return -ENODEV;
	}
	if (!in_named_netns()) {
		fprintf(stderr, "%s: refusing to run outside a lab namespace: run it in one "
			"made by `ip netns add` (nsenter --net=/run/netns/NS)\n", prog);
		return -EPERM;
	}
	err = ethtool(ifname, &info);
	if (err || strcmp(info.driver, "veth")) {
		fprintf(stderr, "%s: %s is not a veth (driver %s): only lab veths are allowed\n",
			prog, ifname, err ? "unknown" : info.driver);
		return -EPERM;
	}
	return 0;
}

int labnet_mac(const char *ifname, __u8 mac[6])
{
	struct ifreq ifr = { 0 };
	int err = if_ioctl(ifname, SIOCGIFHWADDR, &ifr);

	if (!err)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return err;
}

int labnet_mac_parse(const char *s, __u8 mac[6])
{
	unsigned int b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = b[i];
	return 0;
}

int labnet_ethtool_sum(const char *ifname, const char *suffix, __u64 *sum)
{
	struct {
		struct ethtool_sset_info hdr;
		__u32 count;
	} sset = { .hdr = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ULL << ETH_SS_STATS } };
	struct ethtool_gstrings *names = NULL;
	struct ethtool_stats *stats = NULL;
	size_t slen = strlen(suffix);
	int err;
	__u32 n;

	*sum = 0;
	err = ethtool(ifname, &sset);
	if (err)
		return err;
	n = sset.hdr.sset_mask ? sset.count : 0;
	names = calloc(1, sizeof(*names) + (size_t)n * ETH_GSTRING_LEN);
	stats = calloc(1, sizeof(*stats) + (size_t)n * sizeof(__u64));
	if (!names || !stats) {
		err = -ENOMEM;
		goto out;
	}
	names->cmd = ETHTOOL_GSTRINGS;
	names->string_set = ETH_SS_STATS;
	names->len = n;
	stats->cmd = ETHTOOL_GSTATS;
	stats->n_stats = n;
	err = ethtool(ifname, names);
	if (!err)
		err = ethtool(ifname, stats);
	for (__u32 i = 0; !err && i < n; i++) {
		char name[ETH_GSTRING_LEN + 1] = { 0 };
		size_t len;

		memcpy(name, names->data + (size_t)i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
		len = strlen(name);
		if (len >= slen && !strcmp(name + len - slen, suffix))
			*sum += stats->data[i];
	}
out:
	free(names);
	free(stats);
	return err;
}

int labnet_tx_dropped(const char *ifname, __u64 *dropped)
{
	/* /proc/net follows the reader's network namespace; /sys/class/net
	 * follows the mount's, which nsenter --net leaves at the host's */
	FILE *f = fopen("/proc/net/dev", "re");
	char line[512], name[IFNAMSIZ + 1];
	int err = -ENODEV;
	unsigned long long v[16];

	if (!f)
		return -errno;
	while (err && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		*colon = ' ';
		/* name, then 8 receive and 8 transmit counters; tx drop is the 12th */
		if (sscanf(line, " %16s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
			   "%llu %llu %llu %llu", name, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
			   &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &v[14],
			   &v[15]) == 17 && !strcmp(name, ifname)) {
			*dropped = v[11];
			err = 0;
		}
	}
	fclose(f);
	return err;
}

double labnet_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
