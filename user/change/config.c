/*
 * Configuration files: JSON parsed with jansson into struct xlb_config.
 * Unknown keys, wrong types and out-of-range values are errors; every error
 * of a file is collected with the path of the value, the value and why.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>
#include "config.h"
#include "log.h"
#include "netutil.h"

/* ---- value helpers --------------------------------------------------------- */

static void value_str(json_t *v, char *buf, size_t len)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	snprintf(buf, len, "%s", s ? s : "?");
	if (strlen(buf) > 40)
		strcpy(buf + 37, "...");
	free(s);
}

static void check_keys(json_t *obj, const char *const *allowed, const char *path,
		       struct xlb_diags *d)
{
	char list[256] = "";
	const char *key;
	json_t *v;

	for (const char *const *a = allowed; *a; a++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 a == allowed ? "" : ", ", *a);
	json_object_foreach(obj, key, v) {
		const char *const *a;
		char p[160];

		for (a = allowed; *a && strcmp(*a, key); a++)
			;
		if (*a)
			continue;
		snprintf(p, sizeof(p), "%s%s%s", path, path[0] ? "." : "", key);
		xlb_diag_add(d, p, "unknown key (allowed: %s)", list);
	}
}

static void join(char *out, size_t len, const char *path, const char *key)
{
	snprintf(out, len, "%s%s%s", path, path[0] ? "." : "", key);
}

/* An integer in [min, max]; missing: def, or an error when required. */
static bool get_int(json_t *obj, const char *key, const char *path, long long min,
		    long long max, long long def, bool required, long long *out,
		    struct xlb_diags *d)
{
	json_t *v = json_object_get(obj, key);
	char p[160], val[48];

	join(p, sizeof(p), path, key);
	*out = def;
	if (!v) {
		if (required)
			xlb_diag_add(d, p, "missing (an integer %lld..%lld)", min, max);
		return !required;
	}
	value_str(v, val, sizeof(val));
	if (!json_is_integer(v)) {
		xlb_diag_add(d, p, "%s: must be an integer %lld..%lld", val, min, max);
		return false;
	}
	if (json_integer_value(v) < min || json_integer_value(v) > max) {
		xlb_diag_add(d, p, "%s: out of range %lld..%lld", val, min, max);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

/* A number in (min, max] (fractions of 1 for guards). */
static bool get_fraction(json_t *obj, const char *key, const char *path, double def,
			 double *out, struct xlb_diags *d)
{
	json_t *v = json_object_get(obj, key);
	char p[160], val[48];

	join(p, sizeof(p), path, key);
	*out = def;
	if (!v)
		return true;
	value_str(v, val, sizeof(val));
	if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 1) {
		xlb_diag_add(d, p, "%s: must be a number above 0 and at most 1", val);
		return false;
	}
	*out = json_number_value(v);
	return true;
}

static const char *get_str(json_t *obj, const char *key, const char *path, bool required,
			   struct xlb_diags *d)
{
	json_t *v = json_object_get(obj, key);
	char p[160], val[48];

