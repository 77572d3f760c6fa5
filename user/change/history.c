/* History records on disk; see history.h for the crash rule. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "fsutil.h"
#include "history.h"
#include "log.h"
#include "maglev.h"
#include "rollout.h"

#define BODY_SEED	0x786c622d68697374ull	/* "xlb-hist": names bodies, no secret */

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
	snprintf(dir, sizeof(dir), "%s/bodies", out);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return xlb_errf(-EIO, "cannot create the state directory %s: %s", dir,
				strerror(errno));
	err = xlb_check_private_dir(dir);
	snprintf(dir, sizeof(dir), "%s/%s", state_root, ifname);
	err = err ?: xlb_check_private_dir(state_root) ?: xlb_check_private_dir(dir) ?:
	      xlb_check_private_dir(out);
	if (err)
		return err;
	return 0;
}

/* Write text and a newline to path: the one state-file writer (fsutil.h). */
static int write_atomic(const char *path, const char *text)
{
	size_t len = strlen(text);
	char *buf = malloc(len + 1);
	int err;

	if (!buf)
		return xlb_errf(-ENOMEM, "out of memory writing %s", path);
	memcpy(buf, text, len);
	buf[len] = '\n';
	err = xlb_write_state_file(path, buf, len + 1, 0600);
	free(buf);
	return err;
}

