/* History records on disk; see history.h for the crash rule. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fsutil.h"
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
	char dir[512];
	int err;

	snprintf(out, len, "%s/%s/history", state_root, ifname);
	err = mkdir_p(out);
	if (err)	/* a system error whatever errno says: exit status 2 */
		return xlb_errf(-EIO, "cannot create the state directory %s: %s", out,
				strerror(-err));
	/* the records decide what rollback re-applies: only we may write them */
	snprintf(dir, sizeof(dir), "%s/%s", state_root, ifname);
	err = xlb_check_private_dir(state_root) ?: xlb_check_private_dir(dir) ?:
	      xlb_check_private_dir(out);
	if (err)
		return err;
	return 0;
}

json_t *xlb_record_meta_json(const struct xlb_record *r)
{
	json_t *o = json_array();

	for (__u32 i = 0; i < r->nr_overridden; i++)
		json_array_append_new(o, json_string(r->overridden[i]));
	o = json_pack("{s:I,s:s,s:I,s:s,s:s,s:s,s:s,s:b,s:o}", "generation",
		      (json_int_t)r->generation, "time", r->time, "unix_time",
		      (json_int_t)r->unix_time, "user", r->user, "reason", r->reason, "source",
		      r->source, "fingerprint", r->fingerprint, "forced", r->forced,
		      "overridden_guards", o);
	if (o && r->pending)
		json_object_set_new(o, "pending", json_true());
	return o;
}

int xlb_history_write(const char *dir, const struct xlb_record *r)
{
	char path[600], tmp[620];
	json_t *j = xlb_record_meta_json(r);
	char *text = NULL;
	int fd, err = 0;

	if (j && r->full) {
		json_object_set_new(j, "config", xlb_config_to_json(&r->config));
		json_object_set_new(j, "assignment", xlb_assign_to_json(&r->assign));
		text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	}
	json_decref(j);
	if (!text)
		return xlb_errf(-ENOMEM, "cannot serialise history record %llu",
				(unsigned long long)r->generation);
	snprintf(path, sizeof(path), "%s/%llu.json", dir, (unsigned long long)r->generation);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = xlb_create_new(tmp, 0600);
	if (fd < 0) {
		free(text);
		return fd;
	}
	errno = 0;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || write(fd, "\n", 1) != 1 ||
	    fsync(fd))
		err = xlb_errf(-EIO, "cannot write %s: %s", tmp, strerror(errno ? errno : EIO));
	close(fd);
	free(text);
	if (!err && rename(tmp, path))
		err = xlb_errf(-errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (!err)
		err = xlb_fsync_dir_of(path);
	if (err)
		unlink(tmp);
	return err;
}

void xlb_record_free(struct xlb_record *r)
{
	free(r->overridden);
	xlb_config_free(&r->config);
	xlb_assign_free(&r->assign);
	memset(r, 0, sizeof(*r));
}

/* A string field into buf; false when it is there but not a string or too long. */
static bool text_field(json_t *j, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(j, key);

	buf[0] = '\0';
	if (!v)
		return true;
	if (!json_is_string(v) || json_string_length(v) >= len)
		return false;
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return true;
}

static const char *record_meta(json_t *j, __u64 gen, struct xlb_record *r)
{
	json_t *o = json_object_get(j, "overridden_guards"), *v;
	size_t i;

	if (!json_is_object(j))
		return "not a JSON object";
	if (!json_is_integer(json_object_get(j, "generation")) ||
	    (__u64)json_integer_value(json_object_get(j, "generation")) != gen)
		return "generation: not the record's generation";
	r->generation = gen;
	r->unix_time = json_integer_value(json_object_get(j, "unix_time"));
	r->forced = json_is_true(json_object_get(j, "forced"));
	r->pending = json_is_true(json_object_get(j, "pending"));
	if (!text_field(j, "time", r->time, sizeof(r->time)) ||
	    !text_field(j, "user", r->user, sizeof(r->user)) ||
	    !text_field(j, "reason", r->reason, sizeof(r->reason)) ||
	    !text_field(j, "source", r->source, sizeof(r->source)) ||
	    !text_field(j, "fingerprint", r->fingerprint, sizeof(r->fingerprint)))
		return "time, user, reason, source or fingerprint: not a string of sane length";
	if (o && (!json_is_array(o) || json_array_size(o) > 4 * XLB_MAX_SERVICES))
		return "overridden_guards: not a list of refusals";
	r->overridden = calloc(json_array_size(o) + 1, sizeof(*r->overridden));
	if (!r->overridden)
		return "out of memory";
	json_array_foreach(o, i, v)
		snprintf(r->overridden[r->nr_overridden++], sizeof(*r->overridden), "%s",
			 json_string_value(v) ?: "");
	return NULL;
}

