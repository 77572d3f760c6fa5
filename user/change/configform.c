/*
 * A configuration in normal form (services by name, backends by address,
 * defaults explicit): as JSON for records and `config show`, its
 * fingerprint, copies, lookups.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "config.h"
#include "log.h"
#include "netutil.h"

/* ---- normal form ------------------------------------------------------------- */

const char *xlb_fwd_name(__u8 fwd)
{
	static const char *const names[] = { "ipip", "gue", "l2" };

	return fwd <= XLB_FWD_MAX ? names[fwd] : "?";
}

const char *xlb_hash_fields_name(__u8 fields)
{
	static const char *const names[] = { "5-tuple", "src", "src-dport" };

	return fields <= XLB_HASH_FIELDS_MAX ? names[fields] : "?";
}

static int cmp_backend(const void *a, const void *b)
{
	const struct xlb_backend_conf *x = a, *y = b;

	if (x->family != y->family)
		return x->family - y->family;
	return memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

static int cmp_service(const void *a, const void *b)
{
	return strcmp(((const struct xlb_service_conf *)a)->name,
		      ((const struct xlb_service_conf *)b)->name);
}

static json_t *backend_json(const struct xlb_backend_conf *b)
{
	char a[INET6_ADDRSTRLEN];

	return json_pack("{s:s,s:i,s:s}", "address", xlb_addr_str(&b->addr, b->family, a, sizeof(a)),
			 "weight", b->weight, "state", xlb_state_name(b->state));
}

static json_t *service_json(const struct xlb_service_conf *s)
{
	json_t *o, *bes = json_array();
	char vip[INET6_ADDRSTRLEN];
	struct xlb_backend_conf *sorted;

	sorted = malloc(sizeof(*sorted) * (s->nr_backends ? s->nr_backends : 1));
	memcpy(sorted, s->backends, sizeof(*sorted) * s->nr_backends);
	qsort(sorted, s->nr_backends, sizeof(*sorted), cmp_backend);
	for (__u32 i = 0; i < s->nr_backends; i++)
		json_array_append_new(bes, backend_json(&sorted[i]));
	free(sorted);
	o = json_pack("{s:s,s:s,s:i,s:s,s:i,s:{s:i,s:f,s:f},s:o}", "name", s->name, "vip",
		      xlb_addr_str(&s->vip, s->family, vip, sizeof(vip)), "port", s->port,
		      "protocol", xlb_proto_name(s->proto), "table_size", s->table_size,
		      "guards", "min_active", s->guards.min_active, "max_share", s->guards.max_share,
		      "max_churn", s->guards.max_churn, "backends", bes);
	/* shown when set: fingerprints of configurations without it stay */
	if (s->flow_idle_timeout)
		json_object_set_new(o, "flow_idle_timeout", json_integer(s->flow_idle_timeout));
	if (s->forward != XLB_FWD_IPIP)
		json_object_set_new(o, "forward", json_string(xlb_fwd_name(s->forward)));
	if (s->forward == XLB_FWD_GUE && s->gue_port && s->gue_port != XLB_GUE_PORT_DEFAULT)
		json_object_set_new(o, "gue_port", json_integer(s->gue_port));
	if (s->hash_fields != XLB_HASH_5TUPLE)
		json_object_set_new(o, "hash", json_string(xlb_hash_fields_name(s->hash_fields)));
	if (s->slow_start_steps)
		json_object_set_new(o, "slow_start", json_pack("{s:i,s:i}", "steps",
				    s->slow_start_steps, "step_time_ms", s->slow_start_ms));
	if (s->has_rollout)
		json_object_set_new(o, "rollout", json_pack("{s:f,s:i,s:i,s:i,s:f}",
				    "max_share_deviation", s->rollout.max_share_deviation,
				    "max_drops_per_second", s->rollout.max_drops_per_second,
				    "max_health_failures", s->rollout.max_health_failures,
				    "min_flows", s->rollout.min_flows,
				    "max_syn_retry_share", s->rollout.max_syn_retry_share));
	if (s->health.type != XLB_HEALTH_NONE) {
		json_t *h = json_pack("{s:s,s:i,s:i,s:i,s:i}", "type",
				      xlb_health_type_name(s->health.type), "interval_ms",
				      s->health.interval_ms, "timeout_ms", s->health.timeout_ms,
				      "rise", s->health.rise, "fall", s->health.fall);

		if (s->health.port)
			json_object_set_new(h, "port", json_integer(s->health.port));
		if (s->health.type == XLB_HEALTH_HTTP || s->health.type == XLB_HEALTH_HTTPS)
			json_object_set_new(h, "path", json_string(s->health.path));
		xlb_health_form_more(&s->health, s->family, h);
		json_object_set_new(o, "health", h);
	}
	return o;
}

json_t *xlb_config_to_json(const struct xlb_config *cfg)
{
	struct xlb_service_conf *sorted;
	json_t *svcs = json_array(), *o;
	char id[17];

	sorted = malloc(sizeof(*sorted) * (cfg->nr_services ? cfg->nr_services : 1));
	memcpy(sorted, cfg->services, sizeof(*sorted) * cfg->nr_services);
	qsort(sorted, cfg->nr_services, sizeof(*sorted), cmp_service);
	for (__u32 i = 0; i < cfg->nr_services; i++)
		json_array_append_new(svcs, service_json(&sorted[i]));
	free(sorted);
	o = json_pack("{s:o}", "services", svcs);
	/* settings appear when set: fingerprints of configurations without them stay */
	if (o && cfg->history_keep)
		json_object_set_new(o, "history", json_pack("{s:i}", "keep", cfg->history_keep));
	if (o && cfg->hash_key_file[0])
		json_object_set_new(o, "hash_key_file", json_string(cfg->hash_key_file));
	if (o && cfg->second_chance)
		json_object_set_new(o, "second_chance", json_true());
	xlb_hash_key_id(&cfg->hash_key, id);
	if (o && id[0])
		json_object_set_new(o, "hash_key_id", json_string(id));
	return o;
}

json_t *xlb_config_to_json_private(const struct xlb_config *cfg)
{
	json_t *o = xlb_config_to_json(cfg);
	char hex[XLB_HASH_KEY_HEX + 1];

	if (o && cfg->hash_key.set) {
		xlb_hash_key_hex(&cfg->hash_key, hex);
		json_object_set_new(o, "hash_key", json_string(hex));
		explicit_bzero(hex, sizeof(hex));
	}
	return o;
}

void xlb_config_fingerprint(const struct xlb_config *cfg, char out[17])
{
	json_t *j = xlb_config_to_json(cfg);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	__u64 h = 0xcbf29ce484222325ull;	/* FNV-1a 64 */

	for (const char *p = s; p && *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	snprintf(out, 17, "%016llx", (unsigned long long)h);
	free(s);
	json_decref(j);
}

int xlb_config_copy(struct xlb_config *dst, const struct xlb_config *src)
{
	*dst = *src;
	dst->services = calloc(src->nr_services ? src->nr_services : 1, sizeof(*dst->services));
	if (!dst->services) {
		memset(dst, 0, sizeof(*dst));
		return -ENOMEM;
	}
	for (__u32 i = 0; i < src->nr_services; i++) {
		const struct xlb_service_conf *s = &src->services[i];
		struct xlb_service_conf *t = &dst->services[i];

		*t = *s;
		t->backends = calloc(s->nr_backends + 1, sizeof(*t->backends));
		if (!t->backends) {
			xlb_config_free(dst);
			return -ENOMEM;
		}
		memcpy(t->backends, s->backends, sizeof(*t->backends) * s->nr_backends);
	}
	return 0;
}

void xlb_config_free(struct xlb_config *cfg)
{
	for (__u32 i = 0; cfg->services && i < cfg->nr_services; i++)
		free(cfg->services[i].backends);
	free(cfg->services);
	memset(cfg, 0, sizeof(*cfg));
}

struct xlb_service_conf *xlb_config_service(const struct xlb_config *cfg, const char *name)
{
	for (__u32 i = 0; i < cfg->nr_services; i++)
		if (!strcmp(cfg->services[i].name, name))
			return &cfg->services[i];
	return NULL;
}

struct xlb_backend_conf *xlb_service_backend(const struct xlb_service_conf *svc,
					     const union xlb_addr *addr, __u8 family)
{
	for (__u32 i = 0; i < svc->nr_backends; i++)
		if (svc->backends[i].family == family &&
		    !memcmp(&svc->backends[i].addr, addr, sizeof(*addr)))
			return &svc->backends[i];
	return NULL;
}

bool xlb_is_prime(__u32 n)
{
	if (n < 2)
		return false;
	for (__u32 i = 2; (__u64)i * i <= n; i++)
		if (n % i == 0)
			return false;
	return true;
}
