/* The fleet's keyspace in the store: bodies, the desired record, history, nodes (fleetstore.h). */
#define _GNU_SOURCE	/* strptime, timegm */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include "fault.h"
#include "fleetstore.h"
#include "log.h"
#include "utf8.h"

#define HISTORY_DIGITS	20
/* The final write, its confirmation and its repeats: one deadline (store.h's write deadline) */
#define WRITE_DEADLINE_MS	XLB_STORE_WRITE_TIMEOUT_MS

void xlb_fleet_key(char *buf, size_t len, const char *fleet, const char *what, const char *name)
{
	snprintf(buf, len, XLB_FLEET_PREFIX "%s/%s%s%s", fleet, what, name ? "/" : "",
		 name ?: "");
}

void xlb_fleet_history_key(char *buf, size_t len, const char *fleet, __u64 gen)
{
	char name[HISTORY_DIGITS + 1];

	snprintf(name, sizeof(name), "%0*llu", HISTORY_DIGITS, (unsigned long long)gen);
	xlb_fleet_key(buf, len, fleet, "history", name);
}

static __s64 xlb_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__s64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 32 hex digits from the kernel's random source (the clock and pid if it fails). */
void xlb_fleet_random_id(char out[33])
{
	unsigned char b[16];
	struct timespec ts;

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(out, 33, "%016llx%08x%08x", (unsigned long long)ts.tv_sec,
			 (unsigned int)ts.tv_nsec, (unsigned int)getpid());
		return;
	}
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static bool is_fingerprint(const char *s, bool empty_ok)
{
	size_t n = strspn(s, "0123456789abcdef");

	return (empty_ok && !*s) || (n == 16 && !s[16]);
}

/* A string field into buf (at most len - 1 bytes): false when it is not one. */
static bool get_text(json_t *j, const char *field, char *buf, size_t len)
{
	json_t *v = json_object_get(j, field);

	if (!json_is_string(v) || json_string_length(v) >= len)
		return false;
	snprintf(buf, len, "%s", json_string_value(v));
	return true;
}

static bool get_gen(json_t *j, const char *field, bool zero_ok, __u64 *out)
{
	json_t *v = json_object_get(j, field);

	if (!json_is_integer(v) || json_integer_value(v) < (zero_ok ? 0 : 1))
		return false;
	*out = json_integer_value(v);
	return true;
}

int xlb_fleet_desired_from_json(json_t *j, struct xlb_fleet_desired *d)
{
	memset(d, 0, sizeof(*d));
	if (!json_is_object(j))
		return xlb_errf(-EINVAL, "not a JSON object");
	if (!get_gen(j, "generation", false, &d->generation))
		return xlb_errf(-EINVAL, "\"generation\": a number from 1 is expected");
	if (!get_text(j, "fingerprint", d->fingerprint, sizeof(d->fingerprint)) ||
	    !is_fingerprint(d->fingerprint, false))
		return xlb_errf(-EINVAL, "\"fingerprint\": 16 hex digits are expected");
	if (!get_text(j, "hash_key_id", d->hash_key_id, sizeof(d->hash_key_id)) ||
	    !is_fingerprint(d->hash_key_id, true))
		return xlb_errf(-EINVAL, "\"hash_key_id\": 16 hex digits or \"\" are expected");
	if (!get_text(j, "who", d->who, sizeof(d->who)) ||
	    !get_text(j, "when", d->when, sizeof(d->when)) ||
	    !get_text(j, "reason", d->reason, sizeof(d->reason)) ||
	    !get_text(j, "source", d->source, sizeof(d->source)))
		return xlb_errf(-EINVAL, "\"who\", \"when\", \"reason\" and \"source\" are "
				"expected as strings");
	if (!json_is_boolean(json_object_get(j, "forced")))
		return xlb_errf(-EINVAL, "\"forced\": true or false is expected");
	d->forced = json_is_true(json_object_get(j, "forced"));
	if (!get_gen(j, "replaces", true, &d->replaces) || d->replaces >= d->generation)
		return xlb_errf(-EINVAL, "\"replaces\": a generation below %llu is expected",
				(unsigned long long)d->generation);
	if (json_object_get(j, "write_id") &&
	    (!get_text(j, "write_id", d->write_id, sizeof(d->write_id)) ||
	     strspn(d->write_id, "0123456789abcdef") != strlen(d->write_id)))
		return xlb_errf(-EINVAL, "\"write_id\": up to 32 hex digits are expected");
	return 0;
}

