/*
 * Reading what the fleet decided (fleetstore.h, decide/): the leader record
 * and the event records, for the command (blocking store calls).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fleetstore.h"
#include "log.h"

int xlb_fleet_read_leader(struct xlb_store *s, const char *fleet, json_t **leader)
{
	struct xlb_kvs kvs = { 0 };
	char key[256];
	json_t *j;
	int err;

	*leader = NULL;
	xlb_fleet_key(key, sizeof(key), fleet, "decide", "leader");
	err = xlb_store_get(s, key, false, &kvs);
	if (err || !kvs.nr)
		goto out;
	j = json_loadb(kvs.kv[0].value, kvs.kv[0].value_len, 0, NULL);
	*leader = json_pack("{s:s,s:I,s:s,s:I,s:I}", "node",
			    json_string_value(json_object_get(j, "node")) ?: "?", "term",
			    (json_int_t)kvs.kv[0].create_rev, "since",
			    json_string_value(json_object_get(j, "since")) ?: "", "elections",
			    (json_int_t)json_integer_value(json_object_get(j, "elections")),
			    "lease", (json_int_t)kvs.kv[0].lease);
	if (!json_is_object(j))
		json_object_set_new(*leader, "error", json_string("its record is not a JSON object"));
	json_decref(j);
	if (!*leader)
		err = xlb_errf(-ENOMEM, "out of memory");
out:
	xlb_kvs_free(&kvs);
	return err;
}

/* One event record as JSON with its id and revision (one that is not JSON: {"id", "error"}). */
static json_t *event_json(const struct xlb_kv *kv, size_t prefix_len)
{
	json_t *o = json_loadb(kv->value, kv->value_len, 0, NULL);

	if (!json_is_object(o)) {
		json_decref(o);
		o = json_pack("{s:s}", "error", "its event record is not a JSON object");
	}
	json_object_set_new(o, "id", json_string(kv->key + prefix_len));
	json_object_set_new(o, "revision", json_integer(kv->mod_rev));
	/* an election's record is written with the leader record: its revision is the term */
	if (!json_integer_value(json_object_get(o, "term")) &&
	    !strcmp(json_string_value(json_object_get(o, "kind")) ?: "", "election"))
		json_object_set_new(o, "term", json_integer(kv->mod_rev));
	return o;
}

static int by_revision(const void *a, const void *b)
{
	const struct xlb_kv *x = a, *y = b;

	return x->mod_rev < y->mod_rev ? -1 : x->mod_rev > y->mod_rev ? 1 : strcmp(x->key, y->key);
}

int xlb_fleet_read_events(struct xlb_store *s, const char *fleet, json_t **events)
{
	struct xlb_kvs kvs = { 0 };
	char key[256];
	int err;

	*events = NULL;
	xlb_fleet_key(key, sizeof(key), fleet, "decide/events", "");
	err = xlb_store_get(s, key, true, &kvs);
	if (err)
		return err;
	/* the store's revisions are its order of writes (the ids' clocks are the nodes') */
	if (kvs.nr)
		qsort(kvs.kv, kvs.nr, sizeof(*kvs.kv), by_revision);
	*events = json_array();
	for (size_t i = 0; *events && i < kvs.nr; i++)
		json_array_append_new(*events, event_json(&kvs.kv[i], strlen(key)));
	xlb_kvs_free(&kvs);
	return *events ? 0 : xlb_errf(-ENOMEM, "out of memory");
}
