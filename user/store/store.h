/*
 * The fleet store's client: etcd v3 through its JSON gateway (/v3/...), on
 * libcurl and jansson.  No C client for etcd is packaged in Debian; the
 * gateway is plain HTTP POSTs of JSON with keys and values in base64, which
 * libcurl (TLS, client certificates, non-blocking I/O, a threaded resolver)
 * and jansson already do well.
 *
 * Two ways to call it:
 *  - blocking, for the command (xlb fleet ...): every call has one overall
 *    deadline (opts.timeout_ms, else XLB_STORE_TIMEOUT_MS for reads and
 *    XLB_STORE_WRITE_TIMEOUT_MS for writes) covering name lookup, connect,
 *    TLS, request and answer, tried on each endpoint in turn (each gets its
 *    share of what is left), round after round until one answers or the
 *    deadline passes.  A request is sent again only when that is safe: a
 *    transaction that went out and was not answered is not (-ETIMEDOUT, "it
 *    may have been applied": the caller reads what became of it);
 *  - non-blocking, for the daemon (xlb_store_async_*): requests and the
 *    watch stream are driven by curl's multi interface from the daemon's
 *    loop tick; nothing ever waits.
 *
 * Errors: -errno, with xlb_errf() saying what and where (the endpoint, the
 * key, etcd's own message).  -EHOSTUNREACH: no endpoint answered within the
 * deadline ("the store cannot be read"); -EACCES: authentication refused;
 * -EPROTO: an answer that is not what etcd answers.
 * Credentials (password file, client key) are never printed or logged.
 */
#ifndef XLB_STORE_H
#define XLB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <jansson.h>

#define XLB_STORE_MAX_ENDPOINTS	8
#define XLB_STORE_TIMEOUT_MS	3000
/*
 * A write's (txn, put, delete): a leader killed is replaced after etcd's
 * election timeout (1000 ms, randomized up to twice that) and a vote, and
 * meanwhile the followers hold requests; 5 s leaves a write that starts as
 * the leader dies time to reach the new one.
 */
#define XLB_STORE_WRITE_TIMEOUT_MS	5000

struct xlb_store_opts {
	char endpoints[XLB_STORE_MAX_ENDPOINTS][256];	/* http[s]://HOST:PORT */
	unsigned int nr_endpoints;
	char fleet[64];			/* [A-Za-z0-9_.-]{1,63} */
	char ca[256];			/* CA file for https endpoints ("": system CAs) */
	char cert[256], key[256];	/* client certificate and key ("": none) */
	char user[64];			/* etcd user ("": no authentication) */
	char password_file[256];	/* its password, first line; mode 0600 or stricter */
	int timeout_ms;			/* one call's overall deadline (0: XLB_STORE_TIMEOUT_MS) */
};

/*
 * The command line and the client file: --store URL[,URL...] --fleet NAME
 * --store-file FILE (JSON: {"endpoints": [...], "fleet": "...", "ca": ...,
 * "cert": ..., "key": ..., "user": ..., "password_file": ...}).  Files named
 * (key, password_file, the client file when it names either) must not be
 * readable by group or others: -EPERM naming the file and its mode.
 * xlb_store_opts_parse_urls: "URL[,URL...]" into o; -EINVAL with a message.
 * xlb_store_opts_load_file: fields the file has; -errno with a message.
 * xlb_store_opts_check: everything needed is there and files are safe.
 */
int xlb_store_opts_parse_urls(struct xlb_store_opts *o, const char *urls);
int xlb_store_opts_load_file(struct xlb_store_opts *o, const char *path);
int xlb_store_opts_check(const struct xlb_store_opts *o);
/* A fleet or node name: [A-Za-z0-9_.-]{1,63}, not "." or "..". */
bool xlb_store_name_ok(const char *name);

struct xlb_store;

int xlb_store_open(struct xlb_store **s, const struct xlb_store_opts *o);
void xlb_store_close(struct xlb_store *s);
/* The endpoint that answered last ("" before any). */
const char *xlb_store_endpoint(const struct xlb_store *s);

struct xlb_kv {
	char *key;			/* NUL-terminated */
	char *value;			/* NUL-terminated (values are text: JSON) */
	size_t value_len;
	__s64 create_rev, mod_rev, version, lease;
};

struct xlb_kvs {
	struct xlb_kv *kv;
	size_t nr;
	__s64 revision;			/* the store's revision when read (header) */
};
void xlb_kvs_free(struct xlb_kvs *k);

/* One key (out->nr 0 or 1), or every key under prefix when prefix is true. */
int xlb_store_get(struct xlb_store *s, const char *key, bool prefix, struct xlb_kvs *out);
int xlb_store_put(struct xlb_store *s, const char *key, const char *value, __s64 lease,
		  __s64 *revision);