	join(p, sizeof(p), path, key);
	if (!v) {
		if (required)
			xlb_diag_add(d, p, "missing (a string)");
		return NULL;
	}
	if (!json_is_string(v)) {
		value_str(v, val, sizeof(val));
		xlb_diag_add(d, p, "%s: must be a string", val);
		return NULL;
	}
	return json_string_value(v);
}

static const char *names_list(const char *const *names, char *out, size_t len)
{
	out[0] = '\0';
	for (int i = 0; names[i]; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? ", " : "", names[i]);
	return out;
}

/* One of names[]; returns its index, def when missing, -1 on error. */
static int get_enum(json_t *obj, const char *key, const char *path, const char *const *names,
		    int def, bool required, struct xlb_diags *d)
{
	json_t *v = json_object_get(obj, key);
	char p[160], list[128], val[48];
	const char *s;

	join(p, sizeof(p), path, key);
	if (v && !json_is_string(v)) {
		value_str(v, val, sizeof(val));
		xlb_diag_add(d, p, "%s: must be a string, one of %s", val,
			     names_list(names, list, sizeof(list)));
		return -1;
	}
	s = get_str(obj, key, path, required, d);
	if (!s)
		return required ? -1 : def;
	for (int i = 0; names[i]; i++)
		if (!strcmp(s, names[i]))
			return i;
	xlb_diag_add(d, p, "\"%s\": must be one of %s", s, names_list(names, list, sizeof(list)));
	return -1;
}

static bool get_addr(json_t *obj, const char *key, const char *path, union xlb_addr *addr,
		     __u8 *family, struct xlb_diags *d)
{
	const char *s = get_str(obj, key, path, true, d);
	char p[160];

	if (!s)
		return false;
	join(p, sizeof(p), path, key);
	if (xlb_addr_parse(s, addr, family)) {
		xlb_diag_add(d, p, "\"%s\": not an IPv4 or IPv6 address", s);
		return false;
	}
	return true;
}

/* ---- the schema --------------------------------------------------------------- */

static const char *const root_keys[] = { "services", "history", "hash_key_file", "hash_key_id",
					 "second_chance", NULL };
static const char *const record_root_keys[] = { "services", "history", "hash_key_file",
						"hash_key_id", "hash_key", "second_chance", NULL };
static const char *const history_keys[] = { "keep", NULL };
static const char *const svc_keys[] = { "name", "vip", "port", "protocol", "table_size",
					"flow_idle_timeout", "forward", "gue_port", "hash", "guards",
					"rollout", "slow_start", "health", "backends", NULL };
static const char *const guard_keys[] = { "min_active", "max_share", "max_churn", NULL };
static const char *const slow_start_keys[] = { "steps", "step_time_ms", NULL };
static const char *const rollout_keys[] = { "max_share_deviation", "max_drops_per_second",
					    "max_health_failures", "min_flows",
					    "max_syn_retry_share", NULL };
static const char *const health_keys[] = { "type", "port", "path", "interval_ms",
					   "timeout_ms", "rise", "fall", "via", "host",
					   "expect_status", "body_match", "verify", "ca_file",
					   "query", "qtype", "expect_rcode", "expect_answer", NULL };
static const char *const be_keys[] = { "address", "weight", "state", NULL };
static const char *const proto_names[] = { "tcp", "udp", NULL };
static const char *const state_names[] = { "active", "drain", "down", NULL };
static const char *const health_names[] = { "none", "tcp", "http", "https", "dns", NULL };
/* indexed by enum xlb_fwd and enum xlb_hash_fields (the names: configform.c) */
static const char *const fwd_names[] = { "ipip", "gue", "l2", NULL };
static const char *const hash_names[] = { "5-tuple", "src", "src-dport", NULL };

int xlb_state_parse(const char *name, __u8 *state)
{
	for (__u8 i = 0; state_names[i]; i++)
		if (!strcmp(name, state_names[i])) {
			*state = i;
			return 0;
		}
	return -EINVAL;
}

const char *xlb_state_name(__u8 state)
{
	return state <= XLB_BACKEND_DOWN ? state_names[state] : "?";
}

const char *xlb_health_type_name(__u8 type)
{
	return type <= XLB_HEALTH_DNS ? health_names[type] : "?";
}

const char *xlb_proto_name(__u8 proto)
{
	return proto == IPPROTO_UDP ? "udp" : "tcp";
}

static void parse_guards(json_t *g, const char *path, struct xlb_guards *out,
			 struct xlb_diags *d)
{
	long long v;

	out->min_active = 1;
	out->max_share = 0.5;
	out->max_churn = 0.5;
	if (!g)
		return;
	if (!json_is_object(g)) {
		xlb_diag_add(d, path, "must be an object");
		return;
	}
	check_keys(g, guard_keys, path, d);
	if (get_int(g, "min_active", path, 0, XLB_MAX_BACKENDS, 1, false, &v, d))
		out->min_active = v;
	get_fraction(g, "max_share", path, 0.5, &out->max_share, d);
	get_fraction(g, "max_churn", path, 0.5, &out->max_churn, d);
}

static void parse_rollout(json_t *r, const char *path, struct xlb_service_conf *out,
			  struct xlb_diags *d)
{
	struct xlb_rollout_limits *l = &out->rollout;
	json_t *dev;
	long long v;
	char p[160];

