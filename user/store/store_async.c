/*
 * The store for the daemon: requests and the watch stream on curl's multi
 * interface, driven by xlb_store_async_poll() from the loop tick; nothing
 * waits (the threaded resolver does name lookups, curl_multi_perform only
 * does the I/O that is ready).  Callbacks run from poll, never from inside
 * curl, so they may start, stop or cancel requests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "store_int.h"

struct xlb_areq {
	struct xlb_areq *next;
	CURL *easy;
	struct curl_slist *hdrs;
	char *path, *body;
	struct xlb_buf buf;
	xlb_store_done_fn done;		/* a request's answer, the watch's end */
	xlb_store_event_fn on_event;	/* the watch: every object of the stream */
	void *ctx;
	__s64 deadline;			/* ms (monotonic); a watch: until its first object */
	__s64 attempt_end;		/* this endpoint's share of it */
	unsigned int ep, tried;		/* the endpoint, how many were tried */
	bool running, reauthed, is_auth;
	char fail[1024];		/* why the endpoints tried did not answer */
	char errbuf[CURL_ERROR_SIZE];	/* curl's words for this attempt's failure */
	/* the watch stream split into objects: scan position, nesting, string state */
	size_t scan, depth;
	bool in_str, esc;
	json_t *objs;			/* objects read, handed over by poll */
};

static int ensure_multi(struct xlb_store *s)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	if (!(v->features & CURL_VERSION_ASYNCHDNS))
		return xlb_errf(-ENOTSUP, "store: libcurl %s resolves names synchronously "
				"(no AsynchDNS): the daemon would block", v->version);
	if (!s->multi)
		s->multi = curl_multi_init();
	return s->multi ? 0 : xlb_errf(-ENOMEM, "store: libcurl has no multi handle");
}

static void areq_free(struct xlb_areq *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	if (r->is_auth && r->body)
		explicit_bzero(r->body, strlen(r->body));
	free(r->body);
	free(r->path);
	free(r->buf.p);
	json_decref(r->objs);
	free(r);
}

static void areq_unlink(struct xlb_store *s, struct xlb_areq *r)
{
	struct xlb_areq **pp;

	for (pp = &s->reqs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	if (s->watch == r)
		s->watch = NULL;
	if (r->running)
		curl_multi_remove_handle(s->multi, r->easy);
	r->running = false;
}

/* Split what the watch stream has sent into whole JSON objects (they span chunks). */
static size_t watch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xlb_areq *r = userdata;
	size_t n = xlb_buf_write(ptr, size, nmemb, &r->buf), start = 0, i;

	if (n != size * nmemb)
		return 0;
	for (i = r->scan; i < r->buf.len; i++) {
		char c = r->buf.p[i];

		if (r->esc) {
			r->esc = false;
		} else if (r->in_str) {
			r->esc = c == '\\';
			r->in_str = c != '"';
		} else if (c == '"') {
			r->in_str = true;
		} else if (c == '{') {
			r->depth++;
		} else if (c == '}' && r->depth && !--r->depth) {
			json_t *o = json_loadb(r->buf.p + start, i + 1 - start, 0, NULL);

			if (!o || json_array_append_new(r->objs, o))
				return 0;	/* not JSON: the stream ends */
			start = i + 1;
		}
	}
	memmove(r->buf.p, r->buf.p + start, r->buf.len - start);
	r->buf.len -= start;
	r->scan = r->buf.len;
	return n;
}

static __s64 areq_timeout(const struct xlb_store *s)
{
	return s->o.timeout_ms > 0 ? s->o.timeout_ms : XLB_STORE_TIMEOUT_MS;
}

/*
 * Start r's transfer on endpoint r->ep, from a clean slate: a watch run again
 * (a new token) reads a new stream, not behind the old one's objects, and one
 * that had answered (deadline 0) has a deadline again until its first object.
 */
