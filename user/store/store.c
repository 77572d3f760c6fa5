/* The etcd client's core: one POST across endpoints under one deadline, auth, etcd's errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "store_int.h"

__s64 xlb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__s64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t xlb_buf_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xlb_buf *b = userdata;
	size_t n = size * nmemb;
	char *p;

	if (b->len + n + 1 > XLB_STORE_MAX_ANSWER)
		return 0;	/* curl fails the transfer: CURLE_WRITE_ERROR */
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *xlb_b64_encode(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = b64_chars[u[i] >> 2];
		*o++ = b64_chars[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
		*o++ = b64_chars[((u[i + 1] & 15) << 2) | (u[i + 2] >> 6)];
		*o++ = b64_chars[u[i + 2] & 63];
	}
	if (i < len) {
		*o++ = b64_chars[u[i] >> 2];
		if (i + 1 < len) {
			*o++ = b64_chars[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
			*o++ = b64_chars[(u[i + 1] & 15) << 2];
		} else {
			*o++ = b64_chars[(u[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64_chars, c) : NULL;

	return p ? (int)(p - b64_chars) : -1;
}

/* base64 text into a NUL-terminated malloc'd buffer; NULL with errno EPROTO when not base64. */
static char *b64_decode(const char *in, size_t *len)
{
	size_t n = strlen(in), o = 0, i;
	char *out = malloc(n / 4 * 3 + 4);
	unsigned int acc = 0, bits = 0;

	if (!out)
		return NULL;
	for (i = 0; i < n && in[i] != '='; i++) {
		int v = b64_val(in[i]);

		if (v < 0) {
			free(out);
			errno = EPROTO;
			return NULL;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	if (len)
		*len = o;
	return out;
}

char *xlb_store_b64(json_t *obj, const char *field, size_t *len)
{
	json_t *v = json_object_get(obj, field);

	if (!v)		/* etcd leaves out empty fields */
		return b64_decode("", len);
	if (!json_is_string(v)) {
		errno = EPROTO;
		return NULL;
	}
	return b64_decode(json_string_value(v), len);
}

__s64 xlb_store_i64(json_t *obj, const char *field)
{
	json_t *v = json_object_get(obj, field);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

char *xlb_prefix_end_b64(const char *prefix)
{
	size_t n = strlen(prefix);
	char *end = strdup(prefix), *r;

	if (!end)
		return NULL;
	while (n && (unsigned char)end[n - 1] == 0xff)
		n--;
	if (!n) {	/* every key from prefix on: range_end "\0" */
		free(end);
		return strdup("AA==");
	}
	end[n - 1]++;
	r = xlb_b64_encode(end, n);
	free(end);
	return r;
}

int xlb_store_easy_setup(struct xlb_store *s, CURL *c, unsigned int i, const char *path,
			 const char *body, struct curl_slist **hdrs, struct xlb_buf *b)
{
	char url[512], auth[600];
	struct curl_slist *h = NULL, *t;

	snprintf(url, sizeof(url), "%s%s", s->o.endpoints[i], path);
	h = curl_slist_append(NULL, "Content-Type: application/json");
	t = h ? curl_slist_append(h, "Expect:") : NULL;
	if (t && s->token && s->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: %s", s->token);
		t = curl_slist_append(t, auth);
		explicit_bzero(auth, sizeof(auth));
	}
	if (!t) {
		curl_slist_free_all(h);
		return xlb_errf(-ENOMEM, "store request: out of memory");
	}
	*hdrs = t;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, t);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, xlb_buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");	/* never through $http_proxy */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (s->o.ca[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, s->o.ca);
	if (s->o.cert[0])
		curl_easy_setopt(c, CURLOPT_SSLCERT, s->o.cert);
	if (s->o.key[0])
		curl_easy_setopt(c, CURLOPT_SSLKEY, s->o.key);
	return 0;
}

void xlb_store_curl_why(const struct xlb_store *s, unsigned int i, CURLcode rc,
			const char *errbuf, char *out, size_t len)
{
	bool tls_end = rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_SEND_ERROR ||
		       rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING;

	snprintf(out, len, "%s%s", errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc),
		 tls_end && !s->o.cert[0] && !strncmp(s->o.endpoints[i], "https:", 6) ?
		 " (over TLS without a client certificate: a store that asks for one ends "
		 "the connection; give cert and key)" : "");
}

/*
 * etcd's words for a token to get again: expired ("invalid auth token"), or
 * older than a change of users or roles ("revision of auth store is old",
 * gRPC code 3, which would otherwise read as a bad argument).
 */
bool xlb_store_token_stale(const char *msg)
{
	return msg && (strstr(msg, "invalid auth token") ||
		       strstr(msg, "revision of auth store is old"));
}

/* gRPC status codes (etcd's "code") as -errno. */
static int grpc_errno(long code, const char *msg)
{
	if (strstr(msg, "authentication failed") || xlb_store_token_stale(msg) ||
	    strstr(msg, "user name is empty") || strstr(msg, "permission denied"))
		return -EACCES;
	switch (code) {
	case 3:  return -EINVAL;	/* InvalidArgument */
	case 5:  return -ENOENT;	/* NotFound */
	case 6:  return -EEXIST;	/* AlreadyExists */
	case 7:  return -EACCES;	/* PermissionDenied */
	case 8:  return -ENOSPC;	/* ResourceExhausted */
	case 9:  return -EPERM;		/* FailedPrecondition */
	case 11: return -ERANGE;	/* OutOfRange: revision compacted */
	case 16: return -EACCES;	/* Unauthenticated */
	case 4:				/* DeadlineExceeded */
	case 14: return -EAGAIN;	/* Unavailable */
	default: return -EIO;
	}
}

/* An answer that is not etcd's JSON: its first line said (the gateway answers some in text). */
static int not_json(const char *ep, long http, const struct xlb_buf *b)
{
	char text[160] = "";
	size_t n = 0;

	for (; b->p && n < b->len && n < sizeof(text) - 1 && b->p[n] != '\n'; n++)
		text[n] = (unsigned char)b->p[n] >= 0x20 && b->p[n] != 0x7f ? b->p[n] : '?';
	text[n] = '\0';
	return xlb_errf(-EPROTO, "store %s: HTTP %ld and an answer that is not etcd's JSON%s%s",
			ep, http, text[0] ? ": " : "", text);
}

int xlb_store_answer(struct xlb_store *s, const char *ep, long http, struct xlb_buf *b,
		     json_t **answer, bool *retry_next)
{
	json_t *j = b->p ? json_loadb(b->p, b->len, 0, NULL) : NULL;
	json_t *msg;
	const char *m;
	__s64 code;
	int err;

	*retry_next = false;
	if (!json_is_object(j)) {
		json_decref(j);
		return not_json(ep, http, b);
	}
	msg = json_object_get(j, "error");
	if (http == 200 && !msg) {
		*answer = j;
		return 0;
	}
	if (json_is_object(msg)) {	/* a stream's error: {"error": {"grpc_code", "message"}} */
		code = xlb_store_i64(msg, "grpc_code");
		msg = json_object_get(msg, "message");
	} else {
		code = xlb_store_i64(j, "code");
		if (!json_is_string(msg))
			msg = json_object_get(j, "message");
	}
	m = json_is_string(msg) ? json_string_value(msg) : "no message";
	err = grpc_errno((long)code, m);
	s->token_invalid = xlb_store_token_stale(m);
	*retry_next = err == -EAGAIN;
	xlb_errf(err, "store %s: %s", ep, m);
	json_decref(j);
	return err;
}

/*
 * One POST to endpoint i with at most remaining_ms: 0 or -errno (answered),
 * 1 when it did not answer and the request did not go out (a refused or
 * timed-out connection, or etcd's "no leader"), 2 when it did not answer
 * after the request went out (etcd may have acted on it); why in why.
 */
static int post_one(struct xlb_store *s, unsigned int i, const char *path, const char *body,
		    __s64 remaining_ms, __s64 connect_ms, json_t **answer, char *why,
		    size_t why_len)
{
	struct curl_slist *hdrs = NULL;
	struct xlb_buf b = { 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	long http = 0, sent = 0;
	bool retry_next = false;
	CURLcode rc;
	int err;

	curl_easy_reset(s->easy);
	err = xlb_store_easy_setup(s, s->easy, i, path, body, &hdrs, &b);
	if (err)
		return err;
	curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)remaining_ms);
	curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	rc = curl_easy_perform(s->easy);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		curl_easy_getinfo(s->easy, CURLINFO_REQUEST_SIZE, &sent);
		xlb_store_curl_why(s, i, rc, errbuf, why, why_len);
		free(b.p);
		return sent > 0 ? 2 : 1;
	}
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &http);
	err = xlb_store_answer(s, s->o.endpoints[i], http, &b, answer, &retry_next);
	free(b.p);
	if (!err || !retry_next)
		return err;
	snprintf(why, why_len, "%s", xlb_errmsg());
	return strstr(why, "no leader") ? 1 : 2;
}

/* Between rounds over every endpoint that failed at once (refused): not a busy loop. */
#define XLB_STORE_ROUND_MS	100

/*
 * POST body to path on the first endpoint that answers before deadline.  A
 * member that does not answer gets its share of what is left (one that
 * accepts and never answers leaves time for the others), then the next one
 * is tried, round after round until the deadline: a leader's election (etcd
 * holds requests, then answers "request timed out", until one is elected)
 * is waited out.  Only requests that are safe to repeat are repeated: a
 * transaction that may have reached etcd is not sent again (-ETIMEDOUT,
 * "it may have been applied"; its caller finds out what became of it).
 */
static int post_any(struct xlb_store *s, const char *path, const char *body, __s64 deadline,
		    json_t **answer)
{
	char whys[XLB_STORE_MAX_ENDPOINTS][CURL_ERROR_SIZE + 256], fail[2048] = "";
	bool repeatable = strcmp(path, "/v3/kv/txn") != 0;
	unsigned int n = s->o.nr_endpoints, k, tries = 0;
	__s64 round_start = xlb_now_ms(), left;
	size_t off = 0;

	for (k = 0; k < n; k++)
		snprintf(whys[k], sizeof(whys[k]), "not tried, the deadline passed");
	for (k = 0; (left = deadline - xlb_now_ms()) > 0; k++) {
		unsigned int i = (s->preferred + k) % n, in_round = n - k % n;
		int r;

		if (k && !(k % n) && xlb_now_ms() - round_start < XLB_STORE_ROUND_MS) {
			usleep((useconds_t)((left < XLB_STORE_ROUND_MS ? left : XLB_STORE_ROUND_MS) * 1000));
			left = deadline - xlb_now_ms();
			if (left <= 0)
				break;
		}
		if (!(k % n))
			round_start = xlb_now_ms();
		tries++;
		r = post_one(s, i, path, body, left / in_round ?: 1, left / in_round ?: 1, answer,
			     whys[i], sizeof(whys[i]));
		if (r <= 0) {
			s->preferred = i;
			snprintf(s->endpoint, sizeof(s->endpoint), "%s", s->o.endpoints[i]);
			return r;
		}
		if (r == 2 && !repeatable) {
			s->preferred = (i + 1) % n;	/* the next call starts elsewhere */
			return xlb_errf(-ETIMEDOUT, "store %s: the transaction was sent and not "
					"answered (%s): it may have been applied", s->o.endpoints[i],
					whys[i]);
		}
	}
	for (k = 0; k < n; k++)
		if (off < sizeof(fail))
			off += snprintf(fail + off, sizeof(fail) - off, "%s%s: %s", off ? "; " : "",
					s->o.endpoints[k], whys[k]);
	return xlb_errf(-EHOSTUNREACH, "no store endpoint answered: %s (%u tries)", fail, tries);
}

/* The password file's first line, not empty; never printed. */
int xlb_store_read_password(const struct xlb_store *s, char *pw, size_t len)
{
	FILE *f = fopen(s->o.password_file, "re");
	int err = 0;

	pw[0] = '\0';
	if (!f)
		return xlb_errf(-errno, "store password file %s: %s", s->o.password_file,
				strerror(errno));
	if (!fgets(pw, (int)len, f))
		pw[0] = '\0';
	else
		pw[strcspn(pw, "\r\n")] = '\0';
	if (ferror(f))
		err = xlb_errf(-EIO, "store password file %s: cannot be read", s->o.password_file);
	else if (!pw[0])
		err = xlb_errf(-EINVAL, "store password file %s: empty (the password is its "
			       "first line)", s->o.password_file);
	fclose(f);
	if (err)
		explicit_bzero(pw, len);
	return err;
}

static int authenticate(struct xlb_store *s, __s64 deadline)
{
	char pw[512];
	json_t *req, *ans = NULL;
	char *body;
	int err;

	err = xlb_store_read_password(s, pw, sizeof(pw));
	if (err)
		return err;
	req = json_pack("{s:s, s:s}", "name", s->o.user, "password", pw);
	explicit_bzero(pw, sizeof(pw));
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (req)	/* jansson's copy of the password, cleared before it is freed */
		explicit_bzero((char *)json_string_value(json_object_get(req, "password")),
			       json_string_length(json_object_get(req, "password")));
	json_decref(req);
	if (!body)
		return xlb_errf(-ENOMEM, "store authentication: out of memory");
	free(s->token);
	s->token = NULL;
	err = post_any(s, "/v3/auth/authenticate", body, deadline, &ans);
	explicit_bzero(body, strlen(body));
	free(body);
	if (err == -EPERM && strstr(xlb_errmsg(), "authentication is not enabled")) {
		s->token = strdup("");	/* the store does not ask: go without */
		return s->token ? 0 : -ENOMEM;
	}
	if (err)
		return err == -EINVAL ? -EACCES : err;	/* "authentication failed" said */
	if (!json_is_string(json_object_get(ans, "token"))) {
		json_decref(ans);
		return xlb_errf(-EPROTO, "store %s: authentication answered no token", s->endpoint);
	}
	s->token = strdup(json_string_value(json_object_get(ans, "token")));
	json_decref(ans);
	return s->token ? 0 : -ENOMEM;
}

int xlb_store_call(struct xlb_store *s, const char *path, json_t *body, json_t **answer)
{
	bool write = !strcmp(path, "/v3/kv/txn") || !strcmp(path, "/v3/kv/put") ||
		     !strcmp(path, "/v3/kv/deleterange");
	__s64 deadline = xlb_now_ms() + (s->o.timeout_ms > 0 ? s->o.timeout_ms :
			 write ? XLB_STORE_WRITE_TIMEOUT_MS : XLB_STORE_TIMEOUT_MS);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int err;

	json_decref(body);
	*answer = NULL;
	if (!text)
		return xlb_errf(-ENOMEM, "store request %s: out of memory", path);
	err = s->o.user[0] && !s->token ? authenticate(s, deadline) : 0;
	if (!err) {
		s->token_invalid = false;
		err = post_any(s, path, text, deadline, answer);
	}
	if (err == -EACCES && s->token_invalid && s->o.user[0]) {
		err = authenticate(s, deadline);	/* the token expired: once more */
		if (!err)
			err = post_any(s, path, text, deadline, answer);
	}
	free(text);
	if (!err)
		xlb_err_clear();	/* a failed endpoint before the one that answered */
	return err;
}

int xlb_store_open(struct xlb_store **sp, const struct xlb_store_opts *o)
{
	static bool curl_ready;
	struct xlb_store *s;
	int err;

	*sp = NULL;
	err = xlb_store_opts_check(o);
	if (err)
		return err;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT))
			return xlb_errf(-EIO, "store: libcurl cannot start");
		curl_ready = true;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return xlb_errf(-ENOMEM, "store: out of memory");
	s->o = *o;
	s->easy = curl_easy_init();
	if (!s->easy) {
		free(s);
		return xlb_errf(-ENOMEM, "store: libcurl has no handle");
	}
	*sp = s;
	return 0;
}

void xlb_store_close(struct xlb_store *s)
{
	if (!s)
		return;
	xlb_store_async_cancel_all(s);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	curl_easy_cleanup(s->easy);
	if (s->token) {
		explicit_bzero(s->token, strlen(s->token));
		free(s->token);
	}
	free(s);
}

const char *xlb_store_endpoint(const struct xlb_store *s)
{
	return s->endpoint;
}
