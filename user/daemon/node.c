/* The node's marks and the daemon's report of its VIPs; see node.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "node.h"
#include "fsutil.h"
#include "log.h"

static const char *const mark_names[] = {
	[XLB_MARK_DRAIN] = "drain",
	[XLB_MARK_JOIN_ALONE] = "join-alone",
};

static void path_of(const char *hist, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", hist, name);
}

int xlb_node_mark_set(const char *hist, enum xlb_node_mark m, bool on)
{
	char path[600];

	path_of(hist, mark_names[m], path, sizeof(path));
	if (on)
		return xlb_write_state_file(path, "", 0, 0600);
	if (unlink(path)) {
		if (errno == ENOENT)
			return 0;
		return xlb_errf(-errno, "cannot remove %s: %s", path, strerror(errno));
	}
	return xlb_fsync_dir_of(path);
}

bool xlb_node_marked(const char *hist, enum xlb_node_mark m)
{
	char path[600];

	path_of(hist, mark_names[m], path, sizeof(path));
	return !access(path, F_OK);
}

static int file_write(const char *hist, const char *name, json_t *report, bool durable)
{
	char *text = json_dumps(report, JSON_COMPACT);
	char path[600];
	int err;

	path_of(hist, name, path, sizeof(path));
	if (!text)
		return xlb_errf(-ENOMEM, "out of memory writing %s", path);
	err = durable ? xlb_write_state_file(path, text, strlen(text), 0600) :
		  xlb_write_volatile_file(path, text, strlen(text), 0600);
	free(text);
	return err;
}

int xlb_node_report_write(const char *hist, json_t *report)
{
	return file_write(hist, "announce.json", report, true);
}

json_t *xlb_node_report_read(const char *hist)
{
	char path[600];

	path_of(hist, "announce.json", path, sizeof(path));
	return json_load_file(path, 0, NULL);
}

int xlb_node_checks_write(const char *hist, json_t *checks)
{
	/* rewritten within a second of a change, on the daemon's loop: no fsync */
	return file_write(hist, "checks.json", checks, false);
}

json_t *xlb_node_checks_read(const char *hist)
{
	char path[600];

	path_of(hist, "checks.json", path, sizeof(path));
	return json_load_file(path, 0, NULL);
}