json_t *xlb_fleet_desired_to_json(const struct xlb_fleet_desired *d)
{
	json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:I}",
			      "generation", (json_int_t)d->generation, "fingerprint", d->fingerprint,
			      "hash_key_id", d->hash_key_id, "who", d->who, "when", d->when,
			      "reason", d->reason, "source", d->source, "forced", d->forced,
			      "replaces", (json_int_t)d->replaces);

	if (j && d->write_id[0])
		json_object_set_new(j, "write_id", json_string(d->write_id));
	return j;
}

/* A record's text (the value at key) into d; -EINVAL naming the key. */
static int parse_record(const struct xlb_kv *kv, struct xlb_fleet_desired *d)
{
	json_error_t jerr;
	json_t *j = json_loadb(kv->value, kv->value_len, JSON_REJECT_DUPLICATES, &jerr);
	int err;

	if (!j)
		return xlb_errf(-EINVAL, "%s in the store is not JSON: %s", kv->key, jerr.text);
	err = xlb_fleet_desired_from_json(j, d);
	json_decref(j);
	if (err)
		return xlb_errf(err, "%s in the store is not a desired record: %s", kv->key,
				xlb_errmsg());
	d->mod_rev = kv->mod_rev;
	return 0;
}

int xlb_fleet_read_desired(struct xlb_store *s, const char *fleet, struct xlb_fleet_desired *d)
{
	struct xlb_kvs kvs = { 0 };
	char key[256];
	int err;

	memset(d, 0, sizeof(*d));
	xlb_fleet_key(key, sizeof(key), fleet, "desired", NULL);
	err = xlb_store_get(s, key, false, &kvs);
	if (err)
		return err;
	err = kvs.nr ? parse_record(&kvs.kv[0], d) : 0;
	xlb_kvs_free(&kvs);
	return err;
}

/* The hash key the body's file names, on this host, checked against the record's id. */
static int body_key(struct xlb_config *cfg, const struct xlb_fleet_desired *d,
		    const char *key, struct xlb_diags *diags)
{
	char msg[256], id[17];

	if (cfg->hash_key_file[0] &&
	    xlb_hash_key_read(cfg->hash_key_file, &cfg->hash_key, msg, sizeof(msg))) {
		xlb_diag_add(diags, "hash_key_file", "%s", msg);
		return xlb_errf(-EINVAL, "%s: the hash key it names cannot be read on this host",
				key);
	}
	xlb_hash_key_id(&cfg->hash_key, id);
	if (strcmp(id, d->hash_key_id))
		return xlb_errf(-EKEYREJECTED, "%s: the hash key on this host (%s) has id %s, "
				"the fleet's generation %llu wants %s: this host holds another key",
				key, cfg->hash_key_file[0] ? cfg->hash_key_file : "none",
				id[0] ? id : "(none)", (unsigned long long)d->generation,
				d->hash_key_id[0] ? d->hash_key_id : "(none)");
	xlb_config_seed(cfg);
	return 0;
}

/* Parse, key, validate and fingerprint a body read from key. */
static int parse_body(const struct xlb_kv *kv, const struct xlb_fleet_desired *d,
		      struct xlb_config *cfg, struct xlb_diags *diags)
{
	json_error_t jerr;
	char fp[17];
	json_t *j;
	int err;