	l->max_share_deviation = XLB_ROLLOUT_MAX_SHARE_DEVIATION;
	l->max_drops_per_second = XLB_ROLLOUT_MAX_DROPS;
	l->max_health_failures = 0;
	l->min_flows = XLB_ROLLOUT_MIN_FLOWS;
	l->max_syn_retry_share = XLB_ROLLOUT_MAX_SYN_RETRY;
	if (!r)
		return;
	out->has_rollout = true;
	if (!json_is_object(r)) {
		xlb_diag_add(d, path, "must be an object");
		return;
	}
	check_keys(r, rollout_keys, path, d);
	dev = json_object_get(r, "max_share_deviation");
	join(p, sizeof(p), path, "max_share_deviation");
	if (dev && (!json_is_number(dev) || json_number_value(dev) <= 0 ||
		    json_number_value(dev) > 100))
		xlb_diag_add(d, p, "must be a number above 0 and at most 100 (a share's "
			     "relative deviation: 0.5 = half its table share)");
	else if (dev)
		l->max_share_deviation = json_number_value(dev);
	if (get_int(r, "max_drops_per_second", path, 0, 1000000000, XLB_ROLLOUT_MAX_DROPS, false,
		    &v, d))
		l->max_drops_per_second = v;
	if (get_int(r, "max_health_failures", path, 0, 1000000, 0, false, &v, d))
		l->max_health_failures = v;
	if (get_int(r, "min_flows", path, 1, 1000000000, XLB_ROLLOUT_MIN_FLOWS, false, &v, d))
		l->min_flows = v;
	get_fraction(r, "max_syn_retry_share", path, XLB_ROLLOUT_MAX_SYN_RETRY,
		     &l->max_syn_retry_share, d);
}

static void parse_slow_start(json_t *ss, const char *path, struct xlb_service_conf *out,
			     struct xlb_diags *d)
{
	long long v;

	if (!ss)
		return;
	if (!json_is_object(ss)) {
		xlb_diag_add(d, path, "must be an object with \"steps\" and \"step_time_ms\"");
		return;
	}
	check_keys(ss, slow_start_keys, path, d);
	if (get_int(ss, "steps", path, 2, 100, 0, true, &v, d))
		out->slow_start_steps = v;
	if (get_int(ss, "step_time_ms", path, 1000, 3600000, 0, true, &v, d))
		out->slow_start_ms = v;
}

static void parse_health(json_t *h, const char *path, __u8 family, struct xlb_health *out,
			 struct xlb_diags *d)
{
	const char *hpath;
	long long v;
	int type;
	char p[160];

	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	if (!json_is_object(h)) {
		xlb_diag_add(d, path, "must be an object");
		return;
	}
	check_keys(h, health_keys, path, d);
	type = get_enum(h, "type", path, health_names, XLB_HEALTH_NONE, true, d);
	out->type = type < 0 ? XLB_HEALTH_NONE : type;
	if (get_int(h, "port", path, 1, 65535, 0, false, &v, d))
		out->port = v;
	if (get_int(h, "interval_ms", path, 100, 3600000, 2000, false, &v, d))
		out->interval_ms = v;
	if (get_int(h, "timeout_ms", path, 10, 3600000, 1000, false, &v, d))
		out->timeout_ms = v;
	if (get_int(h, "rise", path, 1, 100, 2, false, &v, d))
		out->rise = v;
	if (get_int(h, "fall", path, 1, 100, 3, false, &v, d))
		out->fall = v;
	hpath = get_str(h, "path", path, false, d);
	join(p, sizeof(p), path, "path");
	if (hpath && out->type != XLB_HEALTH_HTTP && out->type != XLB_HEALTH_HTTPS)
		xlb_diag_add(d, p, "\"%s\": only an http or https check has a path", hpath);
	else if (hpath && (hpath[0] != '/' || strlen(hpath) >= sizeof(out->path) ||
			   strpbrk(hpath, " \r\n")))
		xlb_diag_add(d, p, "\"%s\": must start with / and have no spaces (255 bytes at "
			     "most)", hpath);
	else
		snprintf(out->path, sizeof(out->path), "%s", hpath ? hpath : "/");
	xlb_health_parse_more(h, path, family, out, d);
}

static void parse_backend(json_t *b, const char *path, struct xlb_backend_conf *out,
			  struct xlb_diags *d)
{
	long long w;
	int st;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(b)) {
		xlb_diag_add(d, path, "must be an object with address, weight, state");
		return;
	}
	check_keys(b, be_keys, path, d);
	get_addr(b, "address", path, &out->addr, &out->family, d);
	if (get_int(b, "weight", path, 0, 65535, 100, false, &w, d))
		out->weight = w;
	st = get_enum(b, "state", path, state_names, XLB_BACKEND_ACTIVE, false, d);
	out->state = st < 0 ? XLB_BACKEND_ACTIVE : st;
}

