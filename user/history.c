/* History records on disk; see history.h for the crash rule. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "history.h"
#include "log.h"

static int mkdir_p(const char *path)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int xlb_history_dir(const char *state_root, const char *ifname, char *out, size_t len)
{
	int err;

	snprintf(out, len, "%s/%s/history", state_root, ifname);
	err = mkdir_p(out);
	if (err)	/* a system error whatever errno says: exit status 2 */
		return xlb_errf(-EIO, "cannot create the state directory %s: %s", out,
				strerror(-err));
	return 0;
}

int xlb_history_write(const char *dir, __u64 gen, json_t *record)
{
	char path[600], tmp[620];
	int fd, err = 0;
	char *text = json_dumps(record, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (!text)
		return xlb_errf(-ENOMEM, "cannot serialise history record %llu",
				(unsigned long long)gen);
	snprintf(path, sizeof(path), "%s/%llu.json", dir, (unsigned long long)gen);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(text);
		return xlb_errf(-errno, "cannot write %s: %s", tmp, strerror(errno));
	}
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || write(fd, "\n", 1) != 1 ||
	    fsync(fd))
		err = xlb_errf(-EIO, "cannot write %s: %s", tmp, strerror(errno ? errno : EIO));
	close(fd);
	free(text);
	if (!err && rename(tmp, path))
		err = xlb_errf(-errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (err)
		unlink(tmp);
	return err;
}

json_t *xlb_history_load(const char *dir, __u64 gen)
{
	char path[600];
	json_error_t jerr;
	json_t *r;

	snprintf(path, sizeof(path), "%s/%llu.json", dir, (unsigned long long)gen);
	r = json_load_file(path, 0, &jerr);
	if (!r) {
		xlb_errf(-ENOENT, "no history record for generation %llu (%s)",
			 (unsigned long long)gen, jerr.text);
		errno = ENOENT;
	}
	return r;
}

static int cmp_gen(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

int xlb_history_list(const char *dir, __u64 **gens, __u32 *n)
{
	struct dirent *de;
	__u32 cap = 64;
	DIR *d = opendir(dir);

	*n = 0;
	*gens = malloc(cap * sizeof(**gens));
	if (!*gens) {
		if (d)
			closedir(d);
		return -ENOMEM;
	}
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		unsigned long long g;
		char tail[8];

		if (sscanf(de->d_name, "%llu.%7s", &g, tail) != 2 || strcmp(tail, "json"))
			continue;
		if (*n == cap) {
			__u64 *p = realloc(*gens, 2 * cap * sizeof(**gens));

			if (!p)
				break;
			*gens = p;
			cap *= 2;
		}
		(*gens)[(*n)++] = g;
	}
	closedir(d);
	qsort(*gens, *n, sizeof(**gens), cmp_gen);
	return 0;
}

int xlb_history_reconcile(const char *dir, __u64 live_gen)
{
	__u64 *gens;
	__u32 n;
	int err = xlb_history_list(dir, &gens, &n);

	/* commits hold the lock: only the newest record can be pending */
	for (__u32 i = n ? n - 1 : 0; i < n && !err; i++) {
		json_t *r = xlb_history_load(dir, gens[i]);
		char path[600];

		if (!r || !json_is_true(json_object_get(r, "pending"))) {
			json_decref(r);
			continue;
		}
		if (gens[i] == live_gen) {
			json_object_del(r, "pending");
			err = xlb_history_write(dir, gens[i], r);
			pr_info("generation %llu was switched in by an interrupted apply: recorded\n",
				(unsigned long long)gens[i]);
		} else {
			snprintf(path, sizeof(path), "%s/%llu.json", dir, (unsigned long long)gens[i]);
			unlink(path);
			pr_info("generation %llu never went live (interrupted apply): dropped\n",
				(unsigned long long)gens[i]);
		}
		json_decref(r);
	}
	free(gens);
	return err;
}