static int areq_run(struct xlb_store *s, struct xlb_areq *r)
{
	unsigned int n = s->o.nr_endpoints;
	__s64 left;
	int err;

	if (r->deadline <= 0)
		r->deadline = xlb_now_ms() + areq_timeout(s);
	left = r->deadline - xlb_now_ms();
	curl_easy_reset(r->easy);
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	r->buf.len = 0;
	json_array_clear(r->objs);
	r->scan = r->depth = 0;
	r->in_str = r->esc = false;
	err = xlb_store_easy_setup(s, r->easy, r->ep, r->path, r->body, &r->hdrs, &r->buf);
	if (err)
		return err;
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	r->errbuf[0] = '\0';
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	/* a share of what is left for each endpoint still to try */
	left = left / (n - r->tried % n) > 0 ? left / (n - r->tried % n) : 1;
	r->attempt_end = xlb_now_ms() + left;
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	if (r->on_event) {
		/* the gateway passes it on as gRPC metadata: etcd ends the watch when this
		 * member loses its leader (cut off from the quorum), not a silent stream */
		struct curl_slist *h = curl_slist_append(r->hdrs, "Grpc-Metadata-hasleader: true");

		if (!h)
			return xlb_errf(-ENOMEM, "store watch: out of memory");
		r->hdrs = h;
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
		curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, watch_write);
		curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
		curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPIDLE, 10L);
		curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPINTVL, 5L);
	} else {
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)left);
	}
	if (curl_multi_add_handle(s->multi, r->easy) != CURLM_OK)
		return xlb_errf(-EIO, "store: libcurl refused a request");
	r->running = true;
	return 0;
}

static int auth_start(struct xlb_store *s);

/* Run r now, or park it until a token is there. */
static int areq_go(struct xlb_store *s, struct xlb_areq *r)
{
	if (s->o.user[0] && !s->token && !r->is_auth)
		return auth_start(s);
	return areq_run(s, r);
}

static struct xlb_areq *areq_new(struct xlb_store *s, const char *path, json_t *body)
{
	struct xlb_areq *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->easy = curl_easy_init();
	r->path = strdup(path);
	r->body = json_dumps(body, JSON_COMPACT);
	r->objs = json_array();
	r->ep = s->preferred;
	r->deadline = xlb_now_ms() + areq_timeout(s);
	if (!r->easy || !r->path || !r->body || !r->objs) {
		areq_free(r);
		return NULL;
	}
	r->next = s->reqs;
	s->reqs = r;
	return r;
}

int xlb_store_async_post(struct xlb_store *s, const char *path, json_t *body,
			 xlb_store_done_fn done, void *ctx)
{
	struct xlb_areq *r;
	int err = ensure_multi(s);

	if (err)
		return err;
	r = areq_new(s, path, body);
	if (!r)
		return xlb_errf(-ENOMEM, "store request %s: out of memory", path);
	r->done = done;
	r->ctx = ctx;
	err = areq_go(s, r);
	if (err) {
		areq_unlink(s, r);
		areq_free(r);
	}
	return err;
}

/* The authentication request, started when a request needs a token; -errno when it cannot be. */
static int auth_start(struct xlb_store *s)
{
	struct xlb_areq *r;
	char pw[512];
	json_t *body;
	int err;

	if (s->authenticating)
		return 0;
	err = xlb_store_read_password(s, pw, sizeof(pw));
	if (err)
		return err;
	body = json_pack("{s:s, s:s}", "name", s->o.user, "password", pw);
	explicit_bzero(pw, sizeof(pw));
	r = body ? areq_new(s, "/v3/auth/authenticate", body) : NULL;
	if (body)
		explicit_bzero((char *)json_string_value(json_object_get(body, "password")),
			       json_string_length(json_object_get(body, "password")));
	json_decref(body);
	if (!r)
		return xlb_errf(-ENOMEM, "store authentication: out of memory");
	r->is_auth = true;
	s->authenticating = true;
	err = areq_run(s, r);
	if (err) {
		s->authenticating = false;
		areq_unlink(s, r);
		areq_free(r);
	}
	return err;
}

/* Hand r's end to its owner: unlinked first, freed after, so done() may start or cancel. */
static void areq_end(struct xlb_store *s, struct xlb_areq *r, int err, json_t *answer)
{
	areq_unlink(s, r);
	if (r->done)
		r->done(r->ctx, err, answer);
	areq_free(r);
}

/* The authentication ended: keep the token and run the parked requests, or fail them. */
static void auth_end(struct xlb_store *s, int err, json_t *answer)
{
	struct xlb_areq *r, *failed = NULL, **pp;
	json_t *t = json_object_get(answer, "token");

	s->authenticating = false;
	if (!err && json_is_string(t))
		s->token = strdup(json_string_value(t));
	else if (err == -EPERM && strstr(xlb_errmsg(), "authentication is not enabled"))
		s->token = strdup("");	/* the store does not ask: go without */
	else if (!err)
		err = xlb_errf(-EPROTO, "store: authentication answered no token");
	else if (err == -EINVAL)
		err = -EACCES;		/* "authentication failed": said already */
	for (pp = &s->reqs; (r = *pp);) {
		if (r->running || r->is_auth || (s->token && !areq_run(s, r))) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;		/* parked and failed: ended below */
		if (s->watch == r)
			s->watch = NULL;
		r->next = failed;
		failed = r;
	}
	while ((r = failed)) {
		failed = r->next;
		if (r->done)
			r->done(r->ctx, s->token ? -EIO : err, NULL);
		areq_free(r);
	}
}

