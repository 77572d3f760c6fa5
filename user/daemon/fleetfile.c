/* fleet.json, the node's record of the fleet it follows; see fleetfile.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "fleetfile.h"
#include "fsutil.h"
#include "log.h"

void xlb_fleetfile_path(const char *hist, char *out, size_t len)
{
	const char *slash = strrchr(hist, '/');
	int n = slash ? (int)(slash - hist) : (int)strlen(hist);

	snprintf(out, len, "%.*s/fleet.json", n, hist);
}

int xlb_fleetfile_read(const char *path, json_t **out)
{
	json_error_t e;

	*out = NULL;
	if (access(path, F_OK))
		return errno == ENOENT ? 0 : xlb_errf(-errno, "cannot read %s: %s", path,
						      strerror(errno));
	*out = json_load_file(path, 0, &e);
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return xlb_errf(-EINVAL, "%s is damaged (line %d: %s)", path, e.line, e.text);
	}
	return 0;
}

int xlb_fleetfile_write(const char *path, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	int err;

	if (!text)
		return xlb_errf(-ENOMEM, "out of memory writing %s", path);
	err = xlb_write_state_file(path, text, strlen(text), 0600);
	free(text);
	return err;
}

void xlb_fleet_now_iso(char *out, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int xlb_fleetfile_local_change(const char *path, const char *reason)
{
	char when[32];
	json_t *j;
	int err = xlb_fleetfile_read(path, &j);

	if (err)
		return err;
	if (!j)
		return xlb_errf(-ENOENT, "%s is gone: nothing to record the change in", path);
	xlb_fleet_now_iso(when, sizeof(when));
	json_object_set_new(j, "local_change", json_pack("{s:s,s:s,s:s}", "who", xlb_who(),
							 "when", when, "reason", reason));
	err = xlb_fleetfile_write(path, j);
	json_decref(j);
	return err;
}
