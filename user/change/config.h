/* The declarative configuration: parse (jansson), validate, normalise, fingerprint. */
#ifndef XLB_CONFIG_H
#define XLB_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>
#include "hashkey.h"
#include "xlb_abi.h"
#include "diag.h"
#include "healthconf.h"

#define XLB_NAME_MAX	64

#define XLB_HISTORY_KEEP	1000	/* history records kept when the config does not say */
#define XLB_HISTORY_KEEP_MIN	2	/* the running and the previous generation */
#define XLB_HISTORY_KEEP_MAX	1000000
#define XLB_FLOW_IDLE_TIMEOUT_MAX	604800	/* a week, in seconds */
/*
 * All services' table_size together, per slot: every service at the default
 * size, or 16 at the largest — 64 MiB of table in the maps (each of the two
 * slots), and what a plan builds in memory twice over (old and new).
 */
#define XLB_MAX_TABLE_ENTRIES	((__u64)XLB_MAX_SERVICES * XLB_DEFAULT_TABLE_SIZE)

struct xlb_guards {
	__u32 min_active;	/* backends that must keep table slots (default 1) */
	double max_share;	/* largest slot share of one backend (default 0.5) */
	double max_churn;	/* largest share of new flows moved by a change (0.5) */
};

/*
 * Thresholds of a stepped change (a rollout) for a service: past any of them
 * between two steps the daemon rolls the change back.  The defaults apply
 * when the block is absent.
 */
struct xlb_rollout_limits {
	double max_share_deviation;	/* |observed - table| / table share of new flows
					   of one backend (default 0.5) */
	__u32 max_drops_per_second;	/* data-plane drops per second (default 100) */
	__u32 max_health_failures;	/* failed checks of one backend in a step (0) */
	__u32 min_flows;		/* new flows a step needs before shares count (100) */
	double max_syn_retry_share;	/* retransmitted SYNs over the SYNs of one backend's
					   moved slots (default 0.2; judged from 10 SYNs) */
};
#define XLB_ROLLOUT_MAX_SYN_RETRY	0.2
#define XLB_ROLLOUT_MAX_SHARE_DEVIATION	0.5
#define XLB_ROLLOUT_MAX_DROPS		100
#define XLB_ROLLOUT_MIN_FLOWS		100

struct xlb_backend_conf {
	union xlb_addr addr;
	__u8 family;
	__u8 state;		/* enum xlb_backend_state */
	__u32 weight;		/* 0..65535 */
};

struct xlb_service_conf {
	char name[XLB_NAME_MAX];
	union xlb_addr vip;
	__u8 family;
	__u8 proto;		/* IPPROTO_TCP / IPPROTO_UDP */
	__u16 port;		/* host order; 0 = all ports */
	__u32 table_size;
	__u8 forward;			/* "forward": enum xlb_fwd ("ipip", "gue", "l2");
					   default ipip, shown only when not */
	__u8 hash_fields;		/* "hash": enum xlb_hash_fields ("5-tuple", "src",
					   "src-dport"); default 5-tuple, shown only when not */
	__u16 gue_port;			/* "gue_port" (host order), forward gue only (the
					   parser sets XLB_GUE_PORT_DEFAULT when not given;
					   0 reads as it too); shown only when not 6080 */
	__u32 flow_idle_timeout;	/* seconds a moved slot keeps its previous backend for
					   flows that no longer send; 0 = XLB_FLOW_IDLE_TIMEOUT */
	struct xlb_hash_seeds seeds;	/* from the configuration's hash key */
	struct xlb_guards guards;
	struct xlb_health health;
	bool has_rollout;		/* "rollout" given (shown; else defaults, not shown) */
	__u32 slow_start_steps;		/* "slow_start": a backend that comes up or is added
					   enters in this many steps (0: at once) */
	__u32 slow_start_ms;		/* each this long (a rollout with the service's
					   thresholds) */
	struct xlb_rollout_limits rollout;
	struct xlb_backend_conf *backends;
	__u32 nr_backends;
};

struct xlb_config {
	struct xlb_service_conf *services;
	__u32 nr_services;
	__u32 history_keep;		/* "history": {"keep"}; 0: the default */
	bool second_chance;		/* "second_chance": TCP flows without state in a moved
					   slot carry the current backend as a second chance
					   (backends run xlb decap of this version) */
	char hash_key_file[256];	/* "": no key, published seeds */
	struct xlb_hash_key hash_key;	/* read from the file, or from a record */
};

#define XLB_CONFIG_MAX_BYTES	(4u << 20)	/* a configuration file at most */
/* JSON objects and lists in one: the root, 256 services with guards, health and
 * backend lists, 4095 backends — with room to spare, checked before parsing */
#define XLB_CONFIG_MAX_NODES	16384

/* Parse a file / a JSON value; every error goes into diags. 0 or -EINVAL/-errno. */
int xlb_config_load(const char *path, struct xlb_config *cfg, struct xlb_diags *diags);
int xlb_config_from_json(json_t *root, struct xlb_config *cfg, struct xlb_diags *diags);
/* A configuration as a history record keeps it: the hash key itself included. */
int xlb_config_from_record(json_t *root, struct xlb_config *cfg, struct xlb_diags *diags);
/* Semantic checks (addresses, duplicates, weights, table sizes, limits). */
int xlb_config_validate(const struct xlb_config *cfg, struct xlb_diags *diags);

/* Normalised form: services by name, backends by address, defaults explicit. */
json_t *xlb_config_to_json(const struct xlb_config *cfg);
/* The same with the hash key itself: for history records (mode 0600) only. */
json_t *xlb_config_to_json_private(const struct xlb_config *cfg);
/* Set every service's table seeds from the configuration's hash key. */
void xlb_config_seed(struct xlb_config *cfg);
/* Stable hash of the normalised form, 16 hex digits. */
void xlb_config_fingerprint(const struct xlb_config *cfg, char out[17]);
int xlb_config_copy(struct xlb_config *dst, const struct xlb_config *src);
void xlb_config_free(struct xlb_config *cfg);

struct xlb_service_conf *xlb_config_service(const struct xlb_config *cfg, const char *name);
struct xlb_backend_conf *xlb_service_backend(const struct xlb_service_conf *svc,
					     const union xlb_addr *addr, __u8 family);
const char *xlb_state_name(__u8 state);
/* "active", "drain" or "down" to enum xlb_backend_state; 0 or -EINVAL. */
int xlb_state_parse(const char *name, __u8 *state);
/* "none", "tcp" or "http". */
const char *xlb_health_type_name(__u8 type);
const char *xlb_proto_name(__u8 proto);
/* "ipip", "gue", "l2" (enum xlb_fwd); "5-tuple", "src", "src-dport" (enum
 * xlb_hash_fields); "?" for another value. */
const char *xlb_fwd_name(__u8 fwd);
const char *xlb_hash_fields_name(__u8 fields);
bool xlb_is_prime(__u32 n);

#endif