/* Is the file at path exactly text and a newline? */
static bool same_content(const char *path, const char *text)
{
	size_t len = strlen(text);
	struct stat st;
	bool same = false;
	char *buf;
	FILE *f;

	if (lstat(path, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size != len + 1)
		return false;
	f = fopen(path, "r");
	buf = malloc(len + 1);
	if (f && buf && fread(buf, 1, len + 1, f) == len + 1)
		same = !memcmp(buf, text, len) && buf[len] == '\n';
	free(buf);
	if (f)
		fclose(f);
	return same;
}

/* The body (configuration and assignment) of r, once per distinct content. */
static int write_body(const char *dir, const struct xlb_record *r, char id[17])
{
	json_t *j = json_pack("{s:o,s:o}", "config", xlb_config_to_json_private(&r->config),
			      "assignment", xlb_assign_to_json(&r->assign));
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	char path[600];
	int err = 0;

	json_decref(j);
	if (!text)
		return xlb_errf(-ENOMEM, "cannot serialise history record %llu",
				(unsigned long long)r->generation);
	snprintf(id, 17, "%016llx", (unsigned long long)xlb_hash64(text, strlen(text), BODY_SEED));
	snprintf(path, sizeof(path), "%s/bodies/%s.json", dir, id);
	if (access(path, F_OK))
		err = write_atomic(path, text);
	else if (!same_content(path, text))	/* records name it: never rewritten */
		err = xlb_errf(-EEXIST, "the history body %s holds other content than this "
			       "change's (damaged, or a collision of its name): not overwriting "
			       "it; move it away to go on", path);
	free(text);
	return err;
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
	json_t *j = xlb_record_meta_json(r);
	char path[600], body[17];
	char *text = NULL;
	int err;

	err = r->full ? write_body(dir, r, body) : xlb_errf(-EINVAL, "internal: a record "
							       "without its body");
	if (!err && j) {
		json_object_set_new(j, "body", json_string(body));
		text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	}
	json_decref(j);
	if (err)
		return err;
	if (!text)
		return xlb_errf(-ENOMEM, "cannot serialise history record %llu",
				(unsigned long long)r->generation);
	snprintf(path, sizeof(path), "%s/%llu.json", dir, (unsigned long long)r->generation);
	err = write_atomic(path, text);
	free(text);
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
	    !text_field(j, "fingerprint", r->fingerprint, sizeof(r->fingerprint)) ||
	    !text_field(j, "body", r->body, sizeof(r->body)))
		return "time, user, reason, source, fingerprint or body: not a string of sane "
		       "length";
	if (r->body[0] && strspn(r->body, "0123456789abcdef") != 16)
		return "body: not the id of a body";
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

/* The body a record names (bodies/<id>.json), or the record itself (older records). */
static json_t *body_of(const char *dir, json_t *j, const struct xlb_record *r)
{
	char path[600];

	if (!r->body[0])
		return json_incref(j);
	snprintf(path, sizeof(path), "%s/bodies/%s.json", dir, r->body);
	return json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
}

static const char *record_body(const char *dir, json_t *j, struct xlb_record *r)
{
	struct xlb_diags d = { 0 };
	json_t *body = body_of(dir, j, r);
	const char *why = NULL;

	if (!body)
		why = "body: its file in bodies/ is missing or damaged";
	else if (xlb_config_from_record(json_object_get(body, "config"), &r->config, &d) ||
		 xlb_config_validate(&r->config, &d))
		why = "config: not a valid configuration";
	else if (xlb_assign_from_json(json_object_get(body, "assignment"), &r->assign))
		why = "assignment: damaged";
	json_decref(body);
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
		why = record_body(dir, j, r);
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

/* The newest applied generation below gen among gens[0..n-1], 0 if none: read from the end. */
static __u64 applied_before(const char *dir, const __u64 *gens, __u32 n, __u64 gen)
{
	struct xlb_record r;

	for (__u32 i = n; i-- > 0;) {
		bool applied;

		if (gens[i] >= gen || xlb_history_read(dir, gens[i], XLB_RECORD_META, &r))
			continue;
		applied = !r.pending;
		xlb_record_free(&r);
		if (applied)
			return gens[i];
	}
	return 0;
}

static int cmp_body(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Delete the bodies that none of the records gens[0..n-1] names. */
static void prune_bodies(const char *dir, const __u64 *gens, __u32 n)
{
	char (*named)[17] = calloc(n + 1, sizeof(*named)), path[700], bodies[600];
	struct xlb_record r;
	struct dirent *de;
	__u32 nr = 0;
	DIR *d;

	snprintf(bodies, sizeof(bodies), "%s/bodies", dir);
	d = opendir(bodies);
	if (!named || !d)
		goto out;
	for (__u32 i = 0; i < n; i++) {
		if (xlb_history_read(dir, gens[i], XLB_RECORD_META, &r))
			goto out;	/* unsure what a damaged record names: keep all */
		memcpy(named[nr++], r.body, sizeof(r.body));
		xlb_record_free(&r);
	}
	qsort(named, nr, sizeof(*named), cmp_body);
	while ((de = readdir(d))) {
		char id[17];

		if (strlen(de->d_name) != 21 || strcmp(de->d_name + 16, ".json"))
			continue;
		snprintf(id, sizeof(id), "%.16s", de->d_name);
		if (bsearch(id, named, nr, sizeof(*named), cmp_body))
			continue;
		snprintf(path, sizeof(path), "%s/%s", bodies, de->d_name);
		unlink(path);
	}
out:
	if (d)
		closedir(d);
	free(named);
}

/*
 * The generation a rollout in progress (running or paused, rollout.json
 * beside the records) rolls back to, in *pin (0: none): its record must stay.
 * A rollout file that cannot be read may hold one: an error, nothing pruned.
 */
static int rollout_pin(const char *dir, __u64 *pin)
{
	struct xlb_rollout r;
	int err = xlb_rollout_read(dir, &r);

	*pin = 0;
	if (err == -ENOENT)
		return 0;
	if (err)
		return xlb_errf(err, "not pruning the history: %s (it may name the "
				"generation a rollout returns to)", xlb_errmsg());
	if (xlb_rollout_active(&r))
		*pin = r.start_gen;
	xlb_rollout_free(&r);
	return 0;
}

int xlb_history_prune(const char *dir, __u32 keep, __u64 live_gen)
{
	keep = keep ?: XLB_HISTORY_KEEP;
	keep = keep < XLB_HISTORY_KEEP_MIN ? XLB_HISTORY_KEEP_MIN : keep;
	/* one look at the directory every keep/16 generations: a commit lists nothing */
	if (live_gen % (keep / 16 + 1))
		return 0;
	return xlb_history_prune_now(dir, keep, live_gen);
}

int xlb_history_prune_now(const char *dir, __u32 keep, __u64 live_gen)
{
	__u32 n, kept = 0, deleted = 0;
	__u64 *gens, prev, pin;
	char path[600];
	int err;

	keep = keep < XLB_HISTORY_KEEP_MIN ? XLB_HISTORY_KEEP_MIN : keep;
	snprintf(path, sizeof(path), "%s/.", dir);
	err = xlb_history_list(dir, &gens, &n);
	if (err || n <= keep)
		goto out;
	err = rollout_pin(dir, &pin);
	if (err)
		goto out;
	prev = applied_before(dir, gens, n, live_gen);
	for (__u32 i = 0; i < n; i++) {
		if (n - deleted > keep && gens[i] != live_gen && gens[i] != prev &&
		    gens[i] != pin) {
			snprintf(path, sizeof(path), "%s/%llu.json", dir,
				 (unsigned long long)gens[i]);
			if (!unlink(path)) {
				deleted++;
				continue;
			}
		}
		gens[kept++] = gens[i];
	}
	prune_bodies(dir, gens, kept);
	err = xlb_fsync_dir_of(path);
out:
	free(gens);
	return err ?: (int)deleted;
}

/* Files and bytes of the regular files in dir named *.json. */
static void count_json(const char *dir, __u32 *files, __u64 *bytes)
{
	char path[700];
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len < 6 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		(*files)++;
		*bytes += st.st_size;
	}
	if (d)
		closedir(d);
}

int xlb_history_usage(const char *dir, struct xlb_history_usage *u)
{
	char bodies[600];
	struct statvfs vfs;
	__u64 *gens;
	__u32 n, nb = 0;
	int err;

	memset(u, 0, sizeof(*u));
	if (statvfs(dir, &vfs))
		return xlb_errf(-errno, "cannot read the free space of %s: %s", dir,
				strerror(errno));
	u->free_bytes = (__u64)vfs.f_bavail * vfs.f_frsize;
	err = xlb_history_list(dir, &gens, &n);
	if (err)
		return err;
	u->oldest = n ? gens[0] : 0;
	free(gens);
	count_json(dir, &u->records, &u->bytes);
	snprintf(bodies, sizeof(bodies), "%s/bodies", dir);
	count_json(bodies, &nb, &u->bytes);
	u->bodies = nb;
	return 0;
}
