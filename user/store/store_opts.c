/* Where the store is and how to reach it: --store URLs, the client file, safe credential files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "log.h"
#include "store_int.h"

bool xlb_store_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0, i;

	if (n < 1 || n > 63 || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* http[s]://HOST[:PORT] with nothing after (a trailing "/" is dropped). */
static int url_check(const char *url, size_t len, char *out, size_t out_len)
{
	const char *host, *end, *p;
	size_t n = len;

	if (n && url[n - 1] == '/')
		n--;
	if (n >= out_len)
		return xlb_errf(-EINVAL, "store URL %.*s: longer than %zu characters", (int)len, url,
				out_len - 1);
	if (!strncmp(url, "http://", 7))
		host = url + 7;
	else if (!strncmp(url, "https://", 8))
		host = url + 8;
	else
		return xlb_errf(-EINVAL, "store URL '%.*s': not http://HOST:PORT or https://HOST:PORT",
				(int)len, url);
	end = url + n;
	if (host < end && *host == '[')
		p = memchr(host, ']', (size_t)(end - host));
	else
		p = host;
	for (p = p ? p : end; p < end && *p != ':'; p++)
		if (*p == '/' || *p == '@' || *p == '?' || *p == '#' || *p <= ' ' || *p == 127)
			return xlb_errf(-EINVAL, "store URL '%.*s': only a scheme, a host and a port",
					(int)len, url);
	if (p == host || (p < end && (strspn(p + 1, "0123456789") != (size_t)(end - p - 1) ||
				      end - p < 2 || end - p > 6 || atoi(p + 1) < 1 ||
				      atoi(p + 1) > 65535)))
		return xlb_errf(-EINVAL, "store URL '%.*s': a host and a port 1-65535", (int)len, url);
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

int xlb_store_opts_parse_urls(struct xlb_store_opts *o, const char *urls)
{
	struct xlb_store_opts t = *o;
	const char *p = urls ? urls : "";
	int err;

	t.nr_endpoints = 0;
	if (!*p)
		return xlb_errf(-EINVAL, "--store: no URL (http[s]://HOST:PORT[,...])");
	for (;;) {
		size_t len = strcspn(p, ",");

		if (t.nr_endpoints == XLB_STORE_MAX_ENDPOINTS)
			return xlb_errf(-EINVAL, "--store: more than %d URLs", XLB_STORE_MAX_ENDPOINTS);
		err = url_check(p, len, t.endpoints[t.nr_endpoints], sizeof(t.endpoints[0]));
		if (err)
			return err;
		t.nr_endpoints++;
		if (!p[len])
			break;
		p += len + 1;
	}
	*o = t;
	return 0;
}

/* A path from the client file: relative ones are taken from the file's directory. */
static int file_path(const char *file, const char *field, json_t *v, char *out, size_t len)
{
	const char *s = json_string_value(v), *slash = strrchr(file, '/');
	int n;

	if (!json_is_string(v) || !s[0])
		return xlb_errf(-EINVAL, "store file %s: %s is not a file name", file, field);
	if (s[0] == '/' || !slash)
		n = snprintf(out, len, "%s", s);
	else
		n = snprintf(out, len, "%.*s/%s", (int)(slash - file), file, s);
	if (n < 0 || (size_t)n >= len)
		return xlb_errf(-EINVAL, "store file %s: %s is longer than %zu characters", file,
				field, len - 1);
	return 0;
}

static int file_text(const char *file, const char *field, json_t *v, char *out, size_t len)
{
	if (!json_is_string(v) || json_string_length(v) >= len)
		return xlb_errf(-EINVAL, "store file %s: %s is not a text of 1-%zu characters",
				file, field, len - 1);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int file_endpoints(struct xlb_store_opts *o, const char *file, json_t *v)
{
	char urls[XLB_STORE_MAX_ENDPOINTS * 257 + 1] = "", why[512];
	size_t off = 0, i;
	json_t *u;
	int err;

	if (!json_is_array(v) || !json_array_size(v))
		return xlb_errf(-EINVAL, "store file %s: endpoints is not a list of URLs", file);
	json_array_foreach(v, i, u) {
		if (!json_is_string(u) || strchr(json_string_value(u), ',') ||
		    json_string_length(u) > 256 || i >= XLB_STORE_MAX_ENDPOINTS)
			return xlb_errf(-EINVAL, "store file %s: endpoints[%zu] is not one URL "
					"(at most %d)", file, i, XLB_STORE_MAX_ENDPOINTS);
		off += snprintf(urls + off, sizeof(urls) - off, "%s%s", i ? "," : "",
				json_string_value(u));
	}
	err = xlb_store_opts_parse_urls(o, urls);
	if (!err)
		return 0;
	snprintf(why, sizeof(why), "%s", xlb_errmsg());
	return xlb_errf(err, "store file %s: %s", file, why);
}

static int mode_safe(const char *what, const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return xlb_errf(-errno, "%s %s: %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return xlb_errf(-EINVAL, "%s %s: not a regular file", what, path);
	if (st.st_mode & 077)
		return xlb_errf(-EPERM, "%s %s is readable by group or others (mode %04o): "
				"chmod 600 %s", what, path, st.st_mode & 07777, path);
	return 0;
}

static int file_field(struct xlb_store_opts *o, const char *file, const char *k, json_t *v)
{
	if (!strcmp(k, "endpoints"))
		return file_endpoints(o, file, v);
	if (!strcmp(k, "fleet"))
		return file_text(file, k, v, o->fleet, sizeof(o->fleet));
	if (!strcmp(k, "user"))
		return file_text(file, k, v, o->user, sizeof(o->user));
	if (!strcmp(k, "ca"))
		return file_path(file, k, v, o->ca, sizeof(o->ca));
	if (!strcmp(k, "cert"))
		return file_path(file, k, v, o->cert, sizeof(o->cert));
	if (!strcmp(k, "key"))
		return file_path(file, k, v, o->key, sizeof(o->key));
	if (!strcmp(k, "password_file"))
		return file_path(file, k, v, o->password_file, sizeof(o->password_file));
	if (!strcmp(k, "timeout_ms")) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 600000)
			return xlb_errf(-EINVAL, "store file %s: timeout_ms is not 1-600000", file);
		o->timeout_ms = (int)json_integer_value(v);
		return 0;
	}
	return xlb_errf(-EINVAL, "store file %s: unknown field '%s' (endpoints, fleet, ca, cert, "
			"key, user, password_file, timeout_ms)", file, k);
}

int xlb_store_opts_load_file(struct xlb_store_opts *o, const char *path)
{
	struct xlb_store_opts t = *o;
	json_error_t jerr;
	const char *k;
	json_t *j, *v;
	int err = 0;

	j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		if (access(path, R_OK))
			return xlb_errf(-errno, "store file %s: %s", path, strerror(errno));
		return xlb_errf(-EINVAL, "store file %s: line %d: %s", path, jerr.line, jerr.text);
	}
	if (!json_is_object(j))
		err = xlb_errf(-EINVAL, "store file %s: not a JSON object", path);
	json_object_foreach(j, k, v) {
		if (err)
			break;
		err = file_field(&t, path, k, v);
	}
	if (!err && (json_object_get(j, "key") || json_object_get(j, "password_file")))
		err = mode_safe("store file", path);	/* it says where the secrets are */
	json_decref(j);
	if (!err)
		*o = t;
	return err;
}