/* Another endpoint for r when one is left and time is. */
static bool areq_next(struct xlb_store *s, struct xlb_areq *r, const char *why)
{
	size_t off = strlen(r->fail);

	snprintf(r->fail + off, sizeof(r->fail) - off, "%s%s: %s", off ? "; " : "",
		 s->o.endpoints[r->ep], why);
	curl_multi_remove_handle(s->multi, r->easy);
	r->running = false;
	if (++r->tried >= s->o.nr_endpoints || xlb_now_ms() >= r->deadline)
		return false;
	r->ep = (r->ep + 1) % s->o.nr_endpoints;
	return areq_run(s, r) == 0;
}

/* The token expired or is stale: r once more, with a new one (parked until it is there). */
static void areq_reauth(struct xlb_store *s, struct xlb_areq *r)
{
	int err;

	if (r->running)
		curl_multi_remove_handle(s->multi, r->easy);
	r->running = false;
	r->reauthed = true;
	r->deadline = xlb_now_ms() + areq_timeout(s);
	if (s->token)
		explicit_bzero(s->token, strlen(s->token));
	free(s->token);
	s->token = NULL;
	err = auth_start(s);
	if (err)
		areq_end(s, r, err, NULL);
}

/* A transfer that ended: its answer, another endpoint, or a failure. */
static void areq_done(struct xlb_store *s, struct xlb_areq *r, CURLcode rc)
{
	json_t *answer = NULL;
	bool retry_next = false;
	long http = 0;
	int err;

	if (rc != CURLE_OK && !(r->on_event && rc == CURLE_WRITE_ERROR)) {
		char why[CURL_ERROR_SIZE + 128];

		xlb_store_curl_why(s, r->ep, rc, r->errbuf, why, sizeof(why));
		if (areq_next(s, r, why))
			return;
		err = xlb_errf(-EHOSTUNREACH, "no store endpoint answered: %s", r->fail);
	} else if (r->on_event && !json_array_size(r->objs)) {
		err = xlb_errf(-EPIPE, "store %s: the watch stream ended", s->o.endpoints[r->ep]);
	} else {
		if (r->on_event) {	/* {"error": {...}} in the stream */
			free(r->buf.p);
			r->buf.p = json_dumps(json_array_get(r->objs, 0), JSON_COMPACT);
			r->buf.len = r->buf.cap = r->buf.p ? strlen(r->buf.p) : 0;
		}
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
		err = xlb_store_answer(s, s->o.endpoints[r->ep], http, &r->buf, &answer, &retry_next);
		if (retry_next && areq_next(s, r, xlb_errmsg()))
			return;
		if (!err && r->on_event)
			err = xlb_errf(-EPIPE, "store %s: the watch stream ended",
				       s->o.endpoints[r->ep]);
	}
	if (!err || !retry_next) {
		s->preferred = r->ep;
		snprintf(s->endpoint, sizeof(s->endpoint), "%s", s->o.endpoints[r->ep]);
	}
	if (r->is_auth) {
		areq_unlink(s, r);
		auth_end(s, err, answer);
		areq_free(r);
	} else if (err == -EACCES && s->token_invalid && !r->reauthed && s->o.user[0]) {
		areq_reauth(s, r);
	} else {
		areq_end(s, r, err, answer);
	}
	json_decref(answer);
}

