/* Private, link-safe, durable files; see fsutil.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fsutil.h"
#include "log.h"

int xlb_create_new(const char *path, mode_t mode)
{
	struct stat st;
	int fd;

	if (!lstat(path, &st)) {
		if (S_ISLNK(st.st_mode))
			return xlb_errf(-ELOOP, "%s is a symbolic link: refusing to write through "
					"it (remove it)", path);
		if (!S_ISREG(st.st_mode))
			return xlb_errf(-EEXIST, "%s exists and is not a regular file: remove it",
					path);
		unlink(path);	/* a crash's leftover */
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return xlb_errf(-errno, "cannot create %s: %s", path, strerror(errno));
	return fd;
}

static int write_file(const char *path, const void *buf, size_t len, mode_t mode, bool durable);

int xlb_write_state_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	return write_file(path, buf, len, mode, true);
}

int xlb_write_volatile_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	return write_file(path, buf, len, mode, false);
}

static int write_file(const char *path, const void *buf, size_t len, mode_t mode, bool durable)
{
	const char *p = buf;
	struct stat st;
	char tmp[1100];
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return xlb_errf(-ENAMETOOLONG, "state file path too long: %s", path);
	/* the rename would not follow a link there, but one was put there: say so */
	if (!lstat(path, &st) && S_ISLNK(st.st_mode))
		return xlb_errf(-ELOOP, "%s is a symbolic link: refusing to write through it "
				"(remove it)", path);
	if (!lstat(path, &st) && !S_ISREG(st.st_mode))
		return xlb_errf(-EEXIST, "%s exists and is not a regular file: remove it", path);
	fd = xlb_create_new(tmp, mode);
	if (fd < 0)
		return fd;
	while (len && !err) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			err = xlb_errf(n < 0 ? -errno : -EIO, "cannot write %s: %s", tmp,
				       n < 0 ? strerror(errno) : "short write");
		else
			p += n, len -= n;
	}
	if (!err && durable && fsync(fd))
		err = xlb_errf(-errno, "cannot write %s: %s", tmp, strerror(errno));
	close(fd);
	if (!err && rename(tmp, path))
		err = xlb_errf(-errno, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
	if (!err && durable)
		err = xlb_fsync_dir_of(path);
	if (err)
		unlink(tmp);
	return err;
}

int xlb_fsync_dir_of(const char *path)
{
	char dir[1024];
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		err = xlb_errf(-errno, "cannot sync the directory of %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return err;
}

int xlb_check_private_dir(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st))
		return xlb_errf(-errno, "cannot check %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return xlb_errf(-EPERM, "the state directory %s is not a directory (a link?): "
				"refusing to keep state there", dir);
	if (st.st_uid != geteuid())
		return xlb_errf(-EPERM, "the state directory %s belongs to uid %u, not to %u: "
				"refusing to keep state there (chown it, or use --state)", dir,
				st.st_uid, geteuid());
	if (st.st_mode & 022)
		return xlb_errf(-EPERM, "the state directory %s is writable by others (mode %04o): "
				"refusing to keep state there (chmod 0700 %s)", dir,
				st.st_mode & 07777, dir);
	return 0;
}