static int readable(const char *what, const char *path)
{
	if (access(path, R_OK))
		return xlb_errf(-errno, "%s %s: %s", what, path, strerror(errno));
	return 0;
}

int xlb_store_opts_check(const struct xlb_store_opts *o)
{
	unsigned int i;
	int err = 0;

	if (!o->nr_endpoints)
		return xlb_errf(-EINVAL, "no store: give --store URL[,URL...] or --store-file FILE");
	if (!xlb_store_name_ok(o->fleet))
		return xlb_errf(-EINVAL, "fleet name '%s': give --fleet NAME ([A-Za-z0-9_.-], "
				"1-63 characters)", o->fleet);
	if (!o->cert[0] != !o->key[0])
		return xlb_errf(-EINVAL, "store: a client certificate and its key go together "
				"(cert and key)");
	if (!o->user[0] != !o->password_file[0])
		return xlb_errf(-EINVAL, "store: a user and a password file go together "
				"(user and password_file)");
	/* etcd's JSON gateway refuses every request that shows a client certificate while
	 * its authentication is on (etcd PR 10366, CVE-2018-16886): one or the other */
	if (o->cert[0] && o->user[0])
		return xlb_errf(-EINVAL, "store: a client certificate (cert, key) and a user "
				"(user, password_file) do not go together: etcd's gateway refuses "
				"a client certificate while authentication is on; give one of them");
	if (o->ca[0])
		err = readable("store CA file", o->ca);
	if (!err && o->cert[0])
		err = readable("store certificate", o->cert);
	if (!err && o->key[0])
		err = mode_safe("store key", o->key);
	if (!err && o->password_file[0])
		err = mode_safe("store password file", o->password_file);
	for (i = 0; !err && o->user[0] && i < o->nr_endpoints; i++)
		if (strncmp(o->endpoints[i], "https://", 8))
			err = xlb_errf(-EINVAL, "store: a user and password (user, password_file) "
				       "over %s would send the password in cleartext: give "
				       "https:// endpoints only", o->endpoints[i]);
	return err;
}
