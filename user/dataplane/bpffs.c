/*
 * The BPF filesystem that pins live in: present, and one that outlives this
 * command.  `ip netns exec` runs a command in a mount namespace of its own
 * with a fresh /sys; a bpffs mounted there dies with the command, and the
 * pinned XDP link (the data plane) with it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include "loader.h"
#include "log.h"

#define BPF_FS_MAGIC_NUMBER	0xcafe4a11

/* PID 2 is kthreadd (parent 0) when this is the initial PID namespace. */
static bool pid2_is_kthreadd(void)
{
	char comm[32] = "";
	int ppid = -1;
	FILE *f = fopen("/proc/2/stat", "re");

	if (!f)
		return false;
	if (fscanf(f, "2 (%31[^)]) %*c %d", comm, &ppid) != 2)
		ppid = -1;
	fclose(f);
	return ppid == 0 && !strcmp(comm, "kthreadd");
}

/*
 * Is this process in the mount namespace that outlives commands: 1 yes,
 * 0 no, -1 cannot tell.  The reference is PID 1's namespace; where PID 1
 * hides it (a VM's init that is not dumpable), the kernel threads' — the
 * initial mount namespace, which kthreadd (PID 2) shows.
 */
int xlb_in_host_mount_ns(void)
{
	struct stat self, ref;

	if (stat("/proc/self/ns/mnt", &self))
		return -1;
	if (stat("/proc/1/ns/mnt", &ref) && (!pid2_is_kthreadd() || stat("/proc/2/ns/mnt", &ref)))
		return -1;
	return self.st_ino == ref.st_ino && self.st_dev == ref.st_dev;
}

/*
 * Is the bpffs at path shared with another mount namespace (mountinfo's
 * "shared:N" or "master:N"): mounted by the host and propagated here, as a
 * service's private namespace (systemd's PrivateTmp=...) sees it.
 */
static bool bpffs_propagated(const char *path)
{
	char line[1024], mnt[512];
	bool shared = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");

		/* id parent major:minor root mountpoint options [optional...] - type */
		if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 || strcmp(mnt, path) ||
		    strncmp(sep, " - bpf ", 7))
			continue;
		*sep = '\0';
		/* the last mount on path is the one in effect */
		shared = strstr(line, " shared:") || strstr(line, " master:");
	}
	fclose(f);
	return shared;
}

int xlb_ensure_bpffs(void)
{
	struct statfs st;
	bool mounted = !statfs(XLB_BPFFS, &st) && st.f_type == BPF_FS_MAGIC_NUMBER;
	int host = xlb_in_host_mount_ns();

	if (host == 1 || (mounted && bpffs_propagated(XLB_BPFFS))) {
		if (mounted)
			return 0;
		if (mount("bpf", XLB_BPFFS, "bpf", 0, "mode=0700"))
			return xlb_errf(-errno, "%s is not a BPF filesystem and mounting one failed: "
					"%s", XLB_BPFFS, strerror(errno));
		return 0;
	}
	return xlb_errf(-EINVAL, "refusing to pin under %s: this process runs in a mount namespace "
			"of its own (%s), where the pins and the XDP link would vanish when it "
			"exits (ip netns exec makes one); run xlb as "
			"'nsenter --net=/run/netns/NS xlb ...', which keeps the host's mounts",
			XLB_BPFFS, host == 0 ? "not the host's" : "cannot tell whether it is the "
			"host's: /proc/1/ns/mnt is unreadable");
}