static const char *record_body(json_t *j, struct xlb_record *r)
{
	struct xlb_diags d = { 0 };
	const char *why = NULL;

	if (xlb_config_from_json(json_object_get(j, "config"), &r->config, &d) ||
	    xlb_config_validate(&r->config, &d))
		why = "config: not a valid configuration";
	else if (xlb_assign_from_json(json_object_get(j, "assignment"), &r->assign))
		why = "assignment: damaged";
	xlb_diags_free(&d);
	r->full = !why;
	return why;
}

int xlb_history_read(const char *dir, __u64 gen, enum xlb_record_part part,
		     struct xlb_record *r)
{
	char path[600];
	const char *why;
	json_error_t jerr;
	json_t *j;

	memset(r, 0, sizeof(*r));
	snprintf(path, sizeof(path), "%s/%llu.json", dir, (unsigned long long)gen);
	j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!j && access(path, F_OK))
		return xlb_errf(-ENOENT, "no history record for generation %llu in %s",
				(unsigned long long)gen, dir);
	if (!j)
		return xlb_errf(-EINVAL, "history record %s is damaged: line %d: %s", path,
				jerr.line, jerr.text);
	why = record_meta(j, gen, r);
	if (!why && part == XLB_RECORD_FULL)
		why = record_body(j, r);
	json_decref(j);
	if (!why)
		return 0;
	xlb_record_free(r);
	return xlb_errf(-EINVAL, "history record %s is damaged: %s", path, why);
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
		return xlb_errf(-ENOMEM, "out of memory");
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

int xlb_history_records(const char *dir, struct xlb_record **recs, __u32 *n)
{
	__u64 *gens;
	__u32 count;
	int err = xlb_history_list(dir, &gens, &count);

	*recs = NULL;
	*n = 0;
	if (err)
		return err;
	*recs = calloc(count + 1, sizeof(**recs));
	if (!*recs) {
		free(gens);
		return xlb_errf(-ENOMEM, "out of memory reading the history");
	}
	for (__u32 i = 0; i < count; i++)
		if (!xlb_history_read(dir, gens[i], XLB_RECORD_META, &(*recs)[*n]))
			(*n)++;
		else
			pr_warn("%s\n", xlb_errmsg());
	free(gens);
	return 0;
}

__u64 xlb_history_before(const char *dir, __u64 gen)
{
	struct xlb_record *recs;
	__u64 prev = 0;
	__u32 n;

	if (xlb_history_records(dir, &recs, &n))
		return 0;
	for (__u32 i = 0; i < n; i++) {
		if (recs[i].generation < gen && !recs[i].pending)
			prev = recs[i].generation;
		xlb_record_free(&recs[i]);
	}
	free(recs);
	return prev;
}

int xlb_history_reconcile(const char *dir, __u64 live_gen)
{
	struct xlb_record r;
	__u64 *gens;
	__u32 n;
	int err = xlb_history_list(dir, &gens, &n);
	char path[600];

	/* commits hold the lock: only the newest record can be pending */
	if (err || !n)
		goto out;
	err = xlb_history_read(dir, gens[n - 1], XLB_RECORD_META, &r);
	if (err || !r.pending) {
		err = err == -EINVAL ? 0 : err;	/* damaged: reported where it is read */
		goto out;
	}
	xlb_record_free(&r);
	if (gens[n - 1] == live_gen) {
		err = xlb_history_read(dir, gens[n - 1], XLB_RECORD_FULL, &r);
		if (err)
			goto out;
		r.pending = false;
		err = xlb_history_write(dir, &r);
		xlb_record_free(&r);
		pr_info("generation %llu was switched in by an interrupted apply: recorded\n",
			(unsigned long long)live_gen);
	} else {
		snprintf(path, sizeof(path), "%s/%llu.json", dir, (unsigned long long)gens[n - 1]);
		unlink(path);
		pr_info("generation %llu never went live (interrupted apply): dropped\n",
			(unsigned long long)gens[n - 1]);
	}
out:
	free(gens);
	return err;
}