int xlb_store_delete(struct xlb_store *s, const char *key, bool prefix);

/* A transaction: if every compare holds, the success ops, else the failure ops. */
enum xlb_cmp_target { XLB_CMP_VERSION, XLB_CMP_CREATE, XLB_CMP_MOD, XLB_CMP_VALUE };
enum xlb_cmp_result { XLB_CMP_EQUAL, XLB_CMP_NOT_EQUAL, XLB_CMP_GREATER, XLB_CMP_LESS };
struct xlb_cmp {
	const char *key;
	enum xlb_cmp_target target;
	enum xlb_cmp_result result;
	__s64 number;			/* VERSION, CREATE, MOD */
	const char *value;		/* VALUE */
};
enum xlb_op_type { XLB_OP_PUT, XLB_OP_GET, XLB_OP_DELETE };
struct xlb_op {
	enum xlb_op_type type;
	const char *key;
	const char *value;		/* PUT */
	__s64 lease;			/* PUT: 0 none */
};
struct xlb_txn_result {
	bool succeeded;
	__s64 revision;
	struct xlb_kvs *gets;		/* one per XLB_OP_GET of the branch taken (malloc'd) */
	size_t nr_gets;
};
int xlb_store_txn(struct xlb_store *s, const struct xlb_cmp *cmp, size_t nr_cmp,
		  const struct xlb_op *ok, size_t nr_ok, const struct xlb_op *fail,
		  size_t nr_fail, struct xlb_txn_result *r);
void xlb_txn_result_free(struct xlb_txn_result *r);
/*
 * A transaction's JSON body for /v3/kv/txn (for xlb_store_async_post: the
 * answer's "succeeded" says which branch ran); NULL when a compare or op
 * has no key, value or known kind.
 */
json_t *xlb_store_txn_json(const struct xlb_cmp *cmp, size_t nr_cmp, const struct xlb_op *ok,
			   size_t nr_ok, const struct xlb_op *fail, size_t nr_fail);

/* Leases: grant (ttl seconds), keep alive once (*ttl_left: 0 when it expired), revoke. */
int xlb_store_lease_grant(struct xlb_store *s, int ttl, __s64 *id);
int xlb_store_lease_keepalive(struct xlb_store *s, __s64 id, int *ttl_left);
int xlb_store_lease_revoke(struct xlb_store *s, __s64 id);
/* A lease's seconds left and as granted (both -1 when it expired or never was). */
int xlb_store_lease_ttl(struct xlb_store *s, __s64 id, int *ttl_left, int *granted);

/*
 * Non-blocking use (the daemon).  Start a request, then call
 * xlb_store_async_poll() from every loop tick: it does what I/O is ready
 * (never waits) and calls done() for each request that ended (answered,
 * failed, or past its deadline).  answer is etcd's JSON (borrowed), NULL on
 * failure with err -errno and xlb_errmsg() set.  The watch is a long-lived
 * request: on_event() is called for every object the stream delivers
 * (created, events, compacted, canceled); on_end() when the stream ends for
 * any reason (the daemon starts it again from the revision it last saw).
 * A canceled watch ends right after its object: on_end(-ERANGE, result) when
 * the start revision was compacted (result's compact_revision: read again),
 * -ECANCELED otherwise.  xlb_store_watch_stop() ends it without on_end().
 * The body of xlb_store_async_post is borrowed (the caller still owns it);
 * callbacks run from xlb_store_async_poll, never inside curl, and may start,
 * stop or cancel requests (not close the store).  With a user, requests wait
 * (without blocking) for the token an authentication brings.
 */
typedef void (*xlb_store_done_fn)(void *ctx, int err, json_t *answer);
int xlb_store_async_post(struct xlb_store *s, const char *path, json_t *body,
			 xlb_store_done_fn done, void *ctx);
typedef void (*xlb_store_event_fn)(void *ctx, json_t *result);
int xlb_store_watch_start(struct xlb_store *s, const char *key, bool prefix, __s64 start_rev,
			  xlb_store_event_fn on_event, xlb_store_done_fn on_end, void *ctx);
void xlb_store_watch_stop(struct xlb_store *s);
bool xlb_store_watching(const struct xlb_store *s);
/* Do ready I/O and complete requests; returns the number still in flight. */
int xlb_store_async_poll(struct xlb_store *s);
/* Requests in flight are cancelled (done() is not called). */
void xlb_store_async_cancel_all(struct xlb_store *s);

/* Helpers for the async answers: a base64 field decoded (malloc'd), an int64 field. */
char *xlb_store_b64(json_t *obj, const char *field, size_t *len);
__s64 xlb_store_i64(json_t *obj, const char *field);

#endif