/*
 * "forward", "gue_port" and "hash": how packets reach the backends and what
 * the flow hash takes.  gue_port belongs to "forward": "gue" alone (it would
 * do nothing otherwise); with GUE and no gue_port it is XLB_GUE_PORT_DEFAULT.
 */
static void parse_forwarding(json_t *s, const char *path, struct xlb_service_conf *out,
			     struct xlb_diags *d)
{
	int fwd = get_enum(s, "forward", path, fwd_names, XLB_FWD_IPIP, false, d);
	int hash = get_enum(s, "hash", path, hash_names, XLB_HASH_5TUPLE, false, d);
	json_t *port = json_object_get(s, "gue_port");
	char p[160], val[48];
	long long v;

	out->forward = fwd < 0 ? XLB_FWD_IPIP : fwd;
	out->hash_fields = hash < 0 ? XLB_HASH_5TUPLE : hash;
	out->gue_port = out->forward == XLB_FWD_GUE ? XLB_GUE_PORT_DEFAULT : 0;
	if (!port)
		return;
	if (fwd >= 0 && fwd != XLB_FWD_GUE) {
		join(p, sizeof(p), path, "gue_port");
		value_str(port, val, sizeof(val));
		xlb_diag_add(d, p, "%s: only a service with \"forward\": \"gue\" has a GUE port "
			     "(this one forwards by %s)", val, fwd_names[fwd]);
		return;
	}
	if (get_int(s, "gue_port", path, 1, 65535, XLB_GUE_PORT_DEFAULT, false, &v, d) &&
	    out->forward == XLB_FWD_GUE)
		out->gue_port = v;
}

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) >= XLB_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

static void parse_service(json_t *s, const char *path, struct xlb_service_conf *out,
			  struct xlb_diags *d)
{
	json_t *bes;
	const char *name;
	long long v;
	int proto;
	char p[160];

	memset(out, 0, sizeof(*out));
	if (!json_is_object(s)) {
		xlb_diag_add(d, path, "must be an object");
		return;
	}
	check_keys(s, svc_keys, path, d);
	name = get_str(s, "name", path, true, d);
	join(p, sizeof(p), path, "name");
	if (name && !valid_name(name))
		xlb_diag_add(d, p, "\"%s\": 1-63 letters, digits, '-', '_' or '.'", name);
	else if (name)
		snprintf(out->name, sizeof(out->name), "%s", name);
	get_addr(s, "vip", path, &out->vip, &out->family, d);
	if (get_int(s, "port", path, 0, 65535, 0, true, &v, d))
		out->port = v;
	proto = get_enum(s, "protocol", path, proto_names, 0, true, d);
	out->proto = proto == 1 ? IPPROTO_UDP : IPPROTO_TCP;
	if (get_int(s, "table_size", path, 1, XLB_MAX_TABLE_SIZE, XLB_DEFAULT_TABLE_SIZE, false,
		    &v, d))
		out->table_size = v;
	if (get_int(s, "flow_idle_timeout", path, 1, XLB_FLOW_IDLE_TIMEOUT_MAX, 0, false, &v, d))
		out->flow_idle_timeout = v;
	parse_forwarding(s, path, out, d);
	join(p, sizeof(p), path, "guards");
	parse_guards(json_object_get(s, "guards"), p, &out->guards, d);
	join(p, sizeof(p), path, "health");
	parse_health(json_object_get(s, "health"), p, out->family, &out->health, d);
	join(p, sizeof(p), path, "rollout");
	parse_rollout(json_object_get(s, "rollout"), p, out, d);
	join(p, sizeof(p), path, "slow_start");
	parse_slow_start(json_object_get(s, "slow_start"), p, out, d);

	bes = json_object_get(s, "backends");
	join(p, sizeof(p), path, "backends");
	if (!bes) {
		xlb_diag_add(d, p, "missing (a list of backends)");
		return;
	}
	if (!json_is_array(bes)) {
		xlb_diag_add(d, p, "must be a list of backends");
		return;
	}
	out->nr_backends = json_array_size(bes);
	out->backends = calloc(out->nr_backends ? out->nr_backends : 1, sizeof(*out->backends));
	for (__u32 i = 0; i < out->nr_backends && out->backends; i++) {
		char bp[160];

		snprintf(bp, sizeof(bp), "%s.backends[%u]", path, i);
		parse_backend(json_array_get(bes, i), bp, &out->backends[i], d);
	}
}