	if (kv->value_len > XLB_CONFIG_MAX_BYTES)
		return xlb_errf(-EINVAL, "%s: %zu bytes, more than any configuration", kv->key,
				kv->value_len);
	j = json_loadb(kv->value, kv->value_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		xlb_diag_add(diags, "", "line %d, column %d: %s", jerr.line, jerr.column,
			     jerr.text);
		return xlb_errf(-EINVAL, "%s in the store is not JSON", kv->key);
	}
	err = xlb_config_from_json(j, cfg, diags);
	json_decref(j);
	if (err)
		return xlb_errf(-EINVAL, "%s in the store is not a configuration", kv->key);
	err = body_key(cfg, d, kv->key, diags);
	if (err)
		return err;
	if (xlb_config_validate(cfg, diags))
		return xlb_errf(-EINVAL, "%s in the store is not a valid configuration", kv->key);
	xlb_config_fingerprint(cfg, fp);
	if (strcmp(fp, d->fingerprint))
		return xlb_errf(-EINVAL, "%s in the store has fingerprint %s, not %s: the body "
				"was altered", kv->key, fp, d->fingerprint);
	return 0;
}

int xlb_fleet_read_config(struct xlb_store *s, const char *fleet,
			  const struct xlb_fleet_desired *d, struct xlb_config *cfg,
			  struct xlb_diags *diags)
{
	struct xlb_kvs kvs = { 0 };
	char key[256];
	int err;

	memset(cfg, 0, sizeof(*cfg));
	if (!is_fingerprint(d->fingerprint, false))
		return xlb_errf(-EINVAL, "\"%s\" is not a fingerprint", d->fingerprint);
	xlb_fleet_key(key, sizeof(key), fleet, "config", d->fingerprint);
	err = xlb_store_get(s, key, false, &kvs);
	if (err)
		return err;
	if (!kvs.nr)
		err = xlb_errf(-ENOENT, "%s: no such body in the store (generation %llu names "
			       "it)", key, (unsigned long long)d->generation);
	else
		err = parse_body(&kvs.kv[0], d, cfg, diags);
	xlb_kvs_free(&kvs);
	if (err)
		xlb_config_free(cfg);
	return err;
}

int xlb_fleet_read_history(struct xlb_store *s, const char *fleet,
			   struct xlb_fleet_desired **recs, size_t *nr)
{
	struct xlb_kvs kvs = { 0 };
	char key[256];
	int err;

	*recs = NULL;
	*nr = 0;
	xlb_fleet_key(key, sizeof(key), fleet, "history", "");
	err = xlb_store_get(s, key, true, &kvs);
	if (err)
		return err;
	*recs = calloc(kvs.nr ?: 1, sizeof(**recs));
	if (!*recs) {
		xlb_kvs_free(&kvs);
		return xlb_errf(-ENOMEM, "out of memory");
	}
	/* keys are zero-padded: the store's key order is the generations' */
	for (size_t i = 0; i < kvs.nr && !err; i++)
		err = parse_record(&kvs.kv[i], &(*recs)[i]);
	*nr = err ? 0 : kvs.nr;
	xlb_kvs_free(&kvs);
	if (err) {
		free(*recs);
		*recs = NULL;
		return err;
	}
	return 0;
}

/* config/FP = body when absent; -EINVAL when a different body is there already. */
static int put_body(struct xlb_store *s, const char *key, const char *body)
{
	struct xlb_cmp cmp = { .key = key, .target = XLB_CMP_VERSION, .result = XLB_CMP_EQUAL };
	struct xlb_op put = { .type = XLB_OP_PUT, .key = key, .value = body };
	struct xlb_op get = { .type = XLB_OP_GET, .key = key };
	struct xlb_txn_result r = { 0 };
	__s64 end = xlb_mono_ms() + WRITE_DEADLINE_MS;
	int err;

	/* content-addressed, put only when absent: safe to send again */
	while ((err = xlb_store_txn(s, &cmp, 1, &put, 1, &get, 1, &r)) == -ETIMEDOUT &&
	       xlb_mono_ms() < end)
		;
	if (err)
		return err;
	if (!r.succeeded && (r.nr_gets != 1 || r.gets[0].nr != 1 ||
			     strcmp(r.gets[0].kv[0].value, body)))
		err = xlb_errf(-EINVAL, "%s in the store is not this configuration's body: it was "
			       "altered (delete it with etcdctl to write it again)", key);
	xlb_txn_result_free(&r);
	return err;
}

