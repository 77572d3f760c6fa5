/* The store's keys, transactions and leases: blocking calls on etcd's JSON gateway. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "store_int.h"

void xlb_kvs_free(struct xlb_kvs *k)
{
	size_t i;

	if (!k)
		return;
	for (i = 0; i < k->nr; i++) {
		free(k->kv[i].key);
		free(k->kv[i].value);
	}
	free(k->kv);
	memset(k, 0, sizeof(*k));
}

void xlb_txn_result_free(struct xlb_txn_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nr_gets; i++)
		xlb_kvs_free(&r->gets[i]);
	free(r->gets);
	memset(r, 0, sizeof(*r));
}

static __s64 header_revision(json_t *answer)
{
	return xlb_store_i64(json_object_get(answer, "header"), "revision");
}

/* A range answer's keys into out. */
static int kvs_parse(struct xlb_store *s, json_t *range, struct xlb_kvs *out)
{
	json_t *kvs = json_object_get(range, "kvs"), *kv;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->revision = header_revision(range);
	if (!kvs)
		return 0;
	if (!json_is_array(kvs))
		return xlb_errf(-EPROTO, "store %s: kvs is not a list", s->endpoint);
	out->kv = calloc(json_array_size(kvs) ?: 1, sizeof(*out->kv));
	if (!out->kv)
		return xlb_errf(-ENOMEM, "store: out of memory");
	json_array_foreach(kvs, i, kv) {
		struct xlb_kv *k = &out->kv[out->nr];

		k->key = xlb_store_b64(kv, "key", NULL);
		k->value = xlb_store_b64(kv, "value", &k->value_len);
		out->nr++;
		if (!k->key || !k->value) {
			xlb_kvs_free(out);
			return xlb_errf(-EPROTO, "store %s: a key or value that is not base64",
					s->endpoint);
		}
		k->create_rev = xlb_store_i64(kv, "create_revision");
		k->mod_rev = xlb_store_i64(kv, "mod_revision");
		k->version = xlb_store_i64(kv, "version");
		k->lease = xlb_store_i64(kv, "lease");
	}
	return 0;
}

static int key_ok(const char *key, const char *what)
{
	if (!key || !key[0])
		return xlb_errf(-EINVAL, "store %s: an empty key", what);
	return 0;
}

/* {"key": b64, ["range_end": b64]} */
static json_t *key_body(const char *key, bool prefix)
{
	char *k = xlb_b64_encode(key, strlen(key));
	char *end = prefix ? xlb_prefix_end_b64(key) : NULL;
	json_t *body = NULL;

	if (k && (!prefix || end)) {
		body = json_pack("{s:s}", "key", k);
		if (body && end && json_object_set_new(body, "range_end", json_string(end))) {
			json_decref(body);
			body = NULL;
		}
	}
	free(k);
	free(end);
	return body;
}

static json_t *put_body(const char *key, const char *value, __s64 lease)
{
	char *k = xlb_b64_encode(key, strlen(key));
	char *v = xlb_b64_encode(value ? value : "", value ? strlen(value) : 0);
	json_t *body = k && v ? json_pack("{s:s, s:s}", "key", k, "value", v) : NULL;

	if (body && lease && json_object_set_new(body, "lease", json_sprintf("%lld", (long long)lease))) {
		json_decref(body);
		body = NULL;
	}
	free(k);
	free(v);
	return body;
}

int xlb_store_get(struct xlb_store *s, const char *key, bool prefix, struct xlb_kvs *out)
{
	json_t *ans;
	int err;

	memset(out, 0, sizeof(*out));
	err = key_ok(key, "get");
	if (err)
		return err;
	err = xlb_store_call(s, "/v3/kv/range", key_body(key, prefix), &ans);
	if (err)
		return err;
	err = kvs_parse(s, ans, out);
	json_decref(ans);
	return err;
}

int xlb_store_put(struct xlb_store *s, const char *key, const char *value, __s64 lease,
		  __s64 *revision)
{
	json_t *ans;
	int err;

	if (revision)
		*revision = 0;
	err = key_ok(key, "put");
	if (err)
		return err;
	err = xlb_store_call(s, "/v3/kv/put", put_body(key, value, lease), &ans);
	if (err)
		return err;
	if (revision)
		*revision = header_revision(ans);
	json_decref(ans);
	return 0;
}

int xlb_store_delete(struct xlb_store *s, const char *key, bool prefix)
{
	json_t *ans;
	int err;

	err = key_ok(key, "delete");
	if (err)
		return err;
	err = xlb_store_call(s, "/v3/kv/deleterange", key_body(key, prefix), &ans);
	json_decref(ans);
	return err;
}

static json_t *cmp_json(const struct xlb_cmp *c)
{
	static const char *const targets[] = { "VERSION", "CREATE", "MOD", "VALUE" };
	static const char *const fields[] = { "version", "create_revision", "mod_revision" };
	static const char *const results[] = { "EQUAL", "NOT_EQUAL", "GREATER", "LESS" };
	char *k, *v = NULL;
	json_t *j;

	if ((unsigned int)c->target > XLB_CMP_VALUE || (unsigned int)c->result > XLB_CMP_LESS ||
	    !c->key || !c->key[0] || (c->target == XLB_CMP_VALUE && !c->value))
		return NULL;
	k = xlb_b64_encode(c->key, strlen(c->key));
	if (c->target == XLB_CMP_VALUE)
		v = xlb_b64_encode(c->value, strlen(c->value));
	j = k ? json_pack("{s:s, s:s, s:s}", "key", k, "target", targets[c->target],
			  "result", results[c->result]) : NULL;
	if (j && c->target == XLB_CMP_VALUE)
		json_object_set_new(j, "value", json_string(v));
	else if (j)
		json_object_set_new(j, fields[c->target], json_sprintf("%lld", (long long)c->number));
	free(k);
	free(v);
	return j;
}