/* Counts before anything is allocated: services, and backends in all. */
static bool too_many(json_t *svcs, struct xlb_diags *d)
{
	size_t n = json_array_size(svcs), backends = 0;

	if (n > XLB_MAX_SERVICES) {
		xlb_diag_add(d, "services", "%zu services: at most %u fit the maps (nothing more "
			     "was read)", n, XLB_MAX_SERVICES);
		return true;
	}
	for (size_t i = 0; i < n; i++)
		backends += json_array_size(json_object_get(json_array_get(svcs, i), "backends"));
	if (backends > XLB_MAX_BACKENDS - 1) {
		xlb_diag_add(d, "services", "%zu backends in all: at most %u fit the maps (nothing "
			     "more was read)", backends, XLB_MAX_BACKENDS - 1);
		return true;
	}
	return false;
}

/* "history", "hash_key_file" and (records) "hash_key": what is not per service. */
static void parse_settings(json_t *root, struct xlb_config *cfg, bool record,
			   struct xlb_diags *d)
{
	json_t *h = json_object_get(root, "history");
	const char *file, *key;
	long long v;

	if (h && !json_is_object(h))
		xlb_diag_add(d, "history", "must be an object with \"keep\"");
	else if (h) {
		check_keys(h, history_keys, "history", d);
		if (get_int(h, "keep", "history", XLB_HISTORY_KEEP_MIN, XLB_HISTORY_KEEP_MAX,
			    0, false, &v, d))
			cfg->history_keep = v;
	}
	h = json_object_get(root, "second_chance");
	if (h && !json_is_boolean(h))
		xlb_diag_add(d, "second_chance", "must be true or false");
	else
		cfg->second_chance = h && json_is_true(h);
	file = get_str(root, "hash_key_file", "", false, d);
	if (file && (file[0] != '/' || strlen(file) >= sizeof(cfg->hash_key_file)))
		xlb_diag_add(d, "hash_key_file", "\"%s\": an absolute path of at most %zu "
			     "characters is expected", file, sizeof(cfg->hash_key_file) - 1);
	else if (file)
		snprintf(cfg->hash_key_file, sizeof(cfg->hash_key_file), "%s", file);
	key = record ? get_str(root, "hash_key", "", false, d) : NULL;
	if (key && xlb_hash_key_parse(key, &cfg->hash_key))
		xlb_diag_add(d, "hash_key", "not a key");
}

/* "hash_key_id", when given, must be the id of the key in use. */
static void check_key_id(json_t *root, const struct xlb_config *cfg, struct xlb_diags *d)
{
	const char *want = get_str(root, "hash_key_id", "", false, d);
	char id[17];

	if (!want)
		return;
	xlb_hash_key_id(&cfg->hash_key, id);
	if (!cfg->hash_key.set)
		xlb_diag_add(d, "hash_key_id", "\"%s\" is given but no hash key is set "
			     "(hash_key_file)", want);
	else if (strcmp(want, id))
		xlb_diag_add(d, "hash_key_id", "the key in %s has id %s, not \"%s\": this node "
			     "holds another key than the one expected", cfg->hash_key_file, id, want);
}

static int config_from_json(json_t *root, struct xlb_config *cfg, bool record,
			    struct xlb_diags *d)
{
	json_t *svcs;
	__u32 before = d->count;

	memset(cfg, 0, sizeof(*cfg));
	if (!json_is_object(root)) {
		xlb_diag_add(d, "", "the configuration must be a JSON object with \"services\"");
		return -EINVAL;
	}
	check_keys(root, record ? record_root_keys : root_keys, "", d);
	parse_settings(root, cfg, record, d);
	svcs = json_object_get(root, "services");
	if (!svcs || !json_is_array(svcs)) {
		xlb_diag_add(d, "services", svcs ? "must be a list" : "missing (a list of services)");
		return -EINVAL;
	}
	if (too_many(svcs, d))
		return -EINVAL;
	cfg->nr_services = json_array_size(svcs);
	cfg->services = calloc(cfg->nr_services ? cfg->nr_services : 1, sizeof(*cfg->services));
	if (!cfg->services)
		return -ENOMEM;
	for (__u32 i = 0; i < cfg->nr_services; i++) {
		char p[64];

		snprintf(p, sizeof(p), "services[%u]", i);
		parse_service(json_array_get(svcs, i), p, &cfg->services[i], d);
	}
	if (record)
		check_key_id(root, cfg, d);
	xlb_config_seed(cfg);
	return d->count > before ? -EINVAL : 0;
}

