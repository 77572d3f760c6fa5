/* The store client's insides, shared by store.c, store_async.c and store_opts.c. */
#ifndef XLB_STORE_INT_H
#define XLB_STORE_INT_H

#include <curl/curl.h>
#include "store.h"

#define XLB_STORE_MAX_ANSWER	(64u << 20)	/* an answer past this is refused */

/* A growing buffer for what the server sends. */
struct xlb_buf {
	char *p;
	size_t len, cap;
};

struct xlb_areq;

struct xlb_store {
	struct xlb_store_opts o;
	CURL *easy;			/* the blocking calls' handle (connection reuse) */
	unsigned int preferred;		/* the endpoint that answered last */
	char endpoint[256];		/* its URL ("" before any) */
	char *token;			/* etcd auth token ("" none) */
	bool token_invalid;		/* the last answer said the token is not valid */
	/* non-blocking use */
	CURLM *multi;
	struct xlb_areq *reqs;		/* in flight or waiting for a token */
	struct xlb_areq *watch;		/* the watch stream, also on reqs */
	bool authenticating;		/* an async authenticate is in flight */
};

__s64 xlb_now_ms(void);
size_t xlb_buf_write(char *ptr, size_t size, size_t nmemb, void *userdata);
/* A handle set up for a POST of body to endpoint i + path (TLS, headers). */
int xlb_store_easy_setup(struct xlb_store *s, CURL *c, unsigned int i, const char *path,
			 const char *body, struct curl_slist **hdrs, struct xlb_buf *b);
/*
 * Why a transfer to endpoint i failed (curl's code and its error buffer), into
 * out; over TLS without a client certificate, a hint that the store may ask
 * for one (it then ends the connection after the handshake).
 */
void xlb_store_curl_why(const struct xlb_store *s, unsigned int i, CURLcode rc,
			const char *errbuf, char *out, size_t len);
/*
 * etcd's answer (HTTP code and body) as 0 with *answer, or -errno with a
 * message naming the endpoint and etcd's own words.  *retry_next is set when
 * the member cannot serve (no leader, timed out): try another endpoint.
 */
int xlb_store_answer(struct xlb_store *s, const char *ep, long http, struct xlb_buf *b,
		     json_t **answer, bool *retry_next);
/* The blocking call: body (consumed) to path under one deadline; *answer on success. */
int xlb_store_call(struct xlb_store *s, const char *path, json_t *body, json_t **answer);
/* etcd's message says the token must be got again (expired, or the auth store changed). */
bool xlb_store_token_stale(const char *msg);
/* The password file's first line into pw (not empty), or -errno said. */
int xlb_store_read_password(const struct xlb_store *s, char *pw, size_t len);
char *xlb_b64_encode(const char *s, size_t len);
/* The end of the range of keys under prefix (base64), for range_end. */
char *xlb_prefix_end_b64(const char *prefix);
#endif