static json_t *op_json(const struct xlb_op *op)
{
	if (!op->key || !op->key[0])
		return NULL;
	switch (op->type) {
	case XLB_OP_PUT:
		return json_pack("{s:o*}", "request_put", put_body(op->key, op->value, op->lease));
	case XLB_OP_GET:
		return json_pack("{s:o*}", "request_range", key_body(op->key, false));
	case XLB_OP_DELETE:
		return json_pack("{s:o*}", "request_delete_range", key_body(op->key, false));
	}
	return NULL;
}

json_t *xlb_store_txn_json(const struct xlb_cmp *cmp, size_t nr_cmp, const struct xlb_op *ok,
			   size_t nr_ok, const struct xlb_op *fail, size_t nr_fail)
{
	json_t *body = json_pack("{s:[], s:[], s:[]}", "compare", "success", "failure");
	size_t i;

	for (i = 0; body && i < nr_cmp; i++)
		if (json_array_append_new(json_object_get(body, "compare"), cmp_json(&cmp[i])))
			goto bad;
	for (i = 0; body && i < nr_ok; i++)
		if (json_array_append_new(json_object_get(body, "success"), op_json(&ok[i])))
			goto bad;
	for (i = 0; body && i < nr_fail; i++)
		if (json_array_append_new(json_object_get(body, "failure"), op_json(&fail[i])))
			goto bad;
	return body;
bad:
	json_decref(body);
	return NULL;
}

static int txn_gets(struct xlb_store *s, json_t *ans, struct xlb_txn_result *r)
{
	json_t *resps = json_object_get(ans, "responses"), *one, *range;
	size_t i, n = 0;
	int err;

	json_array_foreach(resps, i, one)
		n += json_object_get(one, "response_range") != NULL;
	if (!n)
		return 0;
	r->gets = calloc(n, sizeof(*r->gets));
	if (!r->gets)
		return xlb_errf(-ENOMEM, "store: out of memory");
	json_array_foreach(resps, i, one) {
		range = json_object_get(one, "response_range");
		if (!range)
			continue;
		err = kvs_parse(s, range, &r->gets[r->nr_gets]);
		if (err)
			return err;
		r->nr_gets++;
	}
	return 0;
}

int xlb_store_txn(struct xlb_store *s, const struct xlb_cmp *cmp, size_t nr_cmp,
		  const struct xlb_op *ok, size_t nr_ok, const struct xlb_op *fail,
		  size_t nr_fail, struct xlb_txn_result *r)
{
	json_t *body, *ans;
	int err;

	memset(r, 0, sizeof(*r));
	body = xlb_store_txn_json(cmp, nr_cmp, ok, nr_ok, fail, nr_fail);
	if (!body)
		return xlb_errf(-EINVAL, "store txn: a compare or operation without a key, "
				"value or known kind");
	err = xlb_store_call(s, "/v3/kv/txn", body, &ans);
	if (err)
		return err;
	r->succeeded = json_is_true(json_object_get(ans, "succeeded"));
	r->revision = header_revision(ans);
	err = txn_gets(s, ans, r);
	json_decref(ans);
	if (err)
		xlb_txn_result_free(r);
	return err;
}

static json_t *lease_body(const char *field, long long v)
{
	return json_pack("{s:o}", field, json_sprintf("%lld", v));
}

int xlb_store_lease_grant(struct xlb_store *s, int ttl, __s64 *id)
{
	json_t *ans;
	int err;

	*id = 0;
	if (ttl <= 0)
		return xlb_errf(-EINVAL, "store lease: TTL %d is not positive", ttl);
	err = xlb_store_call(s, "/v3/lease/grant", lease_body("TTL", ttl), &ans);
	if (err)
		return err;
	*id = xlb_store_i64(ans, "ID");
	json_decref(ans);
	if (!*id)
		return xlb_errf(-EPROTO, "store %s: a lease granted without an ID", s->endpoint);
	return 0;
}

int xlb_store_lease_keepalive(struct xlb_store *s, __s64 id, int *ttl_left)
{
	json_t *ans, *res;
	int err;

	*ttl_left = 0;
	err = xlb_store_call(s, "/v3/lease/keepalive", lease_body("ID", id), &ans);
	if (err)
		return err;
	res = json_object_get(ans, "result");
	if (!json_is_object(res)) {
		json_decref(ans);
		return xlb_errf(-EPROTO, "store %s: a keepalive answer without a result",
				s->endpoint);
	}
	*ttl_left = (int)xlb_store_i64(res, "TTL");	/* left out (0) when it expired */
	json_decref(ans);
	return 0;
}

int xlb_store_lease_ttl(struct xlb_store *s, __s64 id, int *ttl_left, int *granted)
{
	json_t *ans;
	int err;

	*ttl_left = *granted = -1;
	err = xlb_store_call(s, "/v3/kv/lease/timetolive", lease_body("ID", id), &ans);
	if (err)
		return err;
	*ttl_left = (int)xlb_store_i64(ans, "TTL");		/* -1: expired or unknown */
	*granted = (int)xlb_store_i64(ans, "grantedTTL");	/* left out then */
	json_decref(ans);
	if (*ttl_left < 0)
		*granted = -1;
	return 0;
}

int xlb_store_lease_revoke(struct xlb_store *s, __s64 id)
{
	json_t *ans;
	int err;

	/* etcd 3.4's gateway path (3.5 also answers /v3/lease/revoke) */
	err = xlb_store_call(s, "/v3/kv/lease/revoke", lease_body("ID", id), &ans);
	json_decref(ans);
	return err;
}
