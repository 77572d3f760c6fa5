/* Files the controller writes: made anew, never through a link, durable. */
#ifndef XLB_FSUTIL_H
#define XLB_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Create path for writing (with mode) where nothing can redirect the write:
 * a symbolic link there is refused (-ELOOP), a leftover file of a crash is
 * replaced, and the file is made anew (O_EXCL, O_NOFOLLOW).  The fd, or -errno
 * with the message set.
 */
int xlb_create_new(const char *path, mode_t mode);
/*
 * The one way xlb writes a state file (history records, rollout.json, the
 * metrics file, announce.json, the drain mark): len bytes of buf to PATH.tmp
 * made anew (xlb_create_new: never through a link), fsync'd, renamed over
 * path, and the directory fsync'd, so after a crash or power loss path holds
 * the old or the new content, whole.  A symbolic link (or anything but a
 * regular file) at path is refused, -ELOOP (-EEXIST).  0, or -errno with
 * the message set (path is untouched then).
 */
int xlb_write_state_file(const char *path, const void *buf, size_t len, mode_t mode);
/*
 * The same, whole or not at all (a rename), without the fsyncs: status a
 * daemon rewrites every second (checks.json), which a crash may lose and
 * which must not stall its loop on a slow disk.
 */
int xlb_write_volatile_file(const char *path, const void *buf, size_t len, mode_t mode);
/* fsync the directory that holds path, so a rename in it is durable. */
int xlb_fsync_dir_of(const char *path);
/* A directory xlb keeps state in: ours (owner the effective uid), not group- or
 * world-writable, not a link.  0, or -EPERM with the message set. */
int xlb_check_private_dir(const char *dir);

#endif