void xlb_fleet_desired_next(const struct xlb_fleet_desired *prev, const char *fp,
			    const char *key_id, const char *source, const char *who,
			    const char *reason, bool forced, struct xlb_fleet_desired *out)
{
	time_t now = time(NULL);

	memset(out, 0, sizeof(*out));
	out->generation = prev->generation + 1;
	out->replaces = prev->generation;
	snprintf(out->fingerprint, sizeof(out->fingerprint), "%s", fp);
	snprintf(out->hash_key_id, sizeof(out->hash_key_id), "%s", key_id);
	xlb_utf8_trunc(out->who, sizeof(out->who), who);
	strftime(out->when, sizeof(out->when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	xlb_utf8_trunc(out->reason, sizeof(out->reason), reason ?: "");
	snprintf(out->source, sizeof(out->source), "%s", source);
	out->forced = forced;
	xlb_fleet_random_id(out->write_id);
}

/*
 * What desired is now, the final write's outcome unknown or refused: 0 this
 * command's own record (out's write_id), -ESTALE another's or deleted,
 * -EAGAIN prev still (not written, as of this read), -errno unreadable.
 */
static int read_back(struct xlb_store *s, const char *fleet, const struct xlb_fleet_desired *prev,
		     struct xlb_fleet_desired *out)
{
	struct xlb_fleet_desired now;
	int err = xlb_fleet_read_desired(s, fleet, &now);

	if (err)
		return err;
	if (now.generation && !strcmp(now.write_id, out->write_id)) {
		out->mod_rev = now.mod_rev;
		return 0;
	}
	if (now.mod_rev == prev->mod_rev)
		return -EAGAIN;
	if (!now.generation)
		return xlb_errf(-ESTALE, "the fleet's desired configuration was deleted meanwhile: "
				"plan again");
	return xlb_errf(-ESTALE, "the fleet's desired configuration changed meanwhile "
			"(generation %llu by %s): plan again", (unsigned long long)now.generation,
			now.who);
}

/* Why the conditional write did not take: 0 when the record there is this command's own. */
static int lost_race(const struct xlb_txn_result *r, const struct xlb_fleet_desired *prev,
		     const char *hkey, struct xlb_fleet_desired *out)
{
	struct xlb_fleet_desired now = { 0 };

	if (r->nr_gets == 1 && r->gets[0].nr == 1 && !parse_record(&r->gets[0].kv[0], &now) &&
	    !strcmp(now.write_id, out->write_id)) {
		out->mod_rev = now.mod_rev;	/* a copy sent before landed */
		return 0;
	}
	if (r->nr_gets == 1 && r->gets[0].nr == 1 && now.generation && now.mod_rev != prev->mod_rev)
		return xlb_errf(-ESTALE, "the fleet's desired configuration changed meanwhile "
				"(generation %llu by %s): plan again",
				(unsigned long long)now.generation, now.who);
	if (r->nr_gets == 1 && !r->gets[0].nr && prev->mod_rev)
		return xlb_errf(-ESTALE, "the fleet's desired configuration was deleted meanwhile: "
				"plan again");
	return xlb_errf(-EEXIST, "%s exists while the desired record is generation %llu: the "
			"fleet's keyspace is inconsistent (see xlb fleet history)", hkey,
			(unsigned long long)prev->generation);
}

/* One try of the transaction: 0 written, 1 refused by its condition (r), -errno (said). */
static int try_desired(struct xlb_store *s, const char *dkey, const char *hkey, const char *text,
		       const struct xlb_fleet_desired *prev, struct xlb_txn_result *r)
{
	struct xlb_cmp cmp[2] = {
		{ .key = dkey, .target = prev->mod_rev ? XLB_CMP_MOD : XLB_CMP_VERSION,
		  .result = XLB_CMP_EQUAL, .number = prev->mod_rev },
		{ .key = hkey, .target = XLB_CMP_VERSION, .result = XLB_CMP_EQUAL },
	};
	struct xlb_op ok[2] = { { .type = XLB_OP_PUT, .key = dkey, .value = text },
				{ .type = XLB_OP_PUT, .key = hkey, .value = text } };
	struct xlb_op fail = { .type = XLB_OP_GET, .key = dkey };
	int err = xlb_store_txn(s, cmp, 2, ok, 2, &fail, 1, r);

	/* tests: the answer lost after etcd acted on the transaction */
	if (!err && (err = xlb_fault("fleet-write-lost")))
		xlb_txn_result_free(r);
	return err ?: !r->succeeded;
}

/* An error after which the transaction may have been applied. */
static bool maybe_applied(int err)
{
	return err == -ETIMEDOUT || err == -EIO || err == -EPROTO;
}

/* The outcome unknown: what to say, and how to find out. */
static int unknown(const char *fleet, const struct xlb_fleet_desired *out, const char *during,
		   int err)
{
	return xlb_errf(-EINPROGRESS, "the outcome of the write is unknown: the store failed "
			"during it (%s) and desired could not be read after it (%s); see xlb "
			"fleet history --fleet %s: generation %llu with write_id %s is this "
			"command's", during, err == -EAGAIN ? "it was not there yet" : xlb_errmsg(),
			fleet, (unsigned long long)out->generation, out->write_id);
}

/*
 * desired and history/GEN in one transaction, conditioned on prev's mod
 * revision; when the store fails during it, read back (fleetstore.h).
 */
static int put_desired(struct xlb_store *s, const char *fleet,
		       const struct xlb_fleet_desired *prev, struct xlb_fleet_desired *out)
{
	char dkey[256], hkey[256], during[300] = "", *text;
	json_t *j = xlb_fleet_desired_to_json(out);
	__s64 end = xlb_mono_ms() + WRITE_DEADLINE_MS;
	struct xlb_txn_result r = { 0 };
	int err, back = -EAGAIN;

	out->confirmed_after[0] = '\0';
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return xlb_errf(-ENOMEM, "out of memory");
	xlb_fleet_key(dkey, sizeof(dkey), fleet, "desired", NULL);
	xlb_fleet_history_key(hkey, sizeof(hkey), fleet, out->generation);
	for (;;) {
		err = try_desired(s, dkey, hkey, text, prev, &r);
		if (err == 0 || err == 1)
			break;
		if (!during[0] && !maybe_applied(err))
			break;		/* refused by etcd, or never sent: nothing written */
		if (!during[0])
			snprintf(during, sizeof(during), "%s", xlb_errmsg());
		/* it may have been applied: read what desired is now, until the deadline */
		do
			back = read_back(s, fleet, prev, out);
		while ((back == -EHOSTUNREACH || maybe_applied(back)) && xlb_mono_ms() < end);
		if (back != -EAGAIN || xlb_mono_ms() >= end)
			break;
		/* not there: the same conditional write again (one copy at most can land) */
	}
	free(text);
	if (err == 0) {
		out->mod_rev = r.revision;
	} else if (err == 1) {
		err = lost_race(&r, prev, hkey, out);
		if (!err && !during[0])
			snprintf(during, sizeof(during), "its condition failed: a copy sent before "
				 "had landed");
	} else if (during[0]) {
		err = back == 0 || back == -ESTALE ? back : unknown(fleet, out, during, back);
	}
	if (!err && during[0])
		snprintf(out->confirmed_after, sizeof(out->confirmed_after), "%s", during);
	xlb_txn_result_free(&r);
	return err;
}

char *xlb_fleet_config_body(const struct xlb_config *cfg, char fp[17])
{
	json_t *j = xlb_config_to_json(cfg);
	char *body = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	xlb_config_fingerprint(cfg, fp);
	return body;
}

int xlb_fleet_put_config(struct xlb_store *s, const char *fleet, const struct xlb_config *cfg,
			 char fp[17])
{
	char key[256], *body = xlb_fleet_config_body(cfg, fp);
	int err;

	if (!body)
		return xlb_errf(-ENOMEM, "out of memory");
	xlb_fleet_key(key, sizeof(key), fleet, "config", fp);
	err = put_body(s, key, body);
	free(body);
	return err;
}

int xlb_fleet_write_desired(struct xlb_store *s, const char *fleet,
			    const struct xlb_fleet_desired *prev, const struct xlb_config *cfg,
			    const char *source, const char *reason, bool forced,
			    struct xlb_fleet_desired *out)
{
	char fp[17], id[17];
	int err;

	xlb_hash_key_id(&cfg->hash_key, id);
	err = xlb_fleet_put_config(s, fleet, cfg, fp);
	xlb_fleet_desired_next(prev, fp, id, source, xlb_who(), reason, forced, out);
	/* tests: two applies both past their read of desired before either writes */
	return err ?: xlb_fault("fleet-desired") ?: put_desired(s, fleet, prev, out);
}

/* Milliseconds since the epoch of "updated": a number (seconds or milliseconds) or RFC 3339 UTC. */
static long long updated_ms(json_t *v)
{
	struct tm tm = { 0 };
	const char *s, *end;
	long long ms;

	if (json_is_number(v)) {
		double t = json_number_value(v);

		return t > 1e11 ? (long long)t : (long long)(t * 1000);
	}
	s = json_string_value(v);
	if (!s || !(end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return -1;
	ms = (long long)timegm(&tm) * 1000;
	if (*end == '.') {	/* milliseconds: the first three digits of the fraction */
		int digits = 0, frac = 0;

		for (const char *p = end + 1; digits < 3 && *p >= '0' && *p <= '9'; p++, digits++)
			frac = frac * 10 + (*p - '0');
		for (; digits < 3; digits++)
			frac *= 10;
		ms += frac;
	}
	return ms;
}

/*
 * Milliseconds since the lease was last kept alive, as the store sees it
 * (whole seconds: etcd counts its TTL so); null when it cannot be told.
 */
static json_t *lease_age(struct xlb_store *s, __s64 lease)
{
	int left, granted;

	if (lease <= 0 || xlb_store_lease_ttl(s, lease, &left, &granted) || granted < 0)
		return json_null();
	return json_integer((json_int_t)(granted - left) * 1000);
}

int xlb_fleet_read_nodes(struct xlb_store *s, const char *fleet, json_t **nodes)
{
	struct xlb_kvs kvs = { 0 };
	struct timespec now;
	char key[256];
	int err;

	*nodes = NULL;
	xlb_fleet_key(key, sizeof(key), fleet, "nodes", "");
	err = xlb_store_get(s, key, true, &kvs);
	if (err)
		return err;
	clock_gettime(CLOCK_REALTIME, &now);
	*nodes = json_array();
	for (size_t i = 0; i < kvs.nr; i++) {
		json_t *o = json_loadb(kvs.kv[i].value, kvs.kv[i].value_len, 0, NULL);
		long long at;

		if (!json_is_object(o)) {
			json_decref(o);
			o = json_pack("{s:s,s:s}", "node", kvs.kv[i].key + strlen(key),
				      "error", "its status record is not a JSON object");
		}
		if (!json_is_string(json_object_get(o, "node")))
			json_object_set_new(o, "node", json_string(kvs.kv[i].key + strlen(key)));
		at = updated_ms(json_object_get(o, "updated"));
		json_object_set_new(o, "status_age_ms", at < 0 ? json_null() :
				    json_integer(now.tv_sec * 1000LL + now.tv_nsec / 1000000 - at));
		json_object_set_new(o, "lease_age_ms", lease_age(s, kvs.kv[i].lease));
		json_object_set_new(o, "lease", json_integer(kvs.kv[i].lease));
		json_array_append_new(*nodes, o);
	}
	xlb_kvs_free(&kvs);
	return 0;
}

int xlb_fleet_read_members(struct xlb_store *s, const char *fleet, json_t **members)
{
	struct xlb_kvs kvs = { 0 };
	char key[256];
	int err;

	*members = NULL;
	xlb_fleet_key(key, sizeof(key), fleet, "members", "");
	err = xlb_store_get(s, key, true, &kvs);
	if (err)
		return err;
	*members = json_array();
	for (size_t i = 0; i < kvs.nr; i++) {
		json_t *o = json_loadb(kvs.kv[i].value, kvs.kv[i].value_len, 0, NULL);

		if (!json_is_object(o)) {
			json_decref(o);
			o = json_pack("{s:s}", "error", "its member record is not a JSON object");
		}
		json_object_set_new(o, "node", json_string(kvs.kv[i].key + strlen(key)));
		json_array_append_new(*members, o);
	}
	xlb_kvs_free(&kvs);
	return 0;
}

/* The value of the one key a txn's get read (NULL when absent), as JSON. */
static json_t *got_json(const struct xlb_txn_result *r, size_t i)
{
	if (i >= r->nr_gets || r->gets[i].nr != 1)
		return NULL;
	return json_loadb(r->gets[i].kv[0].value, r->gets[i].kv[0].value_len, 0, NULL) ?:
	       json_pack("{s:s}", "error", "not JSON");
}

int xlb_fleet_forget(struct xlb_store *s, const char *fleet, const char *node, json_t **member)
{
	char mkey[256], nkey[256];
	struct xlb_cmp cmp[2] = {
		{ .key = nkey, .target = XLB_CMP_VERSION, .result = XLB_CMP_EQUAL },
		{ .key = mkey, .target = XLB_CMP_VERSION, .result = XLB_CMP_GREATER },
	};
	struct xlb_op ok[2] = { { .type = XLB_OP_GET, .key = mkey },
				{ .type = XLB_OP_DELETE, .key = mkey } };
	struct xlb_op fail[2] = { { .type = XLB_OP_GET, .key = nkey },
				  { .type = XLB_OP_GET, .key = mkey } };
	struct xlb_txn_result r = { 0 };
	__s64 end = xlb_mono_ms() + WRITE_DEADLINE_MS;
	bool again = false;
	json_t *st;
	int err;

	*member = NULL;
	xlb_fleet_key(mkey, sizeof(mkey), fleet, "members", node);
	xlb_fleet_key(nkey, sizeof(nkey), fleet, "nodes", node);
	/* deleting what is absent is harmless: safe to send again */
	while ((err = xlb_store_txn(s, cmp, 2, ok, 2, fail, 2, &r)) == -ETIMEDOUT &&
	       xlb_mono_ms() < end)
		again = true;
	if (err)
		return err;
	if (r.succeeded || (again && !r.gets[0].nr && !r.gets[1].nr)) {	/* gone: by a copy */
		*member = got_json(&r, 0);
	} else if ((st = got_json(&r, 0))) {
		err = xlb_errf(-EBUSY, "node %s of fleet %s has a live status record (updated %s): "
			       "it is not gone; stop its daemon (its lease then ends) before "
			       "forgetting it", node, fleet,
			       json_string_value(json_object_get(st, "updated")) ?: "?");
		json_decref(st);
	} else {
		err = xlb_errf(-ENOENT, "fleet %s has no member %s (see xlb fleet status)", fleet,
			       node);
	}
	xlb_txn_result_free(&r);
	return err;
}