/* The watch's objects so far, to its owner; a canceled watch ends. */
static void watch_deliver(struct xlb_store *s)
{
	struct xlb_areq *r = s->watch;
	json_t *o, *res;

	while (r && s->watch == r && json_array_size(r->objs)) {
		o = json_incref(json_array_get(r->objs, 0));
		json_array_remove(r->objs, 0);
		res = json_object_get(o, "result");
		if (json_is_true(json_object_get(res, "canceled")) && s->o.user[0] && !r->reauthed &&
		    xlb_store_token_stale(json_string_value(json_object_get(res, "cancel_reason")))) {
			json_decref(o);	/* etcd 3.4 says an expired token this way */
			areq_reauth(s, r);
			break;
		}
		r->deadline = 0;	/* it answered: no deadline from here on */
		if (json_is_object(res)) {
			r->on_event(r->ctx, res);
		} else {
			json_array_insert_new(r->objs, 0, o);	/* an error: the stream ends */
			break;
		}
		if (s->watch == r && json_is_true(json_object_get(res, "canceled"))) {
			__s64 compacted = xlb_store_i64(res, "compact_revision");
			int err = compacted ?
				xlb_errf(-ERANGE, "store watch: revisions before %lld are compacted",
					 (long long)compacted) :
				xlb_errf(-ECANCELED, "store watch: canceled by etcd");

			r->on_event = NULL;	/* delivered already */
			areq_end(s, r, err, res);
		}
		json_decref(o);
	}
}

/* Requests past their deadline that curl does not time: parked ones, a watch not yet answered. */
static void deadlines(struct xlb_store *s)
{
	__s64 now = xlb_now_ms();
	struct xlb_areq *r;

	for (r = s->reqs; r; r = r->next) {
		if (r->is_auth || (r->running && !r->on_event))
			continue;	/* curl times these */
		if (r->running) {	/* the watch, before its first object */
			if (!r->deadline || now < r->attempt_end ||
			    areq_next(s, r, "no answer before the deadline"))
				continue;
		} else if (now < r->deadline) {
			continue;	/* parked, waiting for a token */
		}
		if (!r->fail[0])
			snprintf(r->fail, sizeof(r->fail), "%s: no answer before the deadline",
				 s->o.endpoints[r->ep]);
		areq_end(s, r, xlb_errf(-EHOSTUNREACH, "no store endpoint answered: %s", r->fail),
			 NULL);
		return;		/* the list changed: the rest on the next tick */
	}
}

int xlb_store_async_poll(struct xlb_store *s)
{
	struct xlb_areq *r;
	CURLMsg *msg;
	int running, left, n = 0;

	if (!s->multi)
		return 0;
	curl_multi_perform(s->multi, &running);
	watch_deliver(s);
	while ((msg = curl_multi_info_read(s->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		r = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r)
			areq_done(s, r, msg->data.result);
	}
	deadlines(s);
	for (r = s->reqs; r; r = r->next)
		n++;
	return n;
}

int xlb_store_watch_start(struct xlb_store *s, const char *key, bool prefix, __s64 start_rev,
			  xlb_store_event_fn on_event, xlb_store_done_fn on_end, void *ctx)
{
	char *k, *end = NULL;
	json_t *req, *body;
	struct xlb_areq *r;
	int err = ensure_multi(s);

	if (err)
		return err;
	if (s->watch)
		return xlb_errf(-EBUSY, "store watch: one is running already");
	if (!key || !key[0] || !on_event)
		return xlb_errf(-EINVAL, "store watch: no key or no event callback");
	k = xlb_b64_encode(key, strlen(key));
	end = prefix ? xlb_prefix_end_b64(key) : NULL;
	req = k && (end || !prefix) ? json_pack("{s:s}", "key", k) : NULL;
	if (req && end)
		json_object_set_new(req, "range_end", json_string(end));
	if (req && start_rev > 0)
		json_object_set_new(req, "start_revision", json_sprintf("%lld", (long long)start_rev));
	if (req)	/* etcd says it is alive (its revision) on a quiet key, too */
		json_object_set_new(req, "progress_notify", json_true());
	body = req ? json_pack("{s:o}", "create_request", req) : NULL;
	r = body ? areq_new(s, "/v3/watch", body) : NULL;
	json_decref(body);
	free(k);
	free(end);
	if (!r)
		return xlb_errf(-ENOMEM, "store watch: out of memory");
	r->on_event = on_event;
	r->done = on_end;
	r->ctx = ctx;
	s->watch = r;
	err = areq_go(s, r);
	if (err) {
		areq_unlink(s, r);
		areq_free(r);
	}
	return err;
}

void xlb_store_watch_stop(struct xlb_store *s)
{
	struct xlb_areq *r = s->watch;

	if (!r)
		return;
	areq_unlink(s, r);
	areq_free(r);
}

bool xlb_store_watching(const struct xlb_store *s)
{
	return s->watch != NULL;
}

void xlb_store_async_cancel_all(struct xlb_store *s)
{
	struct xlb_areq *r;

	while ((r = s->reqs)) {
		areq_unlink(s, r);
		areq_free(r);
	}
	s->authenticating = false;
}