int xlb_config_from_json(json_t *root, struct xlb_config *cfg, struct xlb_diags *d)
{
	return config_from_json(root, cfg, false, d);
}

int xlb_config_from_record(json_t *root, struct xlb_config *cfg, struct xlb_diags *d)
{
	return config_from_json(root, cfg, true, d);
}

void xlb_config_seed(struct xlb_config *cfg)
{
	struct xlb_hash_seeds seeds;

	xlb_hash_seeds(&cfg->hash_key, &seeds);
	for (__u32 i = 0; i < cfg->nr_services; i++)
		cfg->services[i].seeds = seeds;
}

/* The key the file names, checked against "hash_key_id". */
static int load_key(json_t *root, struct xlb_config *cfg, struct xlb_diags *d)
{
	char msg[256];
	__u32 before = d->count;

	if (cfg->hash_key_file[0] &&
	    xlb_hash_key_read(cfg->hash_key_file, &cfg->hash_key, msg, sizeof(msg)))
		xlb_diag_add(d, "hash_key_file", "%s", msg);
	check_key_id(root, cfg, d);
	xlb_config_seed(cfg);
	return d->count > before ? -EINVAL : 0;
}

/* JSON objects and lists in text, strings skipped: a bound before jansson builds them. */
static size_t json_nodes(const char *text, size_t len)
{
	bool in_string = false;
	size_t nodes = 0;

	for (size_t i = 0; i < len; i++) {
		if (in_string) {
			if (text[i] == '\\')
				i++;
			else if (text[i] == '"')
				in_string = false;
		} else if (text[i] == '"') {
			in_string = true;
		} else if (text[i] == '{' || text[i] == '[') {
			nodes++;
		}
	}
	return nodes;
}

/* The file's text, if its size and shape are those of a configuration: 0, -ENOENT, -EINVAL. */
static int read_bounded(const char *path, char **text, size_t *len, struct xlb_diags *d)
{
	FILE *f = fopen(path, "r");
	struct stat st;
	size_t nodes;

	*text = NULL;
	if (!f || fstat(fileno(f), &st)) {
		xlb_diag_add(d, "", "cannot read: %s", strerror(errno ? errno : ENOENT));
		if (f)
			fclose(f);
		return -ENOENT;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > XLB_CONFIG_MAX_BYTES) {
		xlb_diag_add(d, "", S_ISREG(st.st_mode) ? "%lld bytes: a configuration is at most "
			     "%u MiB" : "not a regular file", (long long)st.st_size,
			     XLB_CONFIG_MAX_BYTES >> 20);
		fclose(f);
		return -EINVAL;
	}
	*text = malloc(st.st_size + 1);
	*len = *text ? fread(*text, 1, st.st_size, f) : 0;
	if (!*text || ferror(f)) {
		xlb_diag_add(d, "", "cannot read: %s", *text ? strerror(errno) : "out of memory");
		fclose(f);
		free(*text);
		*text = NULL;
		return -ENOENT;
	}
	fclose(f);
	nodes = json_nodes(*text, *len);
	if (nodes <= XLB_CONFIG_MAX_NODES)
		return 0;
	xlb_diag_add(d, "", "%zu JSON objects and lists: more than any configuration that fits "
		     "the maps (%u)", nodes, XLB_CONFIG_MAX_NODES);
	free(*text);
	*text = NULL;
	return -EINVAL;
}

int xlb_config_load(const char *path, struct xlb_config *cfg, struct xlb_diags *d)
{
	json_error_t jerr;
	json_t *root;
	size_t len = 0;
	char *text;
	int err;

	memset(cfg, 0, sizeof(*cfg));
	d->file = path;
	errno = 0;
	err = read_bounded(path, &text, &len, d);
	if (err)
		return err;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!root) {
		xlb_diag_add(d, "", "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
		return -EINVAL;
	}
	err = xlb_config_from_json(root, cfg, d) ?: load_key(root, cfg, d);
	json_decref(root);
	return err;
}
